"""Set-up the benchmarks share: a migrated SQLite file, a reset PostgreSQL schema, a free
loopback port. Imported by the bench scripts, which run as `python bench/<name>.py`."""

from __future__ import annotations

import socket
from pathlib import Path

from sqlalchemy import text

from commcredits.adapters.db import citus
from commcredits.adapters.db.engine import make_engine
from commcredits.adapters.db.migrate import upgrade


def prepare_sqlite(path: Path) -> str:
    """A freshly migrated SQLite database at `path`; returns its URL."""
    url = f"sqlite:///{path}"
    engine = make_engine(url, pool=False)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


def reset_postgres(url: str, *, migrate: bool = True) -> tuple[str, str]:
    """DROP and re-create schema `public` (on Citus: its tables), migrated unless `migrate`
    is False (on Citus the migration distributes the tables); returns the
    server version and its `synchronous_commit` setting."""
    engine = make_engine(url, pool=False)
    try:
        with engine.begin() as conn:
            if citus.is_citus(conn):
                # Schema public holds Citus's own views: drop the tables, not the schema.
                for (name,) in conn.execute(text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all():
                    conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
            else:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        if migrate:
            upgrade(engine)
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            sync = conn.execute(text("SHOW synchronous_commit")).scalar_one()
    finally:
        engine.dispose()
    return str(version), str(sync)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
