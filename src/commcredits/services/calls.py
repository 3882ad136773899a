"""Real-time call control (CALL-1 to CALL-9, NUM-2, POOL-5, ACCT-6) and the one rating path
that CDR batches share (CDR-2).

- `authorize`: gather the facts (user licenses at the call's start, the pool, the rate, the
  billing account), take the tenant lock, read the available balance, let
  `domain.authorization.decide` answer, and store the call with its reservation, all in one
  transaction. Only the balance and the reservations need the lock (CALL-8), so everything
  else is read before it is taken: the lock is held for three short statements and the
  commit.
- `update`: the next grant, or a final one (CALL-7).
- `end`: commit the real charge (RATE-2, split with the pool as in POOL-5) through the same
  ledger charge as everything else, so debt, auto-recharge and emails follow.
- `expire_stale`: settle calls with no update for two grant periods at their last usage.

Authorize, update and end authenticate the API key in their own transaction: one statement
reads the key, the tenant, its directory version, its auto-recharge settings and the stored
call (`CallRepository.control_facts`), so a pair of requests costs two transactions, not
four.
Immutable facts are cached per process: rate indexes (`RateBook`), license indexes and users'
display names, keyed by the tenant's directory version, which every directory write changes.

Every step is idempotent by call id (CALL-9): a repeat returns the first answer.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from commcredits.domain.authorization import (
    GRANT_SECONDS,
    Allowed,
    Denied,
    Funding,
    first_grant,
)
from commcredits.domain.calls import (
    CALL_TYPES,
    DIAL_OUT_TYPES,
    EMERGENCY_TYPES,
    INBOUND_TYPES,
    OUTBOUND_TYPES,
    Call,
    CallAlreadyEnded,
    CallDenied,
    CallSource,
    CallStatus,
    CallType,
)
from commcredits.domain.errors import DomainError, InvalidInput, NotFound, Unauthenticated
from commcredits.domain.money import Money
from commcredits.domain.rating import Rate, charge, max_seconds
from commcredits.domain.tenants import BillingAccountType, Role, Tenant
from commcredits.services import guard as spend_guard
from commcredits.services.auth import ROLE_ACTIONS, Action, Principal, hash_key, tenant_not_found
from commcredits.services.auth import authorize as authorize_principal
from commcredits.services.call_rating import (
    CallRequest,
    Rated,
    Rater,
    check_live_start,
    parse_request,
)
from commcredits.services.call_settlement import settle, settle_in
from commcredits.services.context import Services
from commcredits.services.ports import CallControlFacts, UnitOfWork
from commcredits.services.recharge import process_request

__all__ = [
    "CALL_TYPES",
    "DIAL_OUT_TYPES",
    "EMERGENCY_TYPES",
    "INBOUND_TYPES",
    "OUTBOUND_TYPES",
    "CallRequest",
    "Rated",
    "parse_request",
    "settle_in",
]  # re-exported: the call model's and the rating kernel's own
MAX_USED_SECONDS = 86_400  # as a call's final duration (`end`)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key not yet checked: call control authenticates it in its own transaction
    (`CallRepository.control_facts`), saving a transaction per request."""

    key: str | None


Caller = Principal | ApiKey


def available_in(uow: UnitOfWork, tenant_id: str, balance: Money,
                 exclude: str | None = None) -> Money:
    """The balance minus what open reservations hold (CALL-8)."""
    return balance - uow.calls.reserved(tenant_id, balance.currency, exclude=exclude)


def rate_call(
    svc: Services, uow: UnitOfWork, tenant: Tenant, req: CallRequest, available: Money | None,
    *, directory_version: str | None = None,
) -> Rated:
    """One call through the rating kernel: a batch of one (`call_rating.Rater`, CDR-2).

    ``available`` None decides without a balance; `Rated.with_available` then decides
    again with the balance read under the tenant lock. ``directory_version``, when the
    caller has just read it in this transaction, saves reading it again.
    """
    rater = Rater(svc, tenant, directory_version=directory_version)
    return rater.rate_call(uow, req, available)

