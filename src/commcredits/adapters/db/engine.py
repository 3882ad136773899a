"""Engines for SQLite (WAL, BEGIN IMMEDIATE for writers) and PostgreSQL (psycopg 3).

SQLite serializes writers with BEGIN IMMEDIATE, so a charge never reads a balance another
writer is about to change (one writer per process at a time, then a short poll for the lock:
`sqlite_writers.py`); read-only units of work use a deferred BEGIN. PostgreSQL locks the
tenant's credit row with SELECT … FOR UPDATE instead (see `credit_repos.py`). On PostgreSQL every
statement SQLAlchemy runs first sends the call-control writes waiting for the commit
(`flush_hot_session`, `hot_session.py`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import NullPool

from commcredits.adapters.db.hot_session import INFO_KEY
from commcredits.adapters.db.sqlite_writers import Writers

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and route them to psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def make_engine(url: str, *, pool: bool = True) -> Engine:
    url = normalize_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                               "check_same_thread": False},
            **({} if pool else {"poolclass": NullPool}),
        )
        _sqlite_setup(engine)
        return engine
    kwargs: dict[str, Any] = {}
    if not pool:
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(pool_size=10, max_overflow=20)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "before_cursor_execute", flush_hot_session)
    event.listen(engine, "checkin", _checked_in)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


PING_IDLE_SECONDS = 10.0


def _checked_in(_dbapi_connection: Any, record: Any) -> None:
    record.info["commcredits.idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """SQLAlchemy's pre-ping, for a connection idle in the pool for `PING_IDLE_SECONDS` or
    more: a connection in steady use is not pinged, which saves a round trip per unit of
    work on the call-control path (docs/decisions.md). A failed ping makes the pool drop
    the connection and check out another (`DisconnectionError`)."""
    since = record.info.get("commcredits.idle_since")
    if since is not None and time.monotonic() - since < PING_IDLE_SECONDS:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as exc:
        raise DisconnectionError(f"stale connection: {exc}") from exc


def flush_hot_session(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    """Before any statement through SQLAlchemy: send the unit of work's waiting writes, and
    stop serving its prefetched rows after anything but a SELECT (`hot_session.py`)."""
    session = conn.info.get(INFO_KEY)
    if session is not None:
        session.flush()
        if not statement.lstrip()[:6].upper().startswith("SELECT"):
            session.written()


SQLITE_CACHE_KIB = 32 * 1024


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 32 MiB of page cache per connection (the default is 2 MB): bulk CDR imports insert
        # into several large B-tree indexes, which thrash a small cache (docs/benchmarks.md).
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    writers = Writers(SQLITE_BUSY_TIMEOUT_MS)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode == "IMMEDIATE":
            writers.begin(conn)  # one writer per process, a short poll (sqlite_writers.py)
        else:
            conn.exec_driver_sql(f"BEGIN {mode}")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(conn: Any) -> None:
        writers.release(conn.connection.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:  # a transaction the pool rolled back, not the connection
            writers.release(record.info)
