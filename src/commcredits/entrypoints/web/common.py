"""What every admin-center page shares: the signed-in session, CSRF checks, templates, nav.

- `PageDep` gives a route the `Page`: the session's principal, the tenant in the path, the
  CSRF token, `can(action)` for what the role may do, and `render(...)`.
- Every unsafe request (POST, PUT, PATCH, DELETE) under the web routers must carry the
  session's CSRF token, as the form field `csrf_token` or the header `X-CSRF-Token` (HTMX
  sends it from `<body hx-headers>`); otherwise it is refused with 403 `CSRF_INVALID`
  before the route runs.
- Refusals raised by the services (`DomainError`) on a page are rendered as an HTML error
  page with the same stable code and message as the API (see `install_errors`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from commcredits.domain.errors import DomainError, Forbidden
from commcredits.domain.payments import FAILURE_MESSAGES, PaymentFailure
from commcredits.domain.tenants import Role, Tenant
from commcredits.entrypoints.api.errors import STATUS
from commcredits.entrypoints.humane import human_time, payment_line
from commcredits.services import queries, web_access
from commcredits.services.auth import ROLE_ACTIONS, Action
from commcredits.services.context import Services
from commcredits.services.web_access import WebSession

SESSION_COOKIE = "cc_session"
PRE_COOKIE = "cc_pre"  # sign-in form CSRF (double submit), before a session exists
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WEB_PREFIXES = ("/t/", "/signin", "/signout", "/operator", "/account")


def is_web_path(path: str) -> bool:
    return path == "/" or path.startswith(WEB_PREFIXES)


def _money(value: Any, places: int = 2) -> str:
    if value is None:
        return "—"
    amount = Decimal(str(value))
    return f"{amount:,.{places}f}"


def _when(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _day(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return "—" if value is None else str(value)


def _failure(code: Any) -> Markup:
    """A payment failure for people: "The card was declined", the code small beside it."""
    if not code:
        return Markup("—")
    try:
        text = FAILURE_MESSAGES[PaymentFailure(str(code))].split(". ")[0].rstrip(".")
    except ValueError:
        text = str(code).replace("_", " ").capitalize()
    return Markup('{} <small class="muted code"><code>{}</code></small>').format(
        escape(text), escape(str(code)))


def make_env() -> Environment:
    env = Environment(
        loader=PackageLoader("commcredits", "templates/web"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["money"] = _money
    env.filters["when"] = _when
    env.filters["day"] = _day
    env.filters["failure"] = _failure
    env.filters["human_time"] = human_time
    env.filters["payment_line"] = payment_line
    env.globals["Action"] = Action
    return env


ENV = make_env()


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    label: str
    path: str  # relative to /t/{tid}
    action: Action


NAV: tuple[NavItem, ...] = (
    NavItem("home", "Home", "", Action.READ_TENANT),
    NavItem("credits", "Communications Credits", "/credits", Action.READ_CREDITS),
    NavItem("marketplace", "Marketplace", "/marketplace", Action.READ_DIRECTORY),
    NavItem("users", "Active users", "/users", Action.READ_DIRECTORY),
    NavItem("numbers", "Phone numbers", "/numbers", Action.READ_DIRECTORY),
    NavItem("reports", "Reports", "/reports/usage", Action.READ_DIRECTORY),
    NavItem("notifications", "Notifications", "/notifications", Action.READ_AUDIT),
    NavItem("audit", "Audit log", "/audit", Action.READ_AUDIT),
    NavItem("admins", "Admins", "/admins", Action.MANAGE_ADMINS),
)


class SignInRequired(Exception):
    """No valid session: send the browser to the sign-in page."""


@dataclass
class Page:
    request: Request
    svc: Services
    session: WebSession
    tenant_id: str | None = None
    _tenant: Tenant | None = field(default=None, repr=False)

    @property
    def principal(self) -> Any:
        return self.session.principal

    @property
    def role(self) -> Role:
        role: Role = self.session.principal.role
        return role

    @property
    def csrf(self) -> str:
        return self.session.csrf_token

    def can(self, action: Action) -> bool:
        return action in ROLE_ACTIONS[self.role]

    def require(self, action: Action) -> None:
        """Refuse a forced request for something the role may not do (AUTH-1)."""
        if not self.can(action) and action is Action.OPERATE:
            raise Forbidden(
                "FORBIDDEN",
                "Only the service operator can open this page: it lists every tenant and "
                "sets the clock. Your own tenant's pages are in the menu.",
                {"role": self.role.value, "action": action.name.lower()},
            )
        if not self.can(action):
            raise Forbidden(
                "FORBIDDEN",
                f"The {self.role.value} role may not {action.value}. Ask a global admin.",
                {"role": self.role.value, "action": action.name.lower()},
            )

    def tenant(self) -> Tenant | None:
        if self._tenant is None and self.tenant_id is not None:
            self._tenant = queries.visible_tenant(self.svc, self.principal, self.tenant_id)
        return self._tenant

    def url(self, path: str = "") -> str:
        return f"/t/{self.tenant_id}{path}"

    def nav(self) -> list[tuple[NavItem, str]]:
        if self.tenant_id is None:
            return []
        return [(item, self.url(item.path)) for item in NAV if self.can(item.action)]

    @property
    def is_htmx(self) -> bool:
        return self.request.headers.get("HX-Request") == "true"

    def render(
        self, template: str, *, title: str, active: str = "", status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        html = ENV.get_template(template).render(
            page=self, title=title, active=active, request=self.request, **context,
        )
        return HTMLResponse(html, status_code=status_code)

    def partial(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = ENV.get_template(template).render(page=self, request=self.request, **context)
        return HTMLResponse(html, status_code=status_code)

    def redirect(self, path: str, *, notice: str | None = None) -> Response:
        """After a successful form post: 303 to `path` (or HX-Redirect for HTMX)."""
        if notice:
            path += ("&" if "?" in path else "?") + "notice=" + quote(notice)
        if self.is_htmx:
            return Response(status_code=204, headers={"HX-Redirect": path})
        return RedirectResponse(path, status_code=303)

    @property
    def notice(self) -> str | None:
        value = self.request.query_params.get("notice")
        return value[:300] if value else None


def get_services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def current_page(request: Request) -> Page:
    svc = get_services(request)
    # Database work goes to the thread pool, as in sync routes, so the event loop never waits.
    session = await run_in_threadpool(web_access.resume, svc, request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired()
    if request.method in UNSAFE:
        sent = request.headers.get("X-CSRF-Token")
        if not sent:
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
        if not web_access.check_csrf(session, sent):
            raise Forbidden(
                "CSRF_INVALID", "This form has expired or did not come from this site. "
                "Reload the page and try again.",
            )
    tid = request.path_params.get("tid")
    page = Page(request, svc, session, tenant_id=str(tid) if tid is not None else None)
    if page.tenant_id is not None:
        await run_in_threadpool(page.tenant)  # 404 for another tenant's pages (AUTH-2)
    return page


PageDep = Annotated[Page, Depends(current_page)]


async def form_data(request: Request) -> dict[str, str]:
    """The posted form as plain strings (files are left out)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def form_fields(request: Request) -> dict[str, Any]:
    """The posted form: strings, lists for repeated fields (checkboxes), files as is."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


# The form, parsed on the event loop before a (sync) route runs in the thread pool, so the
# route's database and payment work never blocks the loop.
FormDep = Annotated[dict[str, str], Depends(form_data)]
FieldsDep = Annotated[dict[str, Any], Depends(form_fields)]


def status_of(error: DomainError) -> int:
    """The HTTP status of a refusal shown on a page: the API's for the same kind (ERR-1)."""
    return STATUS[error.kind]


def error_page(request: Request, status: int, code: str, message: str,
               details: dict[str, Any] | None = None) -> HTMLResponse:
    svc = get_services(request)
    session = web_access.resume(svc, request.cookies.get(SESSION_COOKIE))
    page = None
    if session is not None:
        tid = request.path_params.get("tid") if hasattr(request, "path_params") else None
        # The signed-in admin's own tenant menu, whatever the path asked for (a page of
        # another tenant, an operator page, an unknown address), so there is a way on.
        page = Page(request, svc, session, tenant_id=None)
        if session.principal.tenant_id:
            page.tenant_id = str(session.principal.tenant_id)
        del tid
    html = ENV.get_template("error.html").render(
        page=page, title=f"Error {status}", request=request, status=status, code=code,
        message=message, details=details or {},
    )
    return HTMLResponse(html, status_code=status)


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    location = "/signin?next=" + quote(target)
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)
