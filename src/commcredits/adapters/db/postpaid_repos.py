"""SQL repository for post-usage billing (ACCT-6, POST-1, POST-2): the tenant's billing row,
the monthly overage lines and the statements issued for them (tables of migration 0004)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from commcredits.adapters.db import tables as t
from commcredits.domain.money import Money
from commcredits.services.ports import (
    OverageLineRecord,
    OverageStatementRecord,
    TenantBillingRecord,
)

B = t.tenant_billing
L = t.overage_lines
S = t.overage_statements


class SqlPostpaid:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def billing(self, tenant_id: str) -> TenantBillingRecord | None:
        r = self.conn.execute(select(B).where(B.c.tenant_id == tenant_id)).first()
        if r is None:
            return None
        return TenantBillingRecord(bool(r.overage_enabled), r.postpaid_since, r.updated_at)

    def set_postpaid_since(self, tenant_id: str, since: datetime | None, at: datetime) -> None:
        changed = self.conn.execute(
            update(B).where(B.c.tenant_id == tenant_id).values(postpaid_since=since)
        ).rowcount
        if not changed:
            self.conn.execute(insert(B).values(
                tenant_id=tenant_id, overage_enabled=True, postpaid_since=since, updated_at=at,
            ))

    def set_overage(self, tenant_id: str, enabled: bool, at: datetime) -> None:
        changed = self.conn.execute(
            update(B).where(B.c.tenant_id == tenant_id)
            .values(overage_enabled=enabled, updated_at=at)
        ).rowcount
        if not changed:
            self.conn.execute(insert(B).values(
                tenant_id=tenant_id, overage_enabled=enabled, postpaid_since=None,
                updated_at=at,
            ))

    @staticmethod
    def _line(r: Any, currency: str) -> OverageLineRecord:
        return OverageLineRecord(
            id=r.id, month=r.month, capability=r.capability, country=r.country,
            amount=Money(r.amount, currency), reference=r.reference, at=r.at,
        )

    def line_by_reference(
        self, tenant_id: str, reference: str, currency: str,
    ) -> OverageLineRecord | None:
        r = self.conn.execute(
            select(L).where(L.c.tenant_id == tenant_id, L.c.reference == reference)
        ).first()
        return self._line(r, currency) if r else None

    def add_line(
        self, tenant_id: str, month: str, capability: str, country: str, amount: Money,
        reference: str, at: datetime,
    ) -> None:
        self.conn.execute(insert(L).values(
            tenant_id=tenant_id, month=month, capability=capability, country=country,
            amount=amount.amount, currency=amount.currency, reference=reference, at=at,
        ))

    def lines(self, tenant_id: str, month: str, currency: str) -> list[OverageLineRecord]:
        rows = self.conn.execute(
            select(L).where(L.c.tenant_id == tenant_id, L.c.month == month).order_by(L.c.id)
        )
        return [self._line(r, currency) for r in rows]

    def statement(
        self, tenant_id: str, month: str, currency: str,
    ) -> OverageStatementRecord | None:
        r = self.conn.execute(
            select(S).where(S.c.tenant_id == tenant_id, S.c.month == month)
        ).first()
        if r is None:
            return None
        return OverageStatementRecord(r.month, r.invoice_id, Money(r.total, currency),
                                      r.issued_at)

    def add_statement(
        self, tenant_id: str, month: str, invoice_id: str | None, total: Money,
        issued_at: datetime,
    ) -> None:
        self.conn.execute(insert(S).values(
            tenant_id=tenant_id, month=month, invoice_id=invoice_id, total=total.amount,
            currency=total.currency, issued_at=issued_at,
        ))

    def unbilled_months(self, before_month: str) -> list[tuple[str, str]]:
        issued = select(S.c.tenant_id).where(
            and_(S.c.tenant_id == L.c.tenant_id, S.c.month == L.c.month)
        ).exists()
        rows = self.conn.execute(
            select(L.c.tenant_id, L.c.month).distinct()
            .where(L.c.month < before_month, ~issued)
            .order_by(L.c.month, L.c.tenant_id)
        )
        return [(r.tenant_id, r.month) for r in rows]
