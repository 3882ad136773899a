"""Signing in and out of the admin center: email and password, API key, one-time link.

The sign-in form has no session yet, so it is protected by a double-submit token: a random
`cc_pre` cookie that the form must echo. Session cookies are HttpOnly, SameSite=Lax, and
Secure when the request came over HTTPS.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from commcredits.domain.errors import DomainError, Forbidden
from commcredits.domain.tenants import Role
from commcredits.entrypoints.web import common
from commcredits.services import web_access
from commcredits.services.web_access import SESSION_TTL, WebSession

router = APIRouter(include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only same-site paths, never `//host` or a scheme."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _home(session: WebSession) -> str:
    p = session.principal
    if p.role is Role.OPERATOR:
        return "/operator"
    if p.tenant_id:
        return f"/t/{p.tenant_id}"
    return "/account"


def _signed_in(request: Request, session: WebSession, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        common.SESSION_COOKIE, session.token, max_age=int(SESSION_TTL.total_seconds()),
        httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/",
    )
    response.delete_cookie(common.PRE_COOKIE, path="/signin")
    return response


def _form(request: Request, *, error: DomainError | None = None, email: str = "",
          status_code: int = 200, next_path: str | None = None) -> HTMLResponse:
    pre = request.cookies.get(common.PRE_COOKIE) or secrets.token_urlsafe(24)
    html = common.ENV.get_template("signin.html").render(
        page=None, title="Sign in", request=request, error=error, email=email, pre=pre,
        next=_safe_next(next_path or request.query_params.get("next")),
    )
    response = HTMLResponse(html, status_code=status_code)
    response.set_cookie(common.PRE_COOKIE, pre, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/signin")
    return response


def _check_pre(request: Request, sent: str) -> None:
    cookie = request.cookies.get(common.PRE_COOKIE) or ""
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise Forbidden(
            "CSRF_INVALID", "This sign-in form has expired. Reload the page and try again.",
        )


@router.get("/signin")
def signin_page(request: Request) -> Response:
    svc = common.get_services(request)
    session = web_access.resume(svc, request.cookies.get(common.SESSION_COOKIE))
    if session is not None:
        return RedirectResponse(_home(session), status_code=303)
    return _form(request)


@router.post("/signin")
def signin(
    request: Request,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    api_key: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    _check_pre(request, csrf_token)
    svc = common.get_services(request)
    address = request.client.host if request.client else None
    try:
        if api_key.strip():
            session = web_access.sign_in_key(svc, api_key, address)
        else:
            session = web_access.sign_in_password(svc, email, password, address)
    except DomainError as exc:
        response = _form(request, error=exc, email=email, status_code=common.status_of(exc),
                         next_path=next)
        if "retry_after_seconds" in exc.details:
            response.headers["Retry-After"] = str(exc.details["retry_after_seconds"])
        return response
    target = _safe_next(next)
    return _signed_in(request, session, target if target != "/" else _home(session))


@router.get("/signin/link/{token}")
def signin_link(token: str, request: Request) -> Response:
    svc = common.get_services(request)
    session = web_access.sign_in_link(svc, token[:200])
    return _signed_in(request, session, _home(session))


@router.post("/signout")
def signout(page: common.PageDep) -> Response:
    web_access.sign_out(page.svc, page.session.token)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(common.SESSION_COOKIE, path="/")
    return response


@router.get("/")
def root(request: Request) -> Response:
    svc = common.get_services(request)
    session = web_access.resume(svc, request.cookies.get(common.SESSION_COOKIE))
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    return RedirectResponse(_home(session), status_code=303)


@router.get("/account")
def account(page: common.PageDep) -> Response:
    """Where a principal without a tenant page lands (a partner)."""
    return page.render("account.html", title="Your account")
