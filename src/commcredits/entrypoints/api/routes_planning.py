"""The /api/v1 routes of planning: the what-if re-rating (PLAN-1) and the plan advisor with
its one-step apply (PLAN-2, LIC-4)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from starlette.concurrency import run_in_threadpool

from commcredits.domain.money import Money
from commcredits.entrypoints.api.bodies import PlanAdviceApply, WhatIfRequest
from commcredits.entrypoints.api.deps import DirectoryDep, PrincipalDep, ServicesDep
from commcredits.entrypoints.api.routes_directory import bulk_view
from commcredits.entrypoints.api.routing import api_router
from commcredits.entrypoints.api.views import ts
from commcredits.services import planning

router = api_router()
Json = dict[str, Any]


def what_if_view(w: planning.WhatIf) -> Json:
    def m(amount: Any) -> str:
        return Money(amount, w.currency).format()

    return {
        "currency": w.currency, "from": ts(w.start), "to": ts(w.end), "calls": w.calls,
        "actual": m(w.actual), "what_if": m(w.what_if), "difference": m(w.difference),
        "per_user": [{"upn": u.upn or None, "actual": m(u.actual), "what_if": m(u.what_if),
                      "difference": m(u.what_if - u.actual)} for u in w.per_user],
    }


def advice_view(a: planning.PlanAdvice) -> Json:
    def m(amount: Any) -> str:
        return Money(amount, a.currency).format()

    return {
        "currency": a.currency, "days": a.days, "from": ts(a.start), "to": ts(a.end),
        "license_prices": {o.value: m(p) for o, p in a.prices.items()},
        "users": [{
            "upn": u.upn, "current": u.current.value, "proposed": u.proposed.value,
            "monthly_cost": {o.value: m(c) for o, c in u.monthly_cost.items()},
            "monthly_saving": m(u.monthly_saving),
        } for u in a.users],
    }


@router.post("/tenants/{tid}/insight/what-if", tags=["planning"])
async def what_if(tid: str, body: WhatIfRequest, svc: ServicesDep, who: PrincipalDep) -> Json:
    """PLAN-1: the calls of up to 90 days re-rated under another rate-table version or
    other licenses; writes nothing."""
    answer = await run_in_threadpool(
        lambda: planning.what_if(svc, who, tid, start=body.start, end=body.end,
                                 rate_table_version=body.rate_table_version,
                                 licenses=body.licenses))
    return what_if_view(answer)


@router.get("/tenants/{tid}/insight/plan-advice", tags=["planning"])
async def plan_advice(
    tid: str, svc: ServicesDep, who: PrincipalDep,
    days: Annotated[int, Query(ge=30, le=90)] = 30,
) -> Json:
    """PLAN-2: per user with outbound calls, the cheapest calling plan and the saving."""
    return advice_view(await run_in_threadpool(
        lambda: planning.plan_advice(svc, who, tid, days=days)))


@router.post("/tenants/{tid}/insight/plan-advice/apply", tags=["planning"])
async def apply_plan_advice(tid: str, body: PlanAdviceApply, svc: ServicesDep,
                            who: DirectoryDep) -> Json:
    """Apply the advice as one bulk license change (LIC-4)."""
    def run() -> Json:
        advice = planning.plan_advice(svc, who, tid, days=body.days)
        return {"advice": advice_view(advice),
                "licenses": bulk_view(planning.apply_advice(svc, who, tid, advice.users))}

    return await run_in_threadpool(run)
