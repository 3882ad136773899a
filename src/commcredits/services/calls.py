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
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from commcredits.domain.authorization import (
    CREDITS_CAPABILITY,
    GRANT_SECONDS,
    Allowed,
    CallFacts,
    CallKind,
    Decision,
    Denied,
    Funding,
    decide,
    unlimited,
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
from commcredits.domain.directory import NumberType as InventoryType
from commcredits.domain.errors import DomainError, InvalidInput, NotFound, Unauthenticated
from commcredits.domain.licensing import CREDITS_SKU, PHONE_SKU, calling_plan_code
from commcredits.domain.money import Money
from commcredits.domain.pools import (
    DirectoryUser,
    LicenseIndex,
    locate,
    month_of,
)
from commcredits.domain.rating import Direction, Rate, charge, max_seconds
from commcredits.domain.reference import country
from commcredits.domain.tenants import BillingAccountType, Role, Tenant
from commcredits.services import guard as spend_guard
from commcredits.services import pools, postpaid
from commcredits.services.auth import ROLE_ACTIONS, Action, Principal, hash_key, tenant_not_found
from commcredits.services.auth import authorize as authorize_principal
from commcredits.services.context import Services
from commcredits.services.funds import charge_in
from commcredits.services.ports import AutoRechargeRecord, CallControlFacts, UnitOfWork
from commcredits.services.recharge import ReadSettings, process_request

__all__ = ["CALL_TYPES", "DIAL_OUT_TYPES", "EMERGENCY_TYPES", "INBOUND_TYPES",
           "OUTBOUND_TYPES", "rate_snapshot"]  # re-exported: the call model's own
LIVE_START_WINDOW = timedelta(days=1)  # how far from now a live call's start may be
MAX_USED_SECONDS = 86_400  # as a call's final duration (`end`)


@dataclass(frozen=True, slots=True)
class CallRequest:
    call_id: str
    call_type: CallType
    user: str | None
    caller: str
    callee: str
    start: datetime
    usage_id: str | None = None
    conference_id: str | None = None


@dataclass(frozen=True, slots=True)
class Rated:
    """Everything the usage report needs about a call, and the decision behind it."""

    decision: Decision
    kind: CallKind
    user_id: str | None = None
    upn: str | None = None
    display_name: str | None = None
    user_location: str | None = None
    number_type: str | None = None
    domestic: bool | None = None
    destination_name: str | None = None
    external_country: str | None = None
    pool_key: str | None = None
    rate_id: int | None = None
    rate: Rate | None = None
    facts: CallFacts | None = None  # what `decision` was decided from, when it needs a balance

    def with_available(self, available: Money) -> Rated:
        """The same call decided again with the available balance read under the lock."""
        if self.facts is None:
            return self
        facts = replace(self.facts, available=available)
        return replace(self, decision=decide(facts), facts=facts)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key not yet checked: call control authenticates it in its own transaction
    (`CallRepository.control_facts`), saving a transaction per request."""

    key: str | None


Caller = Principal | ApiKey


class _DisplayNames:
    """Users' display names, cached per (tenant, directory version): every directory write
    changes the version, so a stale name is never served."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str, str], str | None] = OrderedDict()

    def get(self, uow: UnitOfWork, tenant_id: str, version: str | None, user_id: str,
            ) -> str | None:
        if version is None:
            return uow.calls.display_name(tenant_id, user_id)
        key = (tenant_id, version, user_id)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        name = uow.calls.display_name(tenant_id, user_id)
        with self._lock:
            self._items[key] = name
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return name


DISPLAY_NAMES = _DisplayNames()


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


def _classifier(svc: Services) -> Any:
    if svc.phone is None:  # pragma: no cover - bootstrap always wires one
        raise RuntimeError("no number classifier configured")
    return svc.phone


def available_in(uow: UnitOfWork, tenant_id: str, balance: Money,
                 exclude: str | None = None) -> Money:
    """The balance minus what open reservations hold (CALL-8)."""
    return balance - uow.calls.reserved(tenant_id, balance.currency, exclude=exclude)


def rate_call(
    svc: Services, uow: UnitOfWork, tenant: Tenant, req: CallRequest, available: Money | None,
    *, live: bool, directory_version: str | None = None,
) -> Rated:
    """The one path from a call to its decision, for live calls and CDRs (CDR-2).

    ``available`` None (live calls) decides without a balance; `Rated.with_available` then
    decides again with the balance read under the tenant lock. ``directory_version``, when
    the caller has just read it in this transaction, saves reading it again.
    """
    phone = _classifier(svc)
    tenant_country = tenant.country
    index = pools.license_index(uow, tenant.id, directory_version,
                                known=directory_version is not None)
    found = index.user(req.user) if req.user else None
    held = index.held_at(found.id, req.start) if found else {}
    location = (found.usage_location if found else None) or tenant_country
    plan = calling_plan_code(held)
    base: dict[str, Any] = {
        "user_id": found.id if found else None, "upn": found.upn if found else None,
        "display_name": DISPLAY_NAMES.get(uow, tenant.id, index.version, found.id)
        if found else None,
        "user_location": found.usage_location if found else None,
    }
    on_mca = tenant.billing_account_type is BillingAccountType.MCA
    # POST-2's overage switch only matters to MCA tenants (`decide` reads it when postpaid).
    overage = postpaid.overage_enabled_in(uow, tenant.id, req.start) if on_mca else True
    callee = phone.classify(req.callee, location)

    inbound = req.call_type.is_inbound
    if req.call_type.is_emergency or (not inbound and callee.emergency):
        return Rated(decide(CallFacts(CallKind.EMERGENCY, calling_plan=plan)),
                     CallKind.EMERGENCY, number_type="emergency", **base)
    if inbound:
        inventory = uow.numbers.get(tenant.id, "+" + callee.digits) if callee.valid else None
        if inventory is not None and inventory.type is InventoryType.TOLL_FREE:
            caller = phone.classify(req.caller, tenant_country)
            rated = svc.rate_book.lookup(uow, tenant.currency, caller.digits, req.start,
                                         Direction.TOLL_FREE_INBOUND) if caller.valid else None
            facts = CallFacts(CallKind.TOLL_FREE_INBOUND, rate=rated.rate if rated else None,
                              available=available if live else unlimited(tenant.currency),
                              postpaid=on_mca, overage_enabled=overage)
            return Rated(decide(facts), CallKind.TOLL_FREE_INBOUND, number_type="toll_free",
                         facts=facts,
                         domestic=caller.country == tenant_country,
                         destination_name=rated.rate.destination if rated else None,
                         external_country=caller.country or None,
                         rate_id=rated.rate_id if rated else None,
                         rate=rated.rate if rated else None, **base)
        kind = CallKind.CONFERENCE_DIAL_IN if req.call_type is CallType.CONF_IN \
            else CallKind.USER_INBOUND
        caller = phone.classify(req.caller, location)
        return Rated(decide(CallFacts(kind, calling_plan=plan)), kind,
                     number_type=caller.number_type.value if caller.valid else None,
                     external_country=caller.country or None, **base)

    dial_out = req.call_type.is_dial_out
    kind = CallKind.CONFERENCE_DIAL_OUT if dial_out else CallKind.USER_OUTBOUND
    if found is None and not dial_out:
        raise NotFound("USER_NOT_FOUND", f"No user {req.user!r} in this tenant.")
    if not callee.valid:
        return Rated(decide(CallFacts(kind, callee_valid=False)), kind, **base)
    rated = svc.rate_book.lookup(uow, tenant.currency, callee.digits, req.start,
                                 Direction.OUTBOUND)
    quote = _quote(uow, tenant.id, index, found, callee.country, req.start, dial_out)
    facts = CallFacts(
        kind, callee_valid=True, callee_type=callee.number_type,
        user_blocked=bool(found and found.blocked),
        has_phone_license=PHONE_SKU in held or dial_out, calling_plan=plan or (
            "MCOMEETADV" if dial_out else None),
        has_credits_license=CREDITS_SKU in held,
        pool_capability=quote.capability if quote and quote.covered else None,
        pool_minutes_left=quote.minutes_left if quote and quote.covered else None,
        rate=rated.rate if rated else None,
        available=available if live else unlimited(tenant.currency),
        postpaid=on_mca, overage_enabled=overage,
    )
    return Rated(
        decide(facts), kind, number_type=callee.number_type.value, facts=facts,
        domestic=quote.domestic if quote else callee.country == location,
        destination_name=rated.rate.destination if rated else callee.country,
        external_country=callee.country or None,
        pool_key=quote.pool_key if quote and quote.covered else None,
        rate_id=rated.rate_id if rated else None, rate=rated.rate if rated else None, **base,
    )


def _quote(uow: UnitOfWork, tenant_id: str, index: LicenseIndex, found: DirectoryUser | None,
           destination: str, at: datetime, dial_out: bool) -> pools.PoolQuote | None:
    """The pool quote, or None for a destination outside the country tables (no pool).

    ``index`` is the license index at this transaction's directory version, so when it says
    that no pool covers the call (international on a domestic plan, PAYG, outside Zone A),
    the quote needs no read: `pools.minutes_left` would only read the version again."""
    if found is None:
        return None
    try:
        target = locate(index, found, country(destination).code, at, dial_out=dial_out)
        if target.ref is None:
            return pools.PoolQuote(
                pool_key=None, capability=None, minutes_left=None, capacity=target.capacity,
                used=0, month=month_of(at), domestic=target.domestic, reason=target.reason,
                calling_plan=target.calling_plan, user_id=found.id,
            )
        return pools.minutes_left(uow, tenant_id, found.id, destination, at,
                                  dial_out=dial_out)
    except InvalidInput as exc:
        if exc.code == "INVALID_COUNTRY":
            return None
        raise


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
        rated = rate_call(svc, uow, tenant, req, None, live=True,
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
        uow.calls.add(spend_guard.mark(new_call(
            tenant, req, rated, row_id=call_row_id, usage_id=usage_id, source=CallSource.LIVE,
            status=status, now=now, reserved=reserved.amount, max_secs=reply["max_seconds"],
            granted=reply["grant_seconds"], reply=reply,
        ), verdict))
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
    amount = Money.zero(currency)
    fee = Money.zero(currency)
    pool_minutes = 0
    capability = call.capability
    if call.funding == Funding.POOL.value and call.pool_key:
        used = pools.consume_in(uow, tenant_id, call.pool_key, duration, at,
                                reference=f"call:{call.id}", call_start=call.start_at)
        pool_minutes = used.minutes_covered
        if used.uncovered_seconds and rate is not None:
            amount = charge(_no_fee(rate), used.uncovered_seconds)
            capability = CREDITS_CAPABILITY
    elif call.funding in (Funding.CREDITS.value, Funding.POST_USAGE.value) \
            and rate is not None and duration > 0:
        amount = charge(rate, duration)
        fee = rate.connection_fee
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
            result = charge_in(uow, tenant_id, amount, at, reference=reference,
                               idempotency_key=reference,
                               description=f"Call {call.call_id} to {call.callee}",
                               key_is_new=open_under_lock is not None,
                               recharge=ReadSettings(recharge) if open_under_lock else None,
                               locked=open_under_lock)
            entry_id, request_id = result.entry_id, result.recharge_request_id
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
