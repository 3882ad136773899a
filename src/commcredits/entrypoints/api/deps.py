"""Request dependencies as `Annotated` aliases, so routes stay thin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from commcredits.services.auth import Principal, authenticate
from commcredits.services.context import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(
    svc: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    key = None
    if authorization and authorization[:7].lower() == "bearer ":
        key = authorization[7:].strip()
    with svc.uow(readonly=True) as uow:
        return authenticate(uow, key, svc.operator_key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