def answer(call: Call) -> dict[str, Any]:
    """The authorize answer, built from the stored call: the first answer and every replay
    (CALL-9) are the same."""
    if call.status is CallStatus.DENIED:
        return {"decision": "deny", "reason": call.reason, "message": call.message,
                "funding": None, "capability": None, "max_seconds": 0, "grant_seconds": 0,
                "reservation_id": None}
    funding = Funding(call.funding) if call.funding else None
    return {"decision": "allow", "reason": "OK", "funding": call.funding,
            "capability": call.authorized_capability, "max_seconds": call.max_seconds,
            "grant_seconds": first_grant(funding, call.max_seconds) if funding else None,
            "reservation_id": str(call.id)}


def _control(
    svc: Services, uow: UnitOfWork, who: Caller, tenant_id: str, call_id: str, usage_id: str,
    *, charging: bool = False,
) -> tuple[Principal, CallControlFacts]:
    """Read the call-control facts in one statement and authenticate the caller with them
    (AUTH-1), as `auth.authenticate` does; ``charging``: the request is an end."""
    key = who.key if isinstance(who, ApiKey) else None
    operator = bool(key and svc.operator_key
                    and hmac.compare_digest(key.encode(), svc.operator_key.encode()))
    key_hash = hash_key(key) if key and not operator else None
    facts = uow.calls.control_facts(tenant_id, key_hash, call_id, usage_id,
                                     charging=charging)
    if isinstance(who, Principal):
        return who, facts
    if not key:
        raise Unauthenticated(
            "UNAUTHENTICATED", "Send an API key as 'Authorization: Bearer <key>'.",
        )
    if operator:
        return Principal(Role.OPERATOR, name="operator-key"), facts
    record = facts.key
    if record is None:
        raise Unauthenticated(
            "UNAUTHENTICATED", "The API key is not valid. Ask an admin for a new key.",
        )
    return Principal(record.role, record.tenant_id, record.partner_id, record.name), facts


def _access(uow: UnitOfWork, principal: Principal, tenant_id: str,
            facts: CallControlFacts) -> Tenant:
    """`auth.authorize` for CALL_CONTROL with the tenant already read; anything but the
    plain allowed case (a missing tenant, a partner, a refusal) goes through it."""
    tenant = facts.tenant
    if tenant is not None and principal.role is not Role.PARTNER \
            and Action.CALL_CONTROL in ROLE_ACTIONS[principal.role]:
        if principal.role is Role.OPERATOR or principal.tenant_id == tenant_id:
            return tenant
        raise tenant_not_found(tenant_id)
    return authorize_principal(uow, principal, tenant_id, Action.CALL_CONTROL)


def authorize(svc: Services, who: Caller, tenant_id: str,
              body: dict[str, Any]) -> dict[str, Any]:
    """CALL-1: may this call go ahead, who pays, and for how long."""
    now = svc.clock.now()
    invalid: DomainError | None = None
    try:
        req = check_live_start(parse_request(body, now), now)
    except DomainError as exc:  # refused after authentication and access (401, 403/404)
        invalid, req = exc, CallRequest("", CallType.USER_OUT, None, "", "", now)
    usage_id = req.usage_id or req.call_id
    with svc.uow() as uow:
        principal, facts = _control(svc, uow, who, tenant_id, req.call_id, usage_id)
        tenant = _access(uow, principal, tenant_id, facts)
        if invalid is not None:
            raise invalid
        if facts.call is not None:
            return answer(facts.call)
        # Everything but the balance is read before the lock (LIC-5 counts licenses at the
        # call's start; pools are settled at the end, under the lock, as POOL-5 says).
        rated = rate_call(svc, uow, tenant, req, None,
                          directory_version=facts.directory_version)
        account = uow.credits.account(tenant_id, lock=True)
        held, stored = uow.calls.reservations(tenant_id, tenant.currency, req.call_id,
                                              usage_id)
        if stored:  # the same call id, authorized while this request waited for the lock
            twin = uow.calls.get(tenant_id, req.call_id, usage_id)
            assert twin is not None
            return answer(twin)
        rated = rated.with_available(account.balance - held)  # CALL-8
        verdict = spend_guard.check_in(  # GUARD-1, GUARD-3; no read for unguarded tenants
            svc, uow, tenant, decision=rated.decision, kind=rated.kind, user_id=rated.user_id,
            callee=req.callee, location=rated.user_location, country=rated.external_country,
            domestic=rated.domestic, rate=rated.rate, start=req.start,
            directory_version=facts.directory_version, now=now)
        if verdict.decision is not rated.decision:
            rated = replace(rated, decision=verdict.decision)
        decision = rated.decision
        reserved = Money.zero(tenant.currency)
        max_secs: int | None = 0
        grant: int | None = 0
        if isinstance(decision, Denied):
            status = CallStatus.DENIED
        else:
            max_secs, grant = decision.max_seconds, decision.grant_seconds
            if decision.funding is Funding.CREDITS and rated.rate and grant:
                reserved = charge(rated.rate, grant)
            elif decision.funding is Funding.POOL and rated.rate and grant \
                    and grant > decision.pool_seconds:
                reserved = charge(_no_fee(rated.rate), grant - decision.pool_seconds)
            status = CallStatus.AUTHORIZED
        call = spend_guard.mark(new_call(
            tenant, req, rated, row_id=uuid.uuid4().hex, usage_id=usage_id,
            source=CallSource.LIVE, status=status, now=now, reserved=reserved.amount,
            max_secs=max_secs, granted=grant,
        ), verdict)
        uow.calls.add(call)
        uow.commit()
    return answer(call)


