"""The /api/v1 insight routes (REP-5): balance history, spend reports, the funding
recommendation and the balance chart (SVG)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response

from commcredits.entrypoints.api.deps import PrincipalDep, ServicesDep
from commcredits.entrypoints.api.routing import api_router
from commcredits.entrypoints.api.views import ts
from commcredits.services import insight

router = api_router(tags=["insight"])
Json = dict[str, Any]


@router.get("/tenants/{tid}/reports/balance-history")
def balance_history(tid: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    h = insight.balance_history(svc, who, tid)
    return {"tenant_id": tid, "currency": h.currency, "days": [
        {"day": p.day.isoformat(), "balance": f"{p.balance:.2f}", "spend": f"{p.spend:.2f}"}
        for p in h.points
    ]}


@router.get("/tenants/{tid}/reports/spend")
def spend(
    tid: str, svc: ServicesDep, who: PrincipalDep,
    group_by: Annotated[str, Query(max_length=20)] = "day",
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
) -> Json:
    r = insight.spend(svc, who, tid, group_by, start, end)
    return {
        "tenant_id": tid, "currency": r.currency, "group_by": r.group_by,
        "from": ts(r.start), "to": ts(r.end), "first_day": r.first_day.isoformat(),
        "last_day": r.last_day.isoformat(), "total": f"{r.total:.2f}",
        "rows": [{"key": x.key, "calls": x.calls, "seconds": x.seconds,
                  "amount": f"{x.amount:.2f}"} for x in r.rows],
    }


@router.get("/tenants/{tid}/credits/recommendation")
def recommendation(tid: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    r = insight.recommendation(svc, who, tid)
    return {"tenant_id": tid, "trigger": f"{r.trigger:.2f}", "amount": f"{r.amount:.2f}",
            "runway_days": r.runway_days, "currency": r.currency,
            "daily_rate": f"{r.daily_rate:.2f}", "explanation": r.explanation}


@router.get("/tenants/{tid}/reports/charts/balance.svg", response_class=Response)
def balance_chart(tid: str, svc: ServicesDep, who: PrincipalDep) -> Response:
    svg = insight.balance_svg(insight.balance_history(svc, who, tid))
    return Response(svg, media_type="image/svg+xml")
