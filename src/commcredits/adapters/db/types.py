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

from commcredits.domain.money import MICROS, from_micros, to_micros

__all__ = ["MICROS", "MicroAmount", "UTCDateTime", "from_micros", "to_micros"]


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
    """A timezone-aware UTC datetime on every database, stored as naive UTC.

    On SQLite, which keeps the text its DATETIME wrote (``YYYY-MM-DD HH:MM:SS.ffffff``), a
    read is one ``datetime.fromisoformat`` of that text with ``+00:00``: a tenth of what
    SQLAlchemy's parser and then `process_result_value` cost (docs/benchmarks.md, "Usage
    export"). Any other text still goes through both.
    """

    impl = DateTime
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        composed = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or composed is None:
            return composed
        parse = datetime.fromisoformat

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            try:
                return parse(value + "+00:00")
            except (TypeError, ValueError):  # not DATETIME's text: the composed processor
                return composed(value)

        return process

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
