"""The XLSX export's layout (REP-2), read back with openpyxl: every column at least as wide as
its header, and the id and time columns as wide as their values."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest

from commcredits.adapters.exports.usage import write_xlsx
from commcredits.domain.reports import COLUMNS


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
        "Charge": Decimal("1.25"), "Destination Number": "+442071234567",
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
