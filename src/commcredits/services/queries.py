"""The read side: what the API, CLI and (later) the web UI show.

Reads never see expired funds: when expiry is due, it is applied (in its own short write
transaction) before the read (FUND-4).
"""

from __future__ import annotations

from dataclasses import dataclass

from commcredits.domain.errors import NotFound
from commcredits.domain.money import Money
from commcredits.domain.payments import PaymentMethod
from commcredits.domain.tenants import Contact, Tenant
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.calls import available_in
from commcredits.services.context import Services
from commcredits.services.funds import apply_expiry
from commcredits.services.ports import (
    AuditRecord,
    AutoRechargeRecord,
    EntryRecord,
    InvoiceRecord,
    LotRecord,
)


@dataclass(frozen=True, slots=True)
class CreditsView:
    """The credit account as read: ``available`` is the balance minus open reservations."""

    tenant: Tenant
    balance: Money
    available: Money
    debt: Money
    lots: list[LotRecord]
    auto_recharge: AutoRechargeRecord | None = None


def credits(svc: Services, principal: Principal, tenant_id: str) -> CreditsView:
    now = svc.clock.now()
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_CREDITS)
        state = uow.credits.account(tenant_id, lock=False)
    if state.next_expiry_at is not None and now >= state.next_expiry_at:
        apply_expiry(svc, tenant_id)
    with svc.uow(readonly=True) as uow:
        state = uow.credits.account(tenant_id, lock=False)
        lots = uow.credits.lots(tenant_id, tenant.currency)
        settings = uow.recharge.settings(tenant_id, tenant.currency)
        available = available_in(uow, tenant_id, state.balance)  # CALL-8, as call control
    return CreditsView(tenant, state.balance, available, state.debt, lots, settings)


def ledger(
    svc: Services, principal: Principal, tenant_id: str, *, limit: int = 100,
    before_id: int | None = None,
) -> tuple[Tenant, list[EntryRecord]]:
    credits(svc, principal, tenant_id)  # applies due expiry so the ledger shows it
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_CREDITS)
        entries = uow.credits.ledger(
            tenant_id, tenant.currency, limit=max(1, min(limit, 1000)), before_id=before_id,
        )
    return tenant, entries


def invoices(svc: Services, principal: Principal, tenant_id: str) -> list[InvoiceRecord]:
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_INVOICES)
        return uow.invoices.list(tenant_id, tenant.currency)


def invoice(
    svc: Services, principal: Principal, tenant_id: str, invoice_id: str,
) -> InvoiceRecord:
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_INVOICES)
        found = uow.invoices.get(tenant_id, invoice_id, tenant.currency)
    if found is None:
        raise NotFound("INVOICE_NOT_FOUND", f"No invoice {invoice_id!r} in this tenant.")
    return found


def visible_tenant(svc: Services, principal: Principal, tenant_id: str) -> Tenant:
    """The tenant, if the principal may see it (AUTH-2), without its contacts."""
    with svc.uow(readonly=True) as uow:
        return authorize(uow, principal, tenant_id, Action.READ_TENANT)


def tenant(svc: Services, principal: Principal, tenant_id: str) -> tuple[Tenant, list[Contact]]:
    with svc.uow(readonly=True) as uow:
        found = authorize(uow, principal, tenant_id, Action.READ_TENANT)
        return found, uow.tenants.contacts(tenant_id)


def payment_methods(svc: Services, principal: Principal, tenant_id: str) -> list[PaymentMethod]:
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.READ_CREDITS)
        return uow.payment_methods.list(tenant_id)


def audit_log(
    svc: Services, principal: Principal, tenant_id: str, limit: int = 200,
) -> list[AuditRecord]:
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.READ_AUDIT)
        return uow.audit.list(tenant_id, max(1, min(limit, 1000)))


def subscriptions(svc: Services, principal: Principal, tenant_id: str) -> dict[str, int]:
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.READ_TENANT)
        return uow.subscriptions.list(tenant_id)