def new_call(
    tenant: Tenant, req: CallRequest, rated: Rated, *, row_id: str, usage_id: str,
    source: CallSource, status: CallStatus, now: datetime, reserved: Decimal = Decimal(0),
    max_secs: int | None = None, granted: int | None = None,
) -> Call:
    """The call as authorization (or a CDR's rating) stores it, before any settlement."""
    d = rated.decision
    return Call(
        id=row_id, tenant_id=tenant.id, call_id=req.call_id, usage_id=usage_id,
        source=source, status=status, call_type=req.call_type,
        user_object_id=rated.user_id, upn=rated.upn, display_name=rated.display_name,
        user_location=rated.user_location, caller=req.caller, callee=req.callee,
        conference_id=req.conference_id, number_type=rated.number_type,
        domestic=rated.domestic, destination_name=rated.destination_name,
        external_country=(rated.external_country or "")[:2] or None, start_at=req.start,
        end_at=None, duration=None,
        funding=d.funding.value if isinstance(d, Allowed) else None,
        capability=d.capability if isinstance(d, Allowed) else None,
        pool_key=rated.pool_key, pool_minutes=None, rate_id=rated.rate_id,
        currency=tenant.currency, reserved=reserved, max_seconds=max_secs,
        granted_seconds=granted, used_seconds=0, last_update_at=now, connection_fee=None,
        charge=None, entry_id=None,
        reason=d.code if isinstance(d, Denied) else None,
        message=d.message if isinstance(d, Denied) else None, guard_seconds=None,
    )


def _no_fee(rate: Rate) -> Rate:
    return replace(rate, connection_fee=Money.zero(rate.connection_fee.currency))


def update(svc: Services, who: Caller, tenant_id: str, call_id: str,
           used_seconds: Any) -> dict[str, Any]:
    """CALL-7: report usage so far; the answer is the next grant or a final one."""
    now = svc.clock.now()
    with svc.uow() as uow:
        principal, facts = _control(svc, uow, who, tenant_id, call_id, call_id)
        tenant = _access(uow, principal, tenant_id, facts)
        if isinstance(used_seconds, bool) or not isinstance(used_seconds, int) \
                or not 0 <= used_seconds <= MAX_USED_SECONDS:
            raise InvalidInput("INVALID_USAGE",
                               "used_seconds must be a whole number from 0 to 86400.")
        if not _checked(facts.call, call_id).is_open:
            return _final(_checked(facts.call, call_id))
        account = uow.credits.account(tenant_id, lock=True)
        call = _open_call(uow, tenant_id, call_id)
        if not call.is_open:
            return _final(call)
        used = max(call.used_seconds, used_seconds)
        rate = svc.rate_book.rate(uow, call.rate_id)  # RATE-3: the call's own
        funding = call.funding
        limit: int | None = call.max_seconds
        if funding == Funding.CREDITS.value and rate is not None:
            others = available_in(uow, tenant_id, account.balance, exclude=call.id)
            limit = max_seconds(rate, others) if others.is_positive() else used
        limit = spend_guard.guard_seconds(call, limit)  # GUARD-1: never past a limit
        if limit is None:
            grant, final = GRANT_SECONDS, False
        else:
            left = max(0, limit - used)
            grant, final = min(GRANT_SECONDS, left), left <= GRANT_SECONDS
        granted = used + grant
        reserved = charge(rate, granted) if funding == Funding.CREDITS.value and rate \
            else Money.zero(tenant.currency)
        active = call.update(used, granted, reserved.amount, now)
        uow.calls.update(active, Call.UPDATE_FIELDS)
        uow.commit()
    return {"grant_seconds": grant, "final": final, "status": active.status.value}


