"""The application factory that `commcredits serve --workers N` gives uvicorn.

With more than one worker, uvicorn starts N processes, and each imports an application by
name: `worker_app` builds its own runtime (engine, caches) from the environment, which
`serve` sets from its options before starting them (``COMMCREDITS_DATABASE_URL`` and
``COMMCREDITS_SIMULATED_CLOCK``). `serve` itself has already migrated the database, seeded
the demo and settled real versus simulated time, so workers do none of that.

Every worker runs the due-work loop: each job is safe to run from several processes at once
(leases, the tenant lock and idempotency keys), as the worker and `jobs run` already are.
"""

from __future__ import annotations

from fastapi import FastAPI

from commcredits.bootstrap import build
from commcredits.config import Settings
from commcredits.entrypoints.api.app import create_app


def worker_app() -> FastAPI:
    """One worker's application (a uvicorn factory: ``--factory``)."""
    return create_app(build(Settings()), background_jobs=True)
