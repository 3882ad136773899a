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
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from commcredits.domain.authorization import (
    CREDITS_CAPABILITY,
    GRANT_SECONDS,
    Allowed,
    Denied,
    Funding,
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
    Settlement,
    rate_snapshot,
)
from commcredits.domain.errors import DomainError, InvalidInput, NotFound, Unauthenticated
from commcredits.domain.money import Money, from_micros
from commcredits.domain.rating import Rate, RateTerms, charge, max_seconds
from commcredits.domain.settlement import pool_cost, settle_call
from commcredits.domain.tenants import BillingAccountType, Role, Tenant
from commcredits.services import pools, postpaid
from commcredits.services.auth import ROLE_ACTIONS, Action, Principal, hash_key, tenant_not_found
from commcredits.services.auth import authorize as authorize_principal
from commcredits.services.call_rating import CallRequest, Rated, Rater
from commcredits.services.cdr_posting import ChunkLedger
from commcredits.services.context import Services
from commcredits.services.ports import AutoRechargeRecord, CallControlFacts, CdrBatch, UnitOfWork
from commcredits.services.recharge import ReadSettings, process_request

__all__ = ["CALL_TYPES", "DIAL_OUT_TYPES", "EMERGENCY_TYPES", "INBOUND_TYPES",
           "OUTBOUND_TYPES", "CallRequest", "Rated",
           "rate_snapshot"]  # re-exported: the call model's and the rating kernel's own
