"""Minute pools to the minute, on SQLite and PostgreSQL, through the services (POOL-1..POOL-6,
LIC-5, NOTE-1's dial-out alerts)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.domain.errors import InvalidInput
from commcredits.domain.pools import Coverage
from commcredits.services import directory, licenses, notifications, pools
from commcredits.services.context import Services
from tests.support import OPERATOR, add_card, buy, make_tenant, utc
from tests.support_directory import add_users, call, left, quote
from tests.support_directory import buy as buy_seats

JAN = utc(2026, 1, 15, 9, 0)  # the clock fixture's time: licenses are assigned then
LATER = utc(2026, 1, 20, 12, 0)


@pytest.mark.rule("POOL-1")
@pytest.mark.rule("POOL-2")
@pytest.mark.rule("LIC-5")
def test_100_us_users_on_mcopstn1_give_300000_minutes_and_one_more_gives_303000_after(
    svc: Services, clock: FixedClock,
) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOEV=101, MCOPSTN1=101)
    users = add_users(svc, tid, 100, "US", ["MCOEV", "MCOPSTN1"])
    q = quote(svc, tid, users[0], "US", LATER)
    assert (q.pool_key, q.capability, q.capacity, q.minutes_left) == (
        "MCOPSTN1:domestic:US", "MCOPSTN1", 300_000, 300_000)
    clock.set(utc(2026, 1, 21, 8, 0))
    [newcomer] = add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN1"], prefix="new")
    assert left(svc, tid, users[0], "US", utc(2026, 1, 21, 8, 1)) == 303_000
    assert left(svc, tid, newcomer, "US", utc(2026, 1, 21, 8, 1)) == 303_000
    # A call that started before the 101st license still sees the pool it had (LIC-5).
    assert left(svc, tid, users[0], "US", utc(2026, 1, 21, 7, 59)) == 300_000


@pytest.mark.rule("LIC-5")
@pytest.mark.rule("POOL-1")
def test_removing_a_calling_plan_shrinks_the_pool_for_calls_that_start_afterwards(
    svc: Services, clock: FixedClock,
) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOEV=3, MCOPSTN1=3)
    users = add_users(svc, tid, 3, "US", ["MCOEV", "MCOPSTN1"])
    clock.set(LATER)
    licenses.change_licenses(svc, OPERATOR, tid, users[2], remove=["MCOPSTN1"])
    assert left(svc, tid, users[0], "US", utc(2026, 1, 20, 11, 59)) == 9000
    assert left(svc, tid, users[0], "US", LATER) == 6000
    gone = quote(svc, tid, users[2], "US", LATER)
    assert (gone.pool_key, gone.reason) == (None, Coverage.NO_CALLING_PLAN)


@pytest.mark.rule("POOL-2")
@pytest.mark.rule("POOL-3")
def test_3_de_users_on_mcopstn2_give_3600_domestic_and_1800_international_minutes(
    svc: Services,
) -> None:
    tid = make_tenant(svc, country="DE")
    buy_seats(svc, tid, MCOEV=3, MCOPSTN2=3)
    users = add_users(svc, tid, 3, "DE", ["MCOEV", "MCOPSTN2"])
    domestic = quote(svc, tid, users[0], "DE", LATER)
    international = quote(svc, tid, users[1], "FR", LATER)
    assert (domestic.pool_key, domestic.capacity, domestic.domestic) == (
        "MCOPSTN2:domestic:DE", 3600, True)
    assert (international.pool_key, international.capacity, international.domestic) == (
        "MCOPSTN2:international:DE", 1800, False)
    call(svc, tid, users[2], "US", 600, LATER)
    assert left(svc, tid, users[0], "JP", LATER) == 1790
    assert left(svc, tid, users[0], "DE", LATER) == 3600


@pytest.mark.rule("POOL-2")
@pytest.mark.rule("POOL-3")
def test_international_calls_on_a_domestic_plan_and_payg_calls_use_no_pool(
    svc: Services,
) -> None:
    tid = make_tenant(svc, country="GB")
    buy_seats(svc, tid, MCOEV=2, MCOPSTN1=1, MCOPSTN_PAYG_1=1)
    [domestic_plan] = add_users(svc, tid, 1, "GB", ["MCOEV", "MCOPSTN1"])
    [payg] = add_users(svc, tid, 1, "GB", ["MCOEV", "MCOPSTN_PAYG_1"], prefix="payg")
    abroad = quote(svc, tid, domestic_plan, "FR", LATER)
    assert (abroad.pool_key, abroad.minutes_left, abroad.reason) == (
        None, None, Coverage.INTERNATIONAL_NOT_INCLUDED)
    home = quote(svc, tid, domestic_plan, "GB", LATER)
    assert (home.pool_key, home.capacity) == ("MCOPSTN1:domestic:GB", 1200)
    assert quote(svc, tid, payg, "GB", LATER).reason is Coverage.PAY_AS_YOU_GO


@pytest.mark.rule("POOL-2")
@pytest.mark.rule("POOL-3")
def test_a_us_user_and_a_pr_user_on_mcopstn1_share_one_pool(svc: Services) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOEV=2, MCOPSTN1=2)
    [us] = add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN1"], prefix="us")
    [pr] = add_users(svc, tid, 1, "PR", ["MCOEV", "MCOPSTN1"], prefix="pr")
    from_us = quote(svc, tid, us, "PR", LATER)
    from_pr = quote(svc, tid, pr, "US", LATER)
    assert from_us.domestic and from_pr.domestic
    assert from_us.pool_key == from_pr.pool_key == "MCOPSTN1:domestic:US"
    assert from_us.capacity == 6000
    call(svc, tid, pr, "US", 120, LATER)
    assert left(svc, tid, us, "US", LATER) == 5998


@pytest.mark.rule("POOL-4")
def test_115_mcomeetadv_seats_assigned_give_6900_dial_out_minutes(svc: Services) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOMEETADV=115)
    users = add_users(svc, tid, 115, "US", ["MCOMEETADV"])
    q = quote(svc, tid, users[0], "DE", LATER, dial_out=True)
    assert (q.pool_key, q.capability, q.capacity) == ("MCOMEETADV:dialout:*", "MCOMEETADD", 6900)


@pytest.mark.rule("POOL-4")
@pytest.mark.rule("LIC-2")
def test_e5_counts_for_dial_out_and_a_user_with_both_counts_once(svc: Services) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, SPE_E5=10, MCOMEETADV=2)
    e5 = add_users(svc, tid, 10, "GB", ["SPE_E5"])
    licenses.change_licenses(svc, OPERATOR, tid, e5[0], add=["MCOMEETADV"])
    [plain] = add_users(svc, tid, 1, "DE", ["MCOMEETADV"], prefix="plain")
    assert quote(svc, tid, plain, "JP", LATER, dial_out=True).capacity == 11 * 60


@pytest.mark.rule("POOL-4")
def test_dial_out_outside_zone_a_or_without_audio_conferencing_uses_no_pool(
    svc: Services,
) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOMEETADV=1, MCOEV=1, MCOPSTN1=1)
    [organizer] = add_users(svc, tid, 1, "US", ["MCOMEETADV"])
    [other] = add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN1"], prefix="other")
    assert quote(svc, tid, organizer, "AE", LATER, dial_out=True).reason \
        is Coverage.OUTSIDE_ZONE_A
    assert quote(svc, tid, organizer, "ZA", LATER, dial_out=True).minutes_left == 60
    assert quote(svc, tid, other, "US", LATER, dial_out=True).reason \
        is Coverage.NO_AUDIO_CONFERENCING


@pytest.mark.rule("POOL-2")
def test_mcopstn8_gives_120_minutes_per_user_and_one_users_calls_leave_the_others_alone(
    svc: Services,
) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOEV=2, MCOPSTN8=2)
    alice, bob = add_users(svc, tid, 2, "US", ["MCOEV", "MCOPSTN8"])
    a = quote(svc, tid, alice, "US", LATER)
    b = quote(svc, tid, bob, "US", LATER)
    assert a.pool_key != b.pool_key
    assert (a.capacity, b.capacity) == (120, 120)
    result = call(svc, tid, alice, "US", 100 * 60, LATER)
    assert (result.minutes_covered, result.minutes_left) == (100, 20)
    assert left(svc, tid, alice, "US", LATER) == 20
    assert left(svc, tid, bob, "US", LATER) == 120
    over = call(svc, tid, alice, "US", 30 * 60, LATER)
    assert (over.minutes_covered, over.uncovered_seconds) == (20, 600)


@pytest.mark.rule("POOL-5")
def test_a_61_second_call_uses_2_minutes(svc: Services) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOEV=1, MCOPSTN5=1)
    [user] = add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN5"])
    result = call(svc, tid, user, "US", 61, LATER)
    assert (result.minutes_needed, result.minutes_covered, result.uncovered_seconds) == (2, 2, 0)
    assert left(svc, tid, user, "US", LATER) == 118
    assert call(svc, tid, user, "US", 60, LATER).minutes_covered == 1
    assert call(svc, tid, user, "US", 0, LATER).minutes_covered == 0
    assert left(svc, tid, user, "US", LATER) == 117


@pytest.mark.rule("POOL-5")
def test_a_call_needing_10_minutes_with_4_left_gets_4_covered_and_6_minutes_of_seconds_left(
    svc: Services,
) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOEV=1, MCOPSTN5=1)
    [user] = add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN5"])
    call(svc, tid, user, "US", 116 * 60, LATER)
    assert left(svc, tid, user, "US", LATER) == 4
    result = call(svc, tid, user, "US", 600, LATER)
    assert (result.minutes_needed, result.minutes_covered, result.uncovered_seconds,
            result.minutes_left) == (10, 4, 360, 0)
    # An uneven call: 541 s needs 10 minutes; with 0 left all 541 s go to credits.
    after = call(svc, tid, user, "US", 541, LATER)
    assert (after.minutes_covered, after.uncovered_seconds) == (0, 541)


@pytest.mark.rule("POOL-1")
@pytest.mark.rule("POOL-5")
def test_the_pool_is_full_again_on_the_1st_of_the_next_month(svc: Services) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOEV=1, MCOPSTN6=1)
    [user] = add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN6"])
    call(svc, tid, user, "US", 240 * 60, utc(2026, 1, 31, 23, 0))
    assert left(svc, tid, user, "US", utc(2026, 1, 31, 23, 59, 59)) == 0
    first = quote(svc, tid, user, "US", utc(2026, 2, 1, 0, 0))
    assert (first.month, first.minutes_left) == ("2026-02", 240)
    # A call that starts in January uses January's pool, whenever it is rated.
    late = call(svc, tid, user, "US", 120, utc(2026, 1, 31, 23, 58))
    assert (late.month, late.minutes_covered, late.uncovered_seconds) == ("2026-01", 0, 120)


@pytest.mark.rule("NOTE-1")
@pytest.mark.rule("POOL-4")
def test_80_and_100_percent_dial_out_alerts_are_sent_once_each_and_again_next_month(
    svc: Services, clock: FixedClock,
) -> None:
    tid = make_tenant(svc)
    buy(svc, tid, "60.00", add_card(svc, tid))
    buy_seats(svc, tid, MCOMEETADV=2)
    organizer, _ = add_users(svc, tid, 2, "US", ["MCOMEETADV"])  # 120 dial-out minutes

    def alerts() -> list[tuple[str, str]]:
        return [(n.kind, n.subject) for n in reversed(
            notifications.list_notifications(svc, OPERATOR, tid)) if "dialout" in n.kind]

    call(svc, tid, organizer, "GB", 95 * 60, LATER, dial_out=True)
    assert alerts() == []
    call(svc, tid, organizer, "GB", 60, LATER, dial_out=True)  # 96 of 120: 80%
    call(svc, tid, organizer, "GB", 60, LATER, dial_out=True)
    assert alerts() == [("dialout_pool_80", "Contoso: 80% of the Audio Conferencing dial-out "
                         "minutes for 2026-01 are used (96 of 120)")]
    call(svc, tid, organizer, "GB", 24 * 60, LATER, dial_out=True)  # 120 of 120
    call(svc, tid, organizer, "GB", 600, LATER, dial_out=True)  # beyond: all credits
    assert [k for k, _ in alerts()] == ["dialout_pool_80", "dialout_pool_100"]
    [email] = [n for n in notifications.list_notifications(svc, OPERATOR, tid)
               if n.kind == "dialout_pool_100"]
    assert email.recipients == ["admin@contoso.com", "billing@contoso.com"]
    assert email.context["balance"] == "60.00"
    feb = utc(2026, 2, 3, 9, 0)
    call(svc, tid, organizer, "GB", 120 * 60, feb, dial_out=True)  # both thresholds at once
    assert [k for k, _ in alerts()] == ["dialout_pool_80", "dialout_pool_100",
                                        "dialout_pool_80", "dialout_pool_100"]
    delivered = notifications.deliver_due(svc, svc.mailer) if svc.mailer else None
    assert delivered is not None and delivered.failed == 0


@pytest.mark.rule("POOL-5")
@pytest.mark.rule("CALL-9")
def test_consuming_twice_with_the_same_reference_uses_the_minutes_once(svc: Services) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOEV=1, MCOPSTN5=1)
    [user] = add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN5"])
    first = call(svc, tid, user, "US", 150, LATER, reference="call-1")
    again = call(svc, tid, user, "US", 150, LATER, reference="call-1")
    assert (first.minutes_covered, again.minutes_covered, again.replayed) == (3, 3, True)
    assert left(svc, tid, user, "US", LATER) == 117


@pytest.mark.rule("POOL-1")
def test_moving_a_user_moves_their_minutes_to_the_new_countrys_pool_from_then_on(
    svc: Services, clock: FixedClock,
) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOEV=2, MCOPSTN1=2)
    stays, moves = add_users(svc, tid, 2, "US", ["MCOEV", "MCOPSTN1"])
    clock.set(LATER)
    directory.update_user(svc, OPERATOR, tid, moves, {"usage_location": "GB"})
    after = utc(2026, 1, 20, 12, 1)
    assert quote(svc, tid, moves, "GB", after).pool_key == "MCOPSTN1:domestic:GB"
    assert quote(svc, tid, moves, "GB", after).capacity == 1200
    assert left(svc, tid, stays, "US", after) == 3000
    assert left(svc, tid, stays, "US", utc(2026, 1, 20, 11, 59)) == 6000


@pytest.mark.rule("POOL-1")
@pytest.mark.rule("POOL-5")
def test_concurrent_calls_never_use_the_same_minute_twice(
    svc: Services, engine: Engine,
) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, MCOEV=1, MCOPSTN5=1)
    [user] = add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN5"])  # 120 minutes
    key = quote(svc, tid, user, "US", LATER).pool_key
    assert key is not None
    results: list[pools.PoolConsumption] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                results.append(pools.consume(svc, tid, key, 179, LATER,
                                             reference=f"t{n}-{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(results) == 40
    assert sum(r.minutes_covered for r in results) == 120  # 40 calls of 3 minutes
    assert left(svc, tid, user, "US", LATER) == 0
    with engine.connect() as conn:
        used = conn.execute(select(t.pool_usage.c.used_minutes)).scalar_one()
        logged = conn.execute(select(func.count()).select_from(t.pool_consumptions)).scalar_one()
    assert (used, logged) == (120, 40)


@pytest.mark.rule("POOL-6")
def test_the_minute_pools_report_shows_every_pool_with_admin_center_descriptions(
    svc: Services, clock: FixedClock,
) -> None:
    tid = make_tenant(svc)
    buy_seats(svc, tid, SPE_E5=2, MCOEV=4, MCOPSTN1=3, MCOPSTN2=2, MCOPSTN8=1)
    us = add_users(svc, tid, 2, "US", ["SPE_E5", "MCOPSTN1"])
    de = add_users(svc, tid, 2, "DE", ["MCOEV", "MCOPSTN2"], prefix="de")
    add_users(svc, tid, 1, "PR", ["MCOEV", "MCOPSTN1"], prefix="pr")
    add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN8"], prefix="eight")
    call(svc, tid, us[0], "US", 125, LATER)
    call(svc, tid, de[0], "FR", 3600, LATER)
    call(svc, tid, us[1], "FR", 60, LATER, dial_out=True)
    call(svc, tid, "eight0@contoso.com", "US", 600, LATER)
    clock.set(utc(2026, 1, 25, 9, 0))
    report = pools.minute_pools_report(svc, OPERATOR, tid, "2026-01")
    assert report.month == "2026-01"
    rows = [(r.country_or_region, r.capability_description, r.total_minutes,
             r.minutes_used, r.minutes_available, r.capability) for r in report.rows]
    assert rows == [
        ("Germany", "Domestic and international calling plan (1200 domestic minutes)",
         2400, 0, 2400, "MCOPSTN2"),
        ("Germany", "Domestic and international calling plan (600 international minutes)",
         1200, 60, 1140, "MCOPSTN2"),
        ("United States and Puerto Rico", "Domestic calling plan (3000 domestic minutes)",
         9000, 3, 8997, "MCOPSTN1"),
        ("United States and Puerto Rico",
         "Domestic calling plan (120 domestic minutes per user)", 120, 10, 110, "MCOPSTN8"),
        ("All countries and regions (tenant-wide)",
         "Audio conferencing (60 dial-out minutes per user)", 120, 1, 119, "MCOMEETADD"),
    ]
    december = pools.minute_pools_report(svc, OPERATOR, tid, "2025-12")
    assert december.rows == []  # nobody held a license in December
    with pytest.raises(InvalidInput) as refused:
        pools.minute_pools_report(svc, OPERATOR, tid, "2026-02")
    assert refused.value.code == "INVALID_MONTH"
