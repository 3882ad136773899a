"""Call records in batch (CDR-1, CDR-2): each rated and charged exactly once, in start-time
order, through the live path; bad rows reported by line; a malformed file refused whole."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from sqlalchemy import Engine, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.services import calls, cdr_batch, cdrs, queries
from commcredits.services.context import Services
from commcredits.services.ports import UnitOfWork
from tests.integration.test_calls import GB_MOBILE, US_FIXED, setup
from tests.support import OPERATOR, utc

HEADER = "UsageId,Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time," \
         "Duration Seconds,Charge\n"


def balance(svc: Services, tid: str) -> str:
    return queries.credits(svc, OPERATOR, tid).balance.format()


@pytest.mark.rule("CDR-1")
@pytest.mark.rule("CDR-2")
def test_a_csv_batch_is_rated_once_with_bad_rows_reported_by_line(svc: Services) -> None:
    tid = setup(svc)
    body = HEADER + (
        f",c2,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},2026-01-15T10:10:00Z,61,9.99\n"
        f",c1,alice0@contoso.com,user_out,+12065550100,{US_FIXED},2026-01-15T10:00:00Z,61,\n"
        f",c3,nobody@contoso.com,user_out,+12065550100,{GB_MOBILE},2026-01-15T10:20:00Z,30,\n"
        f",c4,alice0@contoso.com,user_out,+12065550100,+19005551234,2026-01-15T10:30:00Z,30,\n"
        f",c5,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},yesterday,30,\n"
        f",c2,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},2026-01-15T10:10:00Z,61,\n"
    )
    report = cdrs.import_cdrs(svc, OPERATOR, tid, body)
    assert (report.accepted, report.duplicates) == (2, 1)
    assert [(r["line"], r["reason"]) for r in report.rejected] == [
        (4, "USER_NOT_FOUND"), (5, "DESTINATION_BLOCKED"), (6, "INVALID_CDR"),
    ]
    assert balance(svc, tid) == "99.76"  # the input Charge column is ignored
    again = cdrs.import_cdrs(svc, OPERATOR, tid, body)
    assert (again.accepted, again.duplicates, len(again.rejected)) == (0, 3, 3)
    assert balance(svc, tid) == "99.76"


@pytest.mark.rule("CDR-1")
def test_json_lines_are_accepted_and_usage_ids_keep_legs_apart(svc: Services) -> None:
    tid = setup(svc)
    rows = [
        {"Call ID": "j1", "UsageId": "leg-1", "UPN": "alice0@contoso.com",
         "Call Type": "user_out", "Caller ID": "+12065550100",
         "Destination Number": GB_MOBILE, "Start Time": "2026-01-15T10:00:00Z",
         "Duration Seconds": "120"},
        {"Call ID": "j1", "UsageId": "leg-2", "UPN": "alice0@contoso.com",
         "Call Type": "user_out", "Caller ID": "+12065550100",
         "Destination Number": GB_MOBILE, "Start Time": "2026-01-15T10:05:00Z",
         "Duration Seconds": "60"},
    ]
    report = cdrs.import_cdrs(svc, OPERATOR, tid, "\n".join(json.dumps(r) for r in rows))
    assert (report.accepted, report.rejected) == (2, [])
    assert balance(svc, tid) == "99.64"  # 0.24 + 0.12


@pytest.mark.rule("CDR-1")
@pytest.mark.rule("CALL-9")
def test_a_call_rated_live_is_not_charged_again_by_its_cdr(svc: Services) -> None:
    tid = setup(svc)
    calls.authorize(svc, OPERATOR, tid, {"call_id": "live1", "call_type": "user_out",
                                         "user": "alice0@contoso.com",
                                         "caller": "+12065550100", "callee": GB_MOBILE})
    calls.end(svc, OPERATOR, tid, "live1", 61)
    body = HEADER + (f",live1,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},"
                     "2026-01-15T09:00:00Z,61,\n")
    report = cdrs.import_cdrs(svc, OPERATOR, tid, body)
    assert (report.accepted, report.duplicates) == (0, 1)
    assert balance(svc, tid) == "99.76"


@pytest.mark.rule("CDR-1")
@pytest.mark.parametrize("body", [
    b"\xff\xfe bad", "Call ID,UPN\nx,y\n", '{"Call ID": "x"}\nnot json\n', "",
])
def test_a_malformed_file_is_refused_whole(svc: Services, body: bytes | str) -> None:
    tid = setup(svc)
    with pytest.raises(DomainError) as refused:
        cdrs.import_cdrs(svc, OPERATOR, tid, body)
    assert refused.value.code == "INVALID_CDR_FILE"
    assert balance(svc, tid) == "100.00"


@pytest.mark.rule("CDR-1")
def test_a_run_refused_as_a_whole_is_applied_again_as_batches_of_one(
    svc: Services, monkeypatch: pytest.MonkeyPatch,
) -> None:
    tid = setup(svc)
    apply_chunk = cdr_batch.apply_chunk

    def refuse(uow: UnitOfWork, state: cdr_batch.ImportState,
               records: Sequence[cdr_batch.Record]) -> cdr_batch.ChunkResult:
        if len(records) > 1:  # as a row a concurrent import stored refuses a run
            raise InvalidInput("UNEXPECTED", "The run was refused as a whole.")
        return apply_chunk(uow, state, records)

    monkeypatch.setattr(cdr_batch, "apply_chunk", refuse)
    body = HEADER + (
        f",c2,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},2026-01-15T10:10:00Z,61,\n"
        f",c1,alice0@contoso.com,user_out,+12065550100,{US_FIXED},2026-01-15T10:00:00Z,61,\n"
        f",c3,nobody@contoso.com,user_out,+12065550100,{GB_MOBILE},2026-01-15T10:20:00Z,30,\n"
    )
    report = cdrs.import_cdrs(svc, OPERATOR, tid, body)
    assert report.accepted == 2
    assert [(r["line"], r["reason"]) for r in report.rejected] == [(4, "USER_NOT_FOUND")]
    assert balance(svc, tid) == "99.76"


@pytest.mark.rule("POOL-1")
@pytest.mark.rule("CDR-1")
def test_a_late_cdr_uses_the_pool_of_the_month_the_call_started_in(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    tid = setup(svc)  # alice0 and bob0 hold MCOPSTN1 in the US since 2026-01-15
    clock.set(utc(2026, 2, 3, 9, 0))
    body = HEADER + (
        f",jan1,alice0@contoso.com,user_out,+12065550100,{US_FIXED},2026-01-20T08:00:00Z,61,\n"
        f",feb1,bob0@contoso.com,user_out,+12065550101,{US_FIXED},2026-02-02T08:00:00Z,"
        "130,\n"
    )
    report = cdrs.import_cdrs(svc, OPERATOR, tid, body)
    assert (report.accepted, report.rejected) == (2, [])
    with engine.connect() as conn:
        used = {r.month: r.used_minutes for r in conn.execute(
            select(t.pool_usage).where(t.pool_usage.c.tenant_id == tid))}
    assert used == {"2026-01": 2, "2026-02": 3}  # 61 s → 2 min in January, 130 s → 3 in Feb
    assert balance(svc, tid) == "100.00"  # both covered by the pool: nothing charged
