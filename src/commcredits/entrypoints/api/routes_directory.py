"""The /api/v1 routes for the directory: users, seats, licenses (one user and bulk CSV),
phone numbers, resource accounts, and minute pools (quote and the POOL-6 report)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from commcredits.domain.directory import PhoneNumber, ResourceAccount, User
from commcredits.domain.errors import InvalidInput
from commcredits.entrypoints.api.bodies import (
    LicenseChange,
    NumberAssign,
    NumberCreate,
    ResourceAccountCreate,
    SeatPurchase,
    UserCreate,
    UserUpdate,
    csv_body,
)
from commcredits.entrypoints.api.deps import DirectoryDep, PrincipalDep, SeatsDep, ServicesDep
from commcredits.entrypoints.api.routing import api_router
from commcredits.entrypoints.api.views import ts
from commcredits.services import directory, licenses, pools
from commcredits.services.auth import Action, authorize
from commcredits.services.licenses import BulkReport, SeatCount
from commcredits.services.ports import UserSearch

router = api_router()
Json = dict[str, Any]
MAX_BULK_BYTES = 20 * 1024 * 1024


# --- Views -------------------------------------------------------------------------------


def user_view(u: User) -> Json:
    return {
        "id": u.id, "upn": u.upn, "display_name": u.display_name,
        "usage_location": u.usage_location, "phone_number": u.phone_number,
        "blocked": u.blocked, "licenses": sorted(u.licenses),
    }


def seat_view(s: SeatCount) -> Json:
    return {"sku": s.sku, "purchased": s.purchased, "assigned": s.assigned,
            "available": s.available}


def number_view(n: PhoneNumber) -> Json:
    return {
        "number": n.number, "type": n.type.value, "assigned_to": n.assignee_upn,
        "assignee_type": n.assignee_kind.value if n.assignee_kind else None,
    }


def account_view(a: ResourceAccount) -> Json:
    return {"id": a.id, "upn": a.upn, "display_name": a.display_name, "kind": a.kind.value,
            "phone_numbers": list(a.phone_numbers)}


def bulk_view(r: BulkReport) -> Json:
    return {
        "rows": len(r.rows), "applied": r.applied, "failed": r.failed,
        "results": [
            {"line": x.line, "upn": x.upn, "sku": x.sku, "action": x.action,
             "status": "ok" if x.ok else "error", "changed": x.changed, "code": x.code,
             "message": x.message}
            for x in r.rows
        ],
    }


# --- Users -------------------------------------------------------------------------------


@router.post("/tenants/{tid}/users", status_code=201, tags=["directory"])
def create_user(tid: str, body: UserCreate, svc: ServicesDep, who: DirectoryDep) -> Json:
    return user_view(directory.create_user(
        svc, who, tid, upn=body.upn, display_name=body.display_name,
        usage_location=body.usage_location, phone_number=body.phone_number,
        blocked=body.blocked,
    ))


@router.get("/tenants/{tid}/users", tags=["directory"])
def list_users(
    tid: str, svc: ServicesDep, who: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sku: Annotated[str | None, Query(max_length=40)] = None,
    location: Annotated[str | None, Query(max_length=4)] = None,
) -> Json:
    """Users by UPN, a page at a time. ``q`` searches UPN, display name and number; ``sku``
    keeps holders of that license (``none``: users without any); ``location`` keeps that
    usage location (``none``: not set)."""
    search = None
    if q or sku or location:
        search = UserSearch(
            text=(q or "").strip(),
            sku=None if not sku else ("" if sku.lower() == "none" else sku.upper()),
            location=None if not location else (
                "" if location.lower() == "none" else location.upper()),
        )
    found = directory.list_users(svc, who, tid, limit=limit, after=after, search=search)
    body: Json = {"users": [user_view(u) for u in found]}
    if len(found) == limit:
        extra = "".join(f"&{k}={quote(v)}" for k, v in
                        (("q", q), ("sku", sku), ("location", location)) if v)
        body["next"] = (f"/api/v1/tenants/{tid}/users?limit={limit}"
                        f"&after={quote(found[-1].upn, safe='@')}{extra}")
    return body


@router.get("/tenants/{tid}/users/{user}", tags=["directory"])
def get_user(tid: str, user: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    return user_view(directory.get_user(svc, who, tid, user))


@router.patch("/tenants/{tid}/users/{user}", tags=["directory"])
def update_user(
    tid: str, user: str, body: UserUpdate, svc: ServicesDep, who: DirectoryDep,
) -> Json:
    return user_view(directory.update_user(svc, who, tid, user,
                                           body.model_dump(exclude_unset=True)))


@router.post("/tenants/{tid}/users/{user}/licenses", tags=["licenses"])
def change_licenses(
    tid: str, user: str, body: LicenseChange, svc: ServicesDep, who: DirectoryDep,
) -> Json:
    result = licenses.change_licenses(svc, who, tid, user, add=body.add, remove=body.remove)
    return {**user_view(result.user), "added": result.added, "removed": result.removed}


@router.post("/tenants/{tid}/licenses/bulk", tags=["licenses"], openapi_extra=csv_body(
    "LIC-4: a CSV file with the header upn,sku,action (add or remove), at most 20 MB."))
async def bulk_licenses(
    tid: str, request: Request, svc: ServicesDep, who: DirectoryDep,
) -> Json:
    """LIC-4: a CSV body (``upn,sku,action``) → a report of every row."""
    data = await request.body()
    if len(data) > MAX_BULK_BYTES:
        raise InvalidInput("MALFORMED_FILE", "The file is larger than 20 MB; split it.")
    report = await run_in_threadpool(licenses.bulk_licenses, svc, who, tid, data)
    return bulk_view(report)


# --- Seats -------------------------------------------------------------------------------


@router.get("/tenants/{tid}/subscriptions", tags=["licenses"])
def list_subscriptions(tid: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    return {"subscriptions": [seat_view(s) for s in licenses.subscriptions(svc, who, tid)]}


@router.post("/tenants/{tid}/subscriptions", status_code=201, tags=["licenses"])
def buy_seats(tid: str, body: SeatPurchase, svc: ServicesDep, who: SeatsDep) -> Json:
    return seat_view(licenses.buy_seats(svc, who, tid, sku=body.sku, quantity=body.quantity))


# --- Numbers and resource accounts -------------------------------------------------------


@router.get("/tenants/{tid}/numbers", tags=["numbers"])
def list_numbers(tid: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    return {"numbers": [number_view(n) for n in directory.list_numbers(svc, who, tid)]}


@router.post("/tenants/{tid}/numbers", status_code=201, tags=["numbers"])
def add_number(tid: str, body: NumberCreate, svc: ServicesDep, who: DirectoryDep) -> Json:
    return number_view(directory.add_number(
        svc, who, tid, number=body.number, type=body.type, assigned_to=body.assigned_to,
    ))


@router.patch("/tenants/{tid}/numbers/{number}", tags=["numbers"])
def assign_number(
    tid: str, number: str, body: NumberAssign, svc: ServicesDep, who: DirectoryDep,
) -> Json:
    return number_view(directory.assign_number(svc, who, tid, number, body.assigned_to))


@router.delete("/tenants/{tid}/numbers/{number}", status_code=204, tags=["numbers"])
def release_number(tid: str, number: str, svc: ServicesDep, who: PrincipalDep) -> Response:
    directory.release_number(svc, who, tid, number)
    return Response(status_code=204)


@router.get("/tenants/{tid}/resource-accounts", tags=["numbers"])
def list_resource_accounts(tid: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    return {"resource_accounts": [
        account_view(a) for a in directory.list_resource_accounts(svc, who, tid)
    ]}


@router.post("/tenants/{tid}/resource-accounts", status_code=201, tags=["numbers"])
def create_resource_account(
    tid: str, body: ResourceAccountCreate, svc: ServicesDep, who: DirectoryDep,
) -> Json:
    return account_view(directory.create_resource_account(
        svc, who, tid, upn=body.upn, display_name=body.display_name, kind=body.kind,
    ))


# --- Minute pools ------------------------------------------------------------------------


@router.get("/tenants/{tid}/reports/minute-pools", tags=["reports"])
def minute_pools_report(
    tid: str, svc: ServicesDep, who: PrincipalDep,
    month: Annotated[str | None, Query(max_length=20)] = None,
) -> Json:
    report = pools.minute_pools_report(svc, who, tid, month)
    return {
        "tenant_id": tid, "month": report.month, "as_of": ts(report.as_of),
        "pools": [
            {"country_or_region": r.country_or_region, "region": r.region,
             "capability_description": r.capability_description,
             "total_minutes": r.total_minutes, "minutes_used": r.minutes_used,
             "minutes_available": r.minutes_available, "capability": r.capability,
             "sku": r.sku, "pool": r.pool.value, "users": r.users}
            for r in report.rows
        ],
    }


@router.get("/tenants/{tid}/minute-pools/quote", tags=["reports"])
def pool_quote(
    tid: str, svc: ServicesDep, who: PrincipalDep,
    user: Annotated[str, Query(max_length=200)],
    destination: Annotated[str, Query(max_length=10)],
    dial_out: bool = False,
) -> Json:
    """Which pool would cover an outgoing call of ``user`` to ``destination`` now, and how
    many minutes it has left."""
    with svc.uow(readonly=True) as uow:
        authorize(uow, who, tid, Action.READ_DIRECTORY)
        q = pools.minutes_left(uow, tid, user, destination, svc.clock.now(), dial_out=dial_out)
    return {
        "covered": q.covered, "pool_key": q.pool_key, "capability": q.capability,
        "minutes_left": q.minutes_left, "total_minutes": q.capacity, "minutes_used": q.used,
        "month": q.month, "domestic": q.domestic, "reason": q.reason.value,
        "calling_plan": q.calling_plan, "user_id": q.user_id,
    }
