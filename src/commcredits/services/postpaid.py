"""Post-usage billing for MCA tenants (ACCT-5, ACCT-6, POST-1, POST-2).

- `switch_billing_account`: the operator changes a tenant's billing account type; switching
  to MCA is refused while auto-recharge is on (ACCT-6).
- `charge_postpaid_in`: the call-control path for an MCA tenant's charge. The remaining
  prepaid balance is used first (a ledger charge that never creates debt), and the rest goes
  to the calendar month's overage statement as one line; idempotent by reference.
- `set_overage` / `overage_enabled_in`: turning overage off holds until the 1st of the next
  month (UTC); the date it was turned off is `tenant_billing.updated_at`.
- `issue_statements`: for every month that has ended, one invoice per tenant with one line
  per (capability, destination country), numbered in the tenant's invoice sequence (FUND-8).
- `statement`: the read side (lines, total, and the invoice once issued).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from commcredits.domain.errors import Conflict, InvalidInput
from commcredits.domain.invoices import InvoiceLine, Party, build_invoice_document, invoice_number
from commcredits.domain.money import Money
from commcredits.domain.pools import month_bounds, month_of, parse_month
from commcredits.domain.reference import country
from commcredits.domain.tenants import BillingAccountType, Tenant, parse_enum
from commcredits.services.account import AccountWriter
from commcredits.services.auth import Action, Principal, authorize, require_operator
from commcredits.services.context import Services
from commcredits.services.funds import charge_in
from commcredits.services.ports import UnitOfWork

OVERAGE_PAYMENT = {"method": "invoice", "status": "due", "terms": "net 30"}


@dataclass(frozen=True, slots=True)
class PostpaidCharge:
    """How one charge was split: from the prepaid ledger (entry `entry_id`) and overage."""

    prepaid: Money
    overage: Money
    entry_id: int | None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class StatementLine:
    capability: str
    country: str
    amount: Money

    @property
    def description(self) -> str:
        return f"PSTN usage: {self.capability}, {_country_name(self.country)}"


@dataclass(frozen=True, slots=True)
class Statement:
    tenant_id: str
    month: str
    currency: str
    lines: list[StatementLine]
    total: Money
    invoice_id: str | None
    invoice_number: str | None
    issued_at: datetime | None
    overage_enabled: bool


@dataclass(frozen=True, slots=True)
class OverageSetting:
    enabled: bool
    """Whether overage is allowed now."""
    resumes_on: datetime | None
    """When it is off: the 1st of the next month, when it turns back on by itself."""


def is_postpaid(tenant: Tenant) -> bool:
    return tenant.billing_account_type is BillingAccountType.MCA


def _country_name(code: str) -> str:
    try:
        return f"{country(code).name} ({code})"
    except InvalidInput:
        return code


def switch_billing_account(
    svc: Services, principal: Principal, tenant_id: str, billing_account_type: object,
) -> Tenant:
    """The operator changes the tenant's billing account type (ACCT-6 for MCA)."""
    require_operator(principal)
    kind = parse_enum(BillingAccountType, billing_account_type,
                      "INVALID_BILLING_ACCOUNT_TYPE", "billing account type")
    now = svc.clock.now()
    with svc.uow() as uow:
        tenant = authorize(uow, principal, tenant_id, Action.OPERATE)
        uow.credits.account(tenant_id, lock=True)  # serialize with charges and settings
        if kind is tenant.billing_account_type:
            return tenant
        if kind is BillingAccountType.MCA:
            settings = uow.recharge.settings(tenant_id, tenant.currency)
            if settings is not None and settings.enabled:
                raise Conflict(
                    "AUTO_RECHARGE_ENABLED",
                    "Auto-recharge is on for this tenant. Turn auto-recharge off first "
                    "(PUT /api/v1/tenants/{id}/auto-recharge with enabled false), then switch "
                    "the tenant to MCA.",
                    {"billing_account_type": kind.value},
                )
        uow.tenants.set_billing_account_type(tenant_id, kind)
        uow.postpaid.set_postpaid_since(
            tenant_id, now if kind is BillingAccountType.MCA else None, now,
        )
        uow.audit.add(tenant_id, now, principal.actor, "tenant.billing_account_changed", {
            "from": tenant.billing_account_type.value, "to": kind.value,
        })
        uow.commit()
    return replace(tenant, billing_account_type=kind)


def overage_enabled_in(uow: UnitOfWork, tenant_id: str, at: datetime) -> bool:
    """POST-2: false from when overage was turned off until the 1st of the next month."""
    return _overage(uow, tenant_id, at).enabled


def _overage(uow: UnitOfWork, tenant_id: str, at: datetime) -> OverageSetting:
    billing = uow.postpaid.billing(tenant_id)
    if billing is None or billing.overage_enabled:
        return OverageSetting(True, None)
    _, resumes = month_bounds(month_of(billing.updated_at))
    if at >= resumes:
        return OverageSetting(True, None)
    return OverageSetting(False, resumes)


def set_overage(
    svc: Services, principal: Principal, tenant_id: str, enabled: object,
) -> OverageSetting:
    """POST-2: a global admin, billing admin or the operator turns overage on or off."""
    if not isinstance(enabled, bool):
        raise InvalidInput("INVALID_VALUE", "enabled must be true or false.")
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_OVERAGE)
        uow.postpaid.set_overage(tenant_id, enabled, now)
        setting = _overage(uow, tenant_id, now)
        uow.audit.add(tenant_id, now, principal.actor, "overage.changed", {
            "enabled": enabled,
            "resumes_on": setting.resumes_on.date().isoformat() if setting.resumes_on else None,
        })
        uow.commit()
    return setting


