"""CDR rating throughput: CDRs rated and stored per second by ``cdrs.import_cdrs``, against a
baseline of bare INSERTs of the same ``calls`` rows.

What it measures, on SQLite (a temporary file) and PostgreSQL (``COMMCREDITS_BENCH_POSTGRES_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/test_g``; its schema ``public`` is
DROPped and re-created first):

- **setup, through the services**: a US MOSA tenant with a card and a purchase of
  1,000,000.00 USD, the sample rate tables, 100 seats each of MCOEV and MCOPSTN1, and 100 US
  users holding MCOEV, MCOPSTN1 and MCOPSTNC. Licenses and rates date from 1 January 2026; the
  import runs on 1 February.
- **the file**: N CSV rows with the PSTN usage export's columns (Call ID, UPN, Call Type,
  Caller ID, Destination Number, Start Time, Duration Seconds): ``user_out`` calls of random
  users at random moments of January, 1 to 900 s, to a mix of destinations (GB, DE, FR, JP,
  CA, fixed and mobile, charged to credits; one in eight to a US fixed number, taken from the
  domestic pool).
- **engine (single-call path)**: ``commcredits.services.cdrs.import_cdrs`` on the file, in
  slices of 1,000 rows (each a CSV file with its header): parse, sort by start, then per CDR
  one transaction (tenant lock, duplicate check, rating through ``calls.rate_call``, the
  ``calls`` row, the ledger charge or pool usage). This is the only CDR path there is today.
  It stops at ``--seconds`` (40 by default) per database; the CDRs rated by then count, so
  the default 20,000 finishes on SQLite only on a fast machine.
- **baseline**: the ``calls`` rows the engine just wrote, read back and INSERTed again (new
  ids and call ids) with SQLAlchemy Core ``executemany``, 5,000 rows per statement batch, in
  one transaction: what storing the rows alone costs on this database.
- **ratio**: engine rate / baseline rate, both measured in this run.

The set-based path that the architecture and the issue ask for (rate CDRs in chunks, with the
prefix lookup and increments vectorized, rows written with executemany or COPY; target
100,000 CDRs per second on SQLite) is NOT built yet. The bench prints the gap between the
engine path and that target; the baseline is an upper bound on what such a path could reach
while writing only the ``calls`` rows.

It checks that every CDR was accepted and prints figures; it asserts no timings and is not a
test. Machines here are shared, so figures move from run to run; compare ratios.

Run: ``.venv/bin/python bench/rate_cdrs.py [--cdrs 20000] [--seconds 40] [--sqlite-only]``
(or ``make bench-cdrs``). 1,000,000 CDRs are accepted (the file limit); with ``--seconds 0``
they take hours on the engine path at today's rates.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select, text

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.adapters.db.engine import make_engine
from commcredits.adapters.db.migrate import upgrade
from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from commcredits.services import cdrs, directory, funds, payments, rates, tenants
from commcredits.services.auth import OPERATOR_CLI

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_g"
SETUP_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
IMPORT_AT = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
FIRST_START = datetime(2026, 1, 2, 0, 0, tzinfo=UTC)
USERS = 100
TARGET = 100_000  # CDRs per second on SQLite, for the set-based path (not built)
CHUNK = 5_000  # rows per executemany in the baseline
SLICE = 1_000  # CDRs per import_cdrs call
SECONDS = 40.0  # default time limit of the engine path, per database
COLUMNS = ("Call ID", "UPN", "Call Type", "Caller ID", "Destination Number", "Start Time",
           "Duration Seconds")
DESTINATIONS = (
    "+447400123456", "+442071234567", "+4915112345678", "+493012345678",
    "+33612345678", "+33123456789", "+81312345678", "+12045551234",
)
US_FIXED = "+12025550123"

console = Console(width=None if sys.stdout.isatty() else 132)


@dataclass
class Row:
    database: str
    what: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# --- setup -------------------------------------------------------------------------------


def reset_postgres(url: str) -> tuple[str, str]:
    engine = make_engine(url, pool=False)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            sync = conn.execute(text("SHOW synchronous_commit")).scalar_one()
    finally:
        engine.dispose()
    return str(version), str(sync)


def prepare_sqlite(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url, pool=False)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


def set_up(rt: Runtime) -> tuple[str, list[str]]:
    """A funded tenant with rates, seats and USERS users holding MCOEV, MCOPSTN1, MCOPSTNC."""
    svc = rt.services
    tenant = tenants.create_tenant(
        svc, OPERATOR_CLI, name="Bench CDRs", country="US", billing_account_type="MOSA",
        contacts=[{"email": "admin@bench.example", "role": "global_admin"}],
    )
    tid = tenant.id
    card = payments.add_payment_method(svc, OPERATOR_CLI, tid, number="4242424242424242",
                                       exp_month=12, exp_year=2099)
    funds.purchase(svc, OPERATOR_CLI, tid, amount="1000000.00", payment_method_id=card.id)
    rates.import_samples(svc, OPERATOR_CLI, only_missing=True)
    for sku in ("MCOEV", "MCOPSTN1"):
        directory.buy_seats(svc, OPERATOR_CLI, tid, sku=sku, quantity=USERS)
    upns = [f"user{i}@bench.example" for i in range(USERS)]
    for upn in upns:
        directory.create_user(svc, OPERATOR_CLI, tid, upn=upn, display_name=upn.split("@")[0],
                              usage_location="US")
    lines = "".join(f"{upn},{sku},add\n" for upn in upns
                    for sku in ("MCOEV", "MCOPSTN1", "MCOPSTNC"))
    report = directory.bulk_licenses(svc, OPERATOR_CLI, tid, "upn,sku,action\n" + lines)
    if report.failed:
        raise RuntimeError(f"license assignment failed: {report.failed} rows")
    return tid, upns


def cdr_file(n: int, upns: list[str], seed: int = 7) -> str:
    rng = random.Random(seed)
    span = int((IMPORT_AT - FIRST_START).total_seconds()) - 86_400
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(n):
        start = FIRST_START + timedelta(seconds=rng.randrange(span))
        callee = US_FIXED if i % 8 == 0 else rng.choice(DESTINATIONS)
        writer.writerow((f"cdr-{i:07d}", rng.choice(upns), "user_out", "+12065550100", callee,
                         start.isoformat().replace("+00:00", "Z"), rng.randint(1, 900)))
    return out.getvalue()


# --- runs --------------------------------------------------------------------------------


def engine_path(rt: Runtime, tid: str, data: str, seconds: float) -> tuple[int, float]:
    """Import the file in slices of SLICE rows (each a file of its own, header included)
    until all are in or ``seconds`` have passed; the CDRs imported and the time taken."""
    header, *lines = data.splitlines(keepends=True)
    n = len(lines)
    done, step, next_note = 0, max(n // 10, SLICE), max(n // 10, SLICE)
    started = time.perf_counter()
    deadline = started + seconds if seconds > 0 else float("inf")
    while done < n and time.perf_counter() < deadline:
        part = lines[done:done + SLICE]
        report = cdrs.import_cdrs(rt.services, OPERATOR_CLI, tid, header + "".join(part))
        if report.accepted != len(part) or report.rejected or report.duplicates:
            raise RuntimeError(f"accepted {report.accepted} of {len(part)}, "
                               f"{report.duplicates} duplicates, rejected {report.rejected[:3]}")
        done += len(part)
        if done >= next_note and n >= 50_000:
            rate = done / (time.perf_counter() - started)
            console.print(f"[dim]  {done:,} of {n:,} ({rate:,.0f}/s)[/]")
            next_note += step
    return done, time.perf_counter() - started


def bare_inserts(engine: Engine, tid: str) -> tuple[int, float]:
    """Read back the engine's calls rows, then INSERT copies with new ids (timed part)."""
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(t.calls).where(t.calls.c.tenant_id == tid))]
    for r in rows:
        r["id"] = uuid.uuid4().hex
        r["call_id"] = "base-" + r["call_id"]
        r["usage_id"] = "base-" + r["usage_id"]
    started = time.perf_counter()
    with engine.begin() as conn:
        for i in range(0, len(rows), CHUNK):
            conn.execute(t.calls.insert(), rows[i:i + CHUNK])
    return len(rows), time.perf_counter() - started


