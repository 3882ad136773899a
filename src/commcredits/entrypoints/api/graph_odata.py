"""Microsoft Graph's protocol for the Graph-compatible licensing routes: who is asking and for
which tenant, Graph's error shape with our stable code inside, and the OData query options
of `GET /users` (`$filter`, `$select`, `$top`, `$skiptoken`).

A refusal is a `DomainError` as everywhere else; `graph_refusal` answers it the way Graph
does: Graph's own code at the top (`Request_BadRequest`, `Request_ResourceNotFound`,
`Authorization_RequestDenied`, ...) and ours in `innerError.code` (ERR-1).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.domain.licensing import parse_sku
from commcredits.services.auth import Principal, authenticate, tenant_not_found
from commcredits.services.context import Services
from commcredits.services.ports import UserSearch

GRAPH_PREFIX = "/graph/v1.0"
DEFAULT_TOP = 100
MAX_TOP = 999
MAX_OPTION = 2000

_BY_KIND: dict[str, tuple[int, str]] = {
    "invalid": (400, "Request_BadRequest"),
    "conflict": (400, "Request_BadRequest"),
    "payment": (400, "Request_BadRequest"),
    "not_found": (404, "Request_ResourceNotFound"),
    "forbidden": (403, "Authorization_RequestDenied"),
    "unauthenticated": (401, "InvalidAuthenticationToken"),
}
"""Graph answers every licensing rule it breaks (no free seats, no usage location, a
calling plan without Teams Phone) with 400 Request_BadRequest, so conflicts map there too."""
_BY_CODE: dict[str, tuple[int, str]] = {
    "UNSUPPORTED_QUERY": (400, "Request_UnsupportedQuery"),
    "INVALID_FILTER": (400, "Request_UnsupportedQuery"),
}


def graph_error(status: int, graph_code: str, code: str, message: str,
                details: Any = None) -> JSONResponse:
    """Graph's error body: `{"error": {"code", "message", "innerError": {"code", "date",
    "request-id", "client-request-id", "details"}}}`."""
    request_id = str(uuid.uuid4())
    headers = {"request-id": request_id}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(status_code=status, headers=headers, content={"error": {
        "code": graph_code, "message": message,
        "innerError": {
            "code": code, "date": datetime.now(UTC).isoformat(timespec="seconds")[:19],
            "request-id": request_id, "client-request-id": request_id,
            "details": jsonable_encoder(details or {}),
        },
    }})


def graph_refusal(exc: DomainError) -> JSONResponse:
    status, graph_code = _BY_CODE.get(exc.code) or _BY_KIND.get(exc.kind, (400, "BadRequest"))
    return graph_error(status, graph_code, exc.code, exc.message, exc.details)


# --- Who and which tenant ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated Graph request: the principal and the one tenant it speaks for."""

    principal: Principal
    tenant_id: str


def caller(svc: Services, authorization: str | None, tenant: str | None) -> Caller:
    """Authenticate the bearer key (AUTH-1). A tenant key speaks for its own tenant; the
    operator key names one with `?tenant=`."""
    key = None
    if authorization and authorization[:7].lower() == "bearer ":
        key = authorization[7:].strip()
    with svc.uow(readonly=True) as uow:
        principal = authenticate(uow, key, svc.operator_key)
    if tenant is not None and (len(tenant) > 64 or "\x00" in tenant):
        raise tenant_not_found(tenant[:64])
    tenant_id = principal.tenant_id or tenant
    if tenant_id is None:
        raise InvalidInput("TENANT_REQUIRED", "This key is not bound to one tenant: add "
                           "?tenant=<tenant id>.", {"parameter": "tenant"})
    if principal.tenant_id is not None and tenant not in (None, principal.tenant_id):
        raise InvalidInput("TENANT_MISMATCH", "The tenant parameter must be the key's own "
                           "tenant, or left out.", {"tenant": tenant})
    return Caller(principal, tenant_id)


# --- GET /users query options ------------------------------------------------------------

USER_PROPERTIES = ("id", "userPrincipalName", "displayName", "usageLocation", "accountEnabled",
                   "businessPhones", "assignedLicenses")
_QUOTED = r"'((?:[^']|'')*)'"
_CLAUSES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^userPrincipalName\s+eq\s+{_QUOTED}$", re.I), "upn"),
    (re.compile(rf"^startswith\(\s*userPrincipalName\s*,\s*{_QUOTED}\s*\)$", re.I), "prefix"),
    (re.compile(rf"^usageLocation\s+eq\s+{_QUOTED}$", re.I), "location"),
    (re.compile(r"^usageLocation\s+eq\s+null$", re.I), "no_location"),
    (re.compile(r"^assignedLicenses/any\(\s*(\w+)\s*:\s*\1/skuId\s+eq\s+([0-9a-fA-F-]{36})\s*\)$",
                re.I), "sku"),
]


@dataclass(frozen=True, slots=True)
class UserQuery:
    """`GET /users`'s options: whom to list, which properties, how many, and after whom."""

    search: UserSearch | None
    select: tuple[str, ...] | None
    top: int
    after: str | None


def _unsupported_filter(text: str) -> InvalidInput:
    return InvalidInput(
        "INVALID_FILTER",
        f"Unsupported or invalid $filter {text[:200]!r}. Supported: userPrincipalName eq '…', "
        "startswith(userPrincipalName,'…'), usageLocation eq '…' (or null) and "
        "assignedLicenses/any(x:x/skuId eq <skuId>), joined with 'and'.",
        {"filter": text[:200]},
    )


def parse_filter(text: str) -> UserSearch:
    """A `$filter` of `and`-joined clauses on the UPN, usage location and licenses."""
    fields: dict[str, str | None] = {}
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.I):
        for pattern, name in _CLAUSES:
            match = pattern.match(clause.strip())
            if match is None:
                continue
            if name in fields or (name == "no_location" and "location" in fields):
                raise _unsupported_filter(text)
            if name == "sku":
                fields["sku"] = parse_sku(match.group(2)).part_number
            elif name == "no_location":
                fields["location"] = ""
            else:
                value = match.group(1).replace("''", "'")
                fields[name] = value.upper() if name == "location" else value.lower()
            break
        else:
            raise _unsupported_filter(text)
    return UserSearch(upn=fields.get("upn"), upn_prefix=fields.get("prefix"),
                      location=fields.get("location"), sku=fields.get("sku"))


def parse_select(text: str) -> tuple[str, ...]:
    by_lower = {p.lower(): p for p in USER_PROPERTIES}
    chosen: list[str] = []
    for name in (x.strip() for x in text.split(",")):
        if name.lower() not in by_lower:
            raise InvalidInput(
                "INVALID_SELECT",
                f"Could not find a property named {name[:100]!r} on type microsoft.graph.user; "
                f"$select any of {', '.join(USER_PROPERTIES)}.", {"select": text[:200]},
            )
        if by_lower[name.lower()] not in chosen:
            chosen.append(by_lower[name.lower()])
    return tuple(chosen)


def parse_top(text: str | None) -> int:
    if text is None:
        return DEFAULT_TOP
    try:
        top = int(text)
    except ValueError:
        top = 0
    if not 1 <= top <= MAX_TOP:
        raise InvalidInput("INVALID_TOP", f"$top must be a whole number from 1 to {MAX_TOP}.",
                           {"top": text[:50]})
    return top


def encode_skiptoken(upn: str) -> str:
    return base64.urlsafe_b64encode(upn.encode()).decode().rstrip("=")


def decode_skiptoken(token: str) -> str:
    try:
        upn = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        upn = ""
    if not upn or encode_skiptoken(upn) != token:
        raise InvalidInput("INVALID_SKIPTOKEN", "The $skiptoken is not valid; follow "
                           "@odata.nextLink as given.", {"skiptoken": token[:200]})
    return upn


def user_query(filter: str | None, select: str | None, top: str | None,
               skiptoken: str | None, unsupported: dict[str, str | None]) -> UserQuery:
    """Parse `GET /users`'s options; an option we do not support is refused, not ignored."""
    for name, value in unsupported.items():
        if value is not None:
            raise InvalidInput("UNSUPPORTED_QUERY", f"The {name} query option is not "
                               "supported here; see docs/graph.md.", {"option": name})
    for name, value in (("$filter", filter), ("$select", select), ("$skiptoken", skiptoken)):
        if value is not None and len(value) > MAX_OPTION:
            raise InvalidInput("INVALID_FILTER" if name == "$filter" else "INVALID_QUERY",
                               f"{name} is over {MAX_OPTION} characters.", {"option": name})
    return UserQuery(
        search=parse_filter(filter) if filter else None,
        select=parse_select(select) if select else None,
        top=parse_top(top),
        after=decode_skiptoken(skiptoken) if skiptoken else None,
    )
