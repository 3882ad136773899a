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

import ctypes
import os
import signal
import sys

from fastapi import FastAPI

from commcredits.bootstrap import build
from commcredits.config import Settings
from commcredits.entrypoints.api.app import create_app
from commcredits.entrypoints.heap import freeze_startup_heap

PR_SET_PDEATHSIG = 1  # prctl(2)


def die_with_parent() -> None:
    """On Linux, ask for SIGTERM when the `serve` process that started this worker dies, even
    by SIGKILL: a worker never outlives its server, so it never keeps the due-work leadership
    (OPS-3) or serves on a port nobody supervises. Elsewhere, nothing."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: workers then end as uvicorn ends them
        return
    if os.getppid() != parent:  # the server died before the request: go now
        os.kill(os.getpid(), signal.SIGTERM)


def worker_app() -> FastAPI:
    """One worker's application (a uvicorn factory: ``--factory``)."""
    die_with_parent()
    app = create_app(build(Settings()), background_jobs=True)
    freeze_startup_heap()
    return app
