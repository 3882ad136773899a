"""Insight calculations (REP-5): balance history, the busiest week, the funding
recommendation and the runway, to the cent."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from commcredits.domain.insight import (
    BalancePoint,
    balance_history,
    busiest_window,
    recommend,
    round_up_to_step,
)

TODAY = date(2026, 3, 1)
D = Decimal


def days_before(n: int) -> date:
    return TODAY - timedelta(days=n)


@pytest.mark.rule("REP-5")
@pytest.mark.parametrize(("value", "rounded"), [
    ("0", "0.00"), ("0.01", "10.00"), ("10", "10.00"), ("10.01", "20.00"), ("70.50", "80.00"),
])
def test_amounts_round_up_to_a_multiple_of_ten(value: str, rounded: str) -> None:
    assert round_up_to_step(D(value)) == D(rounded)


@pytest.mark.rule("REP-5")
def test_balance_history_is_the_running_balance_at_the_end_of_each_day() -> None:
    points = balance_history([
        (date(2026, 1, 2), D("-1.50"), D("1.50")),
        (date(2026, 1, 1), D("100"), D("0")),
        (date(2026, 1, 2), D("-0.25"), D("0.25")),
        (date(2026, 1, 5), D("50"), D("0")),
    ])
    assert points == [
        BalancePoint(date(2026, 1, 1), D("100"), D("0")),
        BalancePoint(date(2026, 1, 2), D("98.25"), D("1.75")),
        BalancePoint(date(2026, 1, 5), D("148.25"), D("0")),
    ]


@pytest.mark.rule("REP-5")
def test_under_thirty_days_of_usage_starts_at_the_purchase_minimum() -> None:
    spend = {days_before(n): D("2.00") for n in range(10)}  # 10 days of 2.00
    r = recommend(spend, D("100"), TODAY, "USD", D("50"))
    assert (r.trigger, r.amount, r.runway_days, r.daily_rate) == (
        D("50.00"), D("50.00"), 50, D("2.00"))
    assert r.explanation.startswith("Only 10 day(s) of usage history (under 30)")


@pytest.mark.rule("REP-5")
def test_with_history_the_trigger_is_the_busiest_week_and_the_amount_thirty_recent_days(
) -> None:
    spend = {days_before(n): D("2.35") for n in range(60)}
    for n in range(34, 41):  # a busy week 34 to 40 days ago: 9.00 a day
        spend[days_before(n)] = D("9.00")
    spend[days_before(70)] = D("500")  # older than 60 days: ignored
    r = recommend(spend, D("100"), TODAY, "USD", D("50"))
    assert r.trigger == D("70.00")  # 7 x 9.00 = 63.00
    assert r.amount == D("80.00")  # 30 x 2.35 = 70.50
    assert r.daily_rate == D("2.35")
    assert r.runway_days == 42  # 100 / 2.35 = 42.55
    assert r.currency == "USD"
    assert "63.00" in r.explanation and "70.50" in r.explanation


@pytest.mark.rule("REP-5")
def test_the_amount_is_never_below_the_purchase_minimum() -> None:
    spend = {days_before(n): D("0.10") for n in range(45)}
    r = recommend(spend, D("10"), TODAY, "USD", D("50"))
    assert (r.trigger, r.amount, r.runway_days) == (D("10.00"), D("50.00"), 100)


@pytest.mark.rule("REP-5")
def test_the_runway_is_none_without_spend_and_zero_at_or_below_zero() -> None:
    assert recommend({}, D("100"), TODAY, "USD", D("50")).runway_days is None
    spend = {days_before(n): D("1") for n in range(40)}
    assert recommend(spend, D("0"), TODAY, "USD", D("50")).runway_days == 0
    assert recommend(spend, D("-5"), TODAY, "USD", D("50")).runway_days == 0


@pytest.mark.rule("REP-5")
def test_the_busiest_window_counts_only_consecutive_days_within_the_lookback() -> None:
    spend = {days_before(0): D("5"), days_before(6): D("5"), days_before(7): D("4"),
             days_before(59): D("3"), days_before(60): D("100")}
    assert busiest_window(spend, TODAY) == D("10")


@pytest.mark.rule("REP-5")
def test_old_usage_without_spend_in_the_last_sixty_days_starts_again_at_the_minimum() -> None:
    spend = {days_before(n): D("3") for n in range(61, 120)}
    r = recommend(spend, D("40"), TODAY, "USD", D("50"))
    assert (r.trigger, r.amount, r.runway_days) == (D("50.00"), D("50.00"), None)
    assert r.explanation.startswith("No spend in the last 60 days")


@pytest.mark.rule("REP-5")
def test_a_tenant_with_ten_days_of_usage_starts_at_the_minimum() -> None:
    spend = {days_before(n): D("3.00") for n in range(10)}
    r = recommend(spend, D("100.00"), TODAY, "USD", D("50.00"))
    assert (r.trigger, r.amount, r.runway_days, r.daily_rate) == (
        D("50.00"), D("50.00"), 33, D("3.00"))  # 100.00 / 3.00 a day


@pytest.mark.rule("REP-5")
def test_a_tenant_with_sixty_days_of_usage_gets_its_busiest_week_and_thirty_days() -> None:
    spend = {days_before(n): D("2.00") for n in range(30, 60)}
    spend.update({days_before(n): D("10.00") for n in range(39, 46)})  # the busy week: 70.00
    spend.update({days_before(n): D("4.00") for n in range(30)})  # recent: 4.00 a day
    r = recommend(spend, D("200.00"), TODAY, "USD", D("50.00"))
    assert (r.trigger, r.amount, r.runway_days, r.daily_rate) == (
        D("70.00"), D("120.00"), 50, D("4.00"))
