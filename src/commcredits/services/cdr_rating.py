"""Rating one outbound user call of a CDR batch (CDR-2, RATE-1..3, POOL-5, CALL-2):
`calls.rate_call` for a finished call (``live=False``), memoized per user, number and
license epoch (`Static`), with the rate looked up per distinct number and version and the
decision taken once per distinct set of facts (`ImportState` holds the memos). Moved out
of `cdr_batch` as it stands.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from commcredits.domain.authorization import (
    CallFacts,
    CallKind,
    Decision,
    Denied,
    decide,
    unlimited,
)
from commcredits.domain.licensing import CREDITS_SKU, PHONE_SKU
from commcredits.domain.pools import LicenseIndex, month_of
from commcredits.domain.rating import Classified, Rate
from commcredits.services import calls
from commcredits.services.ports import UnitOfWork

if TYPE_CHECKING:
    from commcredits.services.cdr_batch import ImportState

# The report fields of a rated call, in CALL_ROW_COLUMNS order from user_object_id to
# external_country, then pool_key: (user_object_id, upn, display_name, user_location, caller,
# callee, conference_id, number_type, domestic, destination_name, external_country,
# pool_key) minus caller/callee/conference_id, which the row takes from the request.
Fields = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Static:
    """What rating a call depends on apart from its start's rate row and the pool's usage:
    the same for every call of one user to one number within one license epoch."""

    user_fields: tuple[Any, ...]
    callee: Classified
    free: Decision | None  # an emergency call: free, whatever else (CALL-2)
    key: tuple[Any, ...]  # the decision's facts but the pool's minutes left and the rate
    plan: str | None = None
    blocked: bool = False
    has_phone: bool = False
    has_credits: bool = False
    pool_key: str | None = None
    pool_capability: str | None = None
    capacity: int = 0
    domestic: bool | None = None
    number_type: str | None = None
    external_country: str | None = None


def static_facts(uow: UnitOfWork, state: ImportState, index: LicenseIndex, req: calls.CallRequest,
            epoch: int) -> Static | Denied:
    """The first half of `calls.rate_call` for an outbound call (memoized by the caller)."""
    found = index.user(req.user) if req.user else None
    held, plan = state.held_at(found.id, epoch, req.start) if found else ({}, None)
    location = (found.usage_location if found else None) or state.tenant.country
    callee = state.classify(req.callee, location)
    if found is not None:
        user_fields: tuple[Any, ...] = (found.id, found.upn, state.display_name(uow, found.id),
                                        found.usage_location)
    else:
        user_fields = (None, None, None, None)
    if callee.emergency:
        return Static(user_fields, callee, decide(CallFacts(CallKind.EMERGENCY,
                                                             calling_plan=plan)), ())
    if found is None:
        return Denied("USER_NOT_FOUND", f"No user {req.user!r} in this tenant.")
    if not callee.valid:
        return Denied("INVALID_NUMBER", "The dialled number is not a valid phone number.")
    dest = state.pool_country(callee.country)
    pool_key = pool_capability = None
    capacity = 0
    if dest is not None:
        target = state.locate(found, dest, epoch, req.start)
        domestic = target.domestic
        if target.ref is not None:
            pool_key, pool_capability = target.ref.key, target.ref.capability
            capacity = target.capacity
    else:
        domestic = callee.country == location
    blocked, has_phone, has_credits = bool(found.blocked), PHONE_SKU in held, \
        CREDITS_SKU in held
    return Static(
        user_fields, callee, None,
        (callee.number_type, blocked, has_phone, plan, has_credits, pool_capability),
        plan, blocked, has_phone, has_credits, pool_key, pool_capability, capacity, domestic,
        callee.number_type.value, (callee.country or "")[:2] or None,
    )


def rate_record(
    uow: UnitOfWork, state: ImportState, index: LicenseIndex, req: calls.CallRequest,
    pool_used: Callable[[str, str], int],
) -> tuple[Fields, Decision, int | None, Rate | None] | Denied:
    """`calls.rate_call` for an outbound user call of a finished CDR (``live=False``)."""
    epoch = bisect_right(state.epochs, req.start)
    memo_key = (req.user, req.callee, epoch)
    static = state.statics.get(memo_key)
    if static is None:
        static = state.statics[memo_key] = static_facts(uow, state, index, req, epoch)
    if isinstance(static, Denied):
        return static
    if static.free is not None:
        return ((*static.user_fields, req.caller, req.callee, req.conference_id, "emergency",
                 None, None, None, None), static.free, None, None)
    callee = static.callee
    rated = state.rate(uow, callee.digits, req.start)
    rate_id, rate = rated if rated is not None else (None, None)
    left: int | None = None
    if static.pool_key is not None:
        left = max(0, static.capacity - pool_used(month_of(req.start), static.pool_key))
    key = (*static.key, None if left is None else min(left, 1), rate_id)
    decision: Decision | None = state.decisions.get(key)
    if decision is None:
        facts = CallFacts(
            CallKind.USER_OUTBOUND, callee_valid=True, callee_type=callee.number_type,
            user_blocked=static.blocked, has_phone_license=static.has_phone,
            calling_plan=static.plan, has_credits_license=static.has_credits,
            pool_capability=static.pool_capability, pool_minutes_left=left, rate=rate,
            available=unlimited(state.currency), postpaid=False, overage_enabled=True,
        )
        decision = state.decisions[key] = decide(facts)
    if isinstance(decision, Denied):
        return decision
    return ((*static.user_fields, req.caller, req.callee, req.conference_id,
             static.number_type, static.domestic,
             rate.destination if rate is not None else callee.country,
             static.external_country, static.pool_key), decision, rate_id, rate)
