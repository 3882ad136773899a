"""One leader for the due work (OPS-3): of all the server processes on one database, only
the one that holds the leadership runs the background due-work loop.

- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) taken on a connection of
  its own, held while leading. A killed leader's connection closes, the server drops the
  lock, and the next process to ask gets it.
- SQLite: a row of `leader_lease` (migration 0010) naming the holder and a wall-clock
  deadline. The leader renews it each poll; another process takes it once it has lapsed.

`refresh()` is called every poll interval (`COMMCREDITS_LEADER_POLL_SECONDS`, 5 s by
default); a lease lasts `COMMCREDITS_LEADER_LEASE_SECONDS` (15 s), so a dead leader is
replaced within lease + poll = 20 s. Leases use the wall clock, never the simulated one.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Protocol

from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from commcredits.adapters.db import tables as t

LEASE_NAME = "due-work"
# pg_try_advisory_lock's key: a constant of this application ("CCDUEWRK" as 8 bytes).
ADVISORY_KEY = int.from_bytes(b"CCDUEWRK", "big") - (1 << 63)


class Leadership(Protocol):
    holder: str

    def refresh(self) -> bool:
        """Take or keep the leadership; whether this process leads now. Never raises."""
        ...

    def release(self) -> None: ...


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class AdvisoryLockLeadership:
    """PostgreSQL: a session advisory lock on a dedicated autocommit connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.holder = holder_id()
        self._conn: Connection | None = None

    def refresh(self) -> bool:
        try:
            if self._conn is not None:
                self._conn.execute(text("SELECT 1"))  # still connected: still holding
                return True
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                    {"k": ADVISORY_KEY}).scalar_one())
            if got:
                self._conn = conn
            else:
                conn.close()
            return got
        except Exception:  # the database went away: not leading until it answers again
            self._drop()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # noqa: S110 (already broken; nothing left to release)
                pass
            self._conn = None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                self._conn.close()
            except Exception:
                self._drop()
            self._conn = None


class LeaseLeadership:
    """SQLite (or any database without advisory locks): a lease row with a deadline."""

    def __init__(self, engine: Engine, lease_seconds: float) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.holder = holder_id()

    def refresh(self) -> bool:
        L = t.leader_lease  # noqa: N806
        now = time.time()
        until = now + self.lease_seconds
        try:
            with self.engine.begin() as conn:
                row = conn.execute(select(L.c.holder, L.c.expires_at)
                                   .where(L.c.name == LEASE_NAME)).first()
                if row is None:
                    conn.execute(insert(L).values(name=LEASE_NAME, holder=self.holder,
                                                  expires_at=until))
                    return True
                if row.holder != self.holder and row.expires_at >= now:
                    return False
                return bool(conn.execute(
                    update(L).where(L.c.name == LEASE_NAME, L.c.holder == row.holder)
                    .values(holder=self.holder, expires_at=until)
                ).rowcount)
        except Exception:  # busy or gone: try again at the next poll
            return False

    def release(self) -> None:
        L = t.leader_lease  # noqa: N806
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(L).where(L.c.name == LEASE_NAME,
                                             L.c.holder == self.holder))
        except Exception:  # noqa: S110 (the lease then lapses by itself)
            pass


def leadership(engine: Engine, lease_seconds: float) -> Leadership:
    if engine.dialect.name == "postgresql":
        return AdvisoryLockLeadership(engine)
    return LeaseLeadership(engine, lease_seconds)
