"""Signing in and out of the admin center in headless Chromium, and CSRF refusals (AUTH-1)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.browser.conftest import Site, shot

pytestmark = [pytest.mark.browser, pytest.mark.rule("AUTH-1")]


def test_sign_in_with_password_then_sign_out(site: Site, browser: object) -> None:
    email, _ = site.admin("global_admin", password="a long demo password")
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{site.url}/t/{site.tenant_id}?from=test")
    assert page.url.startswith(f"{site.url}/signin?next=")  # pages need a session
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    assert page.get_by_role("alert").inner_text().startswith("The email or password is not")
    assert "SIGN_IN_FAILED" in page.content()
    page.get_by_label("Password").fill("a long demo password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(rf".*/t/{site.tenant_id}\?from=test$"))  # back where it began
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["cc_session"]["httpOnly"] is True
    assert cookies["cc_session"]["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/signin$"))
    page.goto(f"{site.url}/t/{site.tenant_id}")
    assert "/signin" in page.url  # the session is gone on the server too
    context.close()


def test_sign_in_with_an_api_key(site: Site, browser: object) -> None:
    from commcredits.services import tenants
    from commcredits.services.auth import OPERATOR_CLI

    key = tenants.create_api_key(site.svc, OPERATOR_CLI, site.tenant_id, role="reader",
                                 name="browser reader").key
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{site.url}/signin")
    page.get_by_text("Sign in with an API key instead").click()
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in with key").click()
    page.wait_for_url(re.compile(rf".*/t/{site.tenant_id}$"))
    assert page.title().startswith("Home")
    assert "reader" in page.locator(".role-badge").inner_text()
    context.close()


def test_a_form_without_csrf_token_is_refused(site: Site, signed_in: object) -> None:
    page = signed_in("global_admin")  # type: ignore[operator]
    cookie = next(c for c in page.context.cookies() if c["name"] == "cc_session")
    before = page.locator("[data-testid=balance]").inner_text()
    with httpx.Client(base_url=site.url, cookies={"cc_session": cookie["value"]}) as client:
        r = client.post(f"/t/{site.tenant_id}/credits/funds", data={"amount": "100.00"})
        assert r.status_code == 403
        assert "CSRF_INVALID" in r.text
        r = client.post(f"/t/{site.tenant_id}/credits/funds",
                        data={"amount": "100.00", "csrf_token": "forged"})
        assert r.status_code == 403
        r = client.post("/signout")
        assert r.status_code == 403  # even signing out needs the token
    page.reload()
    assert page.locator("[data-testid=balance]").inner_text() == before  # nothing changed


def test_one_time_link_works_once(site: Site, browser: object) -> None:
    _, account_id = site.admin("reader")
    link = site.link(account_id)
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(link)
    assert page.url.endswith(f"/t/{site.tenant_id}")
    other = browser.new_context().new_page()  # type: ignore[attr-defined]
    other.goto(link)
    assert "SIGN_IN_LINK_INVALID" in other.content()
    other.context.close()
    context.close()


def test_home_shows_balance_runway_and_recommendation(site: Site, signed_in: object) -> None:
    page = signed_in("global_admin")  # type: ignore[operator]
    from commcredits.services import insight, queries
    from commcredits.services.auth import OPERATOR_CLI

    view = queries.credits(site.svc, OPERATOR_CLI, site.tenant_id)
    rec = insight.recommendation(site.svc, OPERATOR_CLI, site.tenant_id)
    assert page.locator("[data-testid=balance]").inner_text() == \
        f"{view.balance.amount:,.2f} USD"
    assert page.locator("[data-testid=auto-recharge]").inner_text() == "On"
    assert page.locator("[data-testid=runway]").inner_text() == f"{rec.runway_days} days"
    assert f"Add {rec.amount:,.2f} USD when the balance is below {rec.trigger:,.2f} USD" in \
        page.locator("[data-testid=recommendation]").inner_text()
    assert page.locator("figure.chart svg.chart-wide polyline.balance").count() == 1
    assert page.locator("figure.chart svg.chart-wide rect.spend").count() > 0  # spend shows
    shot(page, "home")
