"""Round trips to PostgreSQL per call-control request (CALL-1, CALL-7), counted in the
driver: every statement a psycopg cursor executes (the pool's pre-ping included), every
BEGIN psycopg sends before a transaction's first statement, and every COMMIT.

These are counts, not timings: they pin what authorize, update and end cost today, warm
(caches filled by an earlier call), so that a change which adds a round trip shows here.
The aim of issue 14 is at most 2 for authorize and for end; docs/benchmarks.md says where
the path stands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event

from commcredits.services import calls
from commcredits.services.context import Services
from tests.integration.test_calls import GB_MOBILE, setup
from tests.support import OPERATOR

BODY = {"call_type": "user_out", "user": "alice0@contoso.com", "caller": "+12065550100",
        "callee": GB_MOBILE}


@dataclass
class RoundTrips:
    """What one PostgreSQL client session sent, in order."""

    sent: list[str] = field(default_factory=list)
    on: bool = False

    def note(self, what: str) -> None:
        if self.on:
            self.sent.append(what)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.sent = []
        self.on = True
        try:
            yield self.sent
        finally:
            self.on = False


def _counting_cursor(trips: RoundTrips) -> type[psycopg.Cursor[Any]]:
    class CountingCursor(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            trips.note(" ".join(str(query).split())[:60])
            return super().execute(query, params, **kwargs)

        def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
            trips.note("executemany " + " ".join(str(query).split())[:48])
            super().executemany(query, params_seq, **kwargs)

    return CountingCursor


@pytest.fixture
def trips(engine: Engine) -> Iterator[RoundTrips]:
    if engine.dialect.name != "postgresql":
        pytest.skip("round trips are PostgreSQL's (SQLite runs in the process)")
    found = RoundTrips()
    cursor = _counting_cursor(found)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor_factory = cursor

    def on_begin(_conn: Any) -> None:
        found.note("BEGIN")

    def on_commit(_conn: Any) -> None:
        found.note("COMMIT")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    event.listen(engine, "commit", on_commit)
    engine.dispose()  # pooled connections are made again, with the counting cursor
    yield found
    event.remove(engine, "connect", on_connect)
    event.remove(engine, "begin", on_begin)
    event.remove(engine, "commit", on_commit)


@pytest.mark.rule("CALL-1")
@pytest.mark.rule("CALL-7")
def test_authorize_update_and_end_round_trips_on_postgresql(
    svc: Services, trips: RoundTrips,
) -> None:
    tid = setup(svc)
    calls.authorize(svc, OPERATOR, tid, {**BODY, "call_id": "warm"})  # fills the caches
    calls.end(svc, OPERATOR, tid, "warm", 61)
    with trips.counting() as authorize:
        reply = calls.authorize(svc, OPERATOR, tid, {**BODY, "call_id": "c1"})
    assert reply["decision"] == "allow"
    with trips.counting() as update:
        assert calls.update(svc, OPERATOR, tid, "c1", 30)["status"] == "active"
    with trips.counting() as end:
        assert calls.end(svc, OPERATOR, tid, "c1", 61)["charge"] == "0.24"
    print("authorize", len(authorize), authorize)
    print("update", len(update), update)
    print("end", len(end), end)
    # ping, BEGIN, facts, lock, reservations, INSERT, COMMIT
    assert len(authorize) == 7, authorize
    assert len(update) <= 9, update
    assert len(end) <= 12, end
