"""Reports in the admin center: the PSTN usage report (REP-1, REP-2, REP-4), minute pools
(POOL-6) and spend (REP-5), on the same services as the API.

- `/t/{tid}/reports/usage`: the last 7 or 28 UTC days (today included) or a custom range of
  UTC days (both ends included), read by `domain.reports.report_range` as the API and the
  CLI read it, and shown as those days in the form and the summary; filters, a paged table
  (HTMX appends the next page; without JavaScript the link opens it as a page), and Export
  to ZIP and to Excel: GET downloads written by the same exporter as the API
  (`adapters.exports.usage`) into a spooled file and streamed back.
- `/t/{tid}/reports/pools`: every minute pool of a month with a progress bar.
- `/t/{tid}/reports/spend`: spend grouped by day, user, country or capability, with totals
  and CSS bars.

A refused request (bad range, filter, cursor) re-renders the page with the refusal inline and
a 4xx status; nothing is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from commcredits.domain.calls import CallType
from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.entrypoints.api.routes_reports import export_file
from commcredits.entrypoints.web.common import Page, PageDep, status_of
from commcredits.services import insight, pools, reports
from commcredits.services.auth import Action

router = APIRouter(include_in_schema=False)

PAGE_ROWS = 50
RANGES = {"7d": "Last 7 days", "28d": "Last 28 days", "custom": "Custom range"}
EXPORTS = ("zip", "xlsx")
# The REP-1 columns the on-screen table shows, in REP-1 order (the exports carry all 25).
SHOWN = tuple(c for c in reports.PstnUsage.columns if c in {
    "UPN", "Caller ID", "Call Type", "Destination Dialed",
    "Destination Number", "Start Time", "Duration Seconds", "Charge", "Capability",
})
WRAP = {"Destination Dialed"}
NUMERIC = {"Duration Seconds", "Connection Fee", "Charge"}
CALL_TYPES = tuple(t.value for t in (  # the report filter's choices, in this order
    CallType.USER_IN, CallType.USER_OUT, CallType.USER_OUT_CONF, CallType.USER_OUT_TRANSFER,
    CallType.USER_OUT_FORWARDING, CallType.CONF_IN, CallType.CONF_OUT, CallType.UNASSIGNED_IN,
    CallType.EMERGENCY_IN, CallType.EMERGENCY_OUT, CallType.FMC_IN, CallType.FMC_OUT,
    CallType.UCAP_IN, CallType.UCAP_OUT, CallType.UCAP_OUT_CONF,
))
CAPABILITIES = (
    "MCOPSTN1", "MCOPSTN2", "MCOPSTN5", "MCOPSTN6", "MCOPSTN8", "MCOPSTNPP", "MCOMEETADD",
    "MCOMEETACPEA", "MCOEV", "FREECALL",
)
GROUP_LABELS = {"day": "Day", "user": "User", "country": "Destination country",
                "capability": "Capability"}

Text = Annotated[str | None, Query(max_length=128)]
Short = Annotated[str | None, Query(max_length=40)]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


@dataclass
class UsageForm:
    """The report's query as the form sent it (also the query string of every link)."""

    range: str
    start: str
    end: str
    user: str
    call_type: str
    capability: str

    def query(self, **extra: str) -> str:
        params = {"range": self.range}
        if self.range == "custom":
            params |= {"from": self.start, "to": self.end}
        params |= {k: v for k, v in (("user", self.user), ("call_type", self.call_type),
                                      ("capability", self.capability)) if v}
        return urlencode({**params, **extra})

    def report(self, page: Page) -> reports.PstnUsage:
        """The checked report, with the range as the API and the CLI read it (whole UTC
        days, both included); for 7 or 28 days the form's dates then show those days."""
        if self.range not in RANGES:
            raise InvalidInput("INVALID_PERIOD", "Choose the last 7 days, the last 28 days or "
                               "a custom range.", {"range": self.range[:16]})
        filters = {"user": self.user or None, "call_type": self.call_type or None,
                   "capability": self.capability or None}
        custom = self.range == "custom"
        report = reports.pstn_usage(
            page.svc, page.principal, str(page.tenant_id),
            period=None if custom else self.range, start=self.start if custom else None,
            end=self.end if custom else None, **filters)
        if not custom:
            self.start, self.end = report.first_day.isoformat(), report.last_day.isoformat()
        return report


def _usage_form(page: Page, range_: str | None, start: str | None, end: str | None,
                user: str | None, call_type: str | None, capability: str | None) -> UsageForm:
    today = page.svc.clock.now().date()
    return UsageForm(
        range=(range_ or "7d").strip(),
        start=(start or (today - timedelta(days=27)).isoformat()).strip(),
        end=(end or today.isoformat()).strip(),
        user=(user or "").strip(), call_type=(call_type or "").strip(),
        capability=(capability or "").strip(),
    )


def sub_nav(page: Page) -> list[tuple[str, str, str]]:
    """The Reports tabs the page's role may open (pages_planning adds its two)."""
    return _sub_nav(page)


def _sub_nav(page: Page) -> list[tuple[str, str, str]]:
    items = [("usage", "PSTN usage", Action.READ_CREDITS),
             ("pools", "Minute pools", Action.READ_DIRECTORY),
             ("spend", "Spend", Action.READ_CREDITS),
             ("what-if", "What-if", Action.READ_CREDITS),  # pages_planning (PLAN-1)
             ("plan-advice", "Plan advice", Action.READ_CREDITS)]  # (PLAN-2)
    return [(key, label, page.url(f"/reports/{key}")) for key, label, action in items
            if page.can(action)]


@router.get("/t/{tid}/reports", response_class=HTMLResponse)
def reports_home(tid: str, page: PageDep) -> Response:
    first = _sub_nav(page)
    return page.redirect(first[0][2] if first else page.url())


