"""Funding and charging a tenant's credits (FUND-1 to FUND-8, ACCT-2 to ACCT-5).

- `purchase`: policy and amount checks, the payment (outside any transaction, with an
  idempotency key), then the lot, its entries, the invoice and FUND-7's seats in one
  transaction.
- `charge`: first-in-first-out consumption with debt, idempotent by key.
- `adjust`: operator corrections, positive (a new lot) or negative (a charge).
- `apply_expiry`: forfeit expired lots (also done lazily by every charge and read).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from commcredits.domain.errors import Conflict, InvalidInput, NotFound
from commcredits.domain.ledger import EntryDraft, EntryKind, charge_entry
from commcredits.domain.lots import Allocation, LotSource
from commcredits.domain.money import Money, check_limit, parse_amount
from commcredits.domain.notifications import balance_depleted
from commcredits.domain.payments import (
    PaymentFailure,
    PaymentMethod,
    PaymentMethodType,
    card_expired,
    payment_failed,
)
from commcredits.domain.purchases import check_purchase_amount
from commcredits.domain.tenants import (
    WEB_DIRECT_OFFERS,
    Buyer,
    Channel,
    Role,
    Tenant,
    check_can_purchase,
    parse_enum,
)
from commcredits.services.account import AccountWriter
from commcredits.services.auth import Action, Principal, authorize, require_operator
from commcredits.services.context import Services
from commcredits.services.funding import CREDITS_FREE_SEATS, CREDITS_SKU, fund_in
from commcredits.services.notifications import notify_depleted
from commcredits.services.ports import InvoiceRecord, LotRecord, UnitOfWork
from commcredits.services.recharge import process_request, queue_if_due

__all__ = ["CREDITS_FREE_SEATS", "CREDITS_SKU", "fund_in"]


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    lot: LotRecord
    invoice: InvoiceRecord
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ChargeResult:
    entry_id: int
    amount: Money
    allocations: tuple[Allocation, ...]
    debt_added: Money
    balance: Money
    debt: Money
    replayed: bool = False
    recharge_request_id: str | None = None


def purchase(
    svc: Services, principal: Principal, tenant_id: str, *, amount: Any,
    payment_method_id: str | None, channel: str | None = None,
    idempotency_key: str | None = None,
) -> PurchaseResult:
    """Buy credits: one lot and one invoice, paid once even when retried with the same key."""
    now = svc.clock.now()
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.FUND)
        chan = parse_enum(Channel, channel or "direct", "INVALID_CHANNEL", "channel")
        buyer = Buyer.PARTNER if principal.role is Role.PARTNER else Buyer.TENANT
        check_can_purchase(tenant, buyer, chan)
        money = check_purchase_amount(amount, tenant.currency)
        key = "purchase:" + _digest(idempotency_key) if idempotency_key else None
        if key:
            replay = _replay(uow, tenant, key, money)
            if replay:
                return replay
        method = _payment_method(uow, tenant, buyer, payment_method_id)
        partner_name = uow.access.partner_name(principal.partner_id) \
            if principal.partner_id else None
    if method is not None and method.type is PaymentMethodType.CARD:
        assert method.exp_month is not None and method.exp_year is not None
        if card_expired(method.exp_month, method.exp_year, now):
            raise payment_failed(PaymentFailure.CARD_EXPIRED)
        # The method is part of the payment's key: the same request key retried with
        # another card after a refusal is a new payment attempt.
        pay_key = "purchase:" + _digest(
            f"{tenant_id}:{method.id}:{idempotency_key or uuid.uuid4().hex}")
        answer = svc.gateway.charge(method.token, money, pay_key, now)
        if not answer.succeeded:
            _record_payment(svc, tenant_id, method.id, now, succeeded=False)
            raise payment_failed(answer.failure or PaymentFailure.PROCESSING_ERROR)
        payment = {
            "method": "card", "brand": method.brand, "last4": method.last4,
            "payment_id": answer.payment_id, "status": "succeeded",
        }
    elif method is not None:
        payment = {"method": "invoice", "status": "due", "terms": "net 30"}
    else:
        payment = {"method": "partner", "partner": partner_name or "", "status": "succeeded"}
    source = LotSource.PARTNER if buyer is Buyer.PARTNER else LotSource.MANUAL
    description = "Communications Credits"
    if chan is Channel.WEB_DIRECT_OFFER:
        description = WEB_DIRECT_OFFERS[tenant.cloud]
    with svc.uow() as uow:
        if key:
            # Take the tenant's lock before looking for the key: a concurrent repeat waits
            # for the first purchase to commit, then finds its lot and answers with it.
            uow.credits.account(tenant.id, lock=True)
            replay = _replay(uow, tenant, key, money)
            if replay:
                return replay
        lot, invoice, _ = fund_in(
            svc, uow, tenant, money, source, key, payment=payment, description=description,
            actor=principal.actor, channel=chan.value,
        )
        if method is not None:
            uow.payment_methods.record_payment(tenant_id, method.id, now, succeeded=True)
        uow.commit()
    return PurchaseResult(lot, invoice)


def _record_payment(svc: Services, tenant_id: str, method_id: str, at: datetime, *,
                    succeeded: bool) -> None:
    """Note when a method last paid or failed, so Add funds offers the card that worked."""
    with svc.uow() as uow:
        uow.payment_methods.record_payment(tenant_id, method_id, at, succeeded=succeeded)
        uow.commit()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(uow: UnitOfWork, tenant: Tenant, key: str, money: Money) -> PurchaseResult | None:
    lot = uow.credits.lot_by_key(tenant.id, key, tenant.currency)
    if lot is None:
        return None
    if lot.amount != money:
        raise Conflict(
            "IDEMPOTENCY_KEY_REUSED",
            "This Idempotency-Key was already used for a different amount; use a new key.",
        )
    assert lot.invoice_id is not None
    invoice = uow.invoices.get(tenant.id, lot.invoice_id, tenant.currency)
    assert invoice is not None
    return PurchaseResult(lot, invoice, replayed=True)


def _payment_method(
    uow: UnitOfWork, tenant: Tenant, buyer: Buyer, method_id: str | None,
) -> PaymentMethod | None:
    if method_id is None:
        if buyer is Buyer.PARTNER:
            return None  # billed to the partner's own account
        raise InvalidInput(
            "PAYMENT_METHOD_REQUIRED",
            "Choose a payment method (payment_method_id); add a card first if there is none.",
        )
    method = uow.payment_methods.get(tenant.id, str(method_id))
    if method is None:
        raise NotFound(
            "PAYMENT_METHOD_NOT_FOUND", f"No payment method {method_id!r} in this tenant.",
        )
    return method


def charge(
    svc: Services, tenant_id: str, amount: Money, *, reference: str | None = None,
    idempotency_key: str | None = None, description: str = "",
    kind: EntryKind = EntryKind.CHARGE,
) -> ChargeResult:
    """Charge the tenant's credits first-in-first-out; the excess becomes debt (FUND-3, 5).

    With an idempotency key, a repeat returns the first result and charges nothing.
    """
    with svc.uow() as uow:
        result = charge_in(
            uow, tenant_id, amount, svc.clock.now(), reference=reference,
            idempotency_key=idempotency_key, description=description, kind=kind,
        )
        uow.commit()
    if result.recharge_request_id:
        # Dispatch at once; the worker is the safety net for failures, retries and crashes.
        process_request(svc, tenant_id, result.recharge_request_id)
    return result


def charge_in(
    uow: UnitOfWork, tenant_id: str, amount: Money, now: datetime, *,
    reference: str | None = None, idempotency_key: str | None = None, description: str = "",
    kind: EntryKind = EntryKind.CHARGE,
) -> ChargeResult:
    """`charge` inside a unit of work the caller commits. (A call's charge is settled by
    `cdr_posting.ChunkLedger`, a batch of one, CDR-2.)"""
    writer = AccountWriter(uow, tenant_id, now)
    if amount.currency != writer.currency:
        raise InvalidInput(
            "CURRENCY_MISMATCH",
            f"The tenant's credits are in {writer.currency}, not {amount.currency}.",
        )
    if idempotency_key:
        previous = uow.credits.entry_by_key(tenant_id, idempotency_key, writer.currency)
        if previous is not None:
            if previous.amount != -amount:
                raise Conflict(
                    "IDEMPOTENCY_KEY_REUSED",
                    "This idempotency key was already used for a different amount.",
                )
            return ChargeResult(
                previous.id, -previous.amount,
                tuple(Allocation(a.lot_id, a.amount) for a in previous.allocations),
                previous.debt_delta, writer.balance, writer.debt, replayed=True,
            )
    writer.apply_due_expiry()
    draft: EntryDraft = charge_entry(
        writer.lots, amount, writer.now, reference=reference, description=description,
        kind=kind,
    )
    before = writer.balance
    (entry_id,) = writer.write([draft], idempotency_key=idempotency_key)
    writer.save()
    if balance_depleted(before, writer.balance):
        notify_depleted(uow, tenant_id, entry_id, writer.balance, now)
    request_id = queue_if_due(uow, tenant_id, writer.balance, now, cause_entry_id=entry_id)
    return ChargeResult(
        entry_id, amount, draft.allocations, draft.debt_delta, writer.balance, writer.debt,
        recharge_request_id=request_id,
    )


MAX_REASON = 500  # characters of an adjustment's reason (ledger and audit log)


def adjust(
    svc: Services, principal: Principal, tenant_id: str, *, amount: Any, reason: str,
) -> ChargeResult | PurchaseResult:
    """An operator's correction: a positive amount adds a lot, a negative one charges; either
    at most 1,000,000.00 (FUND-2's maximum, as an absolute value)."""
    require_operator(principal)
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.OPERATE)
    value = check_limit(parse_amount(amount), amount, "An adjustment")
    if value == 0:
        raise InvalidInput("INVALID_AMOUNT", "An adjustment must not be zero.")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidInput("REASON_REQUIRED", "Say why the balance is adjusted (reason), "
                           f"in at most {MAX_REASON} characters.")
    money = Money(value, tenant.currency)
    if money.is_positive():
        with svc.uow() as uow:
            lot, invoice, _ = fund_in(
                svc, uow, tenant, money, LotSource.ADJUSTMENT, None,
                payment={"method": "adjustment", "status": "succeeded", "reason": reason},
                description=f"Adjustment: {reason}", actor=principal.actor, channel="operator",
            )
            uow.commit()
        return PurchaseResult(lot, invoice)
    with svc.uow() as uow:
        now = svc.clock.now()
        result = charge_in(
            uow, tenant_id, -money, now, reference=f"adjustment:{reason}"[:200],
            description=f"Adjustment: {reason}", kind=EntryKind.ADJUSTMENT,
        )
        uow.audit.add(tenant_id, now, principal.actor, "credits.adjusted", {
            "amount": money.format(), "reason": reason, "entry_id": result.entry_id,
        })
        uow.commit()
    if result.recharge_request_id:
        process_request(svc, tenant_id, result.recharge_request_id)  # as `charge` does (AR-2)
    return result


def apply_expiry(svc: Services, tenant_id: str) -> int:
    """Forfeit every lot of the tenant that has expired; returns how many entries it wrote."""
    with svc.uow() as uow:
        writer = AccountWriter(uow, tenant_id, svc.clock.now())
        drafts = writer.apply_due_expiry()
        if writer.expiry_due():
            writer.save()
        uow.commit()
    return len(drafts)
