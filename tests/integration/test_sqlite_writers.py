"""How SQLite writers get the write lock (`adapters/db/sqlite_writers.py`): one writer per
process at a time, handed on when its connection returns to the pool; between processes
(here: two engines on one file, each with its own process lock) a poll of refused
`BEGIN IMMEDIATE`s rather than one call asleep in SQLite's busy handler; and still SQLite's
own `database is locked` once the busy timeout has passed. Every write lands exactly once.

What each statement was is read from `sqlite3.Connection.set_trace_callback`, which SQLite
calls as a statement starts, so a `BEGIN IMMEDIATE` refused and tried again shows as two.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from commcredits.adapters.db import engine as engine_module
from commcredits.adapters.db.engine import make_engine


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "writers.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        db.execute("INSERT INTO counter VALUES (1, 0)")
    return path


@pytest.fixture
def engines(db_file: Path) -> Iterator[list[Engine]]:
    """Two engines on one file: two processes' worth of writers."""
    made = [make_engine(f"sqlite:///{db_file}") for _ in range(2)]
    yield made
    for engine in made:
        engine.dispose()


class Statements:
    """The statements each engine's connections start, in order, with who started them."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def watch(self, engine: Engine, name: str) -> None:
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            def trace(statement: str) -> None:
                with self.lock:
                    self.seen.append((name, statement.strip()))
            dbapi_connection.set_trace_callback(trace)
        event.listen(engine, "connect", on_connect)

    def of(self, name: str, statement: str) -> int:
        with self.lock:
            return sum(1 for who, s in self.seen if who == name and s == statement)


def bump(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT n FROM counter")).scalar_one())


@pytest.mark.rule("CALL-8")
def test_a_second_writer_of_the_process_waits_for_the_first_without_asking_sqlite(
    engines: list[Engine],
) -> None:
    engine = engines[0]
    statements = Statements()
    statements.watch(engine, "engine")
    started = threading.Event()
    done = threading.Event()
    with engine.begin() as first:
        first.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
        assert statements.of("engine", "BEGIN IMMEDIATE") == 1

        def second() -> None:
            started.set()
            bump(engine)
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert started.wait(5)
        assert not done.wait(0.2)  # held back while the first writes...
        # ...by the process lock, not by SQLite: its connection has not asked to begin.
        assert statements.of("engine", "BEGIN IMMEDIATE") == 1
    thread.join(10)
    assert done.is_set()
    # The process lock is given back just before the first's COMMIT, so the second may be
    # refused while that COMMIT runs, and ask again.
    assert statements.of("engine", "BEGIN IMMEDIATE") >= 2
    assert count(engine) == 2


@pytest.mark.rule("CALL-8")
def test_a_writer_of_another_process_polls_for_the_lock_and_gets_it_when_it_is_free(
    engines: list[Engine],
) -> None:
    holder, waiter = engines
    statements = Statements()
    statements.watch(waiter, "waiter")
    done = threading.Event()
    with holder.begin() as held:
        held.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
        thread = threading.Thread(target=lambda: (bump(waiter), done.set()))
        thread.start()
        assert not done.wait(0.3)
        # Refused and tried again, not one BEGIN asleep in the busy handler.
        assert statements.of("waiter", "BEGIN IMMEDIATE") >= 2
    thread.join(10)
    assert done.is_set()
    assert count(waiter) == 2


@pytest.mark.rule("CALL-8")
def test_past_the_busy_timeout_the_writer_gets_sqlites_own_error(
    db_file: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(db_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    engine = make_engine(f"sqlite:///{db_file}")
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            bump(engine)
        holder.execute("ROLLBACK")
        bump(engine)  # the lock came back with the connection
        assert count(engine) == 1
    finally:
        holder.close()
        engine.dispose()


@pytest.mark.rule("CALL-8")
def test_the_process_lock_comes_back_after_a_rolled_back_or_failed_transaction(
    engines: list[Engine],
) -> None:
    engine = engines[0]
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
        raise RuntimeError("rolled back")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO counter VALUES (1, 5)"))  # the key is taken
    # Were the lock still held, this writer would wait the whole busy timeout (30 s).
    finished = threading.Event()
    thread = threading.Thread(target=lambda: (bump(engine), finished.set()))
    thread.start()
    thread.join(10)
    assert finished.is_set()
    assert count(engine) == 1


@pytest.mark.rule("CALL-8")
def test_many_writers_in_two_processes_lose_nothing(engines: list[Engine]) -> None:
    errors: list[BaseException] = []

    def work(engine: Engine) -> None:
        try:
            for _ in range(50):
                bump(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(engines[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert count(engines[0]) == 400
