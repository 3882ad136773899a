"""Notifications (NOTE-1..3), the audit log (AUTH-2) and the operator pages (AUTH-1, SIM-1).

- `/t/{tid}/notifications`: the tenant's emails from the outbox, newest first.
- `/t/{tid}/audit`: who changed billing settings, and when, with the details.
- `/operator`: every tenant, with links into its pages and the EA exception toggle (ACCT-4).
- `/operator/clock`: the simulated clock, set or advanced, when the service runs on one;
  otherwise a plain statement that the clock is real time.

Operator pages have no tenant in the path; any other role gets 403 FORBIDDEN.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.entrypoints.web.common import FormDep, Page, PageDep, status_of
from commcredits.services import clock as clock_service
from commcredits.services import notifications, queries, tenants
from commcredits.services.auth import Action

router = APIRouter(include_in_schema=False)

LIMITS = (50, 200, 1000)
BALANCES_UP_TO = 50  # tenants; beyond this the list leaves balances out to stay quick
ADVANCE_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


def _limit(value: int | None) -> int:
    return value if value in LIMITS else LIMITS[1]


@router.get("/t/{tid}/notifications", response_class=HTMLResponse)
def notifications_page(
    tid: str, page: PageDep, limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> HTMLResponse:
    page.require(Action.READ_AUDIT)
    chosen = _limit(limit)
    emails = notifications.list_notifications(page.svc, page.principal, tid, chosen)
    counts: dict[str, int] = {}
    for e in emails:
        counts[e.status] = counts.get(e.status, 0) + 1
    return page.render("admin/notifications.html", title="Notifications",
                       active="notifications", emails=emails, counts=counts, limit=chosen,
                       limits=LIMITS)


@router.get("/t/{tid}/audit", response_class=HTMLResponse)
def audit_page(
    tid: str, page: PageDep, limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> HTMLResponse:
    chosen = _limit(limit)
    entries = queries.audit_log(page.svc, page.principal, tid, chosen)
    return page.render("admin/audit.html", title="Audit log", active="audit",
                       entries=entries, limit=chosen, limits=LIMITS)


# --- Operator ----------------------------------------------------------------------------


def _tenants_page(page: Page, *, error: DomainError | None = None) -> HTMLResponse:
    listed = tenants.list_tenants(page.svc, page.principal)
    balances: dict[str, Any] = {}
    if len(listed) <= BALANCES_UP_TO:
        for t in listed:
            balances[t.id] = queries.credits(page.svc, page.principal, t.id).balance.amount
    return page.render(
        "admin/operator.html", title="Operator: tenants", active="operator", tenants=listed,
        balances=balances, error=error,
        status_code=status_of(error) if error else 200,
    )


@router.get("/operator", response_class=HTMLResponse)
def operator_home(page: PageDep) -> HTMLResponse:
    page.require(Action.OPERATE)
    return _tenants_page(page)


@router.post("/operator/tenants/{tenant_id}/ea-exception", response_model=None)
def ea_exception(tenant_id: str, page: PageDep, form: FormDep) -> Response:
    """Turn a tenant's EA billing-region exception on or off (ACCT-4), then back to the list.
    The path names no `tid`, so any other role is refused with 403 before a tenant is read."""
    page.require(Action.OPERATE)
    value = form.get("enabled", "")
    try:
        if value not in ("true", "false"):
            raise InvalidInput("INVALID_VALUE", "Choose to allow or to stop the exception.",
                               {"enabled": value[:10]})
        tenant = tenants.set_ea_exception(page.svc, page.principal, tenant_id,
                                          value == "true")
    except DomainError as exc:
        return _tenants_page(page, error=exc)
    state = "allowed" if tenant.ea_region_exception else "no longer allowed"
    return page.redirect("/operator",
                         notice=f"{tenant.name} is {state} to buy despite the EA billing "
                         "region (exception updated).")


def _clock_state(page: Page) -> tuple[bool, datetime]:
    store = page.svc.clock_store
    simulated, _ = store.read() if store else (False, None)
    return bool(simulated), page.svc.clock.now()


def _clock_page(page: Page, *, error: DomainError | None = None,
                form: dict[str, str] | None = None) -> HTMLResponse:
    simulated, now = _clock_state(page)
    return page.render(
        "admin/clock.html", title="Operator: clock", active="clock", simulated=simulated,
        now=now, error=error, form=form or {}, units=list(ADVANCE_UNITS),
        local_value=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"),
        status_code=status_of(error) if error else 200,
    )


@router.get("/operator/clock", response_class=HTMLResponse)
def clock_page(page: PageDep) -> HTMLResponse:
    page.require(Action.OPERATE)
    return _clock_page(page)


def _parse_set(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("INVALID_CLOCK", "Give the new time as a date and time, e.g. "
                           "2026-03-01T09:00 (UTC).", {"now": value[:40]}) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _parse_advance(amount: str, unit: str) -> int:
    if unit not in ADVANCE_UNITS:
        raise InvalidInput("INVALID_CLOCK", "Advance by minutes, hours or days.",
                           {"unit": unit[:16]})
    try:
        count = float(amount.strip())
    except ValueError:
        count = -1.0
    if not 0 < count <= 3660:
        raise InvalidInput("INVALID_CLOCK", "Advance by a number greater than 0 (at most "
                           "3660).", {"amount": amount[:20]})
    return int(count * ADVANCE_UNITS[unit])


@router.post("/operator/clock", response_model=None)
def move_clock(page: PageDep, form: FormDep) -> Response:
    """Set the simulated clock to a moment, or advance it; due work then runs (SIM-1)."""
    page.require(Action.OPERATE)
    try:
        if form.get("action") == "set":
            now, report = clock_service.move_clock(
                page.svc, page.principal, now=_parse_set(form.get("now", "")))
        else:
            seconds = _parse_advance(form.get("amount", ""), form.get("unit", ""))
            now, report = clock_service.move_clock(page.svc, page.principal,
                                                   advance_seconds=seconds)
    except DomainError as exc:
        return _clock_page(page, error=exc, form=form)
    return page.redirect("/operator/clock", notice=f"The clock is now "
                         f"{now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC; due work ran: "
                         f"{report.summary()}.")
