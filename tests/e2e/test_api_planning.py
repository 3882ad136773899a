"""Planning through the REST API and the CLI (PLAN-1, PLAN-2): the what-if's answer in
money strings, the advice, its one-step apply, and refusals with stable codes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from commcredits.adapters.clock import FixedClock
from commcredits.entrypoints.cli.main import app
from commcredits.services import planning
from commcredits.services.context import Services
from tests.e2e.conftest import Api, assert_envelope
from tests.integration.test_planning import BASE, HEAVY, seeded
from tests.support import OPERATOR

runner = CliRunner(env={"COLUMNS": "250"})


@pytest.mark.rule("PLAN-1")
def test_the_what_if_through_the_api_and_the_cli(api: Api, svc: Services, clock: FixedClock,
                                                 db_url: str) -> None:
    tid = seeded(svc, clock, "MCOPSTN1")
    licenses = {upn: [*BASE, "MCOPSTN2"] for upn in HEAVY}
    expected = planning.what_if(svc, OPERATOR, tid, start="2026-01-01", end="2026-01-31",
                                licenses=licenses)
    r = api.post(f"/tenants/{tid}/insight/what-if",
                 {"from": "2026-01-01", "to": "2026-01-31", "licenses": licenses})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["actual"], body["what_if"], body["difference"], body["currency"]) == (
        f"{expected.actual:.2f}", f"{expected.what_if:.2f}", f"{expected.difference:.2f}",
        "USD")
    assert {u["upn"] for u in body["per_user"]} == {
        "heavy0@contoso.com", "heavy1@contoso.com", "light0@contoso.com",
        "light1@contoso.com", "office0@contoso.com"}
    for body_, code, status in (
        ({"from": "2026-01-01", "to": "2026-01-31"}, "INVALID_WHAT_IF", 422),
        ({"from": "2026-01-01", "to": "2026-06-30", "rate_table_version": 1},
         "RANGE_TOO_LONG", 422),
        ({"from": "2026-01-01", "to": "2026-01-31", "licenses": {"x@contoso.com": []}},
         "USER_NOT_FOUND", 404),
        ({"from": "2026-01-01", "to": "2026-01-31", "licenses": {HEAVY[0]: ["NOPE"]}},
         "UNKNOWN_SKU", 422),
        ({"from": "2026-01-01", "to": "2026-01-31", "rate_table_version": 1, "x": 1},
         "VALIDATION_ERROR", 422),
    ):
        assert_envelope(api.post(f"/tenants/{tid}/insight/what-if", body_), status, code)
    result = runner.invoke(app, ["what-if", tid, "--from", "2026-01-01", "--to", "2026-01-31",
                                 "--licenses", f"{HEAVY[0]}=MCOEV,MCOPSTNC,MCOPSTN2",
                                 "--licenses", f"{HEAVY[1]}=MCOEV,MCOPSTNC,MCOPSTN2",
                                 "--db", db_url])
    assert result.exit_code == 0, result.output
    assert f"actual {expected.actual:.2f} USD, what-if {expected.what_if:.2f} USD" \
        in result.output


@pytest.mark.rule("PLAN-2")
def test_the_advice_through_the_api_and_the_cli(api: Api, svc: Services, clock: FixedClock,
                                                db_url: str) -> None:
    tid = seeded(svc, clock, "MCOPSTN1")
    r = api.get(f"/tenants/{tid}/insight/plan-advice?days=30")
    assert r.status_code == 200, r.text
    users = {u["upn"]: u for u in r.json()["users"]}
    assert users["heavy0@contoso.com"]["proposed"] == "domestic_international"
    assert r.json()["license_prices"]["domestic"] == "12.00"
    assert api.get(f"/tenants/{tid}/insight/plan-advice?days=29").status_code == 422
    # The CLI runs on the wall clock (December 2026 here): no calls in its last 30 days.
    result = runner.invoke(app, ["advise", tid, "--days", "30", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "0 users over 30 days: saving 0.00 USD a month" in result.output
    result = runner.invoke(app, ["advise", tid, "--days", "7", "--db", db_url])
    assert result.exit_code == 2 and "INVALID_DAYS" in result.output
    reader = api.key(tid, "reader")
    assert_envelope(api.post(f"/tenants/{tid}/insight/plan-advice/apply", {"days": 30},
                             key=reader), 403, "FORBIDDEN")
    r = api.post(f"/tenants/{tid}/insight/plan-advice/apply", {"days": 30})
    assert r.status_code == 200, r.text
    assert r.json()["licenses"]["failed"] == 0 and r.json()["licenses"]["applied"] > 0
    again = api.get(f"/tenants/{tid}/insight/plan-advice?days=30").json()["users"]
    assert all(u["current"] == users[u["upn"]]["proposed"] for u in again)
