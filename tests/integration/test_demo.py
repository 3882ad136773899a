"""The demo tenant that `make run` serves (issues #2, #3, #4, #6): realistic data made
through the real services, seeded once."""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.domain.errors import Unauthenticated
from commcredits.domain.lots import LotSource
from commcredits.domain.pools import month_of, parse_pool_key
from commcredits.domain.reports import COLUMNS
from commcredits.domain.tenants import Role
from commcredits.entrypoints.cli.main import app
from commcredits.services import directory, insight, pools, queries, recharge
from commcredits.services.auth import authenticate
from commcredits.services.context import Services
from commcredits.services.demo import seed_demo
from commcredits.services.demo_calls import DAYS
from commcredits.services.reports import pstn_usage
from tests.support import OPERATOR


def test_the_demo_has_a_year_of_credits_users_numbers_and_two_months_of_calls(
    svc: Services, clock: FixedClock,
) -> None:
    demo = seed_demo(svc)
    assert demo.created and demo.admin_key and demo.admin_key.startswith("cck_")
    view = queries.credits(svc, OPERATOR, demo.tenant_id)
    assert view.tenant.name == "Contoso" and view.balance.is_positive()
    soon = [lot for lot in view.lots if lot.remaining.is_positive()
            and lot.expires_at - clock.now() < timedelta(days=30)]
    assert len(soon) == 1  # one lot close to expiry, still holding funds
    assert any(lot.source is LotSource.AUTO_RECHARGE for lot in view.lots)
    status = recharge.status(svc, OPERATOR, demo.tenant_id)
    assert status.settings is not None and status.settings.enabled
    users = directory.list_users(svc, OPERATOR, demo.tenant_id, limit=100)
    assert {u.usage_location for u in users} >= {"US", "GB", "DE"}
    numbers = {n.number: n for n in directory.list_numbers(svc, OPERATOR, demo.tenant_id)}
    assert numbers["+18005550100"].assignee_upn == "conference@contoso.com"
    calls = list(pstn_usage(svc, OPERATOR, demo.tenant_id, period="28d"))
    assert len(calls) > 100
    capability = COLUMNS.index("Capability")
    assert {row[capability] for row in calls} >= {"MCOPSTN1", "MCOPSTNPP"}

    again = seed_demo(svc)
    assert not again.created and again.tenant_id == demo.tenant_id
    assert len(list(pstn_usage(svc, OPERATOR, demo.tenant_id, period="28d"))) == len(calls)
    assert again.admin_key is None  # a restart prints no new key; the first one still works
    with svc.uow(readonly=True) as uow:
        assert authenticate(uow, demo.admin_key, None).tenant_id == demo.tenant_id
        assert uow.access.revoke_keys(demo.tenant_id, Role.GLOBAL_ADMIN, "x") == []


@pytest.mark.rule("AUTH-2")
def test_admin_key_rotate_replaces_the_demo_key_printed_at_the_first_start(
    svc: Services, db_url: str,
) -> None:
    first = seed_demo(svc).admin_key
    assert first is not None
    result = CliRunner().invoke(app, ["admin", "key", "--rotate", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "revoked 1 earlier key(s) named 'demo admin'" in result.output
    found = re.search(r"cck_[A-Za-z0-9_-]+", result.output)
    assert found is not None
    with svc.uow(readonly=True) as uow:
        with pytest.raises(Unauthenticated):
            authenticate(uow, first, None)
        assert authenticate(uow, found.group(0), None).role is Role.GLOBAL_ADMIN


@pytest.mark.rule("POOL-5", "POOL-6")
def test_every_demo_pool_minute_comes_from_a_rated_call_the_usage_report_shows(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    demo = seed_demo(svc)
    rows = list(pstn_usage(svc, OPERATOR, demo.tenant_id, start="2025-11-01",
                           end="2026-01-15"))
    shown = {row[COLUMNS.index("UsageId")]: row for row in rows}
    with engine.connect() as conn:
        calls = conn.execute(select(t.calls.c.usage_id, t.calls.c.pool_key,
                                    t.calls.c.pool_minutes, t.calls.c.start_at).where(
            t.calls.c.tenant_id == demo.tenant_id, t.calls.c.pool_minutes > 0)).all()
    from_calls: Counter[tuple[str, str, str, str]] = Counter()
    for usage_id, pool_key, minutes, start_at in calls:
        row = shown[usage_id]  # every call that used a pool is in the usage report
        ref = parse_pool_key(pool_key)
        assert row[COLUMNS.index("Capability")] == ref.capability
        assert minutes == math.ceil(row[COLUMNS.index("Duration Seconds")] / 60)
        from_calls[(month_of(start_at), ref.sku, ref.kind.value, ref.region)] += minutes
    used: Counter[tuple[str, str, str, str]] = Counter()
    for month in ("2025-11", "2025-12", "2026-01"):
        report = pools.minute_pools_report(svc, OPERATOR, demo.tenant_id, month)
        for pool in report.rows:
            if pool.minutes_used:
                used[(month, pool.sku, pool.pool.value, pool.region)] = pool.minutes_used
    assert used == from_calls
    this_month = {k[1:]: v for k, v in used.items() if k[0] == "2026-01"}
    assert this_month[("MCOPSTN1", "domestic", "US")] > 0  # the current month shows use
    assert this_month[("MCOMEETADV", "dialout", "*")] > 0  # and so does dial-out


@pytest.mark.rule("REP-1")
def test_the_demo_calls_have_guid_call_usage_and_conference_ids(svc: Services) -> None:
    demo = seed_demo(svc)
    rows = list(pstn_usage(svc, OPERATOR, demo.tenant_id, period="28d"))
    ids = [(row[COLUMNS.index("UsageId")], row[COLUMNS.index("Call ID")],
            row[COLUMNS.index("Conference ID")]) for row in rows]
    assert all(uuid.UUID(usage) and uuid.UUID(call) and usage != call
               for usage, call, _ in ids)  # as Microsoft's are (REFERENCE)
    conferences = [c for _, _, c in ids if c]
    assert len(conferences) == 3 and all(uuid.UUID(c) for c in conferences)
    assert len({call for _, call, _ in ids}) == len(ids)


@pytest.mark.rule("REP-5")
def test_the_demo_ledger_spend_is_its_calls_charges_on_every_day_with_call_records(
    svc: Services, clock: FixedClock,
) -> None:
    demo = seed_demo(svc)
    first = clock.now().date() - timedelta(days=DAYS)
    by_calls = {r.key: r.amount for r in insight.spend(
        svc, OPERATOR, demo.tenant_id, "day", first.isoformat()).rows}
    by_ledger = {p.day.isoformat(): p.spend for p in insight.balance_history(
        svc, OPERATOR, demo.tenant_id).points if p.day >= first and p.spend}
    assert len(by_calls) == DAYS  # a day of calls on each of the last 58 days
    assert by_ledger == {day: amount for day, amount in by_calls.items() if amount}
