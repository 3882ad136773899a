"""Adding payment methods (PAY-1 to PAY-3): cards are tokenized by the gateway before any
transaction opens; only brand, last 4 digits, expiry and the token are stored.
"""

from __future__ import annotations

import uuid
from typing import Any

from commcredits.domain.errors import InvalidInput
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


def add_payment_method(
    svc: Services, principal: Principal, tenant_id: str, *, type: Any = "card",
    number: Any = None, exp_month: Any = None, exp_year: Any = None,
) -> PaymentMethod:
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
                               month, year, token.token)
    with svc.uow() as uow:
        uow.payment_methods.add(method, now)
        uow.audit.add(tenant_id, now, principal.actor, "payment_method.added", {
            "id": method_id, "type": method_type.value, "brand": method.brand,
            "last4": method.last4,
        })
        uow.commit()
    return method
