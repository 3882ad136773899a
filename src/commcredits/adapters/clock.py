"""Clocks behind the `Clock` port: the real one, a fixed one, and the simulated clock (SIM-1).

The simulated clock lives in the database (`sim_clock`), so the server, `jobs run` and the
CLI on one database always agree on what time it is.

SIM-2: reading the simulated time never blocks a write. A unit of work on a simulated
database reads the clock row once, on its own connection, when it begins, and puts it in
`TRANSACTION_TIME`; inside that transaction `DatabaseClock.now()` answers from there. Outside
a transaction the row is read in a deferred (read-only) SQLite transaction, which never waits
for a writer.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, select, update

from commcredits.adapters.db import tables as t

TRANSACTION_TIME: ContextVar[datetime | None] = ContextVar(
    "commcredits_transaction_time", default=None,
)


def read_clock_row(conn: Connection) -> tuple[bool, datetime | None]:
    """The simulated clock row as this connection's transaction sees it."""
    row = conn.execute(select(t.sim_clock).where(t.sim_clock.c.id == 1)).first()
    return (bool(row.simulated), row.now) if row else (False, None)


def transaction_now(conn: Connection) -> datetime:
    """The time for a transaction that begins on ``conn`` (SIM-2): from its own snapshot."""
    simulated, now = read_clock_row(conn)
    if simulated and now is not None:
        return now
    return datetime.now(UTC)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stays where it is put (tests, demo seeding, benchmarks)."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def set(self, now: datetime) -> None:
        self.current = now


class DbClockStore:
    """Reads and writes the simulated clock row."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(self) -> tuple[bool, datetime | None]:
        # A deferred BEGIN on SQLite: a reader never queues behind (or deadlocks with) the
        # write lock that this process's own open transaction may hold (SIM-2).
        with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            return read_clock_row(conn)

    def write(self, simulated: bool, now: datetime | None) -> None:
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(t.sim_clock).where(t.sim_clock.c.id == 1)
                .values(simulated=simulated, now=now)
            ).rowcount
            if not changed:
                conn.execute(insert(t.sim_clock).values(id=1, simulated=simulated, now=now))


    def move(self, expected: datetime, target: datetime) -> bool:
        """Compare and set, in one statement: False if another move came first."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(t.sim_clock)
                .where(t.sim_clock.c.id == 1, t.sim_clock.c.simulated.is_(True),
                       t.sim_clock.c.now == expected)
                .values(now=target)
            ).rowcount
        return bool(changed)


class DatabaseClock:
    """The real clock, unless the database says the simulated clock is on (SIM-1)."""

    def __init__(self, store: DbClockStore) -> None:
        self.store = store

    def now(self) -> datetime:
        in_transaction = TRANSACTION_TIME.get()
        if in_transaction is not None:
            return in_transaction
        simulated, now = self.store.read()
        if simulated and now is not None:
            return now
        return datetime.now(UTC)
