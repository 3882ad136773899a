"""Column types: money as integer micro-units, times as timezone-aware UTC.

SQLite's NUMERIC loses digits, so every amount is stored as BIGINT micro-units (10^-6) and
summed as integers. SQLite keeps no time zone, so times are stored as naive UTC and handed
back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect
from sqlalchemy.types import TypeDecorator

MICROS = 1_000_000
CENT = Decimal("0.01")


def to_micros(amount: Decimal) -> int:
    scaled = amount * MICROS
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than 6 decimal places")
    return int(scaled)


def from_micros(value: int) -> Decimal:
    """Micro-units back to a Decimal: 2 places when exact in cents, else up to 6."""
    exact = Decimal(value).scaleb(-6)
    cents = exact.quantize(CENT)
    return cents if cents == exact else exact.normalize()


class MicroAmount(TypeDecorator[Decimal]):
    """A Decimal stored exactly as BIGINT micro-units."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, int):
            return value
        return to_micros(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else from_micros(int(value))


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC")
        return moment.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
