"""Admins > Invite, and the wording admins see on error pages (issue #11, AUTH-1, AUTH-2).

A global admin invites an admin by email and role and gets a one-time sign-in link that
works once; other roles see no Admins page and are refused if they force it. The web 404
page and the operator page speak to admins, not to API clients.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from commcredits.domain.tenants import Role
from commcredits.services import queries, web_access
from commcredits.services.context import Services
from tests.e2e.conftest import row_counts
from tests.support import OPERATOR, make_tenant


def _sign_in(client: TestClient, svc: Services, tid: str, role: str) -> str:
    """Sign in as a new account of `role`; the page's CSRF token."""
    account = web_access.create_admin(
        svc, OPERATOR, email=f"{role}@admins.example", password="correct horse battery",
        role=role, tenant_id=tid)
    r = client.get(f"/signin/link/{web_access.create_sign_in_link(svc, account.id)}")
    assert r.status_code == 200, r.text
    return _csrf(r.text)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


@pytest.mark.rule("AUTH-1", "AUTH-2")
def test_a_global_admin_invites_an_admin_who_signs_in_once_with_the_link(
    client: TestClient, svc: Services,
) -> None:
    tid = make_tenant(svc)
    other = make_tenant(svc, name="Fabrikam")
    web_access.create_admin(svc, OPERATOR, email="someone@fabrikam.example",
                            password="correct horse battery", role="reader", tenant_id=other)
    csrf = _sign_in(client, svc, tid, "global_admin")
    home = client.get(f"/t/{tid}")
    assert f'href="/t/{tid}/admins"' in home.text
    page = client.get(f"/t/{tid}/admins")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-email="([^"]+)"', page.text)
    assert rows == ["global_admin@admins.example"]  # this tenant's accounts only

    r = client.post(f"/t/{tid}/admins", data={
        "csrf_token": csrf, "email": "Ana@Contoso.example", "role": "billing_admin",
        "name": "Ana"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert "Invited ana@contoso.example as billing admin." in r.text
    link = re.search(r'value="http://testserver(/signin/link/[^"]+)" data-testid="invite-url"',
                     r.text)
    assert link
    assert re.findall(r'<tr data-email="([^"]+)"', r.text) == [
        "ana@contoso.example", "global_admin@admins.example"]
    audit = queries.audit_log(svc, OPERATOR, tid)
    created = [a.details for a in audit if a.action == "admin_created"]
    assert {"email": "ana@contoso.example", "role": "billing_admin"} in created

    r = client.post(f"/t/{tid}/admins", data={
        "csrf_token": csrf, "email": "ana@contoso.example", "role": "reader"})
    assert r.status_code == 409 and "(ADMIN_EXISTS)" in r.text
    for email, role, code in (("not-an-email", "reader", "INVALID_EMAIL"),
                              ("op@contoso.example", "operator", "INVALID_ROLE"),
                              ("p@contoso.example", "platform", "INVALID_ROLE")):
        r = client.post(f"/t/{tid}/admins", data={"csrf_token": csrf, "email": email,
                                                  "role": role})
        assert r.status_code == 422 and f"({code})" in r.text, (email, role)

    # The invited admin signs in with the link, once, as a billing admin of this tenant.
    client.cookies.clear()
    r = client.get(link.group(1), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/t/{tid}"
    session = web_access.resume(svc, r.cookies.get("cc_session"))
    assert session is not None and session.principal.role is Role.BILLING_ADMIN
    assert session.principal.tenant_id == tid and session.email == "ana@contoso.example"
    client.cookies.clear()
    r = client.get(link.group(1))
    assert r.status_code == 401 and "SIGN_IN_LINK_INVALID" in r.text


@pytest.mark.rule("AUTH-1", "AUTH-2")
def test_a_new_sign_in_link_is_for_this_tenants_admins_only(
    client: TestClient, svc: Services,
) -> None:
    tid = make_tenant(svc)
    other = make_tenant(svc, name="Fabrikam")
    theirs = web_access.create_admin(svc, OPERATOR, email="x@fabrikam.example",
                                     password="correct horse battery", role="reader",
                                     tenant_id=other)
    csrf = _sign_in(client, svc, tid, "global_admin")
    me = web_access.list_admins(svc, OPERATOR, tid)[0]
    r = client.post(f"/t/{tid}/admins/{me.id}/link", data={"csrf_token": csrf})
    assert r.status_code == 200 and "New sign-in link for global_admin@admins.example" in r.text
    r = client.post(f"/t/{tid}/admins/{theirs.id}/link", data={"csrf_token": csrf})
    assert r.status_code == 404 and "(ADMIN_NOT_FOUND)" in r.text
    assert "/signin/link/" not in r.text


@pytest.mark.rule("AUTH-1", "ERR-1")
@pytest.mark.parametrize("role", ["billing_admin", "teams_admin", "reader"])
def test_other_roles_see_no_admins_page_and_are_refused_if_they_force_it(
    client: TestClient, svc: Services, engine: Engine, role: str,
) -> None:
    tid = make_tenant(svc)
    csrf = _sign_in(client, svc, tid, role)
    home = client.get(f"/t/{tid}")
    assert f'href="/t/{tid}/admins"' not in home.text
    r = client.get(f"/t/{tid}/admins")
    assert r.status_code == 403 and "<code>FORBIDDEN</code>" in r.text
    before = row_counts(engine)
    r = client.post(f"/t/{tid}/admins", data={
        "csrf_token": csrf, "email": "new@contoso.example", "role": "global_admin"})
    assert r.status_code == 403 and "<code>FORBIDDEN</code>" in r.text
    assert "/signin/link/" not in r.text
    assert row_counts(engine) == before


@pytest.mark.rule("ERR-1")
def test_error_pages_speak_to_admins(client: TestClient, svc: Services) -> None:
    tid = make_tenant(svc)
    _sign_in(client, svc, tid, "global_admin")
    r = client.get(f"/t/{tid}/no-such-page")
    assert r.status_code == 404 and "<code>NOT_FOUND</code>" in r.text
    assert "/docs" not in r.text and "There is no page at this address" in r.text
    assert f'href="/t/{tid}/credits"' in r.text  # the admin's menu is still there
    r = client.get("/operator")
    assert r.status_code == 403 and "<code>FORBIDDEN</code>" in r.text
    assert "Only the service operator can open this page" in r.text
    assert "Ask a global admin" not in r.text  # the reader is one
    # API clients are still pointed to the API docs.
    r = client.get("/api/v1/nope", headers={"Authorization": "Bearer x"})
    assert r.status_code == 404 and "See /docs" in r.json()["error"]["message"]
