"""The demo tenant that `make run` serves (issues #2, #3, #4, #6): realistic data made
through the real services, seeded once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from commcredits.adapters.clock import FixedClock
from commcredits.domain.errors import Unauthenticated
from commcredits.domain.lots import LotSource
from commcredits.domain.reports import COLUMNS
from commcredits.domain.tenants import Role
from commcredits.entrypoints.cli.main import app
from commcredits.services import directory, queries, recharge
from commcredits.services.auth import authenticate
from commcredits.services.context import Services
from commcredits.services.demo import seed_demo
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
