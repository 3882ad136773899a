"""Round trips to PostgreSQL per call-control request (CALL-1, CALL-7), counted in the
driver: every statement a psycopg cursor executes (the pool's pre-ping included), every
BEGIN psycopg sends before a transaction's first statement, and every COMMIT.

These are counts, not timings, warm (caches filled by an earlier call): authorize, update
and end each make 2 round trips (`adapters/db/hot_session.py`): one pipeline that takes the
tenant lock and then reads every fact, one that writes and commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, event

from commcredits.services import calls
from commcredits.services.context import Services
from tests.integration.test_calls import GB_MOBILE, setup
from tests.support import OPERATOR

BODY = {"call_type": "user_out", "user": "alice0@contoso.com", "caller": "+12065550100",
        "callee": GB_MOBILE}


@dataclass
class RoundTrips:
    """What one PostgreSQL client session waited for, in order: one entry per round trip (a
    statement outside a pipeline, or a whole pipeline with what it sent, BEGIN and COMMIT
    included)."""

    sent: list[str] = field(default_factory=list)
    on: bool = False
    _pipeline: Any = None  # the pipeline the last entry belongs to

    def note(self, what: str, pipeline: Any = None) -> None:
        if not self.on:
            return
        if pipeline is not None and pipeline is self._pipeline:
            self.sent[-1] += " + " + what
            return
        self._pipeline = pipeline
        self.sent.append(("pipeline: " if pipeline is not None else "") + what)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.sent = []
        self._pipeline = None
        self.on = True
        try:
            yield self.sent
        finally:
            self.on = False


def _counting_cursor(trips: RoundTrips) -> type[psycopg.Cursor[Any]]:
    class CountingCursor(psycopg.Cursor[Any]):
        def _note(self, query: Any) -> None:
            conn = self.connection
            pipeline = conn._pipeline
            if not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
                trips.note("BEGIN", pipeline)  # psycopg starts the transaction first
            trips.note(" ".join(str(query).split())[:40], pipeline)

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            self._note(query)
            return super().execute(query, params, **kwargs)

        def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
            self._note(query)
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

    def on_commit(conn: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        if dbapi.info.transaction_status != TransactionStatus.IDLE:  # else a no-op
            found.note("COMMIT")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "commit", on_commit)
    engine.dispose()  # pooled connections are made again, with the counting cursor
    yield found
    event.remove(engine, "connect", on_connect)
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
    # One pipeline reads under the tenant lock (taken first); one writes and commits.
    for sent in (authorize, update, end):
        assert len(sent) == 2, sent
        assert sent[0].startswith("pipeline: BEGIN + SELECT credit_accounts."), sent
        assert sent[1].startswith("pipeline: ") and sent[1].endswith(" + COMMIT"), sent
    assert "INSERT INTO calls" in authorize[1]
    assert "UPDATE calls" in update[1]
    assert "INSERT INTO ledger_entri" in end[1] and "UPDATE credit_accounts" in end[1]


@pytest.mark.rule("CALL-1")
@pytest.mark.rule("CALL-7")
def test_only_end_reads_the_open_lots_and_an_entry_id_ahead(
    svc: Services, trips: RoundTrips,
) -> None:
    """Issue #14: the read pipeline of authorize, update and end is the lock and then one
    statement for everything else: the facts and the reservations, and for end, which
    charges the ledger, also the open lots and the entry's id."""
    tid = setup(svc)
    calls.authorize(svc, OPERATOR, tid, {**BODY, "call_id": "warm"})  # fills the caches
    calls.end(svc, OPERATOR, tid, "warm", 61)
    with trips.counting() as authorize:
        calls.authorize(svc, OPERATOR, tid, {**BODY, "call_id": "c1"})
    with trips.counting() as update:
        calls.update(svc, OPERATOR, tid, "c1", 30)
    with trips.counting() as end:
        assert calls.end(svc, OPERATOR, tid, "c1", 61)["charge"] == "0.24"
    for sent in (authorize, update, end):
        read = sent[0].split(" + ")
        assert len(read) == 3, read  # BEGIN, the lock, one read under it
        assert read[1].startswith("SELECT credit_accounts."), read
    # End's lots and entry id came with that read: nothing more is read before COMMIT.
    assert len(end) == 2, end
    assert "SELECT" not in end[1] and "nextval" not in end[1], end
