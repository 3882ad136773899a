"""The FastAPI application factory: `create_app(runtime)`, with no work at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import text

from commcredits import __version__
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
        task = asyncio.create_task(_jobs_loop(runtime)) if background_jobs else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

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
    redact_access_log()  # no one-time sign-in token in uvicorn's access log
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

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    return app


async def _jobs_loop(runtime: Runtime) -> None:
    interval = runtime.settings.jobs_interval_seconds
    while True:
        try:
            report = await run_in_threadpool(run_due_work, runtime.services)
            if report.lots_expired:
                log.info("due work: %s", report.summary())
        except Exception:  # the loop must survive a bad tick
            log.exception("due work failed; retrying next tick")
        await asyncio.sleep(interval)
