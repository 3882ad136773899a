"""Graph-compatible licensing under `/graph/v1.0`: the calls admins' bulk-licensing scripts
make to Microsoft Graph (`subscribedSkus`, `users`, `users/{id}/assignLicense`,
`users/{id}/licenseDetails`), answered in Graph v1.0's JSON so the real msgraph-sdk reads them.

These routes only translate: every read and write is the REST API's own service function in
`services/directory.py`, so LIC-3's rules and LIC-5's timing hold through one code path.
Keys and roles are the API's (AUTH-1); refusals use Graph's error shape with our code inside
(`graph_odata.graph_refusal`). See docs/graph.md.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from commcredits.domain.directory import User
from commcredits.domain.errors import DomainError, InvalidInput, NotFound
from commcredits.domain.licensing import Sku, parse_sku, sku_table
from commcredits.entrypoints.api.deps import ServicesDep
from commcredits.entrypoints.api.graph_odata import (
    GRAPH_PREFIX,
    USER_PROPERTIES,
    caller,
    encode_skiptoken,
    graph_refusal,
    user_query,
)
from commcredits.services import directory, licenses
from commcredits.services.licenses import SeatCount

router = APIRouter(prefix=GRAPH_PREFIX, tags=["graph"])
Json = dict[str, Any]
AuthHeader = Annotated[str | None, Header(alias="Authorization")]
TenantParam = Annotated[str | None, Query()]


def _context(request: Request, fragment: str) -> str:
    return f"{str(request.base_url).rstrip('/')}{GRAPH_PREFIX}/$metadata#{fragment}"


# --- Views: Graph v1.0 resources ---------------------------------------------------------


def _plans(sku: Sku) -> list[Json]:
    return [{"servicePlanId": str(p.id), "servicePlanName": p.name,
             "provisioningStatus": "Success", "appliesTo": "User"} for p in sku.service_plans]


def subscribed_sku_view(tenant_id: str, seat: SeatCount) -> Json:
    """A microsoft.graph.subscribedSku: the seats bought (prepaidUnits.enabled) and assigned
    (consumedUnits) of one SKU."""
    sku = parse_sku(seat.sku)
    return {
        "id": f"{tenant_id}_{sku.sku_id}", "accountId": tenant_id, "appliesTo": "User",
        "capabilityStatus": "Enabled" if seat.purchased > 0 else "Suspended",
        "consumedUnits": seat.assigned, "skuId": str(sku.sku_id),
        "skuPartNumber": sku.part_number, "subscriptionIds": [],
        "prepaidUnits": {"enabled": seat.purchased, "suspended": 0, "warning": 0,
                         "lockedOut": 0},
        "servicePlans": _plans(sku),
    }


def user_view(user: User, select: tuple[str, ...] | None = None) -> Json:
    """A microsoft.graph.user with the properties licensing scripts read."""
    table = sku_table()
    full: Json = {
        "id": user.id, "userPrincipalName": user.upn, "displayName": user.display_name,
        "usageLocation": user.usage_location, "accountEnabled": not user.blocked,
        "businessPhones": [user.phone_number] if user.phone_number else [],
        "assignedLicenses": [{"skuId": str(table[s].sku_id), "disabledPlans": []}
                             for s in sorted(user.licenses) if s in table],
    }
    return {k: full[k] for k in (select or USER_PROPERTIES)}


def license_details_view(user: User) -> list[Json]:
    table = sku_table()
    return [{"id": f"{user.id}_{table[s].sku_id}", "skuId": str(table[s].sku_id),
             "skuPartNumber": s, "servicePlans": _plans(table[s])}
            for s in sorted(user.licenses) if s in table]


# --- Routes ------------------------------------------------------------------------------


@router.get("/subscribedSkus", summary="List subscribedSkus", response_model=None)
def subscribed_skus(request: Request, svc: ServicesDep, authorization: AuthHeader = None,
                    tenant: TenantParam = None) -> JSONResponse:
    try:
        who = caller(svc, authorization, tenant)
        seats = licenses.subscriptions(svc, who.principal, who.tenant_id)
    except DomainError as exc:
        return graph_refusal(exc)
    return JSONResponse({"@odata.context": _context(request, "subscribedSkus"),
                         "value": [subscribed_sku_view(who.tenant_id, s) for s in seats
                                   if s.sku in sku_table()]})


@router.get("/users", summary="List users", response_model=None)
def list_users(
    request: Request, svc: ServicesDep, authorization: AuthHeader = None,
    tenant: TenantParam = None,
    filter: Annotated[str | None, Query(alias="$filter")] = None,
    select: Annotated[str | None, Query(alias="$select")] = None,
    top: Annotated[str | None, Query(alias="$top")] = None,
    skiptoken: Annotated[str | None, Query(alias="$skiptoken")] = None,
    orderby: Annotated[str | None, Query(alias="$orderby")] = None,
    search: Annotated[str | None, Query(alias="$search")] = None,
    expand: Annotated[str | None, Query(alias="$expand")] = None,
    count: Annotated[str | None, Query(alias="$count")] = None,
) -> JSONResponse:
    """Users by UPN, `$top` at a time (100 by default, at most 999), with an absolute
    `@odata.nextLink` while more remain."""
    try:
        who = caller(svc, authorization, tenant)
        query = user_query(filter, select, top, skiptoken, {
            "$orderby": orderby, "$search": search, "$expand": expand, "$count": count})
        found = directory.list_users(svc, who.principal, who.tenant_id, limit=query.top + 1,
                                     after=query.after, search=query.search)
    except DomainError as exc:
        return graph_refusal(exc)
    page = found[:query.top]
    fragment = f"users({','.join(query.select)})" if query.select else "users"
    body: Json = {"@odata.context": _context(request, fragment)}
    if len(found) > query.top:
        params = {"$skiptoken": encode_skiptoken(page[-1].upn), "$top": str(query.top)}
        for name, value in (("$filter", filter), ("$select", select), ("tenant", tenant)):
            if value is not None:
                params[name] = value
        body["@odata.nextLink"] = (f"{str(request.base_url).rstrip('/')}{GRAPH_PREFIX}/users?"
                                   f"{urlencode(params, safe='$')}")
    body["value"] = [user_view(u, query.select) for u in page]
    return JSONResponse(body)


@router.get("/users/{user}", summary="Get a user (by id or userPrincipalName)",
            response_model=None)
def get_user(user: str, request: Request, svc: ServicesDep, authorization: AuthHeader = None,
             tenant: TenantParam = None) -> JSONResponse:
    try:
        who = caller(svc, authorization, tenant)
        found = directory.get_user(svc, who.principal, who.tenant_id, user)
    except DomainError as exc:
        return graph_refusal(exc)
    return JSONResponse({"@odata.context": _context(request, "users/$entity"),
                         **user_view(found)})


@router.get("/users/{user}/licenseDetails", summary="List a user's licenseDetails",
            response_model=None)
def license_details(user: str, request: Request, svc: ServicesDep,
                    authorization: AuthHeader = None, tenant: TenantParam = None,
                    ) -> JSONResponse:
    try:
        who = caller(svc, authorization, tenant)
        found = directory.get_user(svc, who.principal, who.tenant_id, user)
    except DomainError as exc:
        return graph_refusal(exc)
    return JSONResponse({"@odata.context": _context(request, f"users('{found.id}')/"
                                                             "licenseDetails"),
                         "value": license_details_view(found)})


def _license_lists(raw: bytes) -> tuple[list[str], list[str]]:
    """assignLicense's body: `addLicenses: [{skuId, disabledPlans}]`, `removeLicenses:
    [skuId]`; the skuIds go to the service as they are (it knows both names of a SKU)."""
    try:
        body = json.loads(raw or b"{}")
        json.dumps(body, ensure_ascii=False).encode()  # no lone surrogates anywhere
    except (ValueError, UnicodeError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise InvalidInput("INVALID_LICENSE_CHANGE", "The body is a JSON object with "
                           "addLicenses and removeLicenses.")
    add, remove = body.get("addLicenses") or [], body.get("removeLicenses") or []
    if not isinstance(add, list) or not isinstance(remove, list):
        raise InvalidInput("INVALID_LICENSE_CHANGE", "addLicenses is a list of {skuId, "
                           "disabledPlans} and removeLicenses a list of skuIds.")
    adds: list[str] = []
    for item in add:
        if not isinstance(item, dict) or not isinstance(item.get("skuId"), str):
            raise InvalidInput("INVALID_LICENSE_CHANGE", "Each of addLicenses is an object "
                               "with a skuId, e.g. {\"skuId\": \"…\", \"disabledPlans\": []}.")
        if item.get("disabledPlans"):
            raise InvalidInput(
                "DISABLED_PLANS_UNSUPPORTED",
                "disabledPlans is not supported: each of these SKUs has no plan that can be "
                "switched off alone. Send disabledPlans: [].",
                {"skuId": item["skuId"][:64], "disabledPlans": item["disabledPlans"]},
            )
        adds.append(item["skuId"])
    if not all(isinstance(x, str) for x in remove):
        raise InvalidInput("INVALID_LICENSE_CHANGE", "removeLicenses is a list of skuIds.")
    if not adds and not remove:
        raise InvalidInput("INVALID_LICENSE_CHANGE", "Send at least one license in "
                           "addLicenses or removeLicenses.")
    return adds, remove


@router.post("/users/{user}/assignLicense", summary="assignLicense", response_model=None)
async def assign_license(user: str, request: Request, svc: ServicesDep,
                         authorization: AuthHeader = None, tenant: TenantParam = None,
                         ) -> JSONResponse:
    """Add and remove a user's licenses in one step, by the REST API's own
    `licenses.change_licenses` (LIC-3, LIC-5); answers the user, as Graph does."""
    raw = await request.body()

    def apply() -> User:
        who = caller(svc, authorization, tenant)
        adds, removes = _license_lists(raw)
        return licenses.change_licenses(svc, who.principal, who.tenant_id, user,
                                         add=adds, remove=removes).user

    try:
        updated = await run_in_threadpool(apply)
    except DomainError as exc:
        return graph_refusal(exc)
    return JSONResponse({"@odata.context": _context(request, "users/$entity"),
                         **user_view(updated)})


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False, response_model=None)
def unsupported(rest: str) -> JSONResponse:
    """Any other Graph resource or method: Graph's shape, never the REST envelope."""
    return graph_refusal(NotFound(
        "UNSUPPORTED_RESOURCE", f"{rest[:200]!r} (with this method) is not part of the Graph "
        "API served here; see docs/graph.md for what is.", {"path": rest[:200]}))
