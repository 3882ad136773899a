"""The spend guard to the cent (GUARD-1..3), on both databases, with the sample USD rates
(GB mobile 0.12/min, Germany fixed 0.025/min, per-minute increments)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.domain.errors import DomainError
from commcredits.services import calls, cdrs
from commcredits.services import guard as spend_guard
from commcredits.services.context import Services
from commcredits.services.jobs import run_due_work
from tests.integration.test_calls import GB_MOBILE, US_FIXED, auth, balance, setup
from tests.support import OPERATOR
from tests.support_directory import add_users

DE_FIXED = "+4930123456"
HEADER = "UsageId,Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time," \
         "Duration Seconds\n"


def emails(engine: Engine, kind: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(t.email_outbox.c.subject)
                                 .where(t.email_outbox.c.kind == kind)).scalars())


def guard(svc: Services, tid: str, blocked: list[str] | None = None, **limits: object) -> None:
    spend_guard.put_settings(svc, OPERATOR, tid, limits=limits, blocked=blocked or [])


def spend(svc: Services, tid: str, call_id: str, callee: str, seconds: int) -> str:
    reply = auth(svc, tid, call_id, callee)
    assert reply["decision"] == "allow", reply
    return str(calls.end(svc, OPERATOR, tid, call_id, seconds)["charge"])


@pytest.mark.rule("GUARD-1")
def test_a_user_hour_limit_stops_the_next_call_at_the_limit_and_then_denies(
    svc: Services, engine: Engine, clock: FixedClock,
) -> None:
    tid = setup(svc)
    guard(svc, tid, user_hour="5.00")
    assert spend(svc, tid, "gb1", GB_MOBILE, 38 * 60) == "4.56"
    assert spend(svc, tid, "de1", DE_FIXED, 8 * 60) == "0.20"  # 4.76 spent this hour
    reply = auth(svc, tid, "gb2", GB_MOBILE)
    # 0.24 left: two minutes at 0.12/min, so the call stops at 5.00 exactly.
    assert (reply["decision"], reply["max_seconds"], reply["grant_seconds"]) == (
        "allow", 120, 120)
    assert calls.update(svc, OPERATOR, tid, "gb2", 60) == {
        "grant_seconds": 60, "final": True, "status": "active"}
    assert calls.end(svc, OPERATOR, tid, "gb2", 120)["charge"] == "0.24"
    denied = auth(svc, tid, "gb3", GB_MOBILE)
    assert (denied["decision"], denied["reason"], denied["max_seconds"]) == (
        "deny", "SPEND_LIMIT_REACHED", 0)
    assert auth(svc, tid, "gb4", GB_MOBILE)["reason"] == "SPEND_LIMIT_REACHED"
    [subject] = emails(engine, "spend_limit_reached")  # once per limit and period
    assert "credits per user per hour (5.00 USD)" in subject
    assert balance(svc, tid) == "95.00"
    # A domestic call on the pool spends no credits: still allowed.
    assert auth(svc, tid, "us1", US_FIXED)["funding"] == "pool"
    # A CDR of a call that already happened, over the limit, is still rated and charged.
    body = HEADER + f",cdr1,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE}," \
                    f"{clock.now().isoformat()},300\n"
    report = cdrs.import_cdrs(svc, OPERATOR, tid, body)
    assert report.accepted == 1
    assert balance(svc, tid) == "94.40"
    # The next hour the limit starts again.
    clock.set(clock.now() + timedelta(hours=1))
    assert auth(svc, tid, "gb5", GB_MOBILE)["max_seconds"] == 41 * 60  # 4.92 of 5.00
    assert len(emails(engine, "spend_limit_reached")) == 1


@pytest.mark.rule("GUARD-1")
def test_day_tenant_and_international_minute_limits(svc: Services, engine: Engine) -> None:
    tid = setup(svc)
    add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN1", "MCOPSTNC"], prefix="dave")
    guard(svc, tid, user_day="1.00", tenant_day="1.50", intl_minutes_user_day=10)
    # Germany at 0.025/min: 10 international minutes come before 1.00 (40 minutes).
    reply = auth(svc, tid, "de1", DE_FIXED)
    assert reply["max_seconds"] == 600
    assert calls.end(svc, OPERATOR, tid, "de1", 540)["charge"] == "0.23"  # 9 minutes
    assert auth(svc, tid, "de2", DE_FIXED)["max_seconds"] == 60  # 1 minute left
    assert calls.end(svc, OPERATOR, tid, "de2", 60)["charge"] == "0.03"
    assert auth(svc, tid, "de3", DE_FIXED)["reason"] == "SPEND_LIMIT_REACHED"
    # dave: his own day is fresh, the tenant has 1.50 - 0.26 = 1.24 left (10 minutes of GB
    # mobile); his 1.00 a day stops him first: 8 minutes (0.96).
    assert auth(svc, tid, "d1", GB_MOBILE, user="dave0")["max_seconds"] == 480
    assert calls.end(svc, OPERATOR, tid, "d1", 480)["charge"] == "0.96"
    assert auth(svc, tid, "d2", GB_MOBILE, user="dave0")["reason"] == "SPEND_LIMIT_REACHED"
    subjects = emails(engine, "spend_limit_reached")
    assert len(subjects) == 2
    assert any("international minutes per user per day (10 minutes)" in s for s in subjects)
    assert any("credits per user per day (1.00 USD)" in s for s in subjects)


@pytest.mark.rule("GUARD-3")
def test_blocked_destinations_by_country_or_prefix(svc: Services, engine: Engine) -> None:
    tid = setup(svc)
    guard(svc, tid, blocked=["GB", "+4930"])
    assert auth(svc, tid, "gb", GB_MOBILE)["reason"] == "DESTINATION_BLOCKED"
    assert auth(svc, tid, "de", DE_FIXED)["reason"] == "DESTINATION_BLOCKED"
    assert auth(svc, tid, "de-munich", "+4989123456")["decision"] == "allow"
    assert auth(svc, tid, "us", US_FIXED)["decision"] == "allow"
    assert auth(svc, tid, "911", "911")["funding"] == "free"  # emergency is never blocked
    spend_guard.put_settings(svc, OPERATOR, tid, limits={}, blocked=[])
    assert auth(svc, tid, "gb-again", GB_MOBILE)["decision"] == "allow"
    with engine.connect() as conn:
        actions = list(conn.execute(select(t.audit_log.c.details).where(
            t.audit_log.c.action == "spend_guard.changed").order_by(t.audit_log.c.id))
            .scalars())
    assert [a["after"]["blocked"] for a in actions] == [["GB", "+4930"], []]


@pytest.mark.rule("GUARD-1")
@pytest.mark.rule("GUARD-3")
def test_bad_settings_are_refused_with_stable_codes(svc: Services) -> None:
    tid = setup(svc)
    cases = [
        ({"user_hour": "5.001"}, [], "INVALID_SPEND_LIMIT"),
        ({"user_hour": "-1"}, [], "INVALID_SPEND_LIMIT"),
        ({"weekly": "5.00"}, [], "INVALID_SPEND_LIMIT"),
        ({"intl_minutes_user_day": 1.5}, [], "INVALID_SPEND_LIMIT"),
        ({}, ["XX"], "INVALID_BLOCKED_DESTINATION"),
        ({}, ["0053"], "INVALID_BLOCKED_DESTINATION"),
        ({}, ["cuba"], "INVALID_BLOCKED_DESTINATION"),
    ]
    for limits, blocked, code in cases:
        with pytest.raises(DomainError) as refused:
            spend_guard.put_settings(svc, OPERATOR, tid, limits=limits, blocked=blocked)
        assert refused.value.code == code, (limits, blocked)
    saved = spend_guard.put_settings(svc, OPERATOR, tid, limits={"user_hour": 5},
                                     blocked=["ng", "+53"])
    assert spend_guard.as_json(saved) == {
        "limits": {"user_hour": "5.00", "user_day": None, "tenant_day": None,
                   "intl_minutes_user_day": None},
        "blocked": ["NG", "+53"]}


@pytest.mark.rule("GUARD-2")
def test_an_expensive_hour_after_a_normal_month_emails_once_a_day(
    svc: Services, engine: Engine, clock: FixedClock,
) -> None:
    tid = setup(svc)
    start = clock.now()
    # 30 days of normal spend: two 5-minute GB mobile calls a day (0.60 each, hours apart).
    body = HEADER
    for day in range(30):
        for n, hour in enumerate((9, 14)):
            at = (start + timedelta(days=day)).replace(hour=hour)
            body += f",n{day}-{n},alice0@contoso.com,user_out,+12065550100,{GB_MOBILE}," \
                    f"{at.isoformat()},300\n"
    clock.set(start + timedelta(days=30, hours=1))
    assert cdrs.import_cdrs(svc, OPERATOR, tid, body).accepted == 60
    run_due_work(svc)
    assert emails(engine, "spend_anomaly") == []
    # One expensive hour: 100 minutes of GB mobile (12.00) > 10 x 0.60 and >= 10.00.
    now = clock.now()
    spend(svc, tid, "x1", GB_MOBILE, 100 * 60)
    clock.set(now + timedelta(minutes=30))
    assert run_due_work(svc).anomaly_emails == 1
    [subject] = emails(engine, "spend_anomaly")
    assert "alice0@contoso.com: 12.00 USD in one hour" in subject
    # A second expensive hour the same day: no second email.
    clock.set(now + timedelta(hours=3))
    spend(svc, tid, "x2", GB_MOBILE, 100 * 60)
    clock.set(now + timedelta(hours=3, minutes=30))
    assert run_due_work(svc).anomaly_emails == 0
    assert len(emails(engine, "spend_anomaly")) == 1
    assert Decimal(balance(svc, tid)) == Decimal("100.00") - 60 * Decimal("0.60") - 24


@pytest.mark.rule("GUARD-2")
def test_a_small_expensive_hour_is_not_an_anomaly(svc: Services, engine: Engine,
                                                  clock: FixedClock) -> None:
    tid = setup(svc)
    spend(svc, tid, "x1", GB_MOBILE, 80 * 60)  # 9.60: more than 10 x 0, less than 10.00
    clock.set(clock.now() + timedelta(minutes=30))
    run_due_work(svc)
    assert emails(engine, "spend_anomaly") == []


@pytest.mark.rule("GUARD-1")
def test_a_tenant_without_a_guard_reads_nothing_more_and_one_with_reads_once_a_call(
    svc: Services, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from commcredits.adapters.db.guard_repos import SqlGuard
    reads: list[str] = []
    for name in ("get", "spent"):
        real = getattr(SqlGuard, name)

        def counted(self: SqlGuard, *args: object, _real: object = real, _name: str = name,
                    **kwargs: object) -> object:
            reads.append(_name)
            return _real(self, *args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(SqlGuard, name, counted)
    tid = setup(svc)
    for n in range(3):
        assert auth(svc, tid, f"plain{n}", GB_MOBILE)["decision"] == "allow"
    # No guard: one look per process and directory version (cached as "none"), then not a
    # statement more on the hot path.
    assert reads == ["get"]
    guard(svc, tid, user_day="50.00")
    reads.clear()
    for n in range(3):
        assert auth(svc, tid, f"guarded{n}", GB_MOBILE)["decision"] == "allow"
    assert reads == ["get", "spent", "spent", "spent"]  # the settings once, then cached