LIVE_START_WINDOW = timedelta(days=1)  # how far from now a live call's start may be
MAX_USED_SECONDS = 86_400  # as a call's final duration (`end`)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key not yet checked: call control authenticates it in its own transaction
    (`CallRepository.control_facts`), saving a transaction per request."""

    key: str | None


Caller = Principal | ApiKey


def parse_request(body: dict[str, Any], now: datetime) -> CallRequest:
    """Validate an authorize request (CALL-1)."""
    def text(name: str, required: bool = True, limit: int = 64) -> str | None:
        value = body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            raise InvalidInput("INVALID_CALL", f"{name} is required (text, at most {limit}).")
        return value.strip()

    call_type = text("call_type", limit=32)
    if call_type not in CALL_TYPES:
        raise InvalidInput("INVALID_CALL_TYPE", f"{call_type!r} is not a known call type.",
                           {"allowed": sorted(t.value for t in CALL_TYPES)})
    start = body.get("start")
    if start is None:
        at = now
    elif isinstance(start, datetime):
        at = start
    else:
        try:
            at = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput("INVALID_CALL", "start must be ISO 8601 with a zone.") from None
    if at.tzinfo is None:
        raise InvalidInput("INVALID_CALL", "start must carry a time zone, e.g. Z.")
    return CallRequest(
        call_id=str(text("call_id")), call_type=CallType(call_type),
        user=text("user", False, 128),
        caller=str(text("caller")), callee=str(text("callee")), start=at,
        usage_id=text("usage_id", False), conference_id=text("conference_id", False),
    )


def check_live_start(req: CallRequest, now: datetime) -> CallRequest:
    """A live call starts within `LIVE_START_WINDOW` of now, or INVALID_CALL: the platform
    asks before the call, so a start far away is a wrong clock or a forged request, and
    would hold a reservation for a call that cannot happen (docs/decisions.md)."""
    if not now - LIVE_START_WINDOW <= req.start <= now + LIVE_START_WINDOW:
        raise InvalidInput(
            "INVALID_CALL", "start must be within 1 day of now; leave it out to mean now.",
            {"start": req.start.isoformat(), "now": now.isoformat()},
        )
    return req


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
    """The authorize answer stored with the call and repeated on replays (CALL-9)."""
    return dict(call.decision["reply"])


def rate_of(call: Call) -> Rate | None:
    return call.rate


def _control(
    svc: Services, uow: UnitOfWork, who: Caller, tenant_id: str, call_id: str, usage_id: str,
) -> tuple[Principal, CallControlFacts]:
    """Read the call-control facts in one statement and authenticate the caller with them
    (AUTH-1), as `auth.authenticate` does."""
    key = who.key if isinstance(who, ApiKey) else None
    operator = bool(key and svc.operator_key
                    and hmac.compare_digest(key.encode(), svc.operator_key.encode()))
    key_hash = hash_key(key) if key and not operator else None
    facts = uow.calls.control_facts(tenant_id, key_hash, call_id, usage_id)
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
        decision = rated.decision
        call_row_id = uuid.uuid4().hex
        reply: dict[str, Any]
        reserved = Money.zero(tenant.currency)
        if isinstance(decision, Denied):
            reply = {"decision": "deny", "reason": decision.code, "message": decision.message,
                     "funding": None, "capability": None, "max_seconds": 0,
                     "grant_seconds": 0, "reservation_id": None}
            status = CallStatus.DENIED
        else:
            grant = decision.grant_seconds
            if decision.funding is Funding.CREDITS and rated.rate and grant:
                reserved = charge(rated.rate, grant)
            elif decision.funding is Funding.POOL and rated.rate and grant \
                    and grant > decision.pool_seconds:
                reserved = charge(_no_fee(rated.rate), grant - decision.pool_seconds)
            reply = {"decision": "allow", "reason": "OK", "funding": decision.funding.value,
                     "capability": decision.capability, "max_seconds": decision.max_seconds,
                     "grant_seconds": grant, "reservation_id": call_row_id}
            status = CallStatus.AUTHORIZED
        uow.calls.add(new_call(
            tenant, req, rated, row_id=call_row_id, usage_id=usage_id, source=CallSource.LIVE,
            status=status, now=now, reserved=reserved.amount, max_secs=reply["max_seconds"],
            granted=reply["grant_seconds"], reply=reply,
        ))
        uow.commit()
    return reply


def new_call(
    tenant: Tenant, req: CallRequest, rated: Rated, *, row_id: str, usage_id: str,
    source: CallSource, status: CallStatus, now: datetime, reserved: Decimal = Decimal(0),
    max_secs: int | None = None, granted: int | None = None,
    reply: dict[str, Any] | None = None,
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
        decision={"reply": reply or {}, "rate": rate_snapshot(rated.rate)},
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
        rate = call.rate
        funding = call.funding
        limit: int | None = call.max_seconds
        if funding == Funding.CREDITS.value and rate is not None:
            others = available_in(uow, tenant_id, account.balance, exclude=call.id)
            limit = max_seconds(rate, others) if others.is_positive() else used
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
        principal, facts = _control(svc, uow, who, tenant_id, call_id, call_id)
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
                request_id, ended = _settle(svc, uow, tenant_id, call, duration_seconds,
                                            now, tenant=tenant, open_under_lock=still_open,
                                            recharge=facts.auto_recharge)
            else:
                uow.credits.account(tenant_id, lock=True)
                still_open()
                request_id, ended = _settle(svc, uow, tenant_id, call, duration_seconds,
                                            now, tenant=tenant)
        except CallAlreadyEnded:  # a twin ended it while this request waited for the lock
            return ended_answer(_open_call(uow, tenant_id, call_id))  # rolled back
        uow.commit()
    if request_id:
        process_request(svc, request_id)
    return ended_answer(ended)


def _plain_credits(call: Call, tenant: Tenant, duration: int) -> bool:
    """A prepaid credits call with a charge: its settlement is one ledger charge, which
    takes the tenant lock first thing."""
    return call.funding == Funding.CREDITS.value and duration > 0 \
        and tenant.billing_account_type is not BillingAccountType.MCA \
        and bool(call.decision.get("rate"))


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


def settle_in(svc: Services, uow: UnitOfWork, tenant_id: str, call: Call, duration: int,
              at: datetime, *, expire: bool = False) -> str | None:
    """Commit a call's charge (RATE-2, POOL-5) inside the caller's locked transaction; the
    call ends (or, with ``expire``, expires at its last reported usage).

    Returns the auto-recharge request the charge queued, if any.
    """
    return _settle(svc, uow, tenant_id, call, duration, at, expire=expire)[0]


def _settle(
    svc: Services, uow: UnitOfWork, tenant_id: str, call: Call, duration: int, at: datetime,
    *, tenant: Tenant | None = None, open_under_lock: Callable[[], None] | None = None,
    recharge: AutoRechargeRecord | None = None, expire: bool = False,
) -> tuple[str | None, Call]:
    """`settle_in`, and the call as it was written.

    ``tenant`` saves reading it again. ``open_under_lock`` (for a `_plain_credits` call,
    whose charge takes the tenant lock) checks that the call is still open once the lock is
    held, and raises otherwise. A call open under the lock has no charge yet (the charge is
    written in the same transaction as the end), so the charge skips its idempotency
    lookup; ``recharge`` is then the tenant's auto-recharge settings (None: none), read at
    the start of the request.
    """
    rate = call.rate
    currency = call.currency
    terms = RateTerms.of(rate) if rate is not None else None
    if call.funding == Funding.POOL.value and call.pool_key:
        used = pools.consume_in(uow, tenant_id, call.pool_key, duration, at,
                                reference=f"call:{call.id}", call_start=call.start_at)
        # The pool's split (`domain.pools.split`, under the lock), then the one settlement.
        cost = pool_cost(used.minutes_covered, used.uncovered_seconds, terms, call.capability)
    else:
        cost = settle_call(call.funding, call.capability, terms, duration, None)
    amount = Money(from_micros(cost.amount), currency) if cost.amount else Money.zero(currency)
    fee = Money(from_micros(cost.fee), currency) if cost.fee else Money.zero(currency)
    pool_minutes, capability = cost.pool_minutes, cost.capability
    request_id: str | None = None
    entry_id: int | None = None
    if open_under_lock is not None and not amount.is_positive():  # no charge to take it
        uow.credits.account(tenant_id, lock=True)
        open_under_lock()
    if amount.is_positive():
        if tenant is None:
            tenant = uow.tenants.get(tenant_id)
        assert tenant is not None
        reference = f"call:{call.call_id}:{call.usage_id}"
        if tenant.billing_account_type is BillingAccountType.MCA:
            split = postpaid.charge_postpaid_in(
                uow, tenant_id, amount, capability=capability or CREDITS_CAPABILITY,
                country=call.external_country or tenant.country, reference=reference,
                at=at, description=f"Call {call.call_id}",
            )
            entry_id = split.entry_id
        else:
            # A batch of one through the ledger side a CDR chunk uses: its own entry.
            ledger = ChunkLedger(uow, tenant_id, at, 1, "", 0,
                                 single=(reference, f"Call {call.call_id} to {call.callee}"),
                                 locked=open_under_lock,
                                 known=ReadSettings(recharge) if open_under_lock else None)
            entry_id, request_id = ledger.charge(cost.amount)
            batch = CdrBatch([], [], [], {}, [])
            ledger.finish(batch)
            uow.cdr_batch.write(tenant_id, batch)
    settlement = Settlement(amount.amount, fee.amount, pool_minutes, capability, entry_id)
    done = call.expire(settlement, at) if expire else call.end(duration, settlement, at)
    uow.calls.update(done, Call.SETTLE_FIELDS)
    return request_id, done


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
            process_request(svc, request_id)
    return done
