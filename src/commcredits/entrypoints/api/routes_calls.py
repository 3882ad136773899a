"""Call control for the calling platform (CALL-1, CALL-7, CALL-9): authorize, update, end.

The three call-control routes are the hot path of real-time call control:

- they are `CallControlRoute`s (call_route.py): declared to FastAPI as any route, so
  `/openapi.json` documents them, but answered by a handler that skips FastAPI's dependency
  solving, with the same validation errors in the same order (401, then 403/404, then 422);
- they hand the bearer key to the service, which authenticates it in the request's own
  transaction (one statement with the call's other facts) instead of a separate one through
  `deps.get_principal`: the same answers, one transaction fewer;
- they run the blocking service on a thread pool of their own (`_pool`) straight from the
  event loop, and return their JSON as a ready `OrjsonResponse` (orjson serializes the
  plain dicts of str, int, bool and None the services build), skipping the response
  model's validation.

Errors raised by the services reach the app's error handlers as from any route."""

from __future__ import annotations

import asyncio
import functools
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from commcredits.adapters.metrics import CALL_DECISIONS, count_cdrs
from commcredits.entrypoints.api.bodies import Authorize, End, Update, csv_body
from commcredits.entrypoints.api.call_route import KeyDep, call_control_router
from commcredits.entrypoints.api.deps import CallControlDep, ServicesDep
from commcredits.entrypoints.api.routing import api_router
from commcredits.services import calls, cdrs
from commcredits.services.context import Services

# authorize, update and end: answered by `CallControlRoute` (call_route.py); included first,
# so that routing tries them before the rest of the API's routes.
control = call_control_router(tags=["call control"])
router = api_router(tags=["call control"])
SPOOL_BYTES = 1024 * 1024  # a CDR upload's bytes held in memory before it spills to disk
Json = dict[str, Any]


# Enough threads for every call in flight to wait on its tenant's lock at once (as anyio's
# default pool of 40 for sync routes); made on first use, never at import time.
POOL_THREADS = 40
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="calls")
    return _executor


class OrjsonResponse(JSONResponse):
    """JSON by orjson: the same compact bytes as Starlette's `JSONResponse` for these dicts
    (str, int, bool, None), several times faster to make (docs/decisions.md)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def _run(fn: Callable[..., Json], *args: Any) -> JSONResponse:
    loop = asyncio.get_running_loop()
    return OrjsonResponse(await loop.run_in_executor(_pool(), functools.partial(fn, *args)))


@control.post("/tenants/{tid}/calls/authorize", response_model=None)
async def authorize(tid: str, body: Authorize, svc: ServicesDep, who: KeyDep) -> JSONResponse:
    return await _run(_counted_authorize, svc, who, tid, body.model_dump())


def _counted_authorize(svc: Services, who: calls.ApiKey, tid: str, body: Json) -> Json:
    """The service's answer, counted by decision and reason (OPS-1)."""
    reply = calls.authorize(svc, who, tid, body)
    CALL_DECISIONS.labels(str(reply.get("decision")), str(reply.get("reason"))).inc()
    return reply


@control.post("/tenants/{tid}/calls/{call_id}/update", response_model=None)
async def update(tid: str, call_id: str, body: Update, svc: ServicesDep,
                 who: KeyDep) -> JSONResponse:
    return await _run(calls.update, svc, who, tid, call_id, body.used_seconds)


@control.post("/tenants/{tid}/calls/{call_id}/end", response_model=None)
async def end(tid: str, call_id: str, body: End, svc: ServicesDep,
              who: KeyDep) -> JSONResponse:
    return await _run(calls.end, svc, who, tid, call_id, body.duration_seconds)


@router.post("/tenants/{tid}/cdrs", tags=["cdrs"], openapi_extra=csv_body(
    "CDR-1: CSV with a header row, or JSON lines, in the PSTN usage export's columns "
    "(Call ID, UPN, Call Type, Caller ID, Destination Number, Start Time, Duration "
    "Seconds, UsageId, Conference ID).", json_lines=True))
async def import_cdrs(tid: str, request: Request, svc: ServicesDep, who: CallControlDep) -> Json:
    """CDR-1: CSV (with a header) or JSON lines, using the PSTN usage export's columns.

    CDR-3: the body is spooled as it arrives (in memory up to `SPOOL_BYTES`, then on disk),
    and the service streams that file in the thread pool; access was checked before."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        report = await run_in_threadpool(cdrs.import_cdrs, svc, who, tid, spool)
    count_cdrs(report)
    return {"accepted": report.accepted, "duplicates": report.duplicates,
            "rejected": report.rejected, "rejected_total": report.rejected_total}
