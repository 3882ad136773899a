"""Admin-center accounts, sessions and sign-in links (AUTH-1, AUTH-2), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from commcredits.adapters.db import tables as t
from commcredits.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from commcredits.domain.tenants import Role
from commcredits.services import tenants, web_access
from commcredits.services.auth import Principal
from commcredits.services.context import Services
from tests.support import OPERATOR, make_tenant

pytestmark = pytest.mark.rule("AUTH-1")
PASSWORD = "a long enough password"


def test_password_sign_in_opens_a_session_that_acts_as_the_account(svc: Services) -> None:
    tid = make_tenant(svc)
    web_access.create_admin(svc, OPERATOR, email="Billing@Contoso.com", password=PASSWORD,
                            role="billing_admin", tenant_id=tid)
    session = web_access.sign_in_password(svc, "billing@contoso.com ", PASSWORD)
    resumed = web_access.resume(svc, session.token)
    assert resumed is not None
    assert resumed.principal == Principal(Role.BILLING_ADMIN, tid, None, "billing@contoso.com")
    assert resumed.email == "billing@contoso.com"
    assert web_access.check_csrf(resumed, session.csrf_token)
    assert not web_access.check_csrf(resumed, "forged")
    assert not web_access.check_csrf(resumed, None)
    web_access.sign_out(svc, session.token)
    assert web_access.resume(svc, session.token) is None


@pytest.mark.rule("AUTH-2")
def test_only_hashes_are_stored(svc: Services, engine: object) -> None:
    tid = make_tenant(svc)
    web_access.create_admin(svc, OPERATOR, email="a@contoso.com", password=PASSWORD,
                            role="reader", tenant_id=tid)
    session = web_access.sign_in_password(svc, "a@contoso.com", PASSWORD)
    with engine.connect() as conn:  # type: ignore[attr-defined]
        account = conn.execute(select(t.admin_accounts)).one()
        stored = conn.execute(select(t.web_sessions)).one()
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash
    assert stored.token_hash != session.token and len(stored.token_hash) == 64


def test_wrong_password_and_unknown_email_give_the_same_refusal(svc: Services) -> None:
    tid = make_tenant(svc)
    web_access.create_admin(svc, OPERATOR, email="a@contoso.com", password=PASSWORD,
                            role="reader", tenant_id=tid)
    for email, password in (("a@contoso.com", "wrong password!"), ("b@contoso.com", PASSWORD)):
        with pytest.raises(Unauthenticated) as err:
            web_access.sign_in_password(svc, email, password)
        assert err.value.code == "SIGN_IN_FAILED"


def test_account_rules(svc: Services) -> None:
    tid = make_tenant(svc)
    other = make_tenant(svc, name="Fabrikam")
    cases = [
        (dict(email="nope", password=PASSWORD, role="reader", tenant_id=tid), "INVALID_EMAIL"),
        (dict(email="a@contoso.com", password="short", role="reader", tenant_id=tid),
         "WEAK_PASSWORD"),
        (dict(email="a@contoso.com", password=PASSWORD, role="platform", tenant_id=tid),
         "INVALID_ROLE"),
        (dict(email="a@contoso.com", password=PASSWORD, role="operator", tenant_id=tid),
         "INVALID_ROLE"),
        (dict(email="a@contoso.com", password=PASSWORD, role="reader", tenant_id=None),
         "INVALID_ROLE"),
    ]
    for kwargs, code in cases:
        with pytest.raises(InvalidInput) as err:
            web_access.create_admin(svc, OPERATOR, **kwargs)  # type: ignore[arg-type]
        assert err.value.code == code
    with pytest.raises(NotFound):
        web_access.create_admin(svc, OPERATOR, email="a@contoso.com", password=PASSWORD,
                                role="reader", tenant_id="missing")
    web_access.create_admin(svc, OPERATOR, email="a@contoso.com", password=PASSWORD,
                            role="global_admin", tenant_id=tid)
    with pytest.raises(Conflict) as conflict:
        web_access.create_admin(svc, OPERATOR, email="A@contoso.com", password=PASSWORD,
                                role="reader", tenant_id=tid)
    assert conflict.value.code == "ADMIN_EXISTS"
    # A global admin creates accounts in its own tenant only, and never operators.
    admin = Principal(Role.GLOBAL_ADMIN, tid, name="ga")
    web_access.create_admin(svc, admin, email="r@contoso.com", password=PASSWORD,
                            role="reader", tenant_id=tid)
    for kwargs in (dict(role="reader", tenant_id=other), dict(role="operator", tenant_id=None)):
        with pytest.raises(Forbidden):
            web_access.create_admin(svc, admin, email="x@contoso.com", password=PASSWORD,
                                    **kwargs)  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        web_access.create_admin(svc, Principal(Role.BILLING_ADMIN, tid, name="b"),
                                email="y@contoso.com", password=PASSWORD, role="reader",
                                tenant_id=tid)


def test_a_link_signs_in_once_and_expires(svc: Services, engine: object) -> None:
    tid = make_tenant(svc)
    account = web_access.create_admin(svc, OPERATOR, email="a@contoso.com", password=PASSWORD,
                                      role="global_admin", tenant_id=tid)
    token = web_access.create_sign_in_link(svc, account.id)
    session = web_access.sign_in_link(svc, token)
    assert session.principal.role is Role.GLOBAL_ADMIN and session.principal.tenant_id == tid
    with pytest.raises(Unauthenticated) as err:
        web_access.sign_in_link(svc, token)
    assert err.value.code == "SIGN_IN_LINK_INVALID"
    old = web_access.create_sign_in_link(svc, account.id)
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(update(t.signin_links).where(t.signin_links.c.used_at.is_(None))
                     .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    with pytest.raises(Unauthenticated):
        web_access.sign_in_link(svc, old)


def test_sessions_expire_and_key_sessions_end_with_the_key(svc: Services, engine: object,
                                                             ) -> None:
    tid = make_tenant(svc)
    key = tenants.create_api_key(svc, OPERATOR, tid, role="reader", name="r").key
    session = web_access.sign_in_key(svc, key)
    assert web_access.resume(svc, session.token) is not None
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(t.api_keys.delete())
    assert web_access.resume(svc, session.token) is None  # the key is gone
    account = web_access.create_admin(svc, OPERATOR, email="a@contoso.com", password=PASSWORD,
                                      role="reader", tenant_id=tid)
    s2 = web_access.sign_in_password(svc, account.email, PASSWORD)
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(update(t.web_sessions).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert web_access.resume(svc, s2.token) is None
    platform = tenants.create_api_key(svc, OPERATOR, tid, role="platform", name="p").key
    with pytest.raises(Unauthenticated):
        web_access.sign_in_key(svc, platform)  # call control keys don't sign in
    with pytest.raises(Unauthenticated):
        web_access.sign_in_key(svc, "cck_not_a_key")
