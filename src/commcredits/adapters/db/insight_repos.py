"""SQL repository for insight and the Graph PSTN call log (REP-3, REP-5).

Everything is set-based: days and groups are summed in SQL (integer micro-units), and call
log pages are read by keyset on (start_at, id) (`report_repos.keyset_page`), which
`ix_calls_tenant_start` serves.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, case, func, select

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.report_repos import keyset_page, retained
from commcredits.adapters.db.types import MicroAmount
from commcredits.domain.calls import FINISHED_STATUSES, Call
from commcredits.domain.reports import Retention
from commcredits.services.ports import RatedCallRecord, SpendRecord

C = t.calls
E = t.ledger_entries
FINISHED = tuple(status.value for status in FINISHED_STATUSES)
_GROUPS: dict[str, Any] = {
    "day": func.date(C.c.start_at),
    "user": func.coalesce(C.c.upn, C.c.user_object_id, ""),
    "country": func.coalesce(C.c.external_country, ""),
    "capability": func.coalesce(C.c.capability, ""),
}


def _day(value: Any) -> str:
    """SQLite's date() answers text, PostgreSQL's a date."""
    return value if isinstance(value, str) else value.isoformat()


class SqlInsight:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def ledger_days(self, tenant_id: str) -> list[tuple[str, Decimal, Decimal]]:
        day = func.date(E.c.at)
        charges = case((E.c.kind == "charge", -E.c.amount), else_=0)
        rows = self.conn.execute(
            select(day.label("day"),
                   func.sum(E.c.amount, type_=MicroAmount).label("net"),
                   func.sum(charges, type_=MicroAmount).label("spend"))
            .where(E.c.tenant_id == tenant_id).group_by(day).order_by(day)
        )
        return [(_day(r.day), r.net, r.spend) for r in rows]

    def _finished(self, tenant_id: str, start: datetime, end: datetime,
                  retention: Retention | None = None, *, end_included: bool = True) -> Any:
        """Finished calls started from ``start`` to ``end`` (included for Graph's range,
        not for spend's, which ends at the start of the day after its last)."""
        kept = (retained(retention),) if retention is not None else ()
        until = C.c.start_at <= end if end_included else C.c.start_at < end
        return (C.c.tenant_id == tenant_id, C.c.status.in_(FINISHED),
                C.c.start_at >= start, until, *kept)

    def spend(
        self, tenant_id: str, start: datetime, end: datetime, group_by: str,
    ) -> list[SpendRecord]:
        key = _GROUPS[group_by]
        rows = self.conn.execute(
            select(key.label("key"), func.count().label("calls"),
                   func.coalesce(func.sum(C.c.duration), 0).label("seconds"),
                   func.coalesce(func.sum(C.c.charge), 0, type_=MicroAmount).label("amount"))
            .where(*self._finished(tenant_id, start, end, end_included=False))
            .group_by(key).order_by(key)
        )
        return [SpendRecord(_day(r.key) if group_by == "day" else str(r.key), int(r.calls),
                            int(r.seconds), r.amount) for r in rows]

    def count_calls(self, tenant_id: str, start: datetime, end: datetime,
                    retention: Retention | None = None) -> int:
        return int(self.conn.execute(
            select(func.count()).select_from(C)
            .where(*self._finished(tenant_id, start, end, retention))
        ).scalar_one())

    def calls_page(
        self, tenant_id: str, start: datetime, end: datetime,
        after: tuple[datetime, str] | None, limit: int, retention: Retention | None = None,
    ) -> list[RatedCallRecord]:
        lower, continues = keyset_page(start, after)
        query = select(C).where(*self._finished(tenant_id, lower, end, retention))
        if continues is not None:
            query = query.where(continues)
        rows = self.conn.execute(query.order_by(C.c.start_at, C.c.id).limit(limit))
        return [RatedCallRecord.of(Call.of_row(tuple(r))) for r in rows]
