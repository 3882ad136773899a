"""Real-time call control to the cent (CALL-1..CALL-9, RATE-2, POOL-5, NUM-2), on both
databases, with the sample USD rate table (GB mobile 0.12/min, US fixed 0.01/min, GB
toll-free callers 0.045/min, per-minute increments)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.domain.errors import DomainError
from commcredits.services import calls, directory, funds, queries, rates
from commcredits.services.context import Services
from commcredits.services.jobs import run_due_work
from tests.support import OPERATOR, add_card, buy, make_tenant, usd
from tests.support_directory import add_users
from tests.support_directory import buy as buy_seats
from tests.support_directory import call as pool_call

GB_MOBILE = "+447400123456"
US_FIXED = "+12025550123"


def setup(svc: Services, balance: str = "100.00") -> str:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "100.00", card)
    if balance != "100.00":
        funds.charge(svc, tid, usd("100.00") - usd(balance))
    rates.import_samples(svc, OPERATOR, only_missing=True)
    buy_seats(svc, tid, MCOEV=5, MCOPSTN1=5)
    add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN1", "MCOPSTNC"], prefix="alice")
    add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN1"], prefix="bob")
    return tid


def auth(svc: Services, tid: str, call_id: str, callee: str, user: str | None = "alice0",
         call_type: str = "user_out", caller: str = "+12065550100") -> dict[str, Any]:
    body: dict[str, Any] = {"call_id": call_id, "call_type": call_type, "caller": caller,
                            "callee": callee}
    if user:
        body["user"] = f"{user}@contoso.com"
    return calls.authorize(svc, OPERATOR, tid, body)


def balance(svc: Services, tid: str) -> str:
    return queries.credits(svc, OPERATOR, tid).balance.format()


@pytest.mark.rule("CALL-1")
@pytest.mark.rule("CALL-5")
@pytest.mark.rule("CALL-7")
@pytest.mark.rule("RATE-2")
def test_an_international_call_on_a_domestic_plan_is_charged_to_credits(svc: Services) -> None:
    tid = setup(svc)
    reply = auth(svc, tid, "c1", GB_MOBILE)
    assert reply["decision"] == "allow"
    assert (reply["funding"], reply["capability"]) == ("credits", "MCOPSTNPP")
    assert (reply["max_seconds"], reply["grant_seconds"]) == (14400, 300)  # capped at 4 h
    assert reply["reservation_id"]
    ended = calls.end(svc, OPERATOR, tid, "c1", 61)  # 61 s bills 120 s at 0.12/min
    assert (ended["charge"], ended["currency"], ended["capability"]) == ("0.24", "USD",
                                                                           "MCOPSTNPP")
    assert ended["pool_minutes"] == 0
    assert balance(svc, tid) == "99.76"


@pytest.mark.rule("CALL-9")
def test_repeating_authorize_and_end_never_charges_twice(svc: Services, engine: Engine) -> None:
    tid = setup(svc)
    first = auth(svc, tid, "dup", GB_MOBILE)
    assert auth(svc, tid, "dup", GB_MOBILE) == first
    end1 = calls.end(svc, OPERATOR, tid, "dup", 90)
    assert calls.end(svc, OPERATOR, tid, "dup", 90) == end1
    assert end1["charge"] == "0.24"
    assert balance(svc, tid) == "99.76"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.calls)).scalar_one() == 1


@pytest.mark.rule("POOL-5")
@pytest.mark.rule("CALL-6")
def test_a_domestic_call_uses_the_pool_and_costs_no_credits(svc: Services) -> None:
    tid = setup(svc)
    reply = auth(svc, tid, "dom", US_FIXED)
    assert (reply["funding"], reply["capability"]) == ("pool", "MCOPSTN1")
    ended = calls.end(svc, OPERATOR, tid, "dom", 61)
    assert (ended["pool_minutes"], ended["charge"]) == (2, "0.00")
    assert balance(svc, tid) == "100.00"


@pytest.mark.rule("POOL-5")
@pytest.mark.rule("CALL-6")
@pytest.mark.rule("RATE-2")
def test_one_call_is_split_between_the_pool_and_credits(svc: Services, clock: FixedClock,
                                                       ) -> None:
    tid = setup(svc)
    buy_seats(svc, tid, MCOPSTN5=1)  # 120 minutes a month for this user alone
    [upn] = add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN5", "MCOPSTNC"], prefix="carol")
    pool_call(svc, tid, upn, "US", 116 * 60, clock.now())  # 4 minutes left
    reply = auth(svc, tid, "split", US_FIXED, user="carol0")
    assert (reply["funding"], reply["capability"]) == ("pool", "MCOPSTN5")
    # 4 pool minutes, then 100.00 at 0.01/min: capped at 4 hours.
    assert reply["max_seconds"] == 14400
    ended = calls.end(svc, OPERATOR, tid, "split", 600)  # needs 10 minutes, 4 covered
    assert (ended["pool_minutes"], ended["charge"], ended["capability"]) == (
        4, "0.06", "MCOPSTNPP")  # the other 360 s at 0.01/min
    assert balance(svc, tid) == "99.94"


@pytest.mark.rule("CALL-5")
def test_a_user_without_the_credits_license_is_denied_an_international_call(
    svc: Services,
) -> None:
    tid = setup(svc)
    reply = auth(svc, tid, "b1", GB_MOBILE, user="bob0")
    assert (reply["decision"], reply["reason"]) == ("deny", "NO_CREDITS_LICENSE")
    with pytest.raises(DomainError) as refused:
        calls.end(svc, OPERATOR, tid, "b1", 30)
    assert refused.value.code == "CALL_DENIED"
    assert balance(svc, tid) == "100.00"


@pytest.mark.rule("CALL-2")
@pytest.mark.rule("CALL-3")
def test_emergency_is_free_and_premium_or_invalid_numbers_are_denied(svc: Services) -> None:
    tid = setup(svc, balance="0.00")
    reply = auth(svc, tid, "e1", "911", user="bob0")
    assert (reply["decision"], reply["funding"], reply["max_seconds"]) == ("allow", "free", None)
    assert calls.end(svc, OPERATOR, tid, "e1", 600)["charge"] == "0.00"
    assert auth(svc, tid, "p1", "+19005551234")["reason"] == "DESTINATION_BLOCKED"
    assert auth(svc, tid, "i1", "+1555")["reason"] == "INVALID_NUMBER"


@pytest.mark.rule("CALL-8")
@pytest.mark.rule("CALL-6")
def test_open_reservations_never_exceed_the_available_balance(svc: Services) -> None:
    tid = setup(svc, balance="0.90")
    one = auth(svc, tid, "r1", GB_MOBILE)
    assert (one["max_seconds"], one["grant_seconds"]) == (420, 300)  # reserves 0.60
    two = auth(svc, tid, "r2", GB_MOBILE)
    assert (two["max_seconds"], two["grant_seconds"]) == (120, 120)  # 0.30 left: 0.24
    three = auth(svc, tid, "r3", GB_MOBILE)
    assert (three["decision"], three["reason"]) == ("deny", "INSUFFICIENT_BALANCE")
    # r1 reports its 5 minutes: 0.66 is left beside r2's 0.24, so 5 minutes in all: final
    assert calls.update(svc, OPERATOR, tid, "r1", 300) == {
        "grant_seconds": 0, "final": True, "status": "active"}
    assert calls.end(svc, OPERATOR, tid, "r1", 300)["charge"] == "0.60"
    assert calls.end(svc, OPERATOR, tid, "r2", 120)["charge"] == "0.24"
    assert balance(svc, tid) == "0.06"


@pytest.mark.rule("CALL-7")
def test_updates_give_five_minute_grants_until_the_last_one(svc: Services) -> None:
    tid = setup(svc, balance="1.50")  # 12 minutes at 0.12 = 1.44
    reply = auth(svc, tid, "g1", GB_MOBILE)
    assert (reply["max_seconds"], reply["grant_seconds"]) == (720, 300)
    assert calls.update(svc, OPERATOR, tid, "g1", 300)["grant_seconds"] == 300
    last = calls.update(svc, OPERATOR, tid, "g1", 600)
    assert (last["grant_seconds"], last["final"]) == (120, True)


@pytest.mark.rule("CALL-7")
def test_a_reservation_without_updates_expires_at_its_last_reported_usage(
    svc: Services, clock: FixedClock,
) -> None:
    tid = setup(svc)
    auth(svc, tid, "s1", GB_MOBILE)
    calls.update(svc, OPERATOR, tid, "s1", 120)
    clock.set(clock.now() + timedelta(seconds=599))
    assert run_due_work(svc).calls_expired == 0
    clock.set(clock.now() + timedelta(seconds=2))
    assert run_due_work(svc).calls_expired == 1
    assert balance(svc, tid) == "99.76"
    assert calls.end(svc, OPERATOR, tid, "s1", 900)["status"] == "expired"
    assert balance(svc, tid) == "99.76"


@pytest.mark.rule("NUM-2")
@pytest.mark.rule("RATE-4")
def test_inbound_toll_free_calls_are_charged_at_the_caller_country_rate(
    svc: Services,
) -> None:
    tid = setup(svc)
    directory.add_number(svc, OPERATOR, tid, number="+18005550100", type="toll_free")
    reply = auth(svc, tid, "tf1", "+18005550100", user=None, call_type="user_in",
                 caller="+442071234567")
    assert (reply["decision"], reply["funding"]) == ("allow", "credits")
    assert calls.end(svc, OPERATOR, tid, "tf1", 60)["charge"] == "0.05"  # 0.045 → 0.05
    assert balance(svc, tid) == "99.95"


@pytest.mark.rule("NUM-2")
def test_toll_free_numbers_are_suspended_at_zero(svc: Services) -> None:
    tid = setup(svc, balance="0.00")
    directory.add_number(svc, OPERATOR, tid, number="+18005550100", type="toll_free")
    reply = auth(svc, tid, "tf2", "+18005550100", user=None, call_type="user_in",
                 caller="+442071234567")
    assert (reply["decision"], reply["reason"]) == ("deny", "TOLL_FREE_SUSPENDED")


@pytest.mark.rule("CALL-4")
def test_a_blocked_user_is_denied(svc: Services) -> None:
    tid = setup(svc)
    directory.update_user(svc, OPERATOR, tid, "alice0@contoso.com", {"blocked": True})
    assert auth(svc, tid, "bl", GB_MOBILE)["reason"] == "USER_BLOCKED"


@pytest.mark.rule("ACCT-6")
@pytest.mark.rule("POST-1")
@pytest.mark.rule("POST-2")
def test_an_mca_tenant_spends_its_prepaid_balance_first_then_overage(svc: Services) -> None:
    from commcredits.services import postpaid

    tid = setup(svc, balance="0.10")
    postpaid.switch_billing_account(svc, OPERATOR, tid, "MCA")
    reply = auth(svc, tid, "m1", GB_MOBILE)
    assert (reply["decision"], reply["funding"], reply["max_seconds"]) == (
        "allow", "post_usage", None)
    assert calls.end(svc, OPERATOR, tid, "m1", 120)["charge"] == "0.24"
    assert balance(svc, tid) == "0.00"  # 0.10 prepaid used first
    stmt = postpaid.statement(svc, OPERATOR, tid, "2026-01")
    assert [(line.capability, line.country, line.amount.format()) for line in stmt.lines] == [
        ("MCOPSTNPP", "GB", "0.14")]
    postpaid.set_overage(svc, OPERATOR, tid, False)
    denied = auth(svc, tid, "m2", GB_MOBILE)
    assert (denied["decision"], denied["reason"]) == ("deny", "POSTPAID_OVERAGE_DISABLED")
