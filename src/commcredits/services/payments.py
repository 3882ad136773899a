"""Adding and removing payment methods (PAY-1 to PAY-3).

- Cards are tokenized by the gateway before any transaction opens; only brand, last 4
  digits, expiry, the token and the processor's fingerprint are stored.
- The same card (same fingerprint and expiry) added again returns the method already there,
  so a tenant never sees two identical rows.
- Removing a method stops it paying; the card that auto-recharge uses is refused with
  `PAYMENT_METHOD_IN_USE` until auto-recharge is switched to another card (or off). Past
  invoices copy the brand and last 4 digits, so they are untouched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from commcredits.domain.errors import Conflict, InvalidInput, NotFound
from commcredits.domain.payments import (
    PaymentFailure,
    PaymentMethod,
    PaymentMethodType,
    card_expired,
    check_card_number,
    check_expiry_fields,
    parse_method_type,
    payment_failed,
)
from commcredits.domain.tenants import BillingAccountType
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services


@dataclass(frozen=True, slots=True)
class AddedMethod:
    method: PaymentMethod
    created: bool  # False: the same card was there already, and this is it


def add_payment_method(
    svc: Services, principal: Principal, tenant_id: str, *, type: Any = "card",
    number: Any = None, exp_month: Any = None, exp_year: Any = None,
) -> PaymentMethod:
    """Add a card (or an EA invoice account); the same card again returns the existing one."""
    return add_or_find_payment_method(svc, principal, tenant_id, type=type, number=number,
                                      exp_month=exp_month, exp_year=exp_year).method


def add_or_find_payment_method(
    svc: Services, principal: Principal, tenant_id: str, *, type: Any = "card",
    number: Any = None, exp_month: Any = None, exp_year: Any = None,
) -> AddedMethod:
    """`add_payment_method`, saying whether a new method was made."""
    now = svc.clock.now()
    method_type = parse_method_type(type)
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.MANAGE_PAYMENT_METHODS)
    method_id = uuid.uuid4().hex
    if method_type is PaymentMethodType.INVOICE:
        if tenant.billing_account_type is not BillingAccountType.EA:
            raise InvalidInput(
                "INVOICE_ACCOUNT_EA_ONLY",
                "Only Enterprise Agreement tenants can pay by invoice; add a card instead.",
            )
        method = PaymentMethod(method_id, tenant_id, method_type, "invoice", "", None, None,
                               "invoice_account")
    else:
        digits = check_card_number(number)
        month, year = check_expiry_fields(exp_month, exp_year)
        if card_expired(month, year, now):
            raise payment_failed(PaymentFailure.CARD_EXPIRED)
        token = svc.gateway.tokenize_card(digits, month, year)
        method = PaymentMethod(method_id, tenant_id, method_type, token.brand, token.last4,
                               month, year, token.token, token.fingerprint)
    with svc.uow() as uow:
        if method.fingerprint and method.exp_month and method.exp_year:
            existing = uow.payment_methods.find_card(
                tenant_id, method.fingerprint, method.exp_month, method.exp_year)
            if existing is not None:
                return AddedMethod(existing, created=False)
        uow.payment_methods.add(method, now)
        uow.audit.add(tenant_id, now, principal.actor, "payment_method.added", {
            "id": method_id, "type": method_type.value, "brand": method.brand,
            "last4": method.last4,
        })
        uow.commit()
    return AddedMethod(method, created=True)


def remove_payment_method(
    svc: Services, principal: Principal, tenant_id: str, method_id: str,
) -> PaymentMethod:
    """Remove a payment method so it can no longer pay (audit-logged).

    Refused with 409 `PAYMENT_METHOD_IN_USE` while auto-recharge is on with this method; 404
    for a method of another tenant, or one already removed (AUTH-2).
    """
    now = svc.clock.now()
    with svc.uow() as uow:
        tenant = authorize(uow, principal, tenant_id, Action.MANAGE_PAYMENT_METHODS)
        method = uow.payment_methods.get(tenant_id, str(method_id)[:100])
        if method is None:
            raise NotFound("PAYMENT_METHOD_NOT_FOUND",
                           f"No payment method {str(method_id)[:100]!r} in this tenant.",
                           {"payment_method_id": str(method_id)[:100]})
        settings = uow.recharge.settings(tenant_id, tenant.currency)
        if settings is not None and settings.enabled \
                and settings.payment_method_id == method.id:
            raise Conflict(
                "PAYMENT_METHOD_IN_USE",
                "Auto-recharge pays with this card. Switch auto-recharge to another card "
                "(or turn it off) first, then remove this one.",
                {"payment_method_id": method.id},
            )
        uow.payment_methods.remove(tenant_id, method.id, now)
        uow.audit.add(tenant_id, now, principal.actor, "payment_method.removed", {
            "id": method.id, "type": method.type.value, "brand": method.brand,
            "last4": method.last4,
        })
        uow.commit()
    return method
