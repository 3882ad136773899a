"""The application factory that `commcredits serve --workers N` gives uvicorn.

With more than one worker, uvicorn starts N processes, and each imports an application by
name: `worker_app` builds its own runtime (engine, caches) from the environment, which
`serve` sets from its options before starting them (``COMMCREDITS_DATABASE_URL`` and
``COMMCREDITS_SIMULATED_CLOCK``). `serve` itself has already migrated the database, seeded
the demo and settled real versus simulated time, so workers do none of that.

Every worker starts the due-work loop, but only the one that leads runs due work (OPS-3,
`adapters/db/leader.py`); each job is also safe to run from several processes at once
(leases, the tenant lock and idempotency keys), as the worker and `jobs run` already are.
With several workers `serve` has set ``PROMETHEUS_MULTIPROC_DIR`` (OPS-1) before spawning
them, so each writes its metrics there.
"""

from __future__ import annotations

from fastapi import FastAPI

from commcredits.bootstrap import build
from commcredits.config import Settings
from commcredits.entrypoints.api.app import create_app


def worker_app() -> FastAPI:
    """One worker's application (a uvicorn factory: ``--factory``)."""
    return create_app(build(Settings()), background_jobs=True)
