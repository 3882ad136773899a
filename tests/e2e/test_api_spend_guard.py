"""The spend guard through the REST API and the CLI (GUARD-1, GUARD-3): typed settings,
stable codes, who may change them, and a blocked call answered by call control."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from commcredits.entrypoints.cli.main import app
from commcredits.services import rates
from commcredits.services.context import Services
from tests.e2e.conftest import Api, assert_envelope
from tests.support import OPERATOR

runner = CliRunner(env={"COLUMNS": "250"})


@pytest.mark.rule("GUARD-1")
@pytest.mark.rule("GUARD-3")
def test_the_guard_is_set_read_and_refused_with_stable_codes(api: Api) -> None:
    tid = api.tenant()
    empty = api.ok(f"/tenants/{tid}/spend-guard")
    assert empty == {"tenant_id": tid, "currency": "USD", "blocked": [], "limits": {
        "user_hour": None, "user_day": None, "tenant_day": None,
        "intl_minutes_user_day": None}}
    r = api.put(f"/tenants/{tid}/spend-guard", {
        "limits": {"user_hour": "5.00", "tenant_day": 50, "intl_minutes_user_day": 120},
        "blocked": ["ng", "+882"]})
    assert r.status_code == 200, r.text
    assert r.json()["limits"] == {"user_hour": "5.00", "user_day": None,
                                  "tenant_day": "50.00", "intl_minutes_user_day": 120}
    assert api.ok(f"/tenants/{tid}/spend-guard")["blocked"] == ["NG", "+882"]
    bad = [
        ({"limits": {"user_hour": "5.001"}}, "INVALID_SPEND_LIMIT"),
        ({"limits": {"user_hour": "0"}}, "INVALID_SPEND_LIMIT"),
        ({"limits": {"user_hour": True}}, "INVALID_SPEND_LIMIT"),
        ({"limits": {"intl_minutes_user_day": "ten"}}, "INVALID_SPEND_LIMIT"),
        ({"blocked": ["Narnia"]}, "INVALID_BLOCKED_DESTINATION"),
        ({"blocked": "NG"}, "INVALID_BLOCKED_DESTINATION"),
        ({"limits": {"weekly": "1.00"}}, "VALIDATION_ERROR"),
    ]
    for body, code in bad:
        assert_envelope(api.put(f"/tenants/{tid}/spend-guard", body), 422, code)
    assert api.ok(f"/tenants/{tid}/spend-guard")["limits"]["user_hour"] == "5.00"
    reader = api.key(tid, "reader")
    assert_envelope(api.put(f"/tenants/{tid}/spend-guard", {}, key=reader), 403, "FORBIDDEN")
    assert api.get(f"/tenants/{tid}/spend-guard", key=reader).status_code == 200
    billing = api.key(tid, "billing_admin")
    r = api.put(f"/tenants/{tid}/spend-guard", {}, key=billing)  # clears the guard
    assert r.status_code == 200 and r.json()["blocked"] == []
    assert_envelope(api.put("/tenants/nope/spend-guard", {}), 404, "TENANT_NOT_FOUND")


@pytest.mark.rule("GUARD-3")
def test_call_control_denies_a_blocked_destination(api: Api, svc: Services) -> None:
    rates.import_samples(svc, OPERATOR, only_missing=True)
    tid = api.tenant()
    api.bought(tid, "50.00", api.card(tid))
    api.post(f"/tenants/{tid}/subscriptions", {"sku": "MCOEV", "quantity": 1})
    api.post(f"/tenants/{tid}/subscriptions", {"sku": "MCOPSTN1", "quantity": 1})
    api.post(f"/tenants/{tid}/users", {"upn": "ann@contoso.com", "display_name": "Ann",
                                        "usage_location": "US"})
    r = api.post(f"/tenants/{tid}/users/ann@contoso.com/licenses",
                 {"add": ["MCOEV", "MCOPSTN1", "MCOPSTNC"]})
    assert r.status_code == 200, r.text
    api.put(f"/tenants/{tid}/spend-guard", {"blocked": ["+44"]})
    r = api.post(f"/tenants/{tid}/calls/authorize", {
        "call_id": "c1", "call_type": "user_out", "user": "ann@contoso.com",
        "caller": "+12065550100", "callee": "+447400123456"})
    assert (r.json()["decision"], r.json()["reason"]) == ("deny", "DESTINATION_BLOCKED")


@pytest.mark.rule("GUARD-1")
def test_the_cli_sets_and_shows_the_guard(api: Api, db_url: str) -> None:
    tid = api.tenant()
    result = runner.invoke(app, ["guard", "set", tid, "--user-hour", "5.00",
                                 "--intl-minutes-user-day", "60", "--block", "NG",
                                 "--block", "+882", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "Spend guard saved" in result.output
    result = runner.invoke(app, ["guard", "show", tid, "--db", db_url])
    assert "user_hour              5.00 USD" in result.output
    assert "intl_minutes_user_day  60 minutes" in result.output
    assert "blocked                NG, +882" in result.output
    result = runner.invoke(app, ["guard", "set", tid, "--user-hour", "five", "--db", db_url])
    assert result.exit_code == 2 and "INVALID_SPEND_LIMIT" in result.output
