"""What `commcredits serve` sets up around uvicorn for operations (OPS-1, OPS-4): the
Prometheus multiprocess folder its workers share, the loopback `--metrics-port` server, and
uvicorn's logging (JSON with ``COMMCREDITS_LOG_FORMAT=json``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from commcredits.adapters import metrics
from commcredits.entrypoints.api.observe import json_log_config


def prepare_metrics(workers: int) -> None:
    """With several workers, give them one empty PROMETHEUS_MULTIPROC_DIR (the operator's, or
    a new temporary folder). It must be set before the workers import prometheus-client,
    and emptied at start so a previous run's counts are not added to this one's."""
    if workers == 1 and not metrics.multiprocess():
        return
    folder = os.environ.get(metrics.MULTIPROC_ENV) or tempfile.mkdtemp(
        prefix="commcredits-metrics-")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    mine = f"_{os.getpid()}.db"  # this process's own files, opened at import, stay
    for child in path.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        elif not child.name.endswith(mine):
            child.unlink()
    os.environ[metrics.MULTIPROC_ENV] = str(path)


def serve_metrics(port: int, engine: Engine) -> None:
    """`--metrics-port`: /metrics without a key on 127.0.0.1:PORT, from a daemon thread of
    this process (with several workers, it reads their multiprocess files)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr="127.0.0.1", registry=metrics.registry(engine))


def uvicorn_logs(log_format: str, access_log: bool) -> dict[str, Any]:
    """uvicorn.run's logging arguments: as before in text; with JSON, every record a JSON
    line and no uvicorn access line (the middleware writes one per request instead)."""
    if log_format == "json":
        return {"log_config": json_log_config(), "access_log": False}
    return {"access_log": access_log}


WORKER_HEALTHCHECK_SECONDS = 300


def default_workers(database_url: str) -> int:
    """The usable cores (the process's CPU affinity where the OS has one). PostgreSQL and a
    SQLite file are both safe with several processes (the tenant row lock; WAL with
    BEGIN IMMEDIATE writers and a busy timeout); an in-memory SQLite database lives in one
    process, so it gets one worker."""
    import os

    from sqlalchemy.engine import make_url

    from commcredits.adapters.db.engine import is_sqlite, normalize_url

    if is_sqlite(database_url) and \
            (make_url(normalize_url(database_url)).database or ":memory:") == ":memory:":
        return 1
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    return max(1, cores)
