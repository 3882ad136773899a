"""Round trips of call control on PostgreSQL: one to read, one to write and commit.

One `HotSession` belongs to one unit of work, shared by its `SqlCalls` and `SqlCredits`.
On PostgreSQL (psycopg 3) it runs the call-control transaction in two pipelines:

- **read** (`prefetch`): BEGIN, the tenant's account row ``SELECT … FOR UPDATE`` (the
  tenant lock, CALL-8), then one statement with the call's facts, the open reservations
  and, for an end (which charges), the entry's id and the open lots
  (`calls_repos._under_lock_statement`), in one pipeline: one network round trip. In READ
  COMMITTED every statement takes its own snapshot when it starts, and the statements
  after the lock start once the lock is held, so what they read is current under the
  lock, exactly as if they had been sent one by one after it. The results are then served
  once each, to the first `SqlCredits.account(…, lock=True)`, `SqlCalls.reservations`,
  `get`, `status` and `reserved(exclude=…)` that ask for them, before anything is written.
- **write** (`defer` + `commit`): the writes that return nothing (the call's INSERT or
  UPDATE, the account's UPDATE) wait in a queue, and go in one pipeline with the COMMIT.
  Any other statement first sends the queue (`flush`), so reads always see the writes.

Elsewhere (SQLite, or a unit of work that never called `prefetch`) nothing changes: every
statement runs when it is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from commcredits.adapters.db.compiled import Compiled

INFO_KEY = "commcredits.hot_session"  # where the engine's statement hook finds the session


class HotSession:
    """The prefetched reads and the deferred writes of one unit of work."""

    def __init__(self, conn: Connection, postgres: bool) -> None:
        self.conn = conn
        self.postgres = postgres
        self.active = False  # `prefetch` ran: the writes may wait for the commit
        self.clean = True  # nothing written yet: the prefetched rows are current
        self._served: dict[str, Any] = {}
        self._pending: list[tuple[Compiled, Mapping[str, Any]]] = []
        self._cursor: Any = None

    # --- reads ------------------------------------------------------------------------

    def prefetch(self, statements: Mapping[str, tuple[Compiled, Mapping[str, Any]]],
                 ) -> dict[str, list[tuple[Any, ...]]]:
        """Run ``statements`` in order in one pipeline; return their rows by name, and keep
        every one but the first (the caller's own) to be served once."""
        dbapi = self.conn.connection.dbapi_connection
        assert dbapi is not None
        cursors = []
        with dbapi.pipeline():
            for statement, values in statements.values():
                cursor = dbapi.cursor()
                statement.send(cursor, values)
                cursors.append(cursor)
        out = {}
        for (name, (statement, _)), cursor in zip(statements.items(), cursors, strict=True):
            out[name] = statement.rows(cursor)
            cursor.close()
        self.active = True
        self._served.update(out)
        return out

    def take(self, name: str) -> Any:
        """A prefetched result, once, while nothing has been written; else None."""
        if not self.clean:
            self._served.clear()
            return None
        return self._served.pop(name, None)

    def peek(self, name: str) -> Any:
        """A prefetched result, as often as asked, while nothing has been written."""
        return self._served.get(name) if self.clean else None

    def keep(self, name: str, value: Any) -> None:
        """Keep ``value`` (read under the lock) to serve like a prefetched result."""
        self._served[name] = value

    def kept(self, prefix: str) -> list[Any]:
        """Every result kept under a name starting with ``prefix``, while nothing has been
        written."""
        if not self.clean:
            return []
        return [v for k, v in self._served.items() if k.startswith(prefix)]

    # --- writes -----------------------------------------------------------------------

    def defer(self, statement: Compiled, values: Mapping[str, Any]) -> bool:
        """Queue a write that returns nothing until the commit (True), or refuse (False:
        run it now) when this unit of work is not on the hot path."""
        self.clean = False
        if not self.active:
            return False
        self._pending.append((statement, values))
        return True

    def written(self) -> None:
        """A write ran (not deferred): the prefetched rows may be stale."""
        self.clean = False

    def flush(self) -> None:
        """Send the queued writes now (one pipeline), before another statement."""
        self._send(commit=False)

    def commit(self) -> bool:
        """The queued writes and COMMIT in one pipeline (True); False when nothing is queued
        (the caller commits as usual)."""
        return self._send(commit=True)

    def _send(self, *, commit: bool) -> bool:
        if not self._pending:
            return False
        pending, self._pending = self._pending, []
        dbapi = self.conn.connection.dbapi_connection
        assert dbapi is not None
        with dbapi.pipeline():
            cursor = self._get_cursor()
            for statement, values in pending:
                statement.send(cursor, values)
            if commit:
                cursor.execute("COMMIT")
        return True

    def _get_cursor(self) -> Any:
        if self._cursor is None:
            self._cursor = self.conn.connection.cursor()
        return self._cursor

    def close(self) -> None:
        self._pending.clear()
        self._served.clear()
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
