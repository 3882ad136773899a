"""The PSTN usage report and its exports (REP-1, REP-2, REP-4) on both databases: rows from
CDRs and live calls, ranges and filters, masking by tenant country, and the CSV, ZIP and
XLSX files read back with `csv`, `zipfile` and openpyxl."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, event, func, select, update

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.adapters.exports import usage as exports
from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.domain.reports import COLUMNS
from commcredits.services import calls, cdrs, reports
from commcredits.services.context import Services
from tests.integration.test_calls import GB_MOBILE, US_FIXED, setup
from tests.support import OPERATOR, utc

REP1_COLUMNS = [
    "UsageId", "Call ID", "Conference ID", "User Location", "Microsoft Entra ObjectId", "UPN",
    "User Display Name", "Caller ID", "Call Type", "Call Direction", "Number Type",
    "Domestic/International", "Destination Dialed", "Destination Number", "External Country",
    "Start Time", "End Time", "Duration Seconds", "Connection Fee", "Charge", "Currency",
    "Capability", "Operator", "Source of Call Duration", "Administrative Units",
]
HEADER = "UsageId,Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time," \
         "Duration Seconds\n"


def seed(svc: Services, clock: FixedClock) -> str:
    """Four CDRs (two older than 7 days, one inbound) and one live call, all finished."""
    tid = setup(svc)
    body = HEADER + (
        f",gb1,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},2026-02-19T08:00:00Z,61\n"
        f",us1,bob0@contoso.com,user_out,+12065550101,{US_FIXED},2026-02-18T08:00:00Z,30\n"
        f",in1,alice0@contoso.com,user_in,{GB_MOBILE},+12065550100,2026-02-15T08:00:00Z,45\n"
        f",old1,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},2026-02-01T10:00:00Z,"
        "120\n"
    )
    clock.set(utc(2026, 2, 20, 9, 0))
    report = cdrs.import_cdrs(svc, OPERATOR, tid, body)
    assert (report.accepted, report.rejected) == (4, [])
    calls.authorize(svc, OPERATOR, tid, {"call_id": "live1", "call_type": "user_out",
                                         "user": "alice0@contoso.com",
                                         "caller": "+12065550100", "callee": GB_MOBILE})
    clock.set(clock.now() + timedelta(seconds=30))
    calls.end(svc, OPERATOR, tid, "live1", 30)
    clock.set(utc(2026, 2, 20, 10, 0))
    return tid


def by_call(report: reports.PstnUsage) -> dict[str, dict[str, object]]:
    return {str(r[1]): dict(zip(COLUMNS, r, strict=True)) for r in report}


def set_country(engine: Engine, tid: str, country: str) -> None:
    """Masking follows the tenant's country; the rated calls stay as the US tenant made them."""
    with engine.begin() as conn:
        conn.execute(update(t.tenants).where(t.tenants.c.id == tid).values(country=country))


@pytest.mark.rule("REP-1")
def test_the_report_has_the_calling_plans_columns_in_order_and_one_row_per_call(
    svc: Services, clock: FixedClock,
) -> None:
    tid = seed(svc, clock)
    report = reports.pstn_usage(svc, OPERATOR, tid, period="7d")
    assert list(report.columns) == REP1_COLUMNS
    rows = by_call(report)
    assert list(rows) == ["in1", "us1", "gb1", "live1"]  # by start time
    gb = rows["gb1"]
    assert gb == {
        "UsageId": "gb1", "Call ID": "gb1", "Conference ID": None, "User Location": "US",
        "Microsoft Entra ObjectId": gb["Microsoft Entra ObjectId"],
        "UPN": "alice0@contoso.com", "User Display Name": "alice0",
        "Caller ID": "+12065550100", "Call Type": "user_out", "Call Direction": "Outbound",
        "Number Type": gb["Number Type"], "Domestic/International": "International",
        "Destination Dialed": gb["Destination Dialed"], "Destination Number": GB_MOBILE,
        "External Country": "GB", "Start Time": utc(2026, 2, 19, 8, 0),
        "End Time": utc(2026, 2, 19, 8, 1, 1), "Duration Seconds": 61,
        "Connection Fee": Decimal("0.00"), "Charge": Decimal("0.24"), "Currency": "USD",
        "Capability": "MCOPSTNPP", "Operator": "Microsoft",
        "Source of Call Duration": "operator", "Administrative Units": None,
    }
    assert gb["Microsoft Entra ObjectId"]
    assert rows["in1"]["Call Direction"] == "Inbound"
    assert rows["live1"]["Source of Call Duration"] == "microsoft"
    assert rows["live1"]["Charge"] == Decimal("0.12")


