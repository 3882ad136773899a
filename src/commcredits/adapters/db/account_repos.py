"""The tenant-account repositories (SQLAlchemy Core): tenants and their settings,
invoices, payment methods, API keys, the audit log and seat subscriptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.compiled import keyed_params, keyed_update
from commcredits.domain.money import Money
from commcredits.domain.payments import PaymentMethod, PaymentMethodType
from commcredits.domain.tenants import BillingAccountType, Cloud, Contact, Role, Tenant
from commcredits.services.ports import (
    ApiKeyRecord,
    AuditRecord,
    InvoiceRecord,
)

# Read on every API request (access checks) and several times per auto-recharge: built once,
# so each read skips constructing the statement (69 µs → 19 µs on SQLite).
_TENANT = select(t.tenants).where(t.tenants.c.id == bindparam("tenant_id"))
_API_KEY = select(t.api_keys).where(t.api_keys.c.key_hash == bindparam("key_hash"))
_PAYMENT_METHOD = select(t.payment_methods).where(
    t.payment_methods.c.tenant_id == bindparam("tenant_id"),
    t.payment_methods.c.removed_at.is_(None), t.payment_methods.c.id == bindparam("method_id"))
# Each auto-recharge writes an invoice and an audit row and reads the invoice back: built
# once, their values given as parameters (`.values(...)` per call rebuilt and cache-keyed
# the statement each time).
_ADD_INVOICE = insert(t.invoices)
_INVOICE = select(t.invoices).where(
    t.invoices.c.tenant_id == bindparam("tenant_id"),
    (t.invoices.c.id == bindparam("invoice")) | (t.invoices.c.number == bindparam("invoice")))
_ADD_AUDIT = insert(t.audit_log)
_CONTACTS = select(t.contacts).where(t.contacts.c.tenant_id == bindparam("tenant_id")) \
    .order_by(t.contacts.c.id)


class Repo:
    """A repository on one transaction's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn


class SqlTenants(Repo):
    def add(self, tenant: Tenant, contacts: Sequence[Contact], at: datetime) -> None:
        self.conn.execute(insert(t.tenants).values(
            id=tenant.id, name=tenant.name, country=tenant.country, currency=tenant.currency,
            billing_account_type=tenant.billing_account_type.value,
            billing_country=tenant.billing_country, cloud=tenant.cloud.value,
            ea_region_exception=tenant.ea_region_exception, created_at=at,
        ))
        if contacts:
            self.conn.execute(insert(t.contacts), [
                {"tenant_id": tenant.id, "email": c.email, "role": c.role.value}
                for c in contacts
            ])

    @staticmethod
    def _tenant(row: Any) -> Tenant:
        return Tenant(
            id=row.id, name=row.name, country=row.country, currency=row.currency,
            billing_account_type=BillingAccountType(row.billing_account_type),
            billing_country=row.billing_country, cloud=Cloud(row.cloud),
            ea_region_exception=bool(row.ea_region_exception),
        )

    def get(self, tenant_id: str) -> Tenant | None:
        row = self.conn.execute(_TENANT, {"tenant_id": tenant_id}).first()
        return self._tenant(row) if row else None

    def contacts(self, tenant_id: str) -> list[Contact]:
        rows = self.conn.execute(_CONTACTS, {"tenant_id": tenant_id})
        return [Contact(r.email, Role(r.role)) for r in rows]

    def set_ea_exception(self, tenant_id: str, value: bool) -> None:
        self.conn.execute(
            update(t.tenants).where(t.tenants.c.id == tenant_id).values(ea_region_exception=value)
        )

    def set_billing_account_type(self, tenant_id: str, value: BillingAccountType) -> None:
        self.conn.execute(
            update(t.tenants).where(t.tenants.c.id == tenant_id)
            .values(billing_account_type=value.value)
        )

    def list(self) -> list[Tenant]:
        rows = self.conn.execute(select(t.tenants).order_by(t.tenants.c.created_at, t.tenants.c.id))
        return [self._tenant(r) for r in rows]


