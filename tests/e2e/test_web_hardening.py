"""Web hardening (AUTH-1, ERR-1): framing refused and a Content-Security-Policy the pages
keep to, sign-in throttling per account and per address, ``Allow`` on 405 answers, and no
one-time sign-in token in the access log.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from commcredits.entrypoints.web.security import RedactSignInLinks
from commcredits.services import signin_throttle, web_access
from commcredits.services.context import Services
from tests.e2e.conftest import API, OPERATOR_HEADERS, assert_envelope
from tests.support import OPERATOR, make_tenant

PASSWORD = "correct horse battery"


class WallClock:
    """The wall clock of sign-ins, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> WallClock:
    clock = WallClock()
    monkeypatch.setattr(web_access, "_now", clock)
    return clock


def _sign_in(client: TestClient, email: str, password: str) -> Response:
    page = client.get("/signin")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return client.post("/signin", data={"csrf_token": match.group(1), "email": email,
                                        "password": password}, follow_redirects=False)


def _code(r: Response) -> str:
    match = re.search(r"\(([A-Z_]+)\)|<code>([A-Z_]+)</code>", r.text)
    return next(g for g in match.groups() if g) if match else ""


@pytest.mark.rule("AUTH-1")
def test_every_answer_refuses_framing_and_the_pages_keep_to_the_policy(
    client: TestClient, svc: Services,
) -> None:
    for path in ("/signin", "/", "/static/app.css", f"{API}/tenants", "/no-such-page"):
        r = client.get(path, follow_redirects=False)
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["x-content-type-options"] == "nosniff", path
        policy = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy, path
        assert "unsafe-eval" not in policy
    assert client.get("/docs").headers["x-frame-options"] == "DENY"
    # No inline script, event handler, hx-on or javascript: link the policy would block.
    templates = Path(str(resources.files("commcredits") / "templates"))
    for template in templates.rglob("*.html"):
        if "email" in template.parts:
            continue  # emails are not served to browsers
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert "hx-on" not in text and "javascript:" not in text, template
    assert (templates.parent / "static" / "app.js").is_file()
    assert '"allowEval": false' in (templates / "web" / "base.html").read_text()


@pytest.mark.rule("AUTH-1")
def test_failed_sign_ins_back_off_per_account_even_for_the_right_password(
    client: TestClient, svc: Services, wall: WallClock,
) -> None:
    tid = make_tenant(svc)
    web_access.create_admin(svc, OPERATOR, email="admin@contoso.com", password=PASSWORD,
                            role="reader", tenant_id=tid)
    for _ in range(signin_throttle.ACCOUNT_FREE):
        r = _sign_in(client, "admin@contoso.com", "wrong password")
        assert r.status_code == 401 and _code(r) == "SIGN_IN_FAILED", r.text
    r = _sign_in(client, "admin@contoso.com", PASSWORD)
    assert r.status_code == 429 and _code(r) == "SIGNIN_THROTTLED", r.text
    assert r.headers["retry-after"] == "30"
    assert "Wait 30 seconds" in r.text
    wall.now += timedelta(seconds=29)
    assert _sign_in(client, "Admin@Contoso.com", PASSWORD).status_code == 429
    wall.now += timedelta(seconds=1)
    r = _sign_in(client, "admin@contoso.com", "wrong again")  # the 6th failure: 60 s
    assert r.status_code == 401
    r = _sign_in(client, "admin@contoso.com", PASSWORD)
    assert r.status_code == 429 and r.headers["retry-after"] == "60"
    wall.now += timedelta(seconds=60)
    r = _sign_in(client, "admin@contoso.com", PASSWORD)
    assert r.status_code == 303, r.text  # signed in, and the failures are forgotten
    client.cookies.clear()
    r = _sign_in(client, "admin@contoso.com", "wrong")
    assert r.status_code == 401


@pytest.mark.rule("AUTH-1")
def test_thirty_wrong_passwords_then_the_right_one_does_not_sign_in(
    client: TestClient, svc: Services, wall: WallClock,
) -> None:
    tid = make_tenant(svc)
    web_access.create_admin(svc, OPERATOR, email="admin@contoso.com", password=PASSWORD,
                            role="reader", tenant_id=tid)
    codes = [_code(_sign_in(client, "admin@contoso.com", f"guess {i}")) for i in range(30)]
    assert codes == ["SIGN_IN_FAILED"] * 5 + ["SIGNIN_THROTTLED"] * 25
    assert _sign_in(client, "admin@contoso.com", PASSWORD).status_code == 429


@pytest.mark.rule("AUTH-1")
def test_failed_sign_ins_back_off_per_address_across_accounts(
    client: TestClient, svc: Services, wall: WallClock,
) -> None:
    for i in range(signin_throttle.ADDRESS_FREE):
        wall.now += timedelta(seconds=1)
        assert _sign_in(client, f"user{i}@contoso.com", "nope").status_code == 401
    r = _sign_in(client, "someone.else@contoso.com", "nope")
    assert r.status_code == 429 and "network address" in r.text
    key_form = client.get("/signin")
    pre = re.search(r'name="csrf_token" value="([^"]+)"', key_form.text)
    assert pre
    r = client.post("/signin", data={"csrf_token": pre.group(1), "api_key": "cck_x"},
                    follow_redirects=False)
    assert r.status_code == 429  # API-key sign-in from the same address waits too


@pytest.mark.rule("ERR-1")
def test_405_answers_name_the_allowed_methods(client: TestClient) -> None:
    r = client.delete(f"{API}/tenants", headers=OPERATOR_HEADERS)
    assert_envelope(r, 405, "METHOD_NOT_ALLOWED")
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    r = client.put(f"{API}/clock", headers=OPERATOR_HEADERS)
    assert r.status_code == 405 and "POST" in r.headers["allow"]


@pytest.mark.rule("AUTH-2")
def test_the_sign_in_link_token_is_not_in_the_access_log(
    client: TestClient, caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("uvicorn.access")
    assert any(isinstance(f, RedactSignInLinks) for f in logger.filters)
    token = "s3cr3t-token-value"
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        # The record uvicorn writes for each request.
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
                    f"/signin/link/{token}", "1.1", 303)
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/t/abc", "1.1", 200)
    text = caplog.text
    assert token not in text
    assert "/signin/link/[redacted]" in text and "/t/abc" in text