def _entry_key(reference: str) -> str:
    return "postpaid:" + hashlib.sha256(reference.encode()).hexdigest()


def charge_postpaid_in(
    uow: UnitOfWork, tenant_id: str, amount: Money, *, capability: str, country: str,
    reference: str, at: datetime, description: str = "",
) -> PostpaidCharge:
    """ACCT-6, POST-1: use the prepaid balance first, then the month's overage statement.

    Runs in the caller's unit of work (which the caller commits); a repeat with the same
    reference adds nothing and returns the first split. A line for a month whose statement
    was already issued goes to the next month that has none (invoices never change).
    """
    state = uow.credits.account(tenant_id, lock=True)
    currency = state.currency
    if amount.currency != currency:
        raise InvalidInput(
            "CURRENCY_MISMATCH", f"The tenant is billed in {currency}, not {amount.currency}.",
        )
    if amount.is_negative():
        raise InvalidInput("INVALID_AMOUNT", "A usage charge must not be negative.")
    if not reference or len(reference) > 200:
        raise InvalidInput("INVALID_REFERENCE", "A reference of 1 to 200 characters is needed.")
    key = _entry_key(reference)
    entry = uow.credits.entry_by_key(tenant_id, key, currency)
    line = uow.postpaid.line_by_reference(tenant_id, reference, currency)
    if entry is not None or line is not None:
        return PostpaidCharge(
            -entry.amount if entry else Money.zero(currency),
            line.amount if line else Money.zero(currency),
            entry.id if entry else None, replayed=True,
        )
    writer = AccountWriter(uow, tenant_id, at)
    writer.apply_due_expiry()
    if writer.expiry_due():
        writer.save()
    prepaid = amount.min(writer.balance) if writer.balance.is_positive() \
        else Money.zero(currency)
    entry_id = None
    if prepaid.is_positive():
        entry_id = charge_in(
            uow, tenant_id, prepaid, at, reference=reference, idempotency_key=key,
            description=description or f"PSTN usage: {capability}, {country}",
        ).entry_id
    overage = amount - prepaid
    if overage.is_positive():
        month = month_of(at)
        while uow.postpaid.statement(tenant_id, month, currency) is not None:
            month = month_of(month_bounds(month)[1])
        uow.postpaid.add_line(tenant_id, month, capability, country, overage, reference, at)
    return PostpaidCharge(prepaid, overage, entry_id)


def _statement_lines(
    uow: UnitOfWork, tenant_id: str, month: str, currency: str,
) -> list[StatementLine]:
    sums: dict[tuple[str, str], Money] = defaultdict(lambda: Money.zero(currency))
    for line in uow.postpaid.lines(tenant_id, month, currency):
        sums[(line.capability, line.country)] += line.amount
    return [StatementLine(cap, ctry, total.round_cents())
            for (cap, ctry), total in sorted(sums.items())]


def issue_statements(svc: Services) -> int:
    """POST-1: issue one invoice per tenant and ended month with overage; returns how many."""
    now = svc.clock.now()
    with svc.uow(readonly=True) as uow:
        due = uow.postpaid.unbilled_months(month_of(now))
    issued = 0
    for tenant_id, month in due:
        with svc.uow() as uow:
            if _issue(svc, uow, tenant_id, month, now):
                issued += 1
            uow.commit()
    return issued


def _issue(svc: Services, uow: UnitOfWork, tenant_id: str, month: str, now: datetime) -> bool:
    writer = AccountWriter(uow, tenant_id, now)  # the tenant's lock, and its invoice sequence
    tenant = uow.tenants.get(tenant_id)
    assert tenant is not None
    currency = writer.currency
    if uow.postpaid.statement(tenant_id, month, currency) is not None:
        return False  # another worker issued it first
    lines = _statement_lines(uow, tenant_id, month, currency)
    seq = writer.next_invoice_seq()
    number = invoice_number(tenant_id, seq)
    document = build_invoice_document(
        number=number, seq=seq, issued_at=now, seller=svc.seller,
        buyer=Party(tenant.name, country(tenant.country).name),
        lines=[InvoiceLine(f"{line.description}, {month}", Decimal(1), line.amount)
               for line in lines],
        currency=currency, payment=dict(OVERAGE_PAYMENT),
    )
    document["source"] = "overage"
    document["month"] = month
    total = Money(Decimal(document["total"]), currency)
    invoice_id = uuid.uuid4().hex
    uow.invoices.add(tenant_id, invoice_id, seq, number, now, total, None, document)
    uow.postpaid.add_statement(tenant_id, month, invoice_id, total, now)
    writer.save()
    uow.audit.add(tenant_id, now, "system", "overage.statement_issued", {
        "month": month, "invoice": number, "total": total.format(), "currency": currency,
    })
    return True


def statement(svc: Services, principal: Principal, tenant_id: str, month: object) -> Statement:
    """The month's overage so far (or as invoiced): one line per capability and country."""
    value = parse_month(month)
    now = svc.clock.now()
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_INVOICES)
        lines = _statement_lines(uow, tenant_id, value, tenant.currency)
        issued = uow.postpaid.statement(tenant_id, value, tenant.currency)
        invoice = uow.invoices.get(tenant_id, issued.invoice_id, tenant.currency) \
            if issued and issued.invoice_id else None
        enabled = overage_enabled_in(uow, tenant_id, now)
    total = Money.zero(tenant.currency)
    for line in lines:
        total += line.amount
    return Statement(
        tenant_id, value, tenant.currency, lines, issued.total if issued else total,
        issued.invoice_id if issued else None, invoice.number if invoice else None,
        issued.issued_at if issued else None, enabled,
    )
