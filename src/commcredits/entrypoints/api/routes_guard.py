"""The /api/v1 routes of the spend guard (GUARD-1, GUARD-3): read and replace a tenant's
limits and blocked destinations."""

from __future__ import annotations

from typing import Annotated, Any

from commcredits.entrypoints.api.bodies import SpendGuardSettings
from commcredits.entrypoints.api.deps import PrincipalDep, ServicesDep, allowed
from commcredits.entrypoints.api.routing import api_router
from commcredits.services import guard
from commcredits.services.auth import Action, Principal

router = api_router()
Json = dict[str, Any]
GuardDep = Annotated[Principal, allowed(Action.MANAGE_SPEND_GUARD)]


def _answer(tid: str, currency: str, settings: Any) -> Json:
    return {"tenant_id": tid, "currency": currency, **guard.as_json(settings)}


@router.put("/tenants/{tid}/spend-guard", tags=["spend guard"])
def put_spend_guard(
    tid: str, body: SpendGuardSettings, svc: ServicesDep, who: GuardDep,
) -> Json:
    """Replace the guard: every limit optional; a call past one is denied
    SPEND_LIMIT_REACHED, one to a blocked destination DESTINATION_BLOCKED."""
    limits = body.limits.model_dump() if body.limits is not None else {}
    settings = guard.put_settings(svc, who, tid, limits=limits, blocked=body.blocked)
    return _answer(tid, guard.currency_of(svc, who, tid), settings)


@router.get("/tenants/{tid}/spend-guard", tags=["spend guard"])
def get_spend_guard(tid: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    settings = guard.get_settings(svc, who, tid)
    return _answer(tid, guard.currency_of(svc, who, tid), settings)