def run_database(label: str, url: str, n: int, seconds: float) -> list[Row]:
    clock = FixedClock(SETUP_AT)
    rt = build(Settings(database_url=url, smtp_host=None, outbox_dir=tempfile.mkdtemp(
        prefix="commcredits-bench-outbox-")), clock=clock)
    try:
        started = time.perf_counter()
        tid, upns = set_up(rt)
        setup_s = time.perf_counter() - started
        started = time.perf_counter()
        data = cdr_file(n, upns)
        gen_s = time.perf_counter() - started
        console.print(f"[dim]{label}: setup {setup_s:.1f} s; {n:,} CDRs generated in "
                      f"{gen_s:.2f} s ({len(data) / 1e6:.1f} MB of CSV)[/]")
        clock.set(IMPORT_AT)
        done, engine_s = engine_path(rt, tid, data, seconds)
        if done < n:
            console.print(f"[yellow]{label}: stopped at the time limit ({seconds:.0f} s): "
                          f"{done:,} of {n:,} CDRs rated[/]")
        with rt.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(t.calls)
                                  .where(t.calls.c.tenant_id == tid)).scalar_one()
            funding: dict[str | None, int] = {
                r[0]: r[1] for r in conn.execute(
                    select(t.calls.c.funding, func.count()).where(t.calls.c.tenant_id == tid)
                    .group_by(t.calls.c.funding))}
        if stored != done:
            raise RuntimeError(f"{stored} calls rows stored for {done} CDRs")
        console.print(f"[dim]{label}: calls rows by funding: {funding}[/]")
        base_n, base_s = bare_inserts(rt.engine, tid)
        return [Row(label, "engine: cdrs.import_cdrs (one transaction per CDR)", done,
                    engine_s),
                Row(label, "baseline: bare INSERTs of the calls rows (executemany)", base_n,
                    base_s)]
    finally:
        rt.close()