class SqlInvoices(Repo):
    def add(
        self, tenant_id: str, invoice_id: str, seq: int, number: str, issued_at: datetime,
        total: Money, lot_id: int | None, document: dict[str, Any],
    ) -> None:
        self.conn.execute(_ADD_INVOICE, {
            "id": invoice_id, "tenant_id": tenant_id, "seq": seq, "number": number,
            "issued_at": issued_at, "currency": total.currency, "total": total.amount,
            "lot_id": lot_id, "document": document,
        })

    @staticmethod
    def _invoice(r: Any, currency: str) -> InvoiceRecord:
        return InvoiceRecord(
            id=r.id, number=r.number, seq=r.seq, issued_at=r.issued_at,
            total=Money(r.total, currency), lot_id=r.lot_id, document=dict(r.document),
        )

    def get(self, tenant_id: str, invoice_id: str, currency: str) -> InvoiceRecord | None:
        row = self.conn.execute(_INVOICE, {"tenant_id": tenant_id, "invoice": invoice_id}).first()
        return self._invoice(row, currency) if row else None

    def list(self, tenant_id: str, currency: str) -> list[InvoiceRecord]:
        rows = self.conn.execute(
            select(t.invoices).where(t.invoices.c.tenant_id == tenant_id)
            .order_by(t.invoices.c.seq.desc())
        )
        return [self._invoice(r, currency) for r in rows]


class SqlPaymentMethods(Repo):
    """Payment methods; removed ones stay as rows (removed_at) but are never returned."""

    def add(self, method: PaymentMethod, at: datetime) -> None:
        self.conn.execute(insert(t.payment_methods).values(
            id=method.id, tenant_id=method.tenant_id, type=method.type.value, brand=method.brand,
            last4=method.last4, exp_month=method.exp_month, exp_year=method.exp_year,
            token=method.token, created_at=at, fingerprint=method.fingerprint,
        ))

    @staticmethod
    def _method(r: Any) -> PaymentMethod:
        return PaymentMethod(
            id=r.id, tenant_id=r.tenant_id, type=PaymentMethodType(r.type), brand=r.brand,
            last4=r.last4, exp_month=r.exp_month, exp_year=r.exp_year, token=r.token,
            fingerprint=r.fingerprint, last_paid_at=r.last_paid_at,
            last_failed_at=r.last_failed_at,
        )

    def _active(self, tenant_id: str) -> Any:
        pm = t.payment_methods
        return select(pm).where(pm.c.tenant_id == tenant_id, pm.c.removed_at.is_(None))

    def get(self, tenant_id: str, method_id: str) -> PaymentMethod | None:
        row = self.conn.execute(_PAYMENT_METHOD,
                                {"tenant_id": tenant_id, "method_id": method_id}).first()
        return self._method(row) if row else None

    def list(self, tenant_id: str) -> list[PaymentMethod]:
        rows = self.conn.execute(self._active(tenant_id).order_by(
            t.payment_methods.c.created_at, t.payment_methods.c.id))
        return [self._method(r) for r in rows]

    def find_card(
        self, tenant_id: str, fingerprint: str, exp_month: int, exp_year: int,
    ) -> PaymentMethod | None:
        pm = t.payment_methods
        row = self.conn.execute(self._active(tenant_id).where(
            pm.c.fingerprint == fingerprint, pm.c.exp_month == exp_month,
            pm.c.exp_year == exp_year,
        ).order_by(pm.c.created_at, pm.c.id)).first()
        return self._method(row) if row else None

    def remove(self, tenant_id: str, method_id: str, at: datetime) -> None:
        pm = t.payment_methods
        self.conn.execute(update(pm).where(
            pm.c.tenant_id == tenant_id, pm.c.id == method_id, pm.c.removed_at.is_(None),
        ).values(removed_at=at))

    def record_payment(
        self, tenant_id: str, method_id: str, at: datetime, *, succeeded: bool,
    ) -> None:
        column = "last_paid_at" if succeeded else "last_failed_at"
        self.conn.execute(keyed_update(t.payment_methods, (column,), by_id=True),
                          keyed_params({column: at}, tenant_id=tenant_id, id=method_id))


