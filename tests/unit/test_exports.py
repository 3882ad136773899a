"""The XLSX export's layout (REP-2), read back with openpyxl: every column at least as wide as
its header, and the id and time columns as wide as their values; the exact CSV text of
report rows made from stored records (REP-2, REP-4), and money rounded from micro-units."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest

from commcredits.adapters.exports.usage import write_csv, write_xlsx
from commcredits.domain.calls import CallSource, CallType
from commcredits.domain.money import from_micros
from commcredits.domain.reports import COLUMNS, UsageRecord, cents, money, report_rows


def widths(data: bytes) -> dict[str, float]:
    """Each header's column width; XlsxWriter writes one <col> per run of equal widths."""
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    by_index: dict[int, float] = {}
    for dim in sheet.column_dimensions.values():
        for index in range(dim.min, dim.max + 1):
            by_index[index] = dim.width
    headers = [c.value for c in sheet[1]]
    return {str(h): by_index.get(i, 0.0) for i, h in enumerate(headers, start=1)}


def a_row() -> tuple[object, ...]:
    values: dict[str, object] = {
        "UsageId": str(uuid.uuid4()), "Call ID": str(uuid.uuid4()),
        "Microsoft Entra ObjectId": str(uuid.uuid4()), "UPN": "megan.bowen@contoso.com",
        "Start Time": datetime(2026, 1, 31, 8, 0, tzinfo=UTC),
        "End Time": datetime(2026, 1, 31, 8, 5, tzinfo=UTC), "Duration Seconds": 300,
        "Connection Fee": Decimal("0.00"), "Charge": Decimal("1.25"),
        "Destination Number": "+442071234567",
    }
    return tuple(values.get(c, "x") for c in COLUMNS)


@pytest.mark.rule("REP-2")
def test_every_xlsx_column_is_at_least_as_wide_as_its_header() -> None:
    out = io.BytesIO()
    assert write_xlsx(out, COLUMNS, [a_row()]) == 1
    found = widths(out.getvalue())
    assert list(found) == list(COLUMNS)
    narrow = {h: w for h, w in found.items() if w < len(h)}
    assert narrow == {}
    for name in ("UsageId", "Call ID", "Microsoft Entra ObjectId"):
        assert found[name] >= 36  # a GUID
    assert found["Start Time"] >= len("2026-01-31 08:00:00")


def a_record(**changes: object) -> UsageRecord:
    record = UsageRecord(
        id="r1", usage_id="u1", call_id="c1", conference_id=None, user_location="DE",
        user_object_id="oid1", upn="megan@contoso.com", display_name="Megan, \"MB\"",
        caller="+4930123456", call_type=CallType.USER_OUT, callee="+33612345678",
        number_type=None, domestic=False, destination_name="France",
        external_country="FR", start_at=datetime(2026, 1, 31, 8, 0, 0, 250_000, tzinfo=UTC),
        end_at=datetime(2026, 1, 31, 8, 1, 1, tzinfo=UTC), duration=61,
        connection_fee_micros=None, charge_micros=244_999, currency="EUR",
        capability="MCOPSTN1", source=CallSource.CDR,
    )
    return record._replace(**changes)


@pytest.mark.rule("REP-2")
@pytest.mark.rule("REP-4")
def test_the_csv_text_of_report_rows_is_exact() -> None:
    inbound = a_record(usage_id="u2", call_id="c2", call_type=CallType.USER_IN,
                       caller="+4930999888", callee="+4930123456", number_type="fixed",
                       domestic=None, end_at=None, duration=None, connection_fee_micros=5_000,
                       charge_micros=-4_999, source=CallSource.LIVE, capability=None)
    text = io.StringIO(newline="")
    rows = report_rows([a_record(), inbound], "FR")
    assert write_csv(text, COLUMNS, rows) == 2
    assert text.getvalue().split("\r\n")[1:] == [
        'u1,c1,,DE,oid1,megan@contoso.com,"Megan, ""MB""",+4930123456,user_out,Outbound,,'
        "International,France,+3361234XXXX,FR,2026-01-31T08:00:00.250000Z,"
        "2026-01-31T08:01:01Z,61,0.00,0.24,EUR,MCOPSTN1,Microsoft,operator,",
        "u2,c2,,DE,oid1,megan@contoso.com,\"Megan, \"\"MB\"\"\",+493099XXXX,user_in,Inbound,"
        "fixed,,France,+4930123456,FR,2026-01-31T08:00:00.250000Z,,0,0.01,-0.00,EUR,,"
        "Microsoft,microsoft,",
        "",
    ]


@pytest.mark.rule("REP-1")
@pytest.mark.parametrize("micros", [None, 0, 1, 4_999, 5_000, -5_000, -4_999, 244_999,
                                    12_345_678, -12_345_678, 10**15 + 5_000])
def test_cents_rounds_micro_units_as_money_does(micros: int | None) -> None:
    expected = money(None if micros is None else from_micros(micros))
    assert cents(micros).as_tuple() == expected.as_tuple()
    assert str(cents(micros)) == f"{expected:.2f}"
