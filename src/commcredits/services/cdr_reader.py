"""Reading a CDR file as a stream (CDR-1, CDR-3): lines in, rows out, in memory that does
not grow with the file.

A file is read twice, line by line, never whole:

1. `scan` checks what makes a file malformed (not UTF-8, a NUL or a lone surrogate, no
   header or a header without the export's columns, a CSV field over 131,072 characters,
   a line that is not a JSON object) and counts its data rows (a file of any size, CDR-3),
   so a malformed file is still refused whole before anything is applied;
2. `rows` reads it again and yields each data row with its line number, as a dict for
   `cdrs._request` to accept or to reject with its reason (one parser for CSV and JSON
   lines).

The source is bytes, text, or a seekable binary file (the CLI's open file, the API's
spooled request body); a file is rewound for each pass.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import IO, Any

from commcredits.domain.errors import InvalidInput
from commcredits.domain.text import check_json_line, read_upload_lines

REQUIRED = ("Call ID", "Call Type", "Caller ID", "Destination Number", "Start Time",
            "Duration Seconds")
MAX_LINE = 4 * 1024 * 1024  # bytes per physical line (a CSV field is at most 131,072 chars)
Source = bytes | str | IO[bytes]
Row = tuple[int, dict[Any, Any]]


def refuse(message: str) -> InvalidInput:
    """The refusal of a malformed file."""
    return InvalidInput("INVALID_CDR_FILE", message + " Nothing was imported.")


def _physical(source: Source) -> Iterator[bytes | str]:
    """The source's lines, each with its line end, read one at a time."""
    if isinstance(source, str):
        yield from io.StringIO(source)
        return
    stream: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source
    stream.seek(0)
    number = 0
    while True:
        line = stream.readline(MAX_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            raise InvalidInput(
                "INVALID_CDR_FILE",
                f"Line {number} is longer than {MAX_LINE:,} bytes. Nothing was imported.",
                {"line": number},
            )
        yield line


def lines(source: Source) -> Iterator[str]:
    """The file's text lines through the one upload reader (UTF-8, no NUL, ERR-1)."""
    return read_upload_lines(_physical(source),
                             lambda _: refuse("The file must be UTF-8 text."))


def _is_json(source: Source) -> bool | None:
    """True for JSON lines (the first text is ``{``), False for CSV, None when empty."""
    for line in lines(source):
        stripped = line.lstrip()
        if stripped:
            return stripped.startswith("{")
    return None


def scan(source: Source) -> int:
    """Refuse a malformed file whole (see the module); the number of its data rows."""
    kind = _is_json(source)
    if kind is None:
        raise refuse("The file is empty.")
    count = 0
    if kind:
        for number, line in enumerate(lines(source), start=1):
            if line.strip():
                _json_row(number, line)
                count += 1
        return count
    reader = csv.reader(lines(source))
    try:
        _header(reader)
        for values in reader:
            if values:
                count += 1
    except csv.Error as exc:
        raise _not_csv(reader.line_num, exc) from None
    return count


def _json_row(number: int, line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        raise refuse(f"Line {number} is not JSON.") from None
    if not isinstance(value, dict):
        raise refuse(f"Line {number} is not a JSON object.")
    check_json_line(value, number)
    return value


def _header(reader: Any) -> list[str]:
    """The CSV header, refused when it lacks a required column (naming them)."""
    header: list[str] = next(reader, [])
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput(
            "INVALID_CDR_FILE",
            f"The header lacks {', '.join(missing)}; use the PSTN usage export's "
            "column names. Nothing was imported.", {"missing": missing},
        )
    return header


def _not_csv(line: int, exc: csv.Error) -> InvalidInput:
    """Python's CSV reader stopped (a field over 131,072 characters): the whole file is
    refused, at that line (CDR-1)."""
    return InvalidInput(
        "INVALID_CDR_FILE",
        f"The file is not valid CSV at line {line} ({exc}). Nothing was imported.",
        {"line": line},
    )


def rows(source: Source) -> Iterator[Row]:
    """The data rows with their line numbers, lazily, of a file `scan` has passed."""
    if _is_json(source):
        for number, line in enumerate(lines(source), start=1):
            if line.strip():
                yield number, _json_row(number, line)
        return
    reader = csv.reader(lines(source))
    try:
        yield from _csv_rows(reader)
    except csv.Error as exc:  # the file changed since `scan`
        raise _not_csv(reader.line_num, exc) from None


def _csv_rows(reader: Any) -> Iterator[Row]:
    """The rows of a CSV file with a header, read by ``reader`` (a `csv.reader`)."""
    header = _header(reader)
    width = len(header)
    for values in reader:
        if not values:
            continue  # DictReader skips blank lines
        line = reader.line_num
        row: dict[Any, Any] = dict(zip(header, values, strict=False))
        if len(values) > width:
            row[None] = values[width:]
        for name in header[len(values):]:
            row[name] = None
        yield line, row