@pytest.mark.rule("REP-1")
def test_seven_days_28_days_and_a_custom_range_select_calls_by_start_time(
    svc: Services, clock: FixedClock,
) -> None:
    tid = seed(svc, clock)
    assert list(by_call(reports.pstn_usage(svc, OPERATOR, tid))) == \
        ["in1", "us1", "gb1", "live1"]  # 7 days by default
    assert list(by_call(reports.pstn_usage(svc, OPERATOR, tid, period="28d"))) == \
        ["old1", "in1", "us1", "gb1", "live1"]
    custom = reports.pstn_usage(svc, OPERATOR, tid, start="2026-02-01T10:00:00Z",
                                end="2026-02-18T08:00:00Z")
    assert list(by_call(custom)) == ["old1", "in1"]  # from inclusive, to exclusive
    assert (custom.parameters()["from"], custom.parameters()["to"]) == \
        ("2026-02-01T10:00:00Z", "2026-02-18T08:00:00Z")


@pytest.mark.rule("REP-1")
@pytest.mark.parametrize(("start", "end", "code"), [
    ("2025-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "RANGE_TOO_LONG"),
    ("2026-01-10T00:00:00Z", "2026-01-10T00:00:00Z", "INVALID_RANGE"),
    ("2026-01-10T00:00:00Z", "2026-01-09T00:00:00Z", "INVALID_RANGE"),
    ("yesterday", None, "INVALID_DATE"),
])
def test_a_range_over_a_year_or_backwards_is_refused_and_nothing_changes(
    svc: Services, clock: FixedClock, engine: Engine, start: str, end: str | None, code: str,
) -> None:
    tid = seed(svc, clock)
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(t.calls)).scalar_one()
    with pytest.raises(DomainError) as refused:
        reports.pstn_usage(svc, OPERATOR, tid, start=start, end=end)
    assert refused.value.code == code
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.calls)).scalar_one() == before


@pytest.mark.rule("REP-1")
def test_exactly_one_year_is_accepted(svc: Services, clock: FixedClock) -> None:
    tid = seed(svc, clock)
    report = reports.pstn_usage(svc, OPERATOR, tid, start="2025-02-20T10:00:00Z",
                                end="2026-02-20T10:00:00Z")
    assert len(list(report)) == 5


@pytest.mark.rule("REP-1")
def test_filters_by_user_call_type_and_capability(svc: Services, clock: FixedClock) -> None:
    tid = seed(svc, clock)

    def ids(**filters: str) -> list[str]:
        return list(by_call(reports.pstn_usage(svc, OPERATOR, tid, period="28d", **filters)))

    assert ids(user="BOB0@contoso.com") == ["us1"]
    assert ids(call_type="user_in") == ["in1"]
    assert ids(capability="MCOPSTNPP") == ["old1", "gb1", "live1"]
    assert ids(user="alice0@contoso.com", call_type="user_out") == ["old1", "gb1", "live1"]
    with pytest.raises(InvalidInput) as refused:  # not a call type: said, not an empty report
        ids(call_type="0" * 32)
    assert refused.value.code == "INVALID_FILTER"
    assert "user_out" in refused.value.message


