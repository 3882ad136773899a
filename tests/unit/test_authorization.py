"""The call authorization decision (CALL-2..CALL-6, NUM-2, POST-2) as a pure function."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from commcredits.domain.authorization import (
    Allowed,
    CallFacts,
    CallKind,
    Denied,
    Funding,
    decide,
)
from commcredits.domain.money import Money
from commcredits.domain.rating import Direction, NumberType, Rate

UK = Rate("44", "United Kingdom", NumberType.FIXED, Direction.OUTBOUND,
          Money(Decimal("0.10"), "USD"), Money(Decimal("0.00"), "USD"), 60, 60,
          datetime(2026, 1, 1, tzinfo=UTC))


def usd(x: str) -> Money:
    return Money(Decimal(x), "USD")


def out(**kw: object) -> CallFacts:
    base: dict[str, object] = {"kind": CallKind.USER_OUTBOUND, "calling_plan": "MCOPSTN1",
                               "has_credits_license": True, "rate": UK,
                               "available": usd("1.00")}
    base.update(kw)
    return CallFacts(**base)  # type: ignore[arg-type]


@pytest.mark.rule("CALL-2")
def test_emergency_calls_are_free_whatever_the_licenses_or_balance() -> None:
    d = decide(CallFacts(CallKind.EMERGENCY, has_phone_license=False, available=usd("-5")))
    assert d == Allowed(Funding.FREE, "FREECALL", None, None)


@pytest.mark.rule("CALL-3")
def test_premium_and_invalid_numbers_are_denied() -> None:
    assert decide(out(callee_type=NumberType.PREMIUM)).code == "DESTINATION_BLOCKED"  # type: ignore[union-attr]
    assert decide(out(callee_valid=False)).code == "INVALID_NUMBER"  # type: ignore[union-attr]


@pytest.mark.rule("CALL-4")
def test_outbound_calls_need_a_plan_and_an_unblocked_user() -> None:
    assert decide(out(calling_plan=None)).code == "NO_CALLING_PLAN"  # type: ignore[union-attr]
    assert decide(out(has_phone_license=False)).code == "NO_CALLING_PLAN"  # type: ignore[union-attr]
    assert decide(out(user_blocked=True)).code == "USER_BLOCKED"  # type: ignore[union-attr]


@pytest.mark.rule("CALL-5")
@pytest.mark.rule("CALL-6")
def test_a_call_no_pool_covers_needs_the_credits_license_and_a_balance() -> None:
    assert decide(out(has_credits_license=False)).code == "NO_CREDITS_LICENSE"  # type: ignore[union-attr]
    assert decide(out(available=usd("0.00"))).code == "INSUFFICIENT_BALANCE"  # type: ignore[union-attr]
    # 1.00 at 0.10/min buys 10 minutes; the first grant is 5 minutes
    assert decide(out()) == Allowed(Funding.CREDITS, "MCOPSTNPP", 600, 300)
    assert decide(out(available=usd("0.30"))) == Allowed(Funding.CREDITS, "MCOPSTNPP", 180, 180)


@pytest.mark.rule("CALL-6")
def test_a_pool_call_gets_the_pool_minutes_plus_what_credits_fund() -> None:
    d = decide(out(pool_capability="MCOPSTN1", pool_minutes_left=4))
    assert d == Allowed(Funding.POOL, "MCOPSTN1", 240 + 600, 300, 240)
    no_credits = decide(out(pool_capability="MCOPSTN1", pool_minutes_left=4,
                            has_credits_license=False))
    assert no_credits == Allowed(Funding.POOL, "MCOPSTN1", 240, 240, 240)


@pytest.mark.rule("NUM-2")
def test_toll_free_inbound_is_suspended_at_zero_and_charged_otherwise() -> None:
    facts = CallFacts(CallKind.TOLL_FREE_INBOUND, rate=UK, available=usd("0.00"))
    assert decide(facts).code == "TOLL_FREE_SUSPENDED"  # type: ignore[union-attr]
    ok = CallFacts(CallKind.TOLL_FREE_INBOUND, rate=UK, available=usd("2.00"))
    assert decide(ok) == Allowed(Funding.CREDITS, "MCOPSTNPP", 1200, 300)
    mca = CallFacts(CallKind.TOLL_FREE_INBOUND, rate=UK, available=usd("0.00"), postpaid=True)
    assert isinstance(decide(mca), Allowed)


@pytest.mark.rule("POST-2")
def test_postpaid_users_are_never_denied_for_balance_unless_overage_is_off() -> None:
    d = decide(out(postpaid=True, available=usd("0.00"), has_credits_license=False))
    assert d == Allowed(Funding.POST_USAGE, "MCOPSTNPP", None, 300)
    off = decide(out(postpaid=True, overage_enabled=False))
    assert isinstance(off, Denied) and off.code == "POSTPAID_OVERAGE_DISABLED"


@pytest.mark.rule("CALL-1")
def test_inbound_calls_on_a_plan_are_free_and_unlimited() -> None:
    d = decide(CallFacts(CallKind.USER_INBOUND, calling_plan="MCOPSTN2"))
    assert d == Allowed(Funding.FREE, "MCOPSTN2", None, None)
