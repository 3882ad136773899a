"""What-if re-rating (PLAN-1) and the plan advisor (PLAN-2) to the cent, on both databases,
over a month of demo-like calls (January 2026, the sample USD rates: US fixed 0.01/min,
GB mobile 0.12/min, Germany fixed 0.025/min, per-minute increments)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from commcredits.adapters.clock import FixedClock
from commcredits.domain.planning import PlanOption, licenses_with, option_of, prices
from commcredits.services import cdrs, directory, planning, pools, queries, rates
from commcredits.services.context import Services
from tests.support import OPERATOR, add_card, buy, make_tenant, utc
from tests.support_directory import add_users
from tests.support_directory import buy as buy_seats

HEADER = "UsageId,Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time," \
         "Duration Seconds\n"
GB_MOBILE, DE_FIXED, US_FIXED = "+447400123456", "+4930123456", "+12025550123"
BASE = ["MCOEV", "MCOPSTNC"]
HEAVY = ["heavy0@contoso.com", "heavy1@contoso.com"]


def month_of_calls(seed: int = 7) -> str:
    """Demo-like January: two heavy international callers, a heavy domestic caller, light
    callers; every user calls from 08:00 UTC on, some minutes at a time."""
    rng = random.Random(seed)
    plan = {"heavy0": (6, 0.8), "heavy1": (5, 0.7), "office0": (10, 0.05),
            "light0": (1, 0.3), "light1": (2, 0.1)}
    body, n = HEADER, 0
    for day in range(31):
        for user, (per_day, intl) in plan.items():
            at = utc(2026, 1, 1 + day, 8)
            for _ in range(per_day):
                at += timedelta(minutes=rng.randint(5, 40))
                callee = (GB_MOBILE if rng.random() < 0.5 else DE_FIXED) \
                    if rng.random() < intl else US_FIXED
                seconds = rng.randint(20, 1500)
                n += 1
                body += f",c{n},{user}@contoso.com,user_out,+12065550100,{callee}," \
                        f"{at.isoformat()},{seconds}\n"
    return body


def seeded(svc: Services, clock: FixedClock, heavy_plan: str) -> str:
    """A tenant whose heavy callers hold ``heavy_plan`` since December, with January's calls
    imported as CDRs (rated by the one engine)."""
    clock.set(utc(2025, 12, 20))
    tid = make_tenant(svc)
    buy(svc, tid, "5000.00", add_card(svc, tid))
    rates.import_samples(svc, OPERATOR, only_missing=True)
    buy_seats(svc, tid, MCOEV=10, MCOPSTN1=10, MCOPSTN2=10)
    add_users(svc, tid, 2, "US", [*BASE, heavy_plan], prefix="heavy")
    add_users(svc, tid, 1, "US", [*BASE, "MCOPSTN1"], prefix="office")
    add_users(svc, tid, 2, "US", [*BASE, "MCOPSTN1"], prefix="light")
    clock.set(utc(2026, 2, 1))
    report = cdrs.import_cdrs(svc, OPERATOR, tid, month_of_calls())
    assert report.accepted == 31 * 24 and not report.rejected, report.rejected[:3]
    return tid


def spent(svc: Services, tid: str) -> Decimal:
    return planning.what_if(svc, OPERATOR, tid, start="2026-01-01", end="2026-01-31",
                            licenses={"light0@contoso.com": [*BASE, "MCOPSTN1"]}).actual


@pytest.mark.rule("PLAN-1")
def test_moving_two_heavy_callers_to_international_plans_costs_what_rating_them_live_does(
    svc: Services, clock: FixedClock,
) -> None:
    tid = seeded(svc, clock, "MCOPSTN1")
    copy = seeded(svc, clock, "MCOPSTN2")  # the same calls, rated with those licenses
    before = funds_total(svc, tid)
    answer = planning.what_if(
        svc, OPERATOR, tid, start="2026-01-01", end="2026-01-31",
        licenses={upn: [*BASE, "MCOPSTN2"] for upn in HEAVY})
    assert answer.calls == 31 * 24
    assert answer.actual == spent(svc, tid)
    live = spent(svc, copy)
    assert answer.what_if == live  # exact to the cent
    assert answer.what_if < answer.actual and answer.difference == live - answer.actual
    by_user = {u.upn: u for u in answer.per_user}
    copy_by_user = {u.upn: u.actual for u in planning.what_if(
        svc, OPERATOR, copy, start="2026-01-01", end="2026-01-31",
        licenses={"light0@contoso.com": [*BASE, "MCOPSTN1"]}).per_user}
    assert {upn: u.what_if for upn, u in by_user.items()} == copy_by_user
    assert by_user["office0@contoso.com"].what_if == by_user["office0@contoso.com"].actual
    assert funds_total(svc, tid) == before  # nothing written
    # The same licenses as now re-rate to exactly what was charged.
    same = planning.what_if(svc, OPERATOR, tid, start="2026-01-01", end="2026-01-31",
                            licenses={upn: [*BASE, "MCOPSTN1"] for upn in HEAVY})
    assert same.what_if == same.actual


@pytest.mark.rule("PLAN-1")
def test_a_what_if_under_another_rate_table_version(svc: Services, clock: FixedClock) -> None:
    tid = seeded(svc, clock, "MCOPSTN1")
    doubled = "prefix,destination,number_type,direction,rate_per_minute,connection_fee," \
              "first_increment,next_increment,effective_from\n" \
              "1,United States,fixed,outbound,0.020000,0.00,60,60,2026-01-01T00:00:00Z\n" \
              "44,United Kingdom,fixed,outbound,0.240000,0.00,60,60,2026-01-01T00:00:00Z\n" \
              "49,Germany,fixed,outbound,0.050000,0.00,60,60,2026-01-01T00:00:00Z\n"
    version = rates.import_table(svc, OPERATOR, "USD", doubled.encode(), source="x2").version
    answer = planning.what_if(svc, OPERATOR, tid, start="2026-01-01", end="2026-01-31",
                              rate_table_version=version)
    # The international calls are paid from credits (the domestic ones stay in the pool),
    # each rounded to the cent on its own; GB mobile falls back to the UK row at 0.24.
    def expected(gb: str, de: str) -> Decimal:
        total = Decimal(0)
        for line in month_of_calls().splitlines()[1:]:
            fields = line.split(",")
            minutes = -(-int(fields[7]) // 60)
            if fields[5] in (GB_MOBILE, DE_FIXED):
                rate = Decimal(gb if fields[5] == GB_MOBILE else de)
                total += (rate * minutes).quantize(Decimal("0.01"), ROUND_HALF_UP)
        return total

    assert answer.actual == expected("0.12", "0.025")
    assert answer.what_if == expected("0.24", "0.05")


@pytest.mark.rule("PLAN-1")
def test_what_if_refusals(svc: Services, clock: FixedClock) -> None:
    tid = make_tenant(svc)
    cases = [
        ({"start": "2026-01-01", "end": "2026-04-30", "rate_table_version": 1},
         "RANGE_TOO_LONG"),
        ({"start": "2026-01-01", "end": "2026-01-31"}, "INVALID_WHAT_IF"),
        ({"start": "2026-01-01", "end": "2026-01-31", "rate_table_version": 9},
         "RATE_TABLE_NOT_FOUND"),
        ({"start": "2026-01-01", "end": "2026-01-31", "licenses": {"x@contoso.com": []}},
         "USER_NOT_FOUND"),
        ({"start": "yesterday", "end": "2026-01-31", "rate_table_version": 1},
         "INVALID_DATE"),
    ]
    for kwargs, code in cases:
        with pytest.raises(Exception) as refused:
            planning.what_if(svc, OPERATOR, tid, **kwargs)  # type: ignore[arg-type]
        assert getattr(refused.value, "code", None) == code, (kwargs, refused.value)


def funds_total(svc: Services, tid: str) -> str:
    return queries.credits(svc, OPERATOR, tid).balance.format()


@pytest.mark.rule("PLAN-2")
@pytest.mark.rule("LIC-4")
def test_the_advisor_proposes_each_users_true_cheapest_plan_and_applies_it(
    svc: Services, clock: FixedClock,
) -> None:
    tid = seeded(svc, clock, "MCOPSTN1")
    advice = planning.plan_advice(svc, OPERATOR, tid, days=30)
    price = {o: p.per_month for o, p in prices("USD").items()}
    assert [a.upn for a in advice.users] == [
        "heavy0@contoso.com", "heavy1@contoso.com", "light0@contoso.com",
        "light1@contoso.com", "office0@contoso.com"]
    index = pools.license_index  # the users' licenses now, for the brute force
    for a in advice.users:
        # Brute force: the tenant's cost of the 30 days with this user on each option.
        costs = {}
        for option in PlanOption:
            if option is a.current:  # what was charged
                usage = planning.what_if(
                    svc, OPERATOR, tid, start="2026-01-02", end="2026-01-31",
                    licenses={"light0@contoso.com": [*BASE, "MCOPSTN1"]}).actual
            else:
                with svc.uow(readonly=True) as uow:
                    held = index(uow, tid).held_at(a.user_id, clock.now())
                skus = licenses_with(held, option, "US")
                usage = planning.what_if(svc, OPERATOR, tid, start="2026-01-02",
                                         end="2026-01-31", licenses={a.upn: skus}).what_if
            costs[option] = usage + price[option]
        best = min(costs.values())
        assert costs[a.proposed] == best, (a.upn, costs, a.proposed)
        assert a.monthly_cost == costs, a.upn
        assert a.monthly_saving == costs[a.current] - best
    proposed = {a.upn: a.proposed for a in advice.users}
    assert proposed["heavy0@contoso.com"] is PlanOption.DOMESTIC_INTERNATIONAL
    assert proposed["light1@contoso.com"] is PlanOption.NONE
    report = planning.apply_advice(svc, OPERATOR, tid, advice.users)
    assert report.failed == 0, [r for r in report.rows if not r.ok]
    for upn, option in proposed.items():
        user = directory.get_user(svc, OPERATOR, tid, upn)
        with svc.uow(readonly=True) as uow:
            held = pools.license_index(uow, tid).held_at(user.id, clock.now())
        assert option_of(held) is option, upn


