"""How a SQLite writer gets the database's one write lock: `BEGIN IMMEDIATE`, fairly and
without long sleeps.

SQLite's busy handler retries a refused `BEGIN IMMEDIATE` after sleeps that grow to 100 ms.
Under steady load a writer that has waited a while sleeps the longest and keeps losing to
writers that have just arrived: with `serve`'s 2 workers and 16 connections, call control's
p99 on SQLite was about 1 s at a p50 of 11 ms (docs/benchmarks.md). Two things instead:

- **One writer per process at a time** (`Writers.lock`): a thread that wants to write waits
  on a process-wide lock, which wakes the next waiter as soon as it is released, rather
  than on SQLite's. The lock is taken when the transaction begins and given back as it
  commits or rolls back (`release`), or, for a transaction the pool ends, when the
  connection returns to the pool. (Given back just before SQLite's COMMIT, the next writer
  may be refused once and poll; SQLite's lock, not this one, is what keeps writers apart.)
- **Between processes, a short poll**: that one writer tries `BEGIN IMMEDIATE` with the
  busy timeout at 0 every `POLL_SECONDS` until it is granted, so it is ready within a
  fraction of a millisecond of the lock coming free.

Both share one deadline, the busy timeout: a writer that has not had the process lock by
then goes on without it, and one that has not had SQLite's makes one last `BEGIN IMMEDIATE`
with SQLite's own busy timeout, which gives the same `database is locked` error as before.
Read-only transactions (`BEGIN DEFERRED`) take neither.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

POLL_SECONDS = 0.0005
HOLDS = "commcredits.sqlite_writer"  # in the pool record's info: it holds the process lock


class Writers:
    """The writers of one engine (one database file) in this process."""

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self.lock = threading.Lock()

    def begin(self, conn: Any) -> None:
        """BEGIN IMMEDIATE on a SQLAlchemy connection, as described above."""
        record = conn.connection.info
        deadline = time.monotonic() + self.timeout_ms / 1000
        if not record.get(HOLDS):
            record[HOLDS] = self.lock.acquire(timeout=self.timeout_ms / 1000)
        driver: sqlite3.Connection = conn.connection.driver_connection
        driver.execute("PRAGMA busy_timeout=0")
        try:
            while time.monotonic() < deadline:
                try:
                    driver.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorname not in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                        raise
                time.sleep(POLL_SECONDS)
        finally:
            driver.execute(f"PRAGMA busy_timeout={self.timeout_ms}")
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's own wait and error, once more

    def release(self, record_info: dict[str, Any]) -> None:
        """The connection's transaction is over: give the process lock back if it has it."""
        if record_info.pop(HOLDS, False):
            self.lock.release()
