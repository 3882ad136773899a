"""The spend guard's arithmetic (GUARD-1, GUARD-3) and the anomaly rule (GUARD-2), pure."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commcredits.domain.authorization import Allowed, Denied, Funding
from commcredits.domain.guard import (
    GuardedCall,
    GuardSettings,
    Limit,
    Spent,
    is_anomaly,
    median_hourly,
    parse_settings,
    restrict,
)
from commcredits.domain.money import Money
from commcredits.domain.rating import Direction, NumberType, Rate, charge

AT = datetime(2026, 1, 1, tzinfo=UTC)


def rate(per_minute: str, fee: str = "0", first: int = 60, step: int = 60) -> Rate:
    return Rate("44", "UK", NumberType.MOBILE, Direction.OUTBOUND, Money(Decimal(per_minute),
                "USD"), Money(Decimal(fee), "USD"), first, step, AT)


def call(r: Rate | None, international: bool = True) -> GuardedCall:
    return GuardedCall("447400123456", "GB", international, True, r)


CREDITS = Allowed(Funding.CREDITS, "MCOPSTNPP", 14_400, 300)


@pytest.mark.rule("GUARD-1")
@given(per_minute=st.decimals("0.001", "2", places=3), fee=st.decimals("0", "1", places=2),
       limit=st.decimals("0.01", "50", places=2), spent=st.decimals("0", "60", places=2),
       step=st.sampled_from([1, 6, 30, 60]))
def test_a_capped_call_never_spends_past_the_limit_and_one_more_step_would(
    per_minute: Decimal, fee: Decimal, limit: Decimal, spent: Decimal, step: int,
) -> None:
    r = rate(str(per_minute), str(fee), 60, step)
    verdict = restrict(CREDITS, GuardSettings(user_hour=limit), Spent(user_hour=spent),
                       call(r), "USD")
    d = verdict.decision
    if isinstance(d, Denied):
        assert d.code == "SPEND_LIMIT_REACHED"
        # The limit is reached, or not even the first increment fits.
        assert spent >= limit or spent + charge(r, 60).amount > limit
        return
    assert d.max_seconds is not None and d.grant_seconds == min(300, d.max_seconds)
    assert spent + charge(r, d.max_seconds).amount <= limit
    if d.max_seconds < 14_400:
        assert spent + charge(r, d.max_seconds + step).amount > limit


@pytest.mark.rule("GUARD-1")
def test_the_first_limit_a_call_would_cross_wins_and_pool_minutes_stay_free() -> None:
    settings = GuardSettings(user_hour=Decimal("5.00"), user_day=Decimal("1.00"),
                             intl_minutes_user_day=3)
    verdict = restrict(CREDITS, settings, Spent(), call(rate("0.12")), "USD")
    assert (verdict.decision.max_seconds, verdict.reached) == (180, Limit.INTL_MINUTES_USER_DAY)  # type: ignore[union-attr]
    pool = Allowed(Funding.POOL, "MCOPSTN1", 14_400, 300, pool_seconds=1_200)
    verdict = restrict(pool, GuardSettings(user_day=Decimal("0.24")),
                       Spent(user_day=Decimal("0.24")), call(rate("0.12"), False), "USD")
    assert verdict.decision.max_seconds == 1_200  # type: ignore[union-attr]
    free = Allowed(Funding.FREE, "FREECALL", None, None)
    assert restrict(free, settings, Spent(user_day=Decimal(9)), call(None), "USD").decision \
        is free


@pytest.mark.rule("GUARD-3")
def test_blocked_destinations_match_country_or_prefix() -> None:
    settings = parse_settings({}, ["gb", "+4930"], ["GB", "DE", "US"])
    assert restrict(CREDITS, settings, Spent(), call(rate("0.12")), "USD").decision == Denied(
        "DESTINATION_BLOCKED", "Calls to GB are blocked by the tenant's spend guard.")
    berlin = GuardedCall("4930123456", "DE", True, True, rate("0.025"))
    munich = GuardedCall("4989123456", "DE", True, True, rate("0.025"))
    assert isinstance(restrict(CREDITS, settings, Spent(), berlin, "USD").decision, Denied)
    assert restrict(CREDITS, settings, Spent(), munich, "USD").decision is CREDITS


@pytest.mark.rule("GUARD-2")
def test_the_anomaly_rule() -> None:
    hourly = {AT.replace(hour=h): Decimal("0.60") for h in range(10)}
    median = median_hourly(hourly)
    assert median == Decimal("0.60")
    assert is_anomaly(Decimal("12.00"), median)
    assert not is_anomaly(Decimal("9.99"), Decimal(0))  # under the 10.00 floor
    assert not is_anomaly(Decimal("12.00"), Decimal("1.20"))  # not more than 10 times
    assert median_hourly({}) == 0
