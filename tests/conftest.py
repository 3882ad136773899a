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

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.adapters.db.engine import make_engine
from commcredits.adapters.db.migrate import upgrade
from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from commcredits.services.context import Services
from tests.support import OPERATOR_KEY, check_ledger_invariants, utc

PG_URL = os.environ.get("COMMCREDITS_TEST_POSTGRES_URL")
_pg_migrated = False


def _reset_postgres(url: str) -> None:
    global _pg_migrated
    engine = make_engine(url, pool=False)
    try:
        if not _pg_migrated:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            upgrade(engine)
            _pg_migrated = True
        names = ", ".join(tb.name for tb in t.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


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
