"""Running Alembic migrations from code (`commcredits db upgrade`, `serve`, tests), then,
on Citus, distributing what they created (`citus.py`, DIST-1)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
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
