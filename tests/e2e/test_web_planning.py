"""Reports > What-if and Reports > Plan advice without a browser (PLAN-1, PLAN-2, LIC-4):
the GET form's answer, refusals inline, and Apply as a CSRF-checked post."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from commcredits.adapters.clock import FixedClock
from commcredits.services import planning
from commcredits.services.context import Services
from tests.e2e.test_web_credits import _hidden, _sign_in
from tests.integration.test_planning import BASE, HEAVY, seeded
from tests.support import OPERATOR


@pytest.mark.rule("PLAN-1")
def test_the_what_if_page_answers_the_same_as_the_service(
    client: TestClient, svc: Services, clock: FixedClock,
) -> None:
    tid = seeded(svc, clock, "MCOPSTN1")
    _sign_in(client, svc, tid, "global_admin")
    page = client.get(f"/t/{tid}/reports/what-if")
    assert page.status_code == 200 and "Re-rate" in page.text
    lines = "\n".join(f"{upn} = MCOEV, MCOPSTN2, MCOPSTNC" for upn in HEAVY)
    r = client.get(f"/t/{tid}/reports/what-if", params={
        "from": "2026-01-01", "to": "2026-01-31", "mode": "licenses", "licenses": lines})
    expected = planning.what_if(svc, OPERATOR, tid, start="2026-01-01", end="2026-01-31",
                                licenses={u: [*BASE, "MCOPSTN2"] for u in HEAVY})
    assert r.status_code == 200
    assert f'data-what-if="{expected.what_if:.2f}"' in r.text
    assert f'data-actual="{expected.actual:.2f}"' in r.text
    r = client.get(f"/t/{tid}/reports/what-if", params={
        "from": "2026-01-01", "to": "2026-06-30", "mode": "version", "version": "1"})
    assert r.status_code == 422 and "(RANGE_TOO_LONG)" in r.text


@pytest.mark.rule("PLAN-2")
@pytest.mark.rule("LIC-4")
def test_the_plan_advice_page_applies_the_advice(
    client: TestClient, svc: Services, clock: FixedClock,
) -> None:
    tid = seeded(svc, clock, "MCOPSTN1")
    _sign_in(client, svc, tid, "global_admin")
    page = client.get(f"/t/{tid}/reports/plan-advice?days=30")
    assert page.status_code == 200
    assert 'data-upn="heavy0@contoso.com" data-proposed="domestic_international"' in page.text
    r = client.post(f"/t/{tid}/reports/plan-advice/apply", data={"days": "30"},
                    follow_redirects=False)
    assert r.status_code == 403  # no CSRF token
    r = client.post(f"/t/{tid}/reports/plan-advice/apply", data={
        "csrf_token": _hidden(page.text, "csrf_token"), "days": "30"},
        follow_redirects=False)
    assert r.status_code == 303
    after = client.get(r.headers["location"])
    assert "Applied " in after.text and "0 failed" not in after.text
    advice = planning.plan_advice(svc, OPERATOR, tid, days=30)
    assert all(a.proposed is a.current for a in advice.users)
    assert 'data-testid="advice-apply"' not in after.text  # nothing left to change