@router.get("/t/{tid}/reports/usage", response_model=None)
def usage(
    tid: str, page: PageDep,
    range_: Annotated[str | None, Query(alias="range", max_length=16)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    user: Text = None, call_type: Short = None, capability: Short = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    at: Annotated[int, Query(ge=1, le=100_000_000)] = 1,
    first: Annotated[int | None, Query(ge=1, le=100_000_000)] = None,
    total: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
) -> Response:
    """The PSTN usage report, one page of rows; an HTMX "next page" gets only the rows.

    The range is counted with the first page, and the count travels in the next page's
    link (``total``), so walking the pages is not quadratic in the range (decision 106)."""
    if not page.can(Action.READ_CREDITS) and page.can(Action.READ_DIRECTORY):
        return page.redirect(page.url("/reports/pools"))  # what this role may read
    form = _usage_form(page, range_, start, end, user, call_type, capability)
    error: DomainError | None = None
    rows: list[dict[str, Any]] = []
    shown_total = 0
    following: str | None = None
    report: reports.PstnUsage | None = None
    try:
        report = form.report(page)
        found, following = report.page(PAGE_ROWS, cursor or None)
        shown_total = total if cursor and total is not None else report.count()
        rows = [dict(zip(report.columns, r, strict=True)) for r in found]
    except DomainError as exc:
        if page.is_htmx and cursor:
            raise
        error = exc
    more = page.is_htmx and bool(cursor) and page.request.headers.get("HX-Target") == "usage-rows"
    first_shown = (first or at) if more else at  # HTMX appends: the screen starts at `first`
    ctx: dict[str, Any] = {
        "form": form, "rows": rows, "total": shown_total, "at": at, "error": error,
        "first_shown": first_shown,
        "report": report, "shown": SHOWN, "numeric": NUMERIC, "wrap": WRAP, "cell": _cell,
        "next_url": (page.url("/reports/usage") + "?" + form.query(
            cursor=following, at=str(at + len(rows)), first=str(first_shown),
            total=str(shown_total)))
            if following else None,
        "first_url": page.url("/reports/usage") + "?" + form.query() if cursor else None,
        "export_url": page.url("/reports/usage/export") + "?" + form.query(),
        "range_from": _iso(report.start) if report else "",
        "range_to": _iso(report.end) if report else "",
        "range_text": report.window.describe() if report else "",
    }
    if more:
        return page.partial("reports/_usage_more.html", **ctx)
    return page.render(
        "reports/usage.html", title="PSTN usage report", active="reports",
        status_code=status_of(error) if error else 200, sub_nav=_sub_nav(page), sub="usage",
        ranges=RANGES, call_types=CALL_TYPES, capabilities=CAPABILITIES, **ctx,
    )


@router.get("/t/{tid}/reports/usage/export", response_model=None)
def usage_export(
    tid: str, page: PageDep,
    format: Annotated[str, Query(max_length=8)] = "xlsx",
    range_: Annotated[str | None, Query(alias="range", max_length=16)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    user: Text = None, call_type: Short = None, capability: Short = None,
) -> Response:
    """The whole range as a download (REP-2): the ZIP (CSV and parameters.json) or XLSX.
    Refusals are raised before the file is started, as an HTML error page."""
    if format not in EXPORTS:
        raise InvalidInput("INVALID_FORMAT", "Export to zip or xlsx.",
                           {"format": format, "allowed": list(EXPORTS)})
    form = _usage_form(page, range_, start, end, user, call_type, capability)
    report = form.report(page)
    return export_file(report, format)


@router.get("/t/{tid}/reports/pools", response_class=HTMLResponse)
def pools_page(
    tid: str, page: PageDep, month: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """Every minute pool of a month: included, used and available minutes, as bars."""
    error: DomainError | None = None
    report = None
    try:
        report = pools.minute_pools_report(page.svc, page.principal, tid, month or None)
    except DomainError as exc:
        error = exc
    current = page.svc.clock.now().strftime("%Y-%m")
    return page.render(
        "reports/pools.html", title="Minute pools", active="reports",
        status_code=status_of(error) if error else 200, sub_nav=_sub_nav(page), sub="pools",
        report=report, error=error, month=month or (report.month if report else current),
        current_month=current,
    )


@router.get("/t/{tid}/reports/spend", response_class=HTMLResponse)
def spend_page(
    tid: str, page: PageDep,
    group_by: Annotated[str, Query(max_length=20)] = "day",
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
) -> HTMLResponse:
    """Spend grouped by day, user, destination country or capability, with the total."""
    error: DomainError | None = None
    report = None
    try:
        report = insight.spend(page.svc, page.principal, tid, group_by, start or None,
                               end or None)
    except DomainError as exc:
        error = exc
    rows = list(report.rows) if report else []
    peak = max((r.amount for r in rows), default=Decimal(0))
    bars = {r.key: float(r.amount / peak * 100) if peak > 0 else 0.0 for r in rows}
    tabs = [(key, label, page.url("/reports/spend") + "?" + urlencode(
        {"group_by": key, **({"from": start} if start else {}), **({"to": end} if end else {})}))
        for key, label in GROUP_LABELS.items()]
    return page.render(
        "reports/spend.html", title="Spend", active="reports",
        status_code=status_of(error) if error else 200, sub_nav=_sub_nav(page), sub="spend",
        report=report, error=error, rows=rows, bars=bars, tabs=tabs,
        group_by=group_by if group_by in GROUP_LABELS else "day",
        group_label=GROUP_LABELS.get(group_by, "Group"),
        start=report.first_day.isoformat() if report else start or "",
        end=report.last_day.isoformat() if report else end or "",
        calls=sum(r.calls for r in rows), seconds=sum(r.seconds for r in rows),
    )
