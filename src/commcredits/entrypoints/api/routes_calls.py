"""Call control for the calling platform (CALL-1, CALL-7, CALL-9): authorize, update, end."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from commcredits.entrypoints.api.deps import PrincipalDep, ServicesDep
from commcredits.entrypoints.api.schemas import Body
from commcredits.services import calls, cdrs

router = APIRouter(prefix="/api/v1", tags=["call control"])
Json = dict[str, Any]


class Authorize(Body):
    call_id: Any
    call_type: Any
    user: Any = None
    caller: Any
    callee: Any
    start: Any = None
    usage_id: Any = None
    conference_id: Any = None


class Update(Body):
    used_seconds: Any


class End(Body):
    duration_seconds: Any


@router.post("/tenants/{tid}/calls/authorize")
def authorize(tid: str, body: Authorize, svc: ServicesDep, who: PrincipalDep) -> Json:
    return calls.authorize(svc, who, tid, body.model_dump())


@router.post("/tenants/{tid}/calls/{call_id}/update")
def update(tid: str, call_id: str, body: Update, svc: ServicesDep, who: PrincipalDep) -> Json:
    return calls.update(svc, who, tid, call_id, body.used_seconds)


@router.post("/tenants/{tid}/calls/{call_id}/end")
def end(tid: str, call_id: str, body: End, svc: ServicesDep, who: PrincipalDep) -> Json:
    return calls.end(svc, who, tid, call_id, body.duration_seconds)


@router.post("/tenants/{tid}/cdrs", tags=["cdrs"])
async def import_cdrs(tid: str, request: Request, svc: ServicesDep, who: PrincipalDep) -> Json:
    """CDR-1: CSV (with a header) or JSON lines, using the PSTN usage export's columns."""
    data = await request.body()
    report = await run_in_threadpool(cdrs.import_cdrs, svc, who, tid, data)
    return {"accepted": report.accepted, "duplicates": report.duplicates,
            "rejected": report.rejected}
