"""Clocks behind the `Clock` port: the real one, a fixed one, and the simulated clock (SIM-1).

The simulated clock lives in the database (`sim_clock`), so the server, `jobs run` and the
CLI on one database always agree on what time it is.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update

from commcredits.adapters.db import tables as t


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
        with self.engine.connect() as conn:
            row = conn.execute(select(t.sim_clock).where(t.sim_clock.c.id == 1)).first()
        return (bool(row.simulated), row.now) if row else (False, None)

    def write(self, simulated: bool, now: datetime | None) -> None:
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(t.sim_clock).where(t.sim_clock.c.id == 1)
                .values(simulated=simulated, now=now)
            ).rowcount
            if not changed:
                conn.execute(insert(t.sim_clock).values(id=1, simulated=simulated, now=now))


class DatabaseClock:
    """The real clock, unless the database says the simulated clock is on (SIM-1)."""

    def __init__(self, store: DbClockStore) -> None:
        self.store = store

    def now(self) -> datetime:
        simulated, now = self.store.read()
        if simulated and now is not None:
            return now
        return datetime.now(UTC)
