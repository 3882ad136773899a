"""A Microsoft Graph-compatible PSTN call log (REP-3).

`GET /graph/v1.0/communications/callRecords/getPstnCalls(fromDateTime=…,toDateTime=…)`, also
under the msgraph-sdk's name `microsoft.graph.callRecords.getPstnCalls(…)` with URL-encoded
dates. FastAPI cannot route on the parentheses, so the function segment is one path
parameter parsed here. Pages hold at most 1000 `pstnCallLogRow`s in Graph v1.0's camelCase,
with `@odata.count` (the whole range) and an absolute `@odata.nextLink` whose `$skiptoken`
is a keyset cursor (start time, row id) carrying the count read with the first page. Every
refusal uses Graph's error shape.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.domain.reports import OPERATOR, duration_source
from commcredits.entrypoints.api.deps import ServicesDep
from commcredits.entrypoints.api.errors import STATUS
from commcredits.services import insight
from commcredits.services.auth import authenticate
from commcredits.services.ports import RatedCallRecord

router = APIRouter(prefix="/graph/v1.0/communications/callRecords", tags=["graph"])

_FUNCTION = re.compile(
    r"^(?P<name>(?:microsoft\.graph\.callRecords\.)?getPstnCalls)"
    r"\(fromDateTime=(?P<start>[^,)]*?),?toDateTime=(?P<end>[^,)]*)\)$"
)
"""The comma is optional: msgraph-sdk 1.65.0's URI template expansion leaves it out."""
_GRAPH_CODES = {400: "BadRequest", 401: "InvalidAuthenticationToken", 403: "Forbidden",
                404: "NotFound", 402: "PaymentRequired", 409: "Conflict"}
CONTEXT = "$metadata#Collection(microsoft.graph.callRecords.pstnCallLogRow)"


def graph_error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    """Graph's error shape; our stable code goes in `innerError.code`."""
    return JSONResponse(status_code=status, content={"error": {
        "code": _GRAPH_CODES.get(status, "BadRequest"), "message": message,
        "innerError": {"code": code, "date": datetime.now(UTC).isoformat()[:19],
                       "request-id": str(uuid.uuid4()), "details": details or {}},
    }})


