"""The FastAPI application factory: `create_app(runtime)`, with no work at import time.

It also owns the operations endpoints (OPS-1, OPS-2) and the background due-work loop that
runs only in the process that leads it (OPS-3, `adapters/db/leader.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from commcredits import __version__
from commcredits.adapters import metrics
from commcredits.adapters.db.leader import Leadership, leadership
from commcredits.adapters.db.migrate import SchemaState, schema_state
from commcredits.bootstrap import Runtime
from commcredits.entrypoints.api import (
    errors,
    openapi,
    routes_calls,
    routes_directory,
    routes_graph,
    routes_graph_licensing,
    routes_guard,
    routes_insight,
    routes_planning,
    routes_postpaid,
    routes_rates,
    routes_reports,
)
from commcredits.entrypoints.api.deps import OperatorDep
from commcredits.entrypoints.api.observe import Observe
from commcredits.entrypoints.api.routes import router
from commcredits.entrypoints.api.text_guard import TextGuard
from commcredits.entrypoints.humane import human_time, payment_line
from commcredits.entrypoints.web import app as web
from commcredits.entrypoints.web.security import SecurityHeaders, redact_access_log
from commcredits.services.jobs import run_due_work

log = logging.getLogger("commcredits.worker")


def create_app(runtime: Runtime, *, background_jobs: bool = False) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        leader = (leadership(runtime.engine, runtime.settings.leader_lease_seconds)
                  if background_jobs else None)
        task = asyncio.create_task(_jobs_loop(runtime, leader)) if leader else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if leader:
                await run_in_threadpool(leader.release)
                metrics.LEADER.set(0)
            metrics.process_ended()

    app = FastAPI(
        title="commcredits",
        version=__version__,
        description="Communications Credits: prepaid, per-minute billing for PSTN calling. "
        "Send `Authorization: Bearer <key>` with every /api/v1 request.",
        lifespan=lifespan,
    )
    app.state.services = runtime.services
    app.state.templates = Environment(
        loader=PackageLoader("commcredits", "templates"), autoescape=select_autoescape(),
    )
    app.state.templates.filters.update(human_time=human_time, payment_line=payment_line)
    errors.install(app)
    app.add_middleware(TextGuard)  # ERR-1: NUL and lone surrogates refused at the edge
    app.add_middleware(SecurityHeaders)  # framing refused, CSP (entrypoints/web/security.py)
    app.add_middleware(Observe)  # OPS-1, OPS-4: request id, metrics, the JSON access line
    redact_access_log()  # no one-time sign-in token in uvicorn's access log
    app.include_router(routes_calls.control)  # the hot path, tried first by routing
    # Operations next: a load balancer's /healthz is matched before the ~200 routes below
    # (routing tries them in order; after them it cost twice the no-op GET's CPU).
    operations = APIRouter(tags=["operations"])

    @operations.get("/healthz")
    async def healthz() -> dict[str, str]:
        """OPS-2: liveness. The process answers; no database is asked."""
        return {"status": "ok", "version": __version__}

    @operations.get("/readyz", response_model=None)
    async def readyz() -> JSONResponse:
        """OPS-2: 200 only when the database answers and its schema is at the newest
        migration; 503 with ``DATABASE_UNAVAILABLE`` or ``SCHEMA_BEHIND`` otherwise."""
        state = await run_in_threadpool(schema_state, runtime.engine)
        if state is SchemaState.CURRENT:
            return JSONResponse({"status": "ready", "version": __version__})
        code, message = READINESS_REFUSALS[state]
        return JSONResponse({"status": "not_ready", "error": {"code": code, "message": message}},
                            status_code=503)

    @operations.get("/metrics", response_model=None)
    async def metrics_endpoint(who: OperatorDep) -> Response:
        """OPS-1: the Prometheus text format; the operator's key only (or `--metrics-port`)."""
        body = await run_in_threadpool(generate_latest, metrics.registry(runtime.engine))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.include_router(operations)
    app.include_router(router)
    app.include_router(routes_directory.router)
    app.include_router(routes_postpaid.router)
    app.include_router(routes_rates.router)
    app.include_router(routes_calls.router)
    app.include_router(routes_reports.router)
    app.include_router(routes_insight.router)
    app.include_router(routes_graph.router)
    app.include_router(routes_graph_licensing.router)
    app.include_router(routes_guard.router)
    app.include_router(routes_planning.router)
    web.install(app)
    openapi.install(app)  # the error envelope declared for every operation

    return app


READINESS_REFUSALS = {
    SchemaState.UNAVAILABLE: ("DATABASE_UNAVAILABLE",
                              "The database does not answer; see the server's log."),
    SchemaState.BEHIND: ("SCHEMA_BEHIND",
                         "The database is not at the newest migration; run "
                         "`commcredits db upgrade`."),
}


@dataclass
class _Lead:
    leading: bool = False


async def _lead_loop(leader: Leadership, poll: float, lead: _Lead) -> None:
    """Every poll, take or keep the leadership (OPS-3), also while a round of due work runs,
    so a long round does not let a SQLite lease lapse."""
    while True:
        lead.leading = await run_in_threadpool(leader.refresh)
        metrics.LEADER.set(1 if lead.leading else 0)
        await asyncio.sleep(poll)


async def _jobs_loop(runtime: Runtime, leader: Leadership) -> None:
    """While this process leads, run due work every interval; a process that does not lead
    runs none (OPS-3)."""
    interval = runtime.settings.jobs_interval_seconds
    poll = min(runtime.settings.leader_poll_seconds, interval)
    lead = _Lead()
    leading = asyncio.create_task(_lead_loop(leader, poll, lead))
    last_run: float | None = None
    loop = asyncio.get_running_loop()
    try:
        while True:
            if not lead.leading:
                last_run = None
            elif last_run is None or loop.time() - last_run >= interval:
                last_run = loop.time()
                try:
                    report = await run_in_threadpool(run_due_work, runtime.services)
                    metrics.DUE_WORK_RUNS.inc()
                    if report.lots_expired:
                        log.info("due work: %s", report.summary())
                except Exception:  # the loop must survive a bad tick
                    log.exception("due work failed; retrying next tick")
            await asyncio.sleep(poll)
    finally:
        leading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leading
