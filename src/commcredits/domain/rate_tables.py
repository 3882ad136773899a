"""The rate table CSV format (RATE-1, RATE-3, RATE-4, SPEC §4), parsed all or nothing.

Columns, in any order: prefix, destination, number_type, direction, rate_per_minute,
connection_fee, first_increment, next_increment, effective_from, and optional effective_to.
Every bad row is reported with its line number; one bad row refuses the whole table.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from commcredits.domain.errors import InvalidInput
from commcredits.domain.money import MAX_PURCHASE, Money, parse_amount
from commcredits.domain.rating import Direction, NumberType, Rate
from commcredits.domain.text import read_upload

REQUIRED = ("prefix", "destination", "number_type", "direction", "rate_per_minute",
            "connection_fee", "first_increment", "next_increment", "effective_from")
OPTIONAL = ("effective_to",)
MAX_ROWS = 500_000
MAX_RATE = MAX_PURCHASE  # a rate per minute or connection fee above a purchase is a typo


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    error: str


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _increment(text: str, name: str) -> int:
    if not text.strip().isdigit() or int(text) < 1 or int(text) > 3600:
        raise ValueError(f"{name} must be a whole number of seconds from 1 to 3600")
    return int(text)


def parse_rate_csv(data: bytes | str, currency: str) -> list[Rate]:
    """Parse a whole table, or raise INVALID_RATE_TABLE listing every bad line."""
    text = read_upload(data, lambda _: InvalidInput(
        "INVALID_RATE_TABLE", "The rate table must be UTF-8 text."))
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise _csv_error(reader, exc) from None
    missing = [c for c in REQUIRED if c not in header]
    extra = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or extra or len(set(header)) != len(header):
        raise InvalidInput(
            "INVALID_RATE_TABLE",
            "The header must hold exactly the columns "
            f"{', '.join(REQUIRED)} and optionally effective_to.",
            {"missing": missing, "extra": extra},
        )
    reader.fieldnames = header
    rates: list[Rate] = []
    errors: list[RowError] = []
    seen: set[tuple[str, str, datetime]] = set()
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _csv_error(reader, exc) from None
        line = reader.line_num
        try:
            if None in row or any(v is None for v in row.values()):
                raise ValueError("wrong number of fields")
            rate = _row(row, currency)
            key = (rate.direction.value, rate.prefix, rate.effective_from)
            if key in seen:
                raise ValueError("duplicate prefix, direction and effective_from")
            seen.add(key)
            rates.append(rate)
        except (ValueError, InvalidInput) as exc:
            message = exc.message if isinstance(exc, InvalidInput) else str(exc)
            errors.append(RowError(line, message))
        if len(rates) + len(errors) > MAX_ROWS:
            raise InvalidInput("INVALID_RATE_TABLE", f"At most {MAX_ROWS} rows per table.")
    if errors:
        raise InvalidInput(
            "INVALID_RATE_TABLE",
            f"{len(errors)} row(s) are not valid; nothing was imported. Fix them and retry.",
            {"errors": [{"line": e.line, "error": e.error} for e in errors[:1000]]},
        )
    if not rates:
        raise InvalidInput("INVALID_RATE_TABLE", "The rate table has no rows.")
    return rates


def _csv_error(reader: csv.DictReader[str], exc: csv.Error) -> InvalidInput:
    """The whole file is refused at the line Python's CSV reader stopped on (a field over
    131,072 characters, a NUL byte)."""
    line = reader.reader.line_num
    return InvalidInput(
        "INVALID_RATE_TABLE",
        f"The file is not valid CSV at line {line} ({exc}); nothing was imported.",
        {"line": line, "errors": [{"line": line, "error": str(exc)}]},
    )


def _row(row: dict[str, str], currency: str) -> Rate:
    prefix = row["prefix"].strip().lstrip("+")
    if not (prefix.isascii() and prefix.isdigit()) or len(prefix) > 15:
        raise ValueError("prefix must be E.164 digits without +")
    destination = row["destination"].strip()
    if not destination:
        raise ValueError("destination is required")
    try:
        number_type = NumberType(row["number_type"].strip())
    except ValueError:
        raise ValueError(
            f"number_type must be one of {', '.join(t.value for t in NumberType)}") from None
    try:
        direction = Direction(row["direction"].strip())
    except ValueError:
        raise ValueError("direction must be outbound or toll_free_inbound") from None
    rate = parse_amount(row["rate_per_minute"], max_places=6)
    fee = parse_amount(row["connection_fee"], max_places=6)
    if rate < 0 or fee < 0:
        raise ValueError("amounts must be 0 or more")
    if rate > MAX_RATE or fee > MAX_RATE:
        raise ValueError(f"amounts must be at most {MAX_RATE}")
    first = _increment(row["first_increment"], "first_increment")
    step = _increment(row["next_increment"], "next_increment")
    try:
        start = _time(row["effective_from"])
        end_text = (row.get("effective_to") or "").strip()
        end = _time(end_text) if end_text else None
    except ValueError:
        raise ValueError("dates must be ISO 8601, e.g. 2026-01-01T00:00:00Z") from None
    if end is not None and end <= start:
        raise ValueError("effective_to must be after effective_from")
    return Rate(prefix, destination, number_type, direction, Money(rate, currency),
                Money(fee, currency), first, step, start, end)


def rate_amount(value: Decimal) -> str:
    return f"{value.normalize():f}"
