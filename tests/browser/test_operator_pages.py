"""The operator pages (AUTH-1, ACCT-4, SIM-1): the tenants list with the EA exception toggle,
the clock page, and the 403 every other role gets.

The browser tests run against the demo `commcredits serve` (real clock). Setting and
advancing the simulated clock is driven through the same pages in-process, on a fresh
database started with the simulated clock.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from commcredits.bootstrap import build
from commcredits.config import Settings
from commcredits.entrypoints.api.app import create_app
from commcredits.services import queries, tenants, web_access
from commcredits.services.auth import OPERATOR_CLI
from tests.browser.conftest import Site, shot

pytestmark = pytest.mark.browser
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _operator_account(svc: Any) -> str:
    account = web_access.create_admin(
        svc, OPERATOR_CLI, email=f"operator-{secrets.token_hex(4)}@example.com",
        password="correct horse battery", role="operator", tenant_id=None, name="Test operator",
    )
    return account.id


@pytest.fixture
def operator_page(site: Site, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(site.link(_operator_account(site.svc)))
    yield page
    context.close()


def _ea_tenant(site: Site) -> str:
    return tenants.create_tenant(
        site.svc, OPERATOR_CLI, name=f"Northwind {secrets.token_hex(2)}", country="DE",
        billing_account_type="EA", billing_country="US",
        contacts=[{"email": "billing@northwind.example", "role": "billing_admin"}],
    ).id


@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("ACCT-4")
def test_operator_lists_tenants_and_toggles_the_ea_exception(site: Site,
                                                              operator_page: Any) -> None:
    tid = _ea_tenant(site)
    page = operator_page
    page.reload()
    assert page.url.endswith("/operator")  # the sign-in sends an operator here
    listed = {t.id for t in tenants.list_tenants(site.svc, OPERATOR_CLI)}
    rows = page.get_by_test_id("tenants").locator("tbody tr")
    assert {rows.nth(i).get_attribute("data-tenant") for i in range(rows.count())} == listed
    row = page.locator(f"tr[data-tenant='{tid}']")
    assert "EA" in row.inner_text() and "(differs)" in row.inner_text()
    assert row.get_by_test_id("ea-state").inner_text() == "Off"
    shot(page, "operator-tenants")

    row.get_by_role("button", name="Allow exception").click()
    page.wait_for_url(re.compile(r".*/operator\?notice=.*"))
    assert "exception updated" in page.get_by_role("status").inner_text()
    assert queries.tenant(site.svc, OPERATOR_CLI, tid)[0].ea_region_exception is True
    entry = queries.audit_log(site.svc, OPERATOR_CLI, tid)[0]
    assert entry.action == "tenant.ea_exception"
    assert entry.details == {"ea_region_exception": True}
    assert entry.actor.startswith("operator:")
    row = page.locator(f"tr[data-tenant='{tid}']")
    assert row.get_by_test_id("ea-state").inner_text() == "Allowed"

    row.get_by_role("button", name="Stop exception").click()
    page.wait_for_url(re.compile(r".*/operator\?notice=.*"))
    assert queries.tenant(site.svc, OPERATOR_CLI, tid)[0].ea_region_exception is False

    # The operator opens a tenant's pages from the list.
    page.locator(f"tr[data-tenant='{site.tenant_id}'] th a").first.click()
    page.wait_for_url(re.compile(rf".*/t/{site.tenant_id}$"))
    assert page.locator("h1").inner_text() == "Home"


@pytest.mark.rule("SIM-1")
def test_clock_page_says_the_clock_is_real_time(site: Site, operator_page: Any) -> None:
    page = operator_page
    page.get_by_role("link", name="Operator: clock").click()
    page.wait_for_url(re.compile(r".*/operator/clock$"))
    assert "The clock is real time." in page.get_by_test_id("clock-real").inner_text()
    assert page.get_by_role("button", name="Advance").count() == 0


@pytest.mark.rule("AUTH-1")
def test_a_global_admin_gets_403_on_operator_pages(site: Site, signed_in: Any) -> None:
    tid = _ea_tenant(site)
    page = signed_in("global_admin")
    assert page.get_by_role("link", name=re.compile("^Operator")).count() == 0  # not offered
    for path in ("/operator", "/operator/clock"):
        response = page.goto(f"{site.url}{path}")
        assert response.status == 403, path
        assert "FORBIDDEN" in page.content()
    # A forced post with a valid CSRF token is refused, and changes nothing.
    page.goto(f"{site.url}/t/{site.tenant_id}/audit")
    token = CSRF.search(page.content())
    assert token
    for path, form in ((f"/operator/tenants/{tid}/ea-exception", {"enabled": "true"}),
                       ("/operator/clock", {"action": "advance", "amount": "1",
                                            "unit": "days"})):
        r = page.request.post(f"{site.url}{path}",
                              form={**form, "csrf_token": token.group(1)})
        assert r.status == 403 and "FORBIDDEN" in r.text(), path
    assert queries.tenant(site.svc, OPERATOR_CLI, tid)[0].ea_region_exception is False


@pytest.mark.rule("SIM-1")
@pytest.mark.rule("AUTH-1")
def test_operator_sets_and_advances_the_simulated_clock(tmp_path: Path) -> None:
    runtime = build(Settings(database_url=f"sqlite:///{tmp_path / 'sim.db'}",
                             outbox_dir=str(tmp_path / "outbox"), smtp_host=None,
                             simulated_clock=True), migrate=True, serving=True)
    try:
        svc = runtime.services
        link = web_access.create_sign_in_link(svc, _operator_account(svc))
        with TestClient(create_app(runtime)) as client:
            assert client.get(f"/signin/link/{link}").url.path == "/operator"
            page = client.get("/operator/clock")
            assert page.status_code == 200 and "simulated clock" in page.text
            token = CSRF.search(page.text)
            assert token
            csrf = token.group(1)
            r = client.post("/operator/clock", data={
                "csrf_token": csrf, "action": "set", "now": "2027-03-01T09:00"})
            assert r.status_code == 200
            assert 'data-now="2027-03-01T09:00:00+00:00"' in r.text
            assert svc.clock.now().isoformat() == "2027-03-01T09:00:00+00:00"
            r = client.post("/operator/clock", data={
                "csrf_token": csrf, "action": "advance", "amount": "36", "unit": "hours"})
            assert "The clock is now 2027-03-02 21:00:00 UTC; due work ran" in r.text
            assert svc.clock.now().isoformat() == "2027-03-02T21:00:00+00:00"
            # A bad amount is refused inline with the stable code; the clock stays put.
            r = client.post("/operator/clock", data={
                "csrf_token": csrf, "action": "advance", "amount": "-1", "unit": "days"})
            assert r.status_code == 422 and "INVALID_CLOCK" in r.text
            r = client.post("/operator/clock", data={
                "action": "advance", "amount": "1", "unit": "days"})
            assert r.status_code == 403 and "CSRF_INVALID" in r.text
            assert svc.clock.now().isoformat() == "2027-03-02T21:00:00+00:00"
    finally:
        runtime.close()
