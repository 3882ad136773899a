"""Auto-recharge (AR-1..AR-8): settings, and the worker that turns recharge requests into
payments, lots, invoices and emails exactly once.

A charge that leaves the balance below the trigger queues a request in its own transaction
(`queue_if_due`, called by `funds.charge_in`). `process_request` then:

1. claims the request with a lease (so a crashed worker's claim lapses and another takes
   over), and re-reads the settings: if auto-recharge was turned off before any payment,
   the request is cancelled (AR-7);
2. charges the payment method outside any transaction with the idempotency key
   ``recharge:<request>:<attempt>``: a retry after a crash gets the first answer (AR-4);
3. on success writes the lot (idempotency key ``recharge:<request>``), the invoice and the
   email, and chains another request while the balance is still below the trigger, at most
   5 for one charge (AR-2, AR-6); on failure records the reason, emails the admins and
   schedules the retry 1 h, 6 h, then 24 h later, then waits for a new payment method (AR-5).

A retry that is due first checks that it is still needed (AR-8): if auto-recharge is off, or
the balance is at or above the trigger, it is closed as `not_needed`: no payment, no email.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from commcredits.domain.errors import NotFound, PolicyRefusal
from commcredits.domain.lots import LotSource
from commcredits.domain.money import Money
from commcredits.domain.notifications import NotificationKind
from commcredits.domain.payments import (
    FAILURE_MESSAGES,
    PaymentFailure,
    PaymentMethodType,
    card_expired,
    payment_failed,
)
from commcredits.domain.recharge import (
    MAX_RECHARGES_PER_CHARGE,
    AutoRecharge,
    RequestStatus,
    check_settings,
    retry_at,
    retry_needed,
)
from commcredits.domain.tenants import BillingAccountType
from commcredits.services.account import AccountWriter
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.funding import fund_in
from commcredits.services.notifications import notify
from commcredits.services.ports import (
    AutoRechargeRecord,
    RechargeRequestRecord,
    UnitOfWork,
)

LEASE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ReadSettings:
    """Auto-recharge settings the caller already read in this request (None: none), so a
    charge on the call-control hot path does not read them again. They may be older than
    the tenant lock by the wait for it; that is harmless: `process_request` reads them again
    before any payment (AR-7), and `add_request` keeps one request in flight (AR-3)."""

    settings: AutoRechargeRecord | None


@dataclass(frozen=True, slots=True)
class RechargeStatus:
    settings: AutoRechargeRecord | None
    active: RechargeRequestRecord | None
    recent: list[RechargeRequestRecord]


def queue_if_due(
    uow: UnitOfWork, tenant_id: str, balance: Money, at: datetime, *,
    cause_entry_id: int | None, chain: int = 1, known: ReadSettings | None = None,
) -> str | None:
    """Queue a recharge when the balance is below the trigger and none is active (AR-2, 3)."""
    settings = known.settings if known is not None \
        else uow.recharge.settings(tenant_id, balance.currency)
    if settings is None or settings.waiting_for_payment_method:
        return None
    rule = AutoRecharge(settings.enabled, settings.amount, settings.trigger,
                        settings.payment_method_id)
    if not rule.due(balance) or chain > MAX_RECHARGES_PER_CHARGE:
        return None
    assert settings.amount is not None
    request_id = uuid.uuid4().hex
    if uow.recharge.add_request(request_id, tenant_id, settings.amount, chain=chain,
                                cause_entry_id=cause_entry_id, at=at):
        return request_id
    return None


def configure(
    svc: Services, principal: Principal, tenant_id: str, *, enabled: Any, amount: Any,
    trigger: Any, payment_method_id: Any,
) -> RechargeStatus:
    """PUT auto-recharge (AR-1, AR-7): validate, save, audit; off cancels pending requests."""
    now = svc.clock.now()
    queued: str | None = None
    with svc.uow() as uow:
        tenant = authorize(uow, principal, tenant_id, Action.MANAGE_AUTO_RECHARGE)
        if tenant.billing_account_type is BillingAccountType.MCA and enabled is True:
            raise PolicyRefusal(
                "POSTPAID_ACCOUNT",
                "MCA (post-usage) tenants are billed after use and cannot auto-recharge.",
            )
        rule = check_settings(enabled=enabled, amount=amount, trigger=trigger,
                              payment_method_id=payment_method_id, currency=tenant.currency)
        if rule.payment_method_id is not None:
            method = uow.payment_methods.get(tenant_id, rule.payment_method_id)
            if method is None:
                raise NotFound("PAYMENT_METHOD_NOT_FOUND",
                               f"No payment method {rule.payment_method_id!r} in this tenant.")
            if rule.enabled and method.type is PaymentMethodType.CARD \
                    and method.exp_month and method.exp_year \
                    and card_expired(method.exp_month, method.exp_year, now):
                raise payment_failed(PaymentFailure.CARD_EXPIRED)
        before = uow.recharge.settings(tenant_id, tenant.currency)
        uow.recharge.save_settings(
            tenant_id, enabled=rule.enabled, amount=rule.amount, trigger=rule.trigger,
            payment_method_id=rule.payment_method_id, at=now,
        )
        cancelled = 0 if rule.enabled else uow.recharge.cancel_pending(tenant_id, now)
        method_changed = before is not None and \
            before.payment_method_id != rule.payment_method_id
        if method_changed and before is not None and before.waiting_for_payment_method:
            uow.recharge.record_outcome(tenant_id, waiting_for_payment_method=False)
            balance = uow.credits.account(tenant_id, lock=True).balance
            queued = queue_if_due(uow, tenant_id, balance, now, cause_entry_id=None)
        uow.audit.add(tenant_id, now, principal.actor, "auto_recharge.updated", {
            "enabled": rule.enabled,
            "amount": rule.amount.format() if rule.amount else None,
            "trigger": rule.trigger.format() if rule.trigger else None,
            "payment_method_id": rule.payment_method_id, "cancelled_requests": cancelled,
        })
        uow.commit()
    if queued:
        process_request(svc, tenant_id, queued)
    return status(svc, principal, tenant_id)


def status(svc: Services, principal: Principal, tenant_id: str) -> RechargeStatus:
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_CREDITS)
        return RechargeStatus(
            uow.recharge.settings(tenant_id, tenant.currency),
            uow.recharge.active_request(tenant_id, tenant.currency),
            uow.recharge.requests(tenant_id, tenant.currency, 10),
        )


def process_due(svc: Services, *, wall: Callable[[], float] = time.time) -> int:
    """Process every pending request that is due, and every lapsed claim."""
    with svc.uow(readonly=True) as uow:
        due = uow.recharge.due_requests(svc.clock.now(), wall())
    done = 0
    for request_id, tenant_id in due:
        if process_request(svc, tenant_id, request_id, wall=wall):
            done += 1
    return done


def process_request(
    svc: Services, tenant_id: str, request_id: str, *,
    wall: Callable[[], float] = time.time, lease_seconds: float = LEASE_SECONDS,
) -> bool:
    """Take one request of the tenant through payment to its lot (or its failure), then the
    requests its success chains (AR-2), one after the other; True if the first was ours.
    Each of their transactions is the tenant's alone (DIST-1)."""
    ours, chained = _process_one(svc, tenant_id, request_id, wall, lease_seconds)
    while chained is not None:  # a loop: a chain may go on while charges keep coming
        _, chained = _process_one(svc, tenant_id, chained, wall, lease_seconds)
    return ours


