"""Fixtures: a migrated database per test (SQLite always, PostgreSQL when
COMMCREDITS_TEST_POSTGRES_URL is set), services on a fixed clock, and an API client.

The ledger invariants are checked after every test that used a database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import citus
from commcredits.adapters.db import tables as t
from commcredits.adapters.db.engine import make_engine
from commcredits.adapters.db.migrate import upgrade
from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from commcredits.services.context import Services
from tests.support import OPERATOR_KEY, check_ledger_invariants, utc


def _worker_database(url: str | None) -> str | None:
    """Under pytest-xdist each worker gets its own database beside the given one (`test` ->
    `test_gw0`), created on first use, because every PostgreSQL test empties every table.

    The Citus tier runs in one process: a database created on the coordinator would be plain
    PostgreSQL (no extension, no worker nodes), so parallel Citus runs are refused outright
    rather than silently testing the wrong thing.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    base = make_url(url)
    engine = make_engine(url, pool=False)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if citus.is_citus(conn):
                raise pytest.UsageError(
                    "the Citus tier runs in one process: run it without -n, as "
                    "make test-citus does")
            name = f"{base.database}_{worker}"
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": name}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    worker_url = base.set(database=name).render_as_string(hide_password=False)
    os.environ["COMMCREDITS_TEST_POSTGRES_URL"] = worker_url  # servers the tests start read it
    return worker_url


PG_URL = _worker_database(os.environ.get("COMMCREDITS_TEST_POSTGRES_URL"))
if os.environ.get("PYTEST_XDIST_WORKER"):
    # A worker starts with COLUMNS=80 in its environment, and the CLI's consoles read
    # COLUMNS once, when they are made: the CLI tests' COLUMNS=250 would not reach them.
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
_pg_migrated = False


def _reset_postgres(url: str) -> None:
    global _pg_migrated
    engine = make_engine(url, pool=False)
    try:
        if not _pg_migrated:
            with engine.begin() as conn:
                if citus.is_citus(conn):
                    # Few shards: the tests empty every table between tests (DIST-2).
                    conn.execute(text(
                        f'ALTER DATABASE "{engine.url.database}" SET citus.shard_count = 4'))
                    # The schema holds Citus's own views: dropping it would drop Citus.
                    for (name,) in conn.execute(text(
                            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all():
                        conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
                else:
                    conn.execute(text("DROP SCHEMA public CASCADE"))
                    conn.execute(text("CREATE SCHEMA public"))
            upgrade(engine)
            _pg_migrated = True
        with engine.connect() as conn:
            on_citus = citus.is_citus(conn)
        if on_citus:
            _empty_citus(engine)
            return
        names = ", ".join(tb.name for tb in t.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


# Tables the distributed ones refer to: emptied with DELETE once those are empty, because
# TRUNCATE … CASCADE from them would truncate every shard of every distributed table.
_CITUS_REFERRED = ("partners", "tenants")


def _empty_citus(engine: Engine) -> None:
    """Empty the tables that have rows: on Citus a TRUNCATE of every table costs a second."""
    with engine.connect() as conn:
        full = [tb.name for tb in t.metadata.sorted_tables
                if conn.execute(text(f"SELECT 1 FROM {tb.name} LIMIT 1")).first()]
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))
        truncate = [name for name in full if name not in _CITUS_REFERRED]
        if truncate:
            conn.execute(text(f"TRUNCATE {', '.join(truncate)} RESTART IDENTITY CASCADE"))
        for name in _CITUS_REFERRED:
            if name in full:
                conn.execute(text(f"DELETE FROM {name}"))


def database_params() -> list[object]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]


@pytest.fixture(params=database_params())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'commcredits.db'}"
        engine = make_engine(url, pool=False)
        upgrade(engine)
        engine.dispose()
        return url
    if not PG_URL:
        pytest.skip("COMMCREDITS_TEST_POSTGRES_URL is not set")
    _reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(utc(2026, 1, 15, 9, 0))


@pytest.fixture
def runtime(db_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(database_url=db_url, operator_key=OPERATOR_KEY,
                        outbox_dir=str(tmp_path / "outbox"), smtp_host=None)
    rt = build(settings, clock=clock)
    yield rt
    check_ledger_invariants(rt.engine)
    rt.close()


@pytest.fixture
def svc(runtime: Runtime) -> Services:
    return runtime.services


@pytest.fixture
def engine(runtime: Runtime) -> Engine:
    return runtime.engine
