"""SQL repository for planning (PLAN-1, PLAN-2): a tenant's finished calls of a period, in
start order, for re-rating in memory (`ix_calls_tenant_start`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from commcredits.adapters.db import tables as t
from commcredits.domain.calls import FINISHED_STATUSES, Call

C = t.calls
FINISHED = tuple(status.value for status in FINISHED_STATUSES)


class SqlPlanning:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def finished_calls(self, tenant_id: str, since: datetime, until: datetime) -> list[Call]:
        rows = self.conn.execute(
            select(C).where(C.c.tenant_id == tenant_id, C.c.status.in_(FINISHED),
                            C.c.start_at >= since, C.c.start_at < until)
            .order_by(C.c.start_at, C.c.id)
        )
        return [Call.of_row(tuple(r)) for r in rows]
