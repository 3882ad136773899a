"""SQL repository for calls: live reservations and rated usage (CALL-7, CALL-8, CDR-1)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from commcredits.adapters.db import tables as t
from commcredits.domain.money import Money

C = t.calls
OPEN = ("authorized", "active")


class SqlCalls:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, tenant_id: str, call_id: str, usage_id: str) -> Any:
        return self.conn.execute(select(C).where(
            C.c.tenant_id == tenant_id, C.c.call_id == call_id, C.c.usage_id == usage_id,
        )).first()

    def add(self, tenant_id: str, values: dict[str, Any]) -> None:
        self.conn.execute(insert(C).values(tenant_id=tenant_id, **values))

    def update(self, tenant_id: str, row_id: str, **values: Any) -> None:
        self.conn.execute(
            update(C).where(C.c.tenant_id == tenant_id, C.c.id == row_id).values(**values)
        )

    def reserved(self, tenant_id: str, currency: str, *, exclude: str | None = None) -> Money:
        query = select(func.coalesce(func.sum(C.c.reserved), 0, type_=C.c.reserved.type)) \
            .where(C.c.tenant_id == tenant_id, C.c.status.in_(OPEN))
        if exclude is not None:
            query = query.where(C.c.id != exclude)
        value = self.conn.execute(query).scalar_one()
        return Money(value if isinstance(value, Decimal) else Decimal(value), currency)

    def stale(self, cutoff: datetime) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            select(C.c.tenant_id, C.c.call_id)
            .where(C.c.status.in_(OPEN), C.c.last_update_at <= cutoff,
                   C.c.call_id == C.c.usage_id)
            .order_by(C.c.last_update_at)
        )
        return [(r.tenant_id, r.call_id) for r in rows]
