"""Insight on both databases (REP-5): spend grouped from rated calls, balance history and the
funding recommendation from the ledger, and the balance chart as valid SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta
from decimal import Decimal

import pytest

from commcredits.adapters.clock import FixedClock
from commcredits.domain.errors import DomainError
from commcredits.services import cdrs, funds, insight
from commcredits.services.context import Services
from tests.integration.test_calls import GB_MOBILE, US_FIXED, setup
from tests.support import OPERATOR, add_card, buy, make_tenant, usd, utc

HEADER = "UsageId,Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time," \
         "Duration Seconds\n"
SVG = "{http://www.w3.org/2000/svg}"


def rated_calls(svc: Services) -> str:
    tid = setup(svc)
    body = HEADER + (
        f",c1,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},2026-01-15T10:00:00Z,61\n"
        f",c2,alice0@contoso.com,user_out,+12065550100,{US_FIXED},2026-01-15T11:00:00Z,61\n"
        f",c3,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},2026-01-16T08:00:00Z,150\n"
        f",c4,bob0@contoso.com,user_out,+12065550101,{US_FIXED},2026-01-16T09:00:00Z,30\n"
    )
    assert cdrs.import_cdrs(svc, OPERATOR, tid, body).accepted == 4
    return tid


def table(report: insight.SpendReport) -> list[tuple[str, int, int, str]]:
    return [(r.key, r.calls, r.seconds, f"{r.amount:.2f}") for r in report.rows]


@pytest.mark.rule("REP-5")
def test_spend_is_grouped_by_day_user_country_and_capability(svc: Services) -> None:
    tid = rated_calls(svc)
    spend = {g: insight.spend(svc, OPERATOR, tid, g, "2026-01-01", "2026-01-16")
             for g in insight.GROUPS}
    assert table(spend["day"]) == [("2026-01-15", 2, 122, "0.24"),
                                   ("2026-01-16", 2, 180, "0.36")]
    assert table(spend["user"]) == [("alice0@contoso.com", 3, 272, "0.60"),
                                    ("bob0@contoso.com", 1, 30, "0.00")]
    assert table(spend["country"]) == [("GB", 2, 211, "0.60"), ("US", 2, 91, "0.00")]
    assert table(spend["capability"]) == [("MCOPSTN1", 2, 91, "0.00"),
                                          ("MCOPSTNPP", 2, 211, "0.60")]
    assert {f"{s.total:.2f}" for s in spend.values()} == {"0.60"}
    one_day = insight.spend(svc, OPERATOR, tid, "day", "2026-01-16", "2026-01-16")
    assert table(one_day) == [("2026-01-16", 2, 180, "0.36")]


@pytest.mark.rule("REP-5")
@pytest.mark.parametrize(("group_by", "start", "code"), [
    ("week", None, "INVALID_GROUP_BY"), ("day", "15/01/2026", "INVALID_DATE"),
    ("day", "2026-02-01", "INVALID_RANGE"),
])
def test_a_bad_spend_query_is_refused(svc: Services, group_by: str, start: str | None,
                                      code: str) -> None:
    tid = make_tenant(svc)
    with pytest.raises(DomainError) as refused:
        insight.spend(svc, OPERATOR, tid, group_by, start, "2026-01-15")
    assert refused.value.code == code


def month_of_spend(svc: Services, clock: FixedClock) -> str:
    """100.00 bought on 2026-01-15, then 2.00 charged every day for 35 days, and 5.00 more
    on each of 2026-01-16..18: 85.00 spent, 15.00 left on 2026-02-18."""
    tid = make_tenant(svc)
    buy(svc, tid, "100.00", add_card(svc, tid))
    for i in range(35):
        clock.set(utc(2026, 1, 15, 12, 0) + timedelta(days=i))
        funds.charge(svc, tid, usd("2.00"), reference=f"day-{i}")
        if 1 <= i <= 3:
            funds.charge(svc, tid, usd("5.00"), reference=f"spike-{i}")
    return tid


@pytest.mark.rule("REP-5")
def test_balance_history_is_the_running_balance_per_day_from_the_ledger(
    svc: Services, clock: FixedClock,
) -> None:
    tid = month_of_spend(svc, clock)
    h = insight.balance_history(svc, OPERATOR, tid)
    assert len(h.points) == 35
    assert [(p.day, f"{p.balance:.2f}", f"{p.spend:.2f}") for p in h.points[:3]] == [
        (date(2026, 1, 15), "98.00", "2.00"), (date(2026, 1, 16), "91.00", "7.00"),
        (date(2026, 1, 17), "84.00", "7.00"),
    ]
    assert (h.points[-1].day, f"{h.points[-1].balance:.2f}") == (date(2026, 2, 18), "15.00")


@pytest.mark.rule("REP-5")
def test_the_recommendation_follows_a_month_of_usage(svc: Services, clock: FixedClock) -> None:
    tid = month_of_spend(svc, clock)
    r = insight.recommendation(svc, OPERATOR, tid)
    # busiest week 2026-01-15..21: 7 x 2.00 + 3 x 5.00 = 29.00 -> 30; recent 30 days 60.00
    assert (r.trigger, r.amount, r.runway_days, r.currency) == (
        30, 60, 7, "USD")  # 15.00 / 2.00 a day = 7.5 days


@pytest.mark.rule("REP-5")
def test_a_new_tenant_starts_at_the_minimum_purchase(svc: Services) -> None:
    tid = rated_calls(svc)  # the ledger charges 0.60 on one day (the clock's, 2026-01-15)
    r = insight.recommendation(svc, OPERATOR, tid)
    assert (f"{r.trigger:.2f}", f"{r.amount:.2f}", r.currency) == ("50.00", "50.00", "USD")
    assert r.daily_rate == Decimal("0.60")
    assert r.runway_days == 165  # 99.40 left / 0.60 a day = 165.7
    assert r.explanation.startswith("Only 1 day(s) of usage history")


@pytest.mark.rule("REP-5")
def test_the_balance_chart_is_valid_svg_with_one_bar_per_day_of_spend(
    svc: Services, clock: FixedClock,
) -> None:
    tid = month_of_spend(svc, clock)
    root = ET.fromstring(insight.balance_svg(insight.balance_history(svc, OPERATOR, tid)))
    assert root.tag == f"{SVG}svg"
    bars = [e for e in root.iter(f"{SVG}rect") if e.get("class") == "spend"]
    assert len(bars) == 35
    (line,) = [e for e in root.iter(f"{SVG}polyline") if e.get("class") == "balance"]
    assert len(line.get("points", "").split()) == 35
    labels = [e.text for e in root.iter(f"{SVG}text")]
    assert "2026-01-15" in labels and "2026-02-18" in labels
