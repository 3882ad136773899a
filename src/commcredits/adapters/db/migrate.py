"""Running Alembic migrations from code (`commcredits db upgrade`, `serve`, tests), then,
on Citus, distributing what they created (`citus.py`, DIST-1); and whether a database is at
the newest migration (`/readyz`)."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from commcredits.adapters.db import citus

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str = "") -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest)."""
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    # A transaction of its own: Citus distributes tables whose creation has committed.
    with engine.begin() as conn:
        if citus.is_citus(conn):
            citus.distribute(conn)


class SchemaState(StrEnum):
    """What `/readyz` learns of the database (OPS-2)."""

    CURRENT = "current"
    BEHIND = "behind"  # answers, but is not at the newest migration
    UNAVAILABLE = "unavailable"  # does not answer (down, or no such database)


@cache
def _heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def schema_state(engine: Engine) -> SchemaState:
    """Whether the database answers and its schema is at the newest migration's head."""
    heads = _heads()
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception:  # any failure to connect or read is "not ready", never a 500
        return SchemaState.UNAVAILABLE
    return SchemaState.CURRENT if current == heads else SchemaState.BEHIND