def _process_one(
    svc: Services, tenant_id: str, request_id: str, wall: Callable[[], float],
    lease_seconds: float,
) -> tuple[bool, str | None]:
    """One request: (whether it was ours, the request its success chained)."""
    now = svc.clock.now()
    with svc.uow() as uow:
        request = uow.recharge.get_request(tenant_id, request_id)
        if request is None:
            return False, None
        tenant = uow.tenants.get(tenant_id)
        assert tenant is not None
        # A due retry (not a lapsed claim, whose payment may be in flight) is checked first
        # (AR-8). The balance is locked before the claim: the order _complete and _fail use.
        retry = request.attempt > 1 and request.status == RequestStatus.PENDING.value
        account = AccountWriter(uow, tenant.id, now) if retry else None
        start = wall()
        if not uow.recharge.claim(tenant.id, request_id, start, start + lease_seconds):
            return False, None
        settings = uow.recharge.settings(tenant.id, tenant.currency)
        enabled = settings is not None and settings.enabled
        if not enabled and request.payment_id is None and request.attempt == 1 \
                and request.status == RequestStatus.PENDING.value:
            uow.recharge.update_request(tenant.id, request_id,
                                        status=RequestStatus.CANCELLED.value,
                                        lease_until=None, updated_at=now)
            uow.commit()
            return True, None
        if account is not None and not _still_needed(account, settings):
            uow.recharge.update_request(tenant.id, request_id,
                                        status=RequestStatus.NOT_NEEDED.value,
                                        lease_until=None, updated_at=now)
            uow.commit()
            return True, None
        method_id = (settings.payment_method_id if settings else None) \
            or request.payment_method_id
        method = uow.payment_methods.get(tenant.id, method_id) if method_id else None
        uow.recharge.update_request(tenant.id, request_id, payment_method_id=method_id,
                                    updated_at=now)
        uow.commit()

    key = f"recharge:{request_id}:{request.attempt}"
    failure: PaymentFailure | None = None
    payment_id: str | None = None
    if method is None:
        failure = PaymentFailure.CARD_DECLINED
    elif method.type is PaymentMethodType.CARD:
        answer = svc.gateway.charge(method.token, request.amount, key, now)
        payment_id = answer.payment_id
        if not answer.succeeded:
            failure = answer.failure or PaymentFailure.PROCESSING_ERROR
    if failure is None:
        return True, _complete(svc, tenant.id, request, payment_id, method_label(method))
    _fail(svc, tenant.id, request, failure, payment_id)
    return True, None