def report(rows: list[Row]) -> None:
    table = Table(title="CDRs rated and stored per second")
    for name, justify in (("database", "left"), ("what", "left"), ("rows", "right"),
                          ("seconds", "right"), ("per second", "right"),
                          ("vs baseline", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    baselines = {r.database: r.rate for r in rows if r.what.startswith("baseline")}
    for r in rows:
        base = baselines.get(r.database)
        ratio = "1.00" if r.what.startswith("baseline") else (
            f"{r.rate / base:.4f}" if base else "")
        table.add_row(r.database, r.what, f"{r.rows:,}", f"{r.seconds:.2f}", f"{r.rate:,.0f}",
                      ratio)
    console.print(table)
    for db, base in baselines.items():
        eng = next(r for r in rows if r.database == db and r.what.startswith("engine"))
        console.print(f"{db}: engine/baseline = {eng.rate:,.0f} / {base:,.0f} = "
                      f"[bold]{eng.rate / base:.4f}[/bold] (baseline is "
                      f"{base / eng.rate:,.0f}× faster)")
    sqlite_engine = next((r for r in rows if r.database == "sqlite"
                          and r.what.startswith("engine")), None)
    console.print(
        "[yellow]NOT BUILT YET:[/] the vectorized, set-based CDR path (chunks, NumPy/Polars "
        f"prefix lookup and increments, executemany/COPY; target {TARGET:,} CDRs/s on "
        "SQLite). These figures are the single-call engine path."
    )
    if sqlite_engine:
        console.print(f"Gap to the target on SQLite: {TARGET:,} / {sqlite_engine.rate:,.0f} = "
                      f"[bold]{TARGET / sqlite_engine.rate:,.0f}×[/bold] too slow.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cdrs", type=int, default=20_000,
                        help="CDRs in the file (default 20,000; at most 1,000,000)")
    parser.add_argument("--seconds", type=float, default=SECONDS,
                        help=f"time limit of the engine path per database (default {SECONDS:.0f};"
                             " 0: none); the CDRs rated by then are counted")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args(argv)
    n = args.cdrs
    if not 1 <= n <= cdrs.MAX_ROWS:
        parser.error(f"--cdrs must be 1 to {cdrs.MAX_ROWS:,}")
    if n > 100_000:
        console.print(f"[yellow]warning: {n:,} CDRs through the one-transaction-per-CDR path "
                      "take a long time: about an hour for 1,000,000 on SQLite and three on "
                      "PostgreSQL at today's rates; with the default --seconds the engine path "
                      "stops at its time limit and only the CDRs rated by then count.[/]")
    console.print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}; load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="commcredits-bench-") as tmp:
        rows += run_database("sqlite", prepare_sqlite(Path(tmp) / "bench.db"), n,
                             args.seconds)
    if not args.sqlite_only:
        url = os.environ.get("COMMCREDITS_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
        version, sync = reset_postgres(url)
        console.print(f"PostgreSQL {version} (synchronous_commit={sync})")
        rows += run_database("postgres", url, n, args.seconds)
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