def _moment(value: str, name: str) -> datetime:
    text = value.strip().strip("'\"")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            "INVALID_DATE", f"{name} {value!r} is not an ISO 8601 date-time "
            "(e.g. 2026-01-15T00:00:00Z).", {"field": name, "value": value},
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def encode_cursor(cursor: insight.CallLogCursor) -> str:
    """``start|id|count``, base64url: the count is the first page's (`CallLogCursor`)."""
    count = "" if cursor.count is None else str(cursor.count)
    raw = f"{cursor.start_at.isoformat()}|{cursor.id}|{count}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> insight.CallLogCursor:
    """A `$skiptoken`; one without a count (``start|id``, as tokens were before counts were
    kept) has the range counted again."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        at, row_id, *rest = raw.split("|")
        if len(rest) > 1 or (rest and rest[0] and not rest[0].isdigit()):
            raise ValueError(raw)
        count = int(rest[0]) if rest and rest[0] else None
        return insight.CallLogCursor(datetime.fromisoformat(at).astimezone(UTC), row_id, count)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("INVALID_SKIPTOKEN", "The $skiptoken is not valid; follow "
                           "@odata.nextLink as given.", {"skiptoken": token}) from None


def _number(value: Decimal | None) -> float:
    return float(value) if value is not None else 0.0


def _end(row: RatedCallRecord) -> datetime | None:
    if row.end_at is not None:
        return row.end_at
    if row.duration is None:
        return None
    return row.start_at + timedelta(seconds=row.duration)


def inventory_type(row: RatedCallRecord) -> str:
    """Which of the tenant's numbers carried the call: a toll-free number, a user's
    (subscriber) number, or a service number (conferencing, resource accounts)."""
    if row.number_type == "toll_free":
        return "Toll-Free"
    return "Subscriber" if row.call_type.startswith("user") else "Service"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def pstn_row(row: RatedCallRecord, tenant_country: str) -> dict[str, Any]:
    """One pstnCallLogRow with every v1.0 property."""
    return {
        "id": row.id,
        "callId": row.call_id,
        "userId": row.user_object_id,
        "userPrincipalName": row.upn,
        "userDisplayName": row.display_name,
        "startDateTime": _iso(row.start_at),
        "endDateTime": _iso(_end(row)),
        "duration": row.duration or 0,
        "charge": _number(row.charge),
        "connectionCharge": _number(row.connection_fee),
        "currency": row.currency,
        "callType": row.call_type.value,
        "calleeNumber": row.callee,
        "callerNumber": row.caller,
        "destinationContext": None if row.domestic is None
        else "Domestic" if row.domestic else "International",
        "destinationName": row.destination_name,
        "conferenceId": row.conference_id,
        "licenseCapability": row.capability,
        "inventoryType": inventory_type(row),
        "operator": OPERATOR,  # the usage export's Operator column, the same value
        "callDurationSource": duration_source(row.source),
        "tenantCountryCode": tenant_country,
        "usageCountryCode": row.user_location,
    }


@router.get("/{function}", summary="getPstnCalls(fromDateTime=…,toDateTime=…)", response_model=None)
def get_pstn_calls(
    function: str, request: Request, svc: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    top: Annotated[str | None, Query(alias="$top")] = None,
    skiptoken: Annotated[str | None, Query(alias="$skiptoken")] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    match = _FUNCTION.match(function)
    if match is None:
        return graph_error(404, "UNKNOWN_FUNCTION", f"No function {function!r} here; use "
                           "getPstnCalls(fromDateTime=…,toDateTime=…).")
    try:
        key = None
        if authorization and authorization[:7].lower() == "bearer ":
            key = authorization[7:].strip()
        with svc.uow(readonly=True) as uow:
            principal = authenticate(uow, key, svc.operator_key)
        tenant_id = principal.tenant_id or tenant
        if tenant_id is None:
            raise InvalidInput("TENANT_REQUIRED", "This key is not bound to one tenant: add "
                               "?tenant=<tenant id>.", {"parameter": "tenant"})
        if principal.tenant_id is not None and tenant not in (None, principal.tenant_id):
            raise InvalidInput("TENANT_MISMATCH", "The tenant parameter must be the key's own "
                               "tenant, or left out.", {"tenant": tenant})
        start = _moment(match["start"], "fromDateTime")
        end = _moment(match["end"], "toDateTime")
        try:
            size = int(top) if top is not None else insight.MAX_PAGE
        except ValueError:
            raise InvalidInput("INVALID_TOP", "$top must be a whole number from 1 to 1000.",
                               {"top": top}) from None
        after = decode_cursor(skiptoken) if skiptoken else None
        page = insight.pstn_calls(svc, principal, tenant_id, start, end, top=size, after=after)
    except DomainError as exc:
        status = 400 if exc.kind == "invalid" else STATUS[exc.kind]
        return graph_error(status, exc.code, exc.message, exc.details)
    base = str(request.base_url).rstrip("/")
    body: dict[str, Any] = {
        "@odata.context": f"{base}/graph/v1.0/{CONTEXT}",
        "@odata.count": page.count,
    }
    if page.next_cursor is not None:
        query = {"$skiptoken": encode_cursor(page.next_cursor)}
        if top is not None:
            query["$top"] = str(size)
        if tenant is not None:
            query["tenant"] = tenant
        body["@odata.nextLink"] = (
            f"{base}{router.prefix}/{match['name']}(fromDateTime={quote(_iso(start) or '', '')},"
            f"toDateTime={quote(_iso(end) or '', '')})?{urlencode(query, safe='$')}"
        )
    body["value"] = [pstn_row(r, page.tenant.country) for r in page.rows]
    return JSONResponse(body)
