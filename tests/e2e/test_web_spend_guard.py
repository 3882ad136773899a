"""Communications Credits > Spend guard without a browser (GUARD-1, GUARD-3, AUTH-1): a
plain form post with its CSRF token, refusals inline with the stable code, the audit log,
and a reader who sees the settings but cannot change them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from commcredits.services import guard, web_access
from commcredits.services.context import Services
from tests.e2e.test_web_credits import _hidden, _sign_in
from tests.support import OPERATOR, make_tenant


@pytest.mark.rule("GUARD-1")
@pytest.mark.rule("GUARD-3")
def test_a_global_admin_sets_the_guard_on_its_page(client: TestClient, svc: Services) -> None:
    tid = make_tenant(svc)
    _sign_in(client, svc, tid, "global_admin")
    page = client.get(f"/t/{tid}/credits")
    assert f'href="/t/{tid}/credits/spend-guard"' in page.text
    page = client.get(f"/t/{tid}/credits/spend-guard")
    assert page.status_code == 200 and "no limit" in page.text
    csrf = _hidden(page.text, "csrf_token")
    r = client.post(f"/t/{tid}/credits/spend-guard", data={
        "csrf_token": csrf, "user_hour": "5.001", "blocked": "NG"}, follow_redirects=False)
    assert r.status_code == 422 and "(INVALID_SPEND_LIMIT)" in r.text
    assert 'aria-invalid="true"' in r.text and 'value="5.001"' in r.text
    r = client.post(f"/t/{tid}/credits/spend-guard", data={
        "user_hour": "5.00"}, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token: nothing runs
    r = client.post(f"/t/{tid}/credits/spend-guard", data={
        "csrf_token": csrf, "user_hour": "5", "intl_minutes_user_day": "60",
        "blocked": "ng, +882"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    assert "Spend guard saved." in page.text and "5.00 USD" in page.text
    assert "NG, +882" in page.text
    saved = guard.as_json(guard.get_settings(svc, OPERATOR, tid))
    assert saved["limits"]["user_hour"] == "5.00" and saved["blocked"] == ["NG", "+882"]
    assert "spend_guard.changed" in client.get(f"/t/{tid}/audit").text


@pytest.mark.rule("GUARD-1")
def test_a_reader_sees_the_guard_but_may_not_change_it(client: TestClient,
                                                       svc: Services) -> None:
    tid = make_tenant(svc)
    guard.put_settings(svc, OPERATOR, tid, limits={"tenant_day": "20"}, blocked=[])
    account = web_access.create_admin(svc, OPERATOR, email="reader@web.example",
                                      password="correct horse battery", role="reader",
                                      tenant_id=tid)
    client.get(f"/signin/link/{web_access.create_sign_in_link(svc, account.id)}")
    page = client.get(f"/t/{tid}/credits/spend-guard")
    assert "20.00 USD" in page.text and "Save spend guard" not in page.text
    r = client.post(f"/t/{tid}/credits/spend-guard", data={
        "csrf_token": _hidden(page.text, "csrf_token"), "tenant_day": "1"},
        follow_redirects=False)
    assert r.status_code == 403
    assert guard.get_settings(svc, OPERATOR, tid).tenant_day == 20
