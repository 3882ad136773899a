"""Call authorization (CALL-1 to CALL-6, NUM-2, POST-2): a pure function from the facts
about one call to `Allowed` or `Denied`.

The service gathers the facts (licenses, pool minutes left, the rate, the available
balance, the billing account) and stores the reservation; this module only decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from commcredits.domain.money import Money
from commcredits.domain.rating import MAX_CALL_SECONDS, NumberType, Rate, max_seconds

GRANT_SECONDS = 300  # CALL-7: the first grant is 5 minutes
CREDITS_CAPABILITY = "MCOPSTNPP"  # what a call paid from credits (or post-usage) is billed as
UNLIMITED = Decimal("1000000000")  # a finished call (a CDR) is rated whatever the balance


def unlimited(currency: str) -> Money:
    """The available balance a finished call is decided with: what it cost is owed."""
    return Money(UNLIMITED, currency)


class Funding(StrEnum):
    POOL = "pool"
    CREDITS = "credits"
    POST_USAGE = "post_usage"
    FREE = "free"


class CallKind(StrEnum):
    """How a call is paid for, derived from its call type and numbers."""

    EMERGENCY = "emergency"
    USER_OUTBOUND = "user_outbound"
    USER_INBOUND = "user_inbound"
    TOLL_FREE_INBOUND = "toll_free_inbound"
    CONFERENCE_DIAL_OUT = "conference_dial_out"
    CONFERENCE_DIAL_IN = "conference_dial_in"


@dataclass(frozen=True, slots=True)
class CallFacts:
    kind: CallKind
    callee_valid: bool = True
    callee_type: NumberType = NumberType.FIXED
    user_blocked: bool = False
    has_phone_license: bool = True
    calling_plan: str | None = None
    has_credits_license: bool = False
    pool_capability: str | None = None
    pool_minutes_left: int | None = None  # None: no pool covers this call
    rate: Rate | None = None
    available: Money | None = None
    postpaid: bool = False
    overage_enabled: bool = True


@dataclass(frozen=True, slots=True)
class Allowed:
    funding: Funding
    capability: str
    max_seconds: int | None
    grant_seconds: int | None
    pool_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Denied:
    code: str
    message: str


Decision = Allowed | Denied


def _grant(max_secs: int | None) -> int | None:
    return GRANT_SECONDS if max_secs is None else min(GRANT_SECONDS, max_secs)


def first_grant(funding: Funding, max_secs: int | None) -> int | None:
    """The first grant of an allowed call (CALL-1): none for a free call, else up to
    `GRANT_SECONDS` within its maximum. What `decide` (and the guard's cap) grant, so a
    stored call's answer is rebuilt from its funding and maximum (CALL-9)."""
    return None if funding is Funding.FREE else _grant(max_secs)


def _credit_seconds(facts: CallFacts) -> int:
    if facts.rate is None or facts.available is None or not facts.available.is_positive():
        return 0
    return max_seconds(facts.rate, facts.available)


def decide(facts: CallFacts) -> Decision:
    """CALL-2..CALL-6: who pays for the call, and for how long it may last."""
    if facts.kind is CallKind.EMERGENCY:
        return Allowed(Funding.FREE, facts.calling_plan or "FREECALL", None, None)
    if facts.kind in (CallKind.USER_INBOUND, CallKind.CONFERENCE_DIAL_IN):
        return Allowed(Funding.FREE, facts.calling_plan or "MCOEV", None, None)
    if facts.kind is CallKind.TOLL_FREE_INBOUND:
        return _toll_free(facts)
    if not facts.callee_valid:
        return Denied("INVALID_NUMBER", "The dialled number is not a valid phone number.")
    if facts.callee_type is NumberType.PREMIUM:
        return Denied("DESTINATION_BLOCKED", "Premium-rate numbers cannot be called.")
    if facts.kind is CallKind.USER_OUTBOUND:
        if facts.user_blocked:
            return Denied("USER_BLOCKED", "This user is blocked from calling.")
        if not facts.has_phone_license or facts.calling_plan is None:
            return Denied("NO_CALLING_PLAN",
                          "The user needs Teams Phone and a calling plan to call out.")
    left = facts.pool_minutes_left
    if left is not None and left > 0 and facts.pool_capability:
        return _pool(facts, left)
    return _beyond_pool(facts)


def _pool(facts: CallFacts, minutes_left: int) -> Allowed:
    """CALL-6: pool minutes, plus what credits (or post-usage) can fund beyond them."""
    pool_seconds = minutes_left * 60
    if facts.postpaid and facts.overage_enabled:
        extra: int | None = None
    elif facts.has_credits_license and not facts.postpaid:
        extra = _credit_seconds(facts)
    else:
        extra = 0
    total = None if extra is None else min(MAX_CALL_SECONDS, pool_seconds + extra)
    assert facts.pool_capability is not None
    return Allowed(Funding.POOL, facts.pool_capability, total, _grant(total), pool_seconds)


def _beyond_pool(facts: CallFacts) -> Decision:
    """CALL-5: no pool covers the call: post-usage for MCA, otherwise credits."""
    if facts.postpaid:
        if not facts.overage_enabled:
            return Denied("POSTPAID_OVERAGE_DISABLED",
                          "Overage is turned off for this tenant until next month.")
        return Allowed(Funding.POST_USAGE, CREDITS_CAPABILITY, None, GRANT_SECONDS)
    if not facts.has_credits_license:
        return Denied("NO_CREDITS_LICENSE",
                      "Assign the Communications Credits license to pay for this call.")
    if facts.rate is None:
        return Denied("DESTINATION_NOT_RATED",
                      "No rate covers this destination; ask the operator to add one.")
    if facts.available is None or not facts.available.is_positive():
        return Denied("INSUFFICIENT_BALANCE",
                      "The Communications Credits balance is used up; add funds.")
    seconds = _credit_seconds(facts)
    if seconds == 0:
        return Denied("INSUFFICIENT_BALANCE",
                      "The balance does not cover the first billing increment; add funds.")
    return Allowed(Funding.CREDITS, CREDITS_CAPABILITY, seconds, _grant(seconds))


def _toll_free(facts: CallFacts) -> Decision:
    """NUM-2: inbound toll-free calls are paid per minute by the tenant."""
    if facts.postpaid:
        if not facts.overage_enabled:
            return Denied("POSTPAID_OVERAGE_DISABLED",
                          "Overage is turned off for this tenant until next month.")
        return Allowed(Funding.POST_USAGE, CREDITS_CAPABILITY, None, GRANT_SECONDS)
    if facts.available is None or not facts.available.is_positive():
        return Denied("TOLL_FREE_SUSPENDED",
                      "Toll-free numbers are suspended while the balance is 0 or below.")
    if facts.rate is None:
        return Denied("DESTINATION_NOT_RATED",
                      "No toll-free inbound rate covers the caller's country.")
    seconds = _credit_seconds(facts)
    if seconds == 0:
        return Denied("TOLL_FREE_SUSPENDED",
                      "The balance does not cover the first billing increment.")
    return Allowed(Funding.CREDITS, CREDITS_CAPABILITY, seconds, _grant(seconds))
