"""Request dependencies as `Annotated` aliases, so routes stay thin.

Routes that take a body declare who may call them with `Allowed(...)`: FastAPI runs
dependencies before it raises the body's validation errors, so a request is answered in
the order 401 (no valid key), then 404 or 403 (no access to the tenant or the action), then
422 (the body). The service checks access again in its own transaction; the dependency only
makes sure a refused caller never learns what is wrong with its body.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request

from commcredits.services.auth import (
    Action,
    Principal,
    authenticate,
    authorize,
    require_operator,
)
from commcredits.services.context import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def bearer_key(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or None."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def get_principal(
    svc: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    with svc.uow(readonly=True) as uow:
        return authenticate(uow, bearer_key(authorization), svc.operator_key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def allowed(action: Action | None = None) -> Any:
    """``Depends`` on a principal that is authenticated and may do ``action`` on the path's
    tenant (``{tid}``); with no action, or `Action.OPERATE`, only the operator may (as the
    services check it: `require_operator` first)."""

    def principal_allowed(
        request: Request, svc: ServicesDep,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Principal:
        tenant_id = request.path_params.get("tid")
        with svc.uow(readonly=True) as uow:
            who = authenticate(uow, bearer_key(authorization), svc.operator_key)
            if action is None or action is Action.OPERATE:
                require_operator(who)
            if action is not None and tenant_id is not None:
                authorize(uow, who, str(tenant_id), action)
        return who

    return Depends(principal_allowed)


OperatorDep = Annotated[Principal, allowed()]
OperateDep = Annotated[Principal, allowed(Action.OPERATE)]
KeysDep = Annotated[Principal, allowed(Action.MANAGE_KEYS)]
PaymentMethodsDep = Annotated[Principal, allowed(Action.MANAGE_PAYMENT_METHODS)]
FundDep = Annotated[Principal, allowed(Action.FUND)]
AutoRechargeDep = Annotated[Principal, allowed(Action.MANAGE_AUTO_RECHARGE)]
DirectoryDep = Annotated[Principal, allowed(Action.MANAGE_DIRECTORY)]
SeatsDep = Annotated[Principal, allowed(Action.BUY_SEATS)]
OverageDep = Annotated[Principal, allowed(Action.MANAGE_OVERAGE)]
CallControlDep = Annotated[Principal, allowed(Action.CALL_CONTROL)]
