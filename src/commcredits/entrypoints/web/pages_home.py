"""Home: the tenant at a glance (balance, available, debt, auto-recharge, runway, the funding
recommendation, recent alerts, and a chart of balance and daily spend)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from commcredits.entrypoints.web import charts
from commcredits.entrypoints.web.common import PageDep
from commcredits.services import insight, notifications, queries
from commcredits.services.auth import Action

router = APIRouter(include_in_schema=False)


@router.get("/t/{tid}", response_class=HTMLResponse)
def home(tid: str, page: PageDep) -> HTMLResponse:
    credits = recommendation = chart = None
    alerts: list[object] = []
    if page.can(Action.READ_CREDITS):
        credits = queries.credits(page.svc, page.principal, tid)
        recommendation = insight.recommendation(page.svc, page.principal, tid)
        history = insight.balance_history(page.svc, page.principal, tid)
        chart = charts.for_page(history.points, history.currency)
        alerts = list(notifications.list_notifications(page.svc, page.principal, tid, 5))
    return page.render(
        "home.html", title="Home", active="home", credits=credits,
        recommendation=recommendation, chart=chart, alerts=alerts,
    )