@pytest.mark.rule("REP-1")
def test_pages_follow_the_keyset_cursor_without_gaps_or_repeats(
    svc: Services, clock: FixedClock,
) -> None:
    tid = seed(svc, clock)
    report = reports.pstn_usage(svc, OPERATOR, tid, period="28d")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        rows, cursor = report.page(2, cursor)
        seen += [str(r[1]) for r in rows]
        if cursor is None:
            break
    assert seen == ["old1", "in1", "us1", "gb1", "live1"]
    with pytest.raises(DomainError) as bad:
        report.page(2, "not-a-cursor")
    assert bad.value.code == "INVALID_CURSOR"


@pytest.mark.rule("REP-4")
def test_a_german_tenant_sees_the_last_3_digits_of_the_callee_masked_on_outgoing_calls(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    tid = seed(svc, clock)
    set_country(engine, tid, "DE")
    rows = by_call(reports.pstn_usage(svc, OPERATOR, tid))
    assert (rows["gb1"]["Caller ID"], rows["gb1"]["Destination Number"]) == \
        ("+12065550100", "+447400123XXX")
    # incoming: the caller is masked, the number called is not
    assert (rows["in1"]["Caller ID"], rows["in1"]["Destination Number"]) == \
        ("+447400123XXX", "+12065550100")


@pytest.mark.rule("REP-4")
def test_a_french_tenant_sees_the_last_4_digits_masked_and_a_us_tenant_none(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    tid = seed(svc, clock)
    rows = by_call(reports.pstn_usage(svc, OPERATOR, tid))
    assert rows["gb1"]["Destination Number"] == GB_MOBILE
    set_country(engine, tid, "FR")
    rows = by_call(reports.pstn_usage(svc, OPERATOR, tid))
    assert rows["gb1"]["Destination Number"] == "+44740012XXXX"
    assert rows["in1"]["Caller ID"] == "+44740012XXXX"


@pytest.mark.rule("REP-2")
def test_the_zip_holds_an_rfc4180_csv_and_the_parameters(
    svc: Services, clock: FixedClock,
) -> None:
    tid = seed(svc, clock)
    report = reports.pstn_usage(svc, OPERATOR, tid, period="28d", capability="MCOPSTNPP")
    buffer = io.BytesIO()
    assert exports.write_zip(buffer, "abc", report.columns, report, report.parameters()) == 3
    with zipfile.ZipFile(buffer) as archive:
        assert archive.namelist() == ["Export.callingplans.abc.csv", "parameters.json"]
        raw = archive.read("Export.callingplans.abc.csv").decode()
        params = json.loads(archive.read("parameters.json"))
    assert raw.startswith(",".join(REP1_COLUMNS) + "\r\n")
    parsed = list(csv.reader(io.StringIO(raw, newline="")))
    assert parsed[0] == REP1_COLUMNS
    gb = dict(zip(REP1_COLUMNS, parsed[2], strict=True))
    assert (gb["Call ID"], gb["Start Time"], gb["End Time"], gb["Duration Seconds"],
            gb["Connection Fee"], gb["Charge"], gb["Source of Call Duration"]) == \
        ("gb1", "2026-02-19T08:00:00Z", "2026-02-19T08:01:01Z", "61", "0.00", "0.24",
         "operator")
    assert [r[1] for r in parsed[1:]] == ["old1", "gb1", "live1"]
    assert params == {
        "report": "pstn-usage", "tenant_id": tid, "period": "28d",
        "from": "2026-01-24T00:00:00Z", "to": "2026-02-21T00:00:00Z",
        "first_day": "2026-01-24", "last_day": "2026-02-20", "user": None,
        "call_type": None, "capability": "MCOPSTNPP", "masking_country": "US", "rows": 3,
    }


def ledger_call_charges(engine: Engine, tid: str) -> Decimal:
    """What the ledger charged for calls: live calls' own entries and CDR batches' bulk
    entries (FUND-10)."""
    e = t.ledger_entries
    with engine.connect() as conn:
        amounts = conn.execute(select(e.c.amount).where(
            e.c.tenant_id == tid, e.c.kind == "charge",
            e.c.reference.like("call:%") | e.c.reference.like("cdr-batch:%"),
        )).scalars().all()
    return -sum(amounts, Decimal(0))


@pytest.mark.rule("REP-2")
def test_the_xlsx_has_typed_cells_a_frozen_header_and_charges_that_match_the_ledger(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    tid = seed(svc, clock)
    report = reports.pstn_usage(svc, OPERATOR, tid, period="28d")
    buffer = io.BytesIO()
    assert exports.write_xlsx(buffer, report.columns, report) == 5
    book = openpyxl.load_workbook(buffer)
    sheet = book.worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == REP1_COLUMNS
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:Y6"
    gb = dict(zip(REP1_COLUMNS, values[4], strict=True))
    assert gb["Call ID"] == "gb1"
    assert gb["Start Time"] == datetime(2026, 2, 19, 8, 0)  # UTC, as an Excel date
    assert isinstance(gb["Duration Seconds"], int) and gb["Duration Seconds"] == 61
    assert gb["Charge"] == 0.24
    assert sheet.cell(5, COLUMNS.index("Charge") + 1).number_format == "0.00"
    total = sum(Decimal(str(r[COLUMNS.index("Charge")])) for r in values[1:])
    assert total == ledger_call_charges(engine, tid) == Decimal("0.60")  # 0.24 + 0.24 + 0.12


@pytest.mark.rule("REP-2")
def test_the_xlsx_starts_a_new_sheet_when_one_is_full(svc: Services, clock: FixedClock) -> None:
    tid = seed(svc, clock)
    report = reports.pstn_usage(svc, OPERATOR, tid, period="28d")
    buffer = io.BytesIO()
    exports.write_xlsx(buffer, report.columns, report, rows_per_sheet=2)
    book = openpyxl.load_workbook(buffer)
    assert book.sheetnames == ["PSTN usage", "PSTN usage 2", "PSTN usage 3"]
    assert [[r[1] for r in ws.iter_rows(min_row=2, values_only=True)]
            for ws in book.worksheets] == [["old1", "in1"], ["us1", "gb1"], ["live1"]]
    assert all(next(ws.iter_rows(values_only=True)) == tuple(REP1_COLUMNS)
               for ws in book.worksheets)


def set_locations(engine: Engine, tid: str, upn: str, location: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(update(t.calls).where(t.calls.c.tenant_id == tid, t.calls.c.upn == upn)
                     .values(user_location=location))


@pytest.mark.rule("REP-1")
def test_calls_past_their_retention_by_user_location_are_not_reported(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    tid = seed(svc, clock)  # US tenant; alice0: gb1 (Feb 19), in1 (Feb 15), old1 (Feb 1),
    # live1 (Feb 20); bob0: us1 (Feb 18). All within 365 days of the clock below.
    clock.set(utc(2026, 8, 20, 9, 0))  # 181 days after Feb 20
    since = dict(start="2026-01-31T00:00:00Z", end="2026-08-20T00:00:00Z")

    def shown() -> list[str]:
        report = reports.pstn_usage(svc, OPERATOR, tid, **since)
        assert report.count() == len(list(by_call(report)))
        return list(by_call(report))

    assert shown() == ["old1", "in1", "us1", "gb1", "live1"]  # US: 365 days
    set_locations(engine, tid, "alice0@contoso.com", "NL")  # NL: 180 days
    assert shown() == ["us1"]
    set_locations(engine, tid, "alice0@contoso.com", "IT")  # IT: 730 days
    assert shown() == ["old1", "in1", "us1", "gb1", "live1"]
    clock.set(utc(2026, 7, 16, 9, 0))  # CA: 150 days; cutoff 2026-02-16 09:00
    set_locations(engine, tid, "alice0@contoso.com", "CA")
    since["end"] = "2026-07-16T00:00:00Z"
    assert shown() == ["us1", "gb1", "live1"]
    set_locations(engine, tid, "alice0@contoso.com", None)  # no location: the tenant's
    set_country(engine, tid, "NO")  # NO: 150 days, for bob0 too
    set_locations(engine, tid, "bob0@contoso.com", None)
    assert shown() == ["us1", "gb1", "live1"]
    clock.set(utc(2026, 7, 18, 9, 0))  # cutoff 2026-02-18 09:00: us1 (08:00) goes
    since["end"] = "2026-07-18T00:00:00Z"
    assert shown() == ["gb1", "live1"]
    # The Graph call log keeps the same records (REP-3).
    from commcredits.services import insight

    page = insight.pstn_calls(svc, OPERATOR, tid, utc(2026, 2, 1), utc(2026, 4, 30))
    assert page.count == 2 and {r.call_id for r in page.rows} == {"gb1", "live1"}


def steps_per_page(engine: Engine, next_page: Callable[[], bool]) -> list[int]:
    """SQLite's virtual-machine steps, in hundreds, of each call of ``next_page`` until it
    returns False (the last page)."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    def watch(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_progress_handler(count, 100)

    def unwatch(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_progress_handler(None, 0)

    per_page: list[int] = []
    event.listen(engine, "checkout", watch)
    event.listen(engine, "checkin", unwatch)
    try:
        more = True
        while more:
            steps[0] = 0
            more = next_page()
            per_page.append(steps[0])
    finally:
        event.remove(engine, "checkout", watch)
        event.remove(engine, "checkin", unwatch)
    return per_page


@pytest.mark.rule("REP-1")
@pytest.mark.rule("REP-3")
def test_a_late_page_reads_no_more_of_the_table_than_the_first(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    """Each page's scan starts at its cursor: every page of a 1,500-call report, and of the
    Graph call log, costs SQLite about as many virtual-machine steps as the first. (Given
    two lower bounds on start_at, SQLite bounded the index scan by the range's; given only
    the range's, so did the call log: page k read the index entries of the k-1 pages before
    it.)"""
    if engine.dialect.name != "sqlite":
        pytest.skip("counts the steps of SQLite's virtual machine")
    from commcredits.services import insight

    tid = setup(svc)
    clock.set(utc(2026, 2, 20, 9, 0))
    body = HEADER + "".join(
        f",c{i:04d},bob0@contoso.com,user_out,+12065550101,{US_FIXED},"
        f"2026-02-{1 + i // 100:02d}T08:{i % 100 // 60:02d}:{i % 100 % 60:02d}Z,30\n"
        for i in range(1500)
    )
    assert cdrs.import_cdrs(svc, OPERATOR, tid, body).accepted == 1500
    expected = [f"c{i:04d}" for i in range(1500)]

    report = reports.pstn_usage(svc, OPERATOR, tid, period="28d")
    seen: list[str] = []
    cursor: list[str | None] = [None]

    def report_page() -> bool:
        rows, cursor[0] = report.page(100, cursor[0])
        seen.extend(str(r[1]) for r in rows)
        return cursor[0] is not None

    per_page = steps_per_page(engine, report_page)
    assert seen == expected
    # Without the one lower bound, each page cost ~5 steps more per 100 rows before it: the
    # fifteenth page 175 where the first cost 101.
    assert max(per_page[1:]) <= per_page[0] * 11 // 10, per_page

    logged: list[str] = []
    counts: list[int] = []
    after: list[insight.CallLogCursor | None] = [None]

    def log_page() -> bool:
        page = insight.pstn_calls(svc, OPERATOR, tid, utc(2026, 1, 25), utc(2026, 2, 20),
                                  top=100, after=after[0])
        logged.extend(r.call_id for r in page.rows)
        counts.append(page.count)
        after[0] = page.next_cursor
        return page.next_cursor is not None

    per_page = steps_per_page(engine, log_page)
    assert logged == expected
    assert counts == [1500] * len(counts)
    # The first page also counts the range (687 hundred steps in all); the others (133-137)
    # do not. Without the one lower bound they grew by about 40 a page (174 to 693); without
    # the count carried in the cursor, each page counted all 1,500 calls again (about 690).
    assert max(per_page[1:]) <= per_page[1] * 11 // 10 < per_page[0] // 2, per_page
