"""PSTN usage exports (REP-2), written row by row into a binary file object.

- CSV: RFC 4180 through the `csv` module, a header row, UTC ISO 8601 times, money with two
  decimals.
- ZIP: `Export.callingplans.<id>.csv` and `parameters.json` (time range and filters). The CSV
  member is written through `ZipFile.open(..., "w")`, so no row is kept after it is written;
  deflate level 1 (`ZIP_LEVEL`).
- XLSX: XlsxWriter in `constant_memory` mode (each row is flushed to a temporary file as soon
  as the next starts), typed cells, a frozen header row, an autofilter, columns as wide as
  their header or their usual values (`column_width`), and a new sheet every 1,048,575 data
  rows.

`progress(n)` is called with the number of rows written so far, every `PROGRESS_EVERY` rows
and at the end.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import IO, Any

import xlsxwriter  # type: ignore[import-untyped]

Progress = Callable[[int], None]
PROGRESS_EVERY = 1000
XLSX_MAX_DATA_ROWS = 1_048_575  # 1,048,576 rows per sheet, less the header
# Deflate level 1: a third of level 6's CPU on the usage CSV for a file about 15% larger.
ZIP_LEVEL = 1


def _noop(done: int) -> None:
    return None


# The columns whose values `csv.writer` would not write as the export wants: times (UTC
# ISO 8601, `Z`). Every other value of a report row is text, a whole number, None (an empty
# field) or money: a Decimal of exactly two places (`domain.reports.cents`), whose ``str``
# is already its two-decimal text.
_TIME_COLUMNS = {"Start Time", "End Time"}
_MONEY_COLUMNS = {"Connection Fee", "Charge"}
_NUMBER_COLUMNS = {"Duration Seconds"}


def _csv_formatter(columns: Sequence[str]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """A row's CSV fields, the columns to convert chosen once from the column names."""
    times = [i for i, name in enumerate(columns) if name in _TIME_COLUMNS]

    def fields(row: Sequence[Any]) -> Sequence[Any]:
        out = list(row)
        for i in times:
            value = out[i]
            out[i] = "" if value is None else value.isoformat().replace("+00:00", "Z")
        return out

    return fields


def write_csv(
    text: IO[str], columns: Sequence[str], rows: Iterable[Sequence[Any]],
    progress: Progress = _noop,
) -> int:
    """Write the header and every row; return the number of rows."""
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(columns)
    fields = _csv_formatter(columns)
    remaining = iter(rows)
    done = 0
    while chunk := list(islice(remaining, PROGRESS_EVERY)):
        writer.writerows(map(fields, chunk))
        done += len(chunk)
        if len(chunk) < PROGRESS_EVERY:
            break
        progress(done)
    progress(done)
    return done


def csv_name(export_id: str) -> str:
    return f"Export.callingplans.{export_id}.csv"


def zip_name(export_id: str) -> str:
    return f"Export.callingplans.{export_id}.zip"


def write_zip(
    target: IO[bytes], export_id: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
    parameters: dict[str, Any], progress: Progress = _noop,
) -> int:
    """The ZIP download: the CSV and `parameters.json`; return the number of rows."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=ZIP_LEVEL) as archive:
        with archive.open(csv_name(export_id), "w", force_zip64=True) as member, \
                io.TextIOWrapper(member, encoding="utf-8", newline="") as text:
            done = write_csv(text, columns, rows, progress)
        archive.writestr("parameters.json",
                         json.dumps({**parameters, "rows": done}, indent=2) + "\n")
    return done


# How wide a column's values usually are, in characters, where that is wider than its name:
# ids are 36-character GUIDs, times are "2026-01-31 08:00:00", numbers are E.164.
_VALUE_WIDTHS = {
    "UsageId": 36, "Call ID": 36, "Microsoft Entra ObjectId": 36, "UPN": 30,
    "User Display Name": 20, "Caller ID": 16, "Destination Dialed": 20,
    "Destination Number": 16, "Start Time": 19, "End Time": 19,
}
# Room beside the text for the autofilter's drop-down button in the header row.
_FILTER_BUTTON = 3


def column_width(name: str) -> int:
    """A column's width in characters: its header or its usual values, whichever is wider,
    and the autofilter button."""
    return max(len(name), _VALUE_WIDTHS.get(name, 0)) + _FILTER_BUTTON


def _same(value: Any) -> Any:
    return value


def write_xlsx(
    target: IO[bytes], columns: Sequence[str], rows: Iterable[Sequence[Any]],
    progress: Progress = _noop, *, rows_per_sheet: int = XLSX_MAX_DATA_ROWS,
) -> int:
    """The XLSX download; return the number of rows. Times are written as UTC dates, money
    as numbers with two decimals, "Duration Seconds" as a number, the rest as text; each
    column's write method and format are chosen once, not per cell."""
    workbook = xlsxwriter.Workbook(target, {"constant_memory": True, "remove_timezone": True})
    header = workbook.add_format({"bold": True})
    date = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    money = workbook.add_format({"num_format": "0.00"})
    last_col = len(columns) - 1
    sheet: Any = None
    in_sheet = 0
    done = 0

    def close_sheet() -> None:
        sheet.autofilter(0, 0, max(in_sheet, 1), last_col)

    sheets = 0

    def new_sheet() -> Any:
        nonlocal sheets
        sheets += 1
        ws = workbook.add_worksheet("PSTN usage" if sheets == 1 else f"PSTN usage {sheets}")
        ws.freeze_panes(1, 0)
        for col, name in enumerate(columns):
            ws.set_column(col, col, column_width(name))
        ws.write_row(0, 0, list(columns), header)
        return ws

    def column_writers() -> list[tuple[Callable[..., Any], Any, Callable[[Any], Any]]]:
        """Per column, chosen once per sheet: its typed write method, format and value."""
        return [
            (sheet.write_datetime, date, _same) if name in _TIME_COLUMNS else
            (sheet.write_number, money, float) if name in _MONEY_COLUMNS else
            (sheet.write_number, None, _same) if name in _NUMBER_COLUMNS else
            (sheet.write_string, None, str)
            for name in columns
        ]

    try:
        sheet = new_sheet()
        writers = column_writers()
        for row in rows:
            if in_sheet == rows_per_sheet:
                close_sheet()
                sheet = new_sheet()
                writers = column_writers()
                in_sheet = 0
            in_sheet += 1
            for col, value in enumerate(row):
                if value is not None:
                    write, cell_format, convert = writers[col]
                    write(in_sheet, col, convert(value), cell_format)
            done += 1
            if done % PROGRESS_EVERY == 0:
                progress(done)
        close_sheet()
    finally:
        workbook.close()
    progress(done)
    return done