class SqlAccess(Repo):
    def add_key(
        self, key_id: str, key_hash: str, prefix: str, *, tenant_id: str | None,
        partner_id: str | None, role: Role, name: str, at: datetime,
    ) -> None:
        self.conn.execute(insert(t.api_keys).values(
            id=key_id, tenant_id=tenant_id, partner_id=partner_id, role=role.value, name=name,
            prefix=prefix, key_hash=key_hash, created_at=at,
        ))

    def revoke_keys(self, tenant_id: str, role: Role, name: str) -> list[str]:
        k = t.api_keys.c
        found = (k.tenant_id == tenant_id) & (k.role == role.value) & (k.name == name)
        ids = list(self.conn.execute(select(k.id).where(found).order_by(k.id)).scalars())
        if ids:
            self.conn.execute(delete(t.api_keys).where(k.id.in_(ids)))
        return ids

    def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        r = self.conn.execute(_API_KEY, {"key_hash": key_hash}).first()
        if r is None:
            return None
        return ApiKeyRecord(r.id, r.tenant_id, r.partner_id, Role(r.role), r.name)

    def add_partner(self, partner_id: str, name: str, at: datetime) -> None:
        self.conn.execute(insert(t.partners).values(id=partner_id, name=name, created_at=at))

    def partner_name(self, partner_id: str) -> str | None:
        return self.conn.execute(
            select(t.partners.c.name).where(t.partners.c.id == partner_id)
        ).scalar_one_or_none()

    def bind_partner(self, partner_id: str, tenant_id: str) -> None:
        if not self.partner_bound(partner_id, tenant_id):
            self.conn.execute(
                insert(t.partner_tenants).values(partner_id=partner_id, tenant_id=tenant_id)
            )

    def partner_bound(self, partner_id: str, tenant_id: str) -> bool:
        return self.conn.execute(select(t.partner_tenants).where(
            t.partner_tenants.c.partner_id == partner_id,
            t.partner_tenants.c.tenant_id == tenant_id,
        )).first() is not None


class SqlAudit(Repo):
    def add(
        self, tenant_id: str, at: datetime, actor: str, action: str, details: dict[str, Any],
    ) -> None:
        self.conn.execute(_ADD_AUDIT, {"tenant_id": tenant_id, "at": at, "actor": actor,
                                       "action": action, "details": details})

    def list(self, tenant_id: str, limit: int) -> list[AuditRecord]:
        rows = self.conn.execute(
            select(t.audit_log).where(t.audit_log.c.tenant_id == tenant_id)
            .order_by(t.audit_log.c.id.desc()).limit(limit)
        )
        return [AuditRecord(r.id, r.at, r.actor, r.action, dict(r.details)) for r in rows]


class SqlSubscriptions(Repo):
    def add_seats(self, tenant_id: str, sku: str, quantity: int, at: datetime) -> None:
        changed = self.conn.execute(
            update(t.subscriptions)
            .where(t.subscriptions.c.tenant_id == tenant_id, t.subscriptions.c.sku == sku)
            .values(quantity=t.subscriptions.c.quantity + quantity, updated_at=at)
        ).rowcount
        if not changed:
            self.conn.execute(insert(t.subscriptions).values(
                tenant_id=tenant_id, sku=sku, quantity=quantity, updated_at=at,
            ))

    def list(self, tenant_id: str) -> dict[str, int]:
        rows = self.conn.execute(
            select(t.subscriptions.c.sku, t.subscriptions.c.quantity)
            .where(t.subscriptions.c.tenant_id == tenant_id).order_by(t.subscriptions.c.sku)
        )
        return {r.sku: int(r.quantity) for r in rows}
