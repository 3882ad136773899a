"""Reports > What-if (PLAN-1) and Reports > Plan advice (PLAN-2) in the admin center, on the
same services as the API.

- What-if is a GET form (it writes nothing): a range of UTC days and either a rate-table
  version or users' licenses, one `upn = SKU, SKU` per line; the answer is the total as
  charged and as it would have been, and per user.
- Plan advice shows each user's monthly cost per option; "Apply" (a CSRF-checked form post,
  offered to those who may manage the directory) runs the bulk license change (LIC-4) and
  comes back with a notice.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.domain.planning import PlanOption, prices
from commcredits.entrypoints.web.common import FormDep, PageDep, status_of
from commcredits.entrypoints.web.pages_reports import sub_nav
from commcredits.services import planning
from commcredits.services.auth import Action

router = APIRouter(include_in_schema=False)


def _licenses(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        upn, sep, skus = line.partition("=")
        if not sep or not upn.strip():
            raise InvalidInput("INVALID_WHAT_IF", f"Line {n}: write upn = SKU, SKU.",
                               {"field": "licenses", "line": n})
        out[upn.strip()] = [s.strip() for s in skus.replace(";", ",").split(",") if s.strip()]
    return out


@router.get("/t/{tid}/reports/what-if", response_class=HTMLResponse)
def what_if_page(
    tid: str, page: PageDep,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    mode: Annotated[str, Query(max_length=16)] = "licenses",
    version: Annotated[str | None, Query(max_length=12)] = None,
    licenses: Annotated[str, Query(max_length=20_000)] = "",
) -> HTMLResponse:
    values = {"from": start or "", "to": end or "", "mode": mode, "version": version or "",
              "licenses": licenses}
    answer, error = None, None
    if start or end:
        try:
            if mode == "version":
                if not (version or "").strip().isdigit():
                    raise InvalidInput("INVALID_WHAT_IF", "Choose a rate-table version.",
                                       {"field": "version"})
                answer = planning.what_if(page.svc, page.principal, tid, start=start, end=end,
                                          rate_table_version=int(str(version)))
            else:
                answer = planning.what_if(page.svc, page.principal, tid, start=start, end=end,
                                          licenses=_licenses(licenses) or None)
        except DomainError as exc:
            error = exc
    return page.render("reports/what_if.html", title="What-if", active="reports",
                       sub_nav=sub_nav(page), sub="what-if", v=values, answer=answer,
                       error=error, status_code=status_of(error) if error else 200)


@router.get("/t/{tid}/reports/plan-advice", response_class=HTMLResponse)
def plan_advice_page(
    tid: str, page: PageDep, days: Annotated[int, Query(ge=30, le=90)] = 30,
) -> HTMLResponse:
    advice = planning.plan_advice(page.svc, page.principal, tid, days=days)
    changes = sum(1 for a in advice.users if a.proposed is not a.current)
    return page.render("reports/plan_advice.html", title="Plan advice", active="reports",
                       sub_nav=sub_nav(page), sub="plan-advice", advice=advice,
                       options=list(PlanOption), changes=changes,
                       sources=prices(advice.currency))


@router.post("/t/{tid}/reports/plan-advice/apply", response_model=None)
def apply_plan_advice(tid: str, page: PageDep, form: FormDep) -> Response:
    page.require(Action.MANAGE_DIRECTORY)
    raw = form.get("days", "30").strip()
    days = int(raw) if raw.isdigit() else raw
    advice = planning.plan_advice(page.svc, page.principal, tid, days=days)
    report = planning.apply_advice(page.svc, page.principal, tid, advice.users)
    notice = f"Applied {report.applied} license changes" + (
        f"; {report.failed} failed (see Active users)." if report.failed else ".")
    return page.redirect(page.url(f"/reports/plan-advice?days={advice.days}"), notice=notice)