def _still_needed(account: AccountWriter, settings: AutoRechargeRecord | None) -> bool:
    """AR-8: is a due retry still needed? Only while auto-recharge is on and the balance,
    after any due expiry (FUND-4), is still strictly below the trigger."""
    account.apply_due_expiry()
    if account.expiry_due():
        account.save()
    if settings is None:
        return False
    rule = AutoRecharge(settings.enabled, settings.amount, settings.trigger,
                        settings.payment_method_id)
    return retry_needed(rule, account.balance)


def method_label(method: Any) -> str:
    if method is None:
        return "payment method"
    if method.type is PaymentMethodType.INVOICE:
        return "invoice account"
    return f"{method.brand} card ending {method.last4}"


def _complete(
    svc: Services, tenant_id: str, request: RechargeRequestRecord, payment_id: str | None,
    label: str,
) -> str | None:
    """The lot, invoice and email of a paid request; returns the request it chains."""
    now = svc.clock.now()
    chained: str | None = None
    with svc.uow() as uow:
        tenant = uow.tenants.get(tenant_id)
        assert tenant is not None
        uow.credits.account(tenant_id, lock=True)  # serialize with charges and other workers
        current = uow.recharge.get_request(tenant_id, request.id)
        if current is None or current.status != RequestStatus.PROCESSING.value:
            return None  # another worker finished it
        lot, invoice, balance = fund_in(
            svc, uow, tenant, request.amount, LotSource.AUTO_RECHARGE,
            f"recharge:{request.id}",
            payment={"method": "card", "label": label, "payment_id": payment_id,
                     "status": "succeeded", "auto_recharge": True},
            description="Communications Credits (auto-recharge)", actor="auto-recharge",
            channel="auto_recharge",
        )
        uow.recharge.update_request(
            tenant_id, request.id, status=RequestStatus.SUCCEEDED.value, payment_id=payment_id,
            lot_id=lot.id, lease_until=None, failure=None, updated_at=now,
        )
        uow.recharge.record_outcome(tenant_id, succeeded_at=now,
                                    waiting_for_payment_method=False)
        if current.payment_method_id:
            uow.payment_methods.record_payment(tenant_id, current.payment_method_id, now,
                                               succeeded=True)
        settings = uow.recharge.settings(tenant_id, tenant.currency)
        notify(uow, tenant_id, NotificationKind.RECHARGE_SUCCEEDED,
               f"recharge-succeeded:{request.id}", {
                   "amount": request.amount.format(), "balance": balance.format(),
                   "trigger": settings.trigger.format() if settings and settings.trigger
                   else "", "card": label, "invoice": invoice.number,
                   "expires_on": lot.expires_at.date().isoformat(),
               }, now)
        # AR-2: at most 5 recharges for one charge. A charge made while this one was in
        # flight (AR-3: it queued none of its own) starts the count again, so concurrent
        # charges that outrun a chain still get theirs.
        latest = uow.credits.last_charge_id(tenant_id)
        cause: int | None
        if latest is not None and request.cause_entry_id is not None \
                and latest > request.cause_entry_id:
            chain, cause = 1, latest
        else:
            chain, cause = request.chain + 1, request.cause_entry_id
        chained = queue_if_due(uow, tenant_id, balance, now, cause_entry_id=cause,
                               chain=chain)
        uow.commit()
    return chained


def _fail(
    svc: Services, tenant_id: str, request: RechargeRequestRecord, failure: PaymentFailure,
    payment_id: str | None,
) -> None:
    now = svc.clock.now()
    with svc.uow() as uow:
        tenant = uow.tenants.get(tenant_id)
        assert tenant is not None
        uow.credits.account(tenant_id, lock=True)  # serialize with charges and other workers
        current = uow.recharge.get_request(tenant_id, request.id)
        if current is None or current.status != RequestStatus.PROCESSING.value:
            return
        next_at = retry_at(request.attempt, now)
        if next_at is not None:
            uow.recharge.update_request(
                tenant_id, request.id, status=RequestStatus.PENDING.value,
                attempt=request.attempt + 1, next_attempt_at=next_at, failure=failure.value,
                payment_id=payment_id, lease_until=None, updated_at=now,
            )
        else:
            uow.recharge.update_request(
                tenant_id, request.id, status=RequestStatus.FAILED.value, failure=failure.value,
                payment_id=payment_id, lease_until=None, updated_at=now,
            )
        uow.recharge.record_outcome(
            tenant_id, failed_at=now, reason=failure.value,
            waiting_for_payment_method=True if next_at is None else None,
        )
        if current.payment_method_id:
            uow.payment_methods.record_payment(tenant_id, current.payment_method_id, now,
                                               succeeded=False)
        balance = uow.credits.account(tenant_id, lock=False).balance
        notify(uow, tenant_id, NotificationKind.RECHARGE_FAILED,
               f"recharge-failed:{request.id}:{request.attempt}", {
                   "amount": request.amount.format(), "balance": balance.format(),
                   "reason": failure.value, "reason_text": FAILURE_MESSAGES[failure],
                   "attempt": request.attempt,
                   "next_retry": next_at.strftime("%Y-%m-%d %H:%M") if next_at else None,
               }, now)
        uow.commit()
