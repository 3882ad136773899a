"""SQL repository for rate tables (RATE-1, RATE-3): versions per currency and their rows.

A version is one `rate_tables` row plus its `rates` rows, written in the caller's
transaction with one executemany (100,000 rows import in a few seconds). Version numbers
are per currency and consecutive: on PostgreSQL the import locks `rate_tables` so two
imports of the same currency cannot pick the same number; on SQLite every writing unit of
work already holds the database's write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, func, insert, select, text, type_coerce

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.types import from_micros, to_micros
from commcredits.domain.money import Money
from commcredits.domain.rating import Direction, NumberType, Rate
from commcredits.services.ports import RateTableRecord

RT = t.rate_tables
R = t.rates
# Amounts are read as raw micro-units, so equal amounts share one Money (a table has few).
_ROW_COLS = (
    R.c.id, R.c.prefix, R.c.destination, R.c.number_type, R.c.direction,
    type_coerce(R.c.rate_per_minute, BigInteger).label("rate_per_minute"),
    type_coerce(R.c.connection_fee, BigInteger).label("connection_fee"),
    R.c.first_increment, R.c.next_increment, R.c.effective_from, R.c.effective_to,
)


class SqlRates:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @staticmethod
    def _table(r: Any) -> RateTableRecord:
        return RateTableRecord(
            id=int(r.id), currency=r.currency, version=int(r.version),
            imported_at=r.imported_at, rows=int(r.rows), source=r.source, sha256=r.sha256,
        )

    def add_table(
        self, currency: str, imported_at: datetime, source: str, sha256: str,
        rates: Sequence[Rate],
    ) -> RateTableRecord:
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("LOCK TABLE rate_tables IN SHARE ROW EXCLUSIVE MODE"))
        last = self.conn.execute(
            select(func.max(RT.c.version)).where(RT.c.currency == currency)
        ).scalar_one_or_none()
        version = int(last or 0) + 1
        table_id = int(self.conn.execute(insert(RT).values(
            currency=currency, version=version, imported_at=imported_at, rows=len(rates),
            source=source[:200], sha256=sha256,
        ).returning(RT.c.id)).scalar_one())
        # Amounts go in as micro-units (ints pass MicroAmount untouched): one executemany.
        self.conn.execute(insert(R), [
            {
                "table_id": table_id, "prefix": r.prefix, "destination": r.destination[:100],
                "number_type": r.number_type.value, "direction": r.direction.value,
                "rate_per_minute": to_micros(r.rate_per_minute.amount),
                "connection_fee": to_micros(r.connection_fee.amount),
                "first_increment": r.first_increment, "next_increment": r.next_increment,
                "effective_from": r.effective_from, "effective_to": r.effective_to,
            }
            for r in rates
        ])
        return RateTableRecord(table_id, currency, version, imported_at, len(rates),
                               source[:200], sha256)

    def tables(self, currency: str) -> list[RateTableRecord]:
        rows = self.conn.execute(
            select(RT).where(RT.c.currency == currency).order_by(RT.c.version)
        )
        return [self._table(r) for r in rows]

    def rows(self, table_id: int, currency: str) -> list[tuple[int, Rate]]:
        result = self.conn.execute(
            select(*_ROW_COLS).where(R.c.table_id == table_id).order_by(R.c.id)
        )
        money: dict[int, Money] = {}

        def amount(micros: int) -> Money:
            found = money.get(micros)
            if found is None:
                found = money[micros] = Money(from_micros(int(micros)), currency)
            return found

        return [
            (int(r.id), Rate(
                r.prefix, r.destination, NumberType(r.number_type), Direction(r.direction),
                amount(r.rate_per_minute), amount(r.connection_fee),
                int(r.first_increment), int(r.next_increment), r.effective_from,
                r.effective_to,
            ))
            for r in result
        ]

    def table_of(self, rate_id: int) -> RateTableRecord | None:
        row = self.conn.execute(
            select(RT).where(RT.c.id == select(R.c.table_id).where(R.c.id == rate_id)
                             .scalar_subquery())
        ).first()
        return self._table(row) if row else None

    def in_force(self, currency: str, at: datetime) -> RateTableRecord | None:
        row = self.conn.execute(
            select(RT).where(RT.c.currency == currency, RT.c.imported_at <= at)
            .order_by(RT.c.version.desc()).limit(1)
        ).first()
        if row is None:
            row = self.conn.execute(
                select(RT).where(RT.c.currency == currency).order_by(RT.c.version).limit(1)
            ).first()
        return self._table(row) if row else None
