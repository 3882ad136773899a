"""`commcredits serve` defaults its worker processes to the usable cores, except on an
in-memory SQLite database, which lives in one process (docs/decisions.md)."""

from __future__ import annotations

import os

from commcredits.entrypoints.cli.serving import default_workers


def _cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def test_serve_defaults_to_one_worker_per_usable_core() -> None:
    assert default_workers("postgresql+psycopg://postgres@127.0.0.1:5432/x") == _cores()
    assert default_workers("postgresql://postgres@127.0.0.1/x") == _cores()
    assert default_workers("sqlite:///commcredits.db") == _cores()


def test_an_in_memory_sqlite_database_keeps_one_worker() -> None:
    assert default_workers("sqlite://") == 1
    assert default_workers("sqlite:///:memory:") == 1