def _final(call: Call) -> dict[str, Any]:
    """The answer to an update of a call that has already ended or expired (CALL-9)."""
    return {"grant_seconds": 0, "final": True, "status": call.status.value}


def _open_call(uow: UnitOfWork, tenant_id: str, call_id: str) -> Call:
    return _checked(uow.calls.get(tenant_id, call_id, call_id), call_id)


def _checked(call: Call | None, call_id: str) -> Call:
    if call is None:
        raise NotFound("CALL_NOT_FOUND", f"No call {call_id!r} was authorized in this tenant.")
    if call.status is CallStatus.DENIED:
        raise CallDenied()
    return call


def end(svc: Services, who: Caller, tenant_id: str, call_id: str,
        duration_seconds: Any) -> dict[str, Any]:
    """CALL-7: commit the real charge and release the rest of the reservation."""
    now = svc.clock.now()
    with svc.uow() as uow:
        principal, facts = _control(svc, uow, who, tenant_id, call_id, call_id,
                                     charging=True)
        tenant = _access(uow, principal, tenant_id, facts)
        if isinstance(duration_seconds, bool) or not isinstance(duration_seconds, int) \
                or not 0 <= duration_seconds <= MAX_USED_SECONDS:
            raise InvalidInput("INVALID_DURATION",
                               "duration_seconds must be a whole number from 0 to 86400.")
        call = _checked(facts.call, call_id)
        if not call.is_open:
            return ended_answer(call)

        def still_open() -> None:  # under the tenant lock: a twin may have ended it
            status = uow.calls.status(tenant_id, call.id)
            if status is None or not status.is_open:  # (None: gone; re-read, not found)
                raise CallAlreadyEnded(status or CallStatus.ENDED)

        try:
            if _plain_credits(call, tenant, duration_seconds):
                # The charge takes the lock; `still_open` runs as soon as it holds it.
                request_id, ended = settle(svc, uow, tenant_id, call, duration_seconds,
                                            now, tenant=tenant, open_under_lock=still_open,
                                            recharge=facts.auto_recharge)
            else:
                uow.credits.account(tenant_id, lock=True)
                still_open()
                request_id, ended = settle(svc, uow, tenant_id, call, duration_seconds,
                                            now, tenant=tenant)
        except CallAlreadyEnded:  # a twin ended it while this request waited for the lock
            return ended_answer(_open_call(uow, tenant_id, call_id))  # rolled back
        uow.commit()
    if request_id:
        process_request(svc, tenant_id, request_id)
    return ended_answer(ended)


def _plain_credits(call: Call, tenant: Tenant, duration: int) -> bool:
    """A prepaid credits call with a charge: its settlement is one ledger charge, which
    takes the tenant lock first thing."""
    return call.funding == Funding.CREDITS.value and duration > 0 \
        and tenant.billing_account_type is not BillingAccountType.MCA \
        and call.rate_id is not None


def ended_answer(call: Call) -> dict[str, Any]:
    currency = call.currency
    return {
        "call_id": call.call_id, "status": call.status.value,
        "duration_seconds": call.duration,
        "charge": Money(call.charge or Decimal(0), currency).format(),
        "connection_fee": Money(call.connection_fee or Decimal(0), currency).format(),
        "currency": currency, "capability": call.capability,
        "funding": call.funding, "pool_minutes": call.pool_minutes or 0,
    }


def expire_stale(svc: Services) -> int:
    """CALL-7: a call with no update for two grant periods ends at its last reported usage."""
    now = svc.clock.now()
    cutoff = now - timedelta(seconds=2 * GRANT_SECONDS)
    with svc.uow(readonly=True) as uow:
        stale = uow.calls.stale(cutoff)
    done = 0
    for tenant_id, call_id in stale:
        request_id = None
        with svc.uow() as uow:
            uow.credits.account(tenant_id, lock=True)
            call = uow.calls.get(tenant_id, call_id, call_id)
            if call is None or not call.is_open or call.last_update_at > cutoff:
                continue
            request_id = settle_in(svc, uow, tenant_id, call, call.used_seconds, now,
                                   expire=True)
            uow.commit()
            done += 1
        if request_id:
            process_request(svc, tenant_id, request_id)
    return done
