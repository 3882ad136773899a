"""The two measuring tools of `bench/rate_cdrs.py`: the physical baseline, and running the
real CLI as a child process with its peak RSS.

The baseline is what storing N compact usage rows costs on the database, and nothing else:
12 narrow columns (integers and short text), a table with one unique index, one
transaction per `COMMIT_EVERY` rows; a bare `sqlite3` `executemany` on SQLite (a new file,
the app's pragmas) or a psycopg `COPY` on PostgreSQL (a table in the bench's database,
dropped after). The rows are built before the clock starts, per chunk, so memory stays
bounded whatever N."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

COMMIT_EVERY = 10_000
COLUMNS = ("tenant_id", "call_id", "usage_no", "user_no", "call_type", "callee",
           "start_at", "duration", "funding", "rate_id", "charge", "entry_id")
DDL = (
    "CREATE TABLE bench_usage (tenant_id INTEGER NOT NULL, call_id TEXT NOT NULL, "
    "usage_no INTEGER NOT NULL, user_no INTEGER NOT NULL, call_type INTEGER NOT NULL, "
    "callee TEXT NOT NULL, start_at BIGINT NOT NULL, duration INTEGER NOT NULL, "
    "funding INTEGER NOT NULL, rate_id INTEGER, charge BIGINT NOT NULL, entry_id BIGINT)",
    "CREATE UNIQUE INDEX ux_bench_usage ON bench_usage (tenant_id, call_id, usage_no)",
)
Row = tuple[int, str, int, int, int, str, int, int, int, int, int, int]


def _chunks(n: int) -> Iterator[list[Row]]:
    """N rows like a compact rated call, `COMMIT_EVERY` at a time."""
    start = 1_767_225_600
    for first in range(0, n, COMMIT_EVERY):
        yield [(1, f"cdr-{i:08d}", 0, i % 100, 1, "+447400123456", start + 37 * i,
                1 + i % 900, 1 + i % 3, 1 + i % 40, 12_345 + i % 7_000, 1 + i // 10_000)
               for i in range(first, min(n, first + COMMIT_EVERY))]


def sqlite_baseline(folder: Path, n: int) -> float:
    """Seconds to `executemany` N rows into a new SQLite file, committed per chunk."""
    path = folder / "baseline.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-32768"):
            conn.execute(f"PRAGMA {pragma}")
        for statement in DDL:
            conn.execute(statement)
        insert = (f"INSERT INTO bench_usage ({', '.join(COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(COLUMNS))})")
        seconds = 0.0
        for rows in _chunks(n):
            started = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(insert, rows)
            conn.execute("COMMIT")
            seconds += time.perf_counter() - started
        stored = conn.execute("SELECT count(*) FROM bench_usage").fetchone()[0]
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    if stored != n:
        raise RuntimeError(f"baseline stored {stored} of {n} rows")
    return seconds


def libpq_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_baseline(url: str, n: int) -> float:
    """Seconds to `COPY` N rows into a new table, committed per chunk."""
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_usage")
        for statement in DDL:
            conn.execute(statement)
        conn.commit()
        seconds = 0.0
        try:
            for rows in _chunks(n):
                started = time.perf_counter()
                with conn.cursor() as cur, cur.copy(
                        f"COPY bench_usage ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                conn.commit()
                seconds += time.perf_counter() - started
            found = conn.execute("SELECT count(*) FROM bench_usage").fetchone()
            stored = found[0] if found else 0
        finally:
            conn.rollback()
            conn.execute("DROP TABLE IF EXISTS bench_usage")
            conn.commit()
    if stored != n:
        raise RuntimeError(f"baseline stored {stored} of {n} rows")
    return seconds


def cli() -> str:
    """The `commcredits` executable beside this Python (the venv's)."""
    return str(Path(sys.executable).with_name("commcredits"))


@dataclass(frozen=True)
class Child:
    """What one run of the CLI took: wall and CPU seconds, peak RSS in MB, its output."""

    seconds: float
    cpu: float
    rss_mb: float
    output: str


def run_cli(args: Sequence[str], url: str, log: Path) -> Child:
    """Run ``commcredits <args>`` on the database ``url`` (``COMMCREDITS_DATABASE_URL``, as
    a user would export it), its output to ``log``; its own rusage comes from `os.wait4`.
    Raises on an exit status other than 0 and 1 (rows rejected)."""
    env = {**os.environ, "COMMCREDITS_DATABASE_URL": url, "COLUMNS": "100"}
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen([cli(), *args], stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(encoding="utf-8", errors="replace")
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"commcredits {' '.join(args)} exited {proc.returncode}:\n{text}")
    rss = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return Child(seconds, usage.ru_utime + usage.ru_stime, rss, text)
