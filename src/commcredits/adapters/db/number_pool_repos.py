"""SQL repositories for phone numbers (NUM-*) and minute pool usage (POOL-*).

A number is assigned to a user or a resource account of its tenant, joined on the tenant
too (one shard on Citus, DIST-1). Pool usage is one row per tenant, month and pool, added to
under the tenant lock, plus a log of consumptions keyed by the caller's reference;
`SqlPools.check` is call authorization's one-statement read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, select, update

from commcredits.adapters.db import tables as t
from commcredits.domain.directory import AssigneeKind, NumberType, PhoneNumber
from commcredits.services.ports import PoolConsumptionRecord

U = t.users
N = t.phone_numbers
RA = t.resource_accounts
PU = t.pool_usage
_USED = select(PU.c.used_minutes).where(  # built once: read per pool and batch, and per call
    PU.c.tenant_id == bindparam("tenant_id"), PU.c.month == bindparam("month"),
    PU.c.pool_key == bindparam("pool_key"))
PC = t.pool_consumptions


class SqlNumbers:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, tenant_id: str, number: str, number_type: NumberType, at: datetime) -> None:
        self.conn.execute(insert(N).values(
            tenant_id=tenant_id, number=number, type=number_type.value, assignee_kind=None,
            assignee_id=None, created_at=at, updated_at=at,
        ))

    def _query(self, tenant_id: str) -> Any:
        upn = func.coalesce(U.c.upn, RA.c.upn).label("assignee_upn")
        return (
            select(N, upn)
            .select_from(
                # Joined on the tenant too: one shard's rows on Citus (DIST-1).
                N.outerjoin(U, and_(N.c.assignee_kind == AssigneeKind.USER.value,
                                    U.c.tenant_id == N.c.tenant_id,
                                    U.c.id == N.c.assignee_id))
                .outerjoin(RA, and_(N.c.assignee_kind == AssigneeKind.RESOURCE_ACCOUNT.value,
                                    RA.c.tenant_id == N.c.tenant_id,
                                    RA.c.id == N.c.assignee_id))
            )
            .where(N.c.tenant_id == tenant_id)
        )

    @staticmethod
    def _number(r: Any) -> PhoneNumber:
        return PhoneNumber(
            number=r.number, type=NumberType(r.type),
            assignee_kind=AssigneeKind(r.assignee_kind) if r.assignee_kind else None,
            assignee_id=r.assignee_id, assignee_upn=r.assignee_upn,
        )

    def get(self, tenant_id: str, number: str) -> PhoneNumber | None:
        row = self.conn.execute(self._query(tenant_id).where(N.c.number == number)).first()
        return self._number(row) if row else None

    def inventory(self, tenant_id: str) -> list[PhoneNumber]:
        rows = self.conn.execute(self._query(tenant_id).order_by(N.c.number))
        return [self._number(r) for r in rows]

    def held_by(self, tenant_id: str, kind: AssigneeKind, assignee_id: str) -> list[str]:
        return [r.number for r in self.conn.execute(select(N.c.number).where(
            N.c.tenant_id == tenant_id, N.c.assignee_kind == kind.value,
            N.c.assignee_id == assignee_id,
        ).order_by(N.c.number))]

    def assign(
        self, tenant_id: str, number: str, kind: AssigneeKind | None, assignee_id: str | None,
        at: datetime,
    ) -> None:
        self.conn.execute(update(N).where(N.c.tenant_id == tenant_id, N.c.number == number).values(
            assignee_kind=kind.value if kind else None, assignee_id=assignee_id, updated_at=at,
        ))

    def remove(self, tenant_id: str, number: str) -> None:
        self.conn.execute(N.delete().where(N.c.tenant_id == tenant_id, N.c.number == number))


_CHECK = ("SELECT (SELECT version FROM directory_versions WHERE tenant_id = {t}), "
          "(SELECT used_minutes FROM pool_usage WHERE tenant_id = {t} AND month = {m} "
          "AND pool_key = {k})")
_CHECK_SQL = {
    "sqlite": _CHECK.format(t=":t", m=":m", k=":k"),
    "postgresql": _CHECK.format(t="%(t)s", m="%(m)s", k="%(k)s"),
}


class SqlPools:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def check(self, tenant_id: str, month: str, pool_key: str) -> tuple[str | None, int]:
        """The hot path of call authorization: one statement, sent straight to the driver on
        this transaction's connection (no SQLAlchemy compile or result machinery)."""
        sql = _CHECK_SQL[self.conn.dialect.name]
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, {"t": tenant_id, "m": month, "k": pool_key})
            version, used = cursor.fetchone()
        finally:
            cursor.close()
        return version, int(used or 0)

    def used(self, tenant_id: str, month: str, pool_key: str) -> int:
        value = self.conn.execute(
            _USED, {"tenant_id": tenant_id, "month": month, "pool_key": pool_key},
        ).scalar_one_or_none()
        return int(value or 0)

    def usage(self, tenant_id: str, month: str) -> dict[str, int]:
        rows = self.conn.execute(select(PU.c.pool_key, PU.c.used_minutes).where(
            PU.c.tenant_id == tenant_id, PU.c.month == month,
        ))
        return {r.pool_key: int(r.used_minutes) for r in rows}

    def add_usage(
        self, tenant_id: str, month: str, pool_key: str, minutes: int, at: datetime,
    ) -> None:
        """Add minutes to a pool's usage; the caller holds the tenant lock."""
        changed = self.conn.execute(update(PU).where(
            PU.c.tenant_id == tenant_id, PU.c.month == month, PU.c.pool_key == pool_key,
        ).values(used_minutes=PU.c.used_minutes + minutes, updated_at=at)).rowcount
        if not changed:
            self.conn.execute(insert(PU).values(
                tenant_id=tenant_id, month=month, pool_key=pool_key, used_minutes=minutes,
                updated_at=at,
            ))

    def consumption(self, tenant_id: str, reference: str) -> PoolConsumptionRecord | None:
        r = self.conn.execute(select(PC).where(
            PC.c.tenant_id == tenant_id, PC.c.reference == reference,
        )).first()
        if r is None:
            return None
        return PoolConsumptionRecord(r.pool_key, r.month, r.reference, int(r.seconds),
                                     int(r.minutes_covered), int(r.uncovered_seconds), r.at)

    def record(self, tenant_id: str, row: PoolConsumptionRecord) -> None:
        self.conn.execute(insert(PC).values(
            tenant_id=tenant_id, month=row.month, pool_key=row.pool_key,
            reference=row.reference, seconds=row.seconds, minutes_covered=row.minutes_covered,
            uncovered_seconds=row.uncovered_seconds, at=row.at,
        ))
