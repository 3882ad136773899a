"""CDR batch rating (CDR-1, CDR-2): CDRs rated, charged and stored per second, on SQLite
(a temporary file) and PostgreSQL (``COMMCREDITS_BENCH_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``; its schema ``public`` is DROPped and
re-created first):

- **setup, through the services**: a US MOSA tenant with a card and a purchase of
  1,000,000.00 USD, the sample rate tables, 100 seats each of MCOEV and MCOPSTN1, and 100 US
  users holding MCOEV, MCOPSTN1 and MCOPSTNC. Licenses and rates date from 1 January 2026; the
  import runs on 1 February.
- **the file**: N CSV rows with the PSTN usage export's columns (Call ID, UPN, Call Type,
  Caller ID, Destination Number, Start Time, Duration Seconds): ``user_out`` calls of random
  users at random moments of January, 1 to 900 s, to a mix of destinations (GB, DE, FR, JP,
  CA, fixed and mobile, charged to credits; one in eight to a US fixed number, taken from the
  domestic pool).
- **batch path**: ``cdrs.import_cdrs`` on the whole file, once, streamed from a temporary
  file (CDR-3): a first pass checks and counts the rows, then chunks of ``cdrs.CHUNK`` rows
  are parsed, validated and sorted by start, each run of a chunk in one transaction (tenant lock,
  duplicate check, set-based rating, pool and FIFO lot accounting in memory, bulk writes of
  the ``calls``, ``ledger_entries`` (one bulk charge per chunk, FUND-10),
  ``ledger_allocations`` and ``pool_consumptions`` rows).
  Timed from the CSV file to the last commit. The process's peak RSS before and after the
  import is printed (the file's text is dropped before it starts): streaming keeps the
  growth to about one chunk, whatever ``--cdrs``.
- **baseline**: the rows the batch path just wrote, read back (not timed) and INSERTed again
  under a second tenant, with new ids and keys, by the same DBAPI means (``executemany`` on
  SQLite, ``COPY`` on PostgreSQL), one transaction per ``cdrs.CHUNK`` calls: what storing
  the same rows alone costs on this database. **ratio** = batch rate / baseline rate, both
  measured in this run.
- **batches of one** (for reference): ``import_cdrs`` with ``cdrs.CHUNK = 1`` on the first
  ``--engine-cdrs`` rows of another file (2,000 by default): the same engine, one
  transaction per CDR, as a live call's end; stops at ``--seconds``.

It checks that every CDR was accepted and stored once, and that the tenant's ledger entries
add up to its balance; it prints figures and asserts no timings (it is not a test). Machines
here are shared, so figures move from run to run; compare ratios.

Run: ``.venv/bin/python bench/rate_cdrs.py [--cdrs 100000] [--engine-cdrs 2000]
[--seconds 30] [--sqlite-only]`` (or ``make bench-cdrs``). ``--cdrs`` goes up to 1,000,000
(the file limit).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import BigInteger, func, select, type_coerce

from benchdb import prepare_sqlite, reset_postgres
from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.adapters.db.types import to_micros
from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from commcredits.services import cdrs, directory, funds, licenses, payments, rates, tenants
from commcredits.services.auth import OPERATOR_CLI
from commcredits.services.ports import CALL_ROW_COLUMNS, CdrBatch

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SETUP_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
IMPORT_AT = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
FIRST_START = datetime(2026, 1, 2, 0, 0, tzinfo=UTC)
USERS = 100
TARGET = 100_000  # CDRs per second on SQLite (issue #5)
CHUNK = cdrs.CHUNK  # calls per transaction in the baseline, as on the batch path
SLICE = 1_000  # CDRs per import_cdrs call in batches of one
SECONDS = 30.0  # default time limit of batches of one, per database
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
    cpu: float = 0.0  # CPU seconds of this process (not the PostgreSQL server's)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# --- setup -------------------------------------------------------------------------------





def set_up(rt: Runtime, name: str = "batch") -> tuple[str, list[str]]:
    """A funded tenant with rates, seats and USERS users holding MCOEV, MCOPSTN1, MCOPSTNC."""
    svc = rt.services
    tenant = tenants.create_tenant(
        svc, OPERATOR_CLI, name=f"Bench CDRs {name}", country="US",
        billing_account_type="MOSA",
        contacts=[{"email": "admin@bench.example", "role": "global_admin"}],
    )
    tid = tenant.id
    card = payments.add_payment_method(svc, OPERATOR_CLI, tid, number="4242424242424242",
                                       exp_month=12, exp_year=2099)
    funds.purchase(svc, OPERATOR_CLI, tid, amount="1000000.00", payment_method_id=card.id)
    rates.import_samples(svc, OPERATOR_CLI, only_missing=True)
    for sku in ("MCOEV", "MCOPSTN1"):
        licenses.buy_seats(svc, OPERATOR_CLI, tid, sku=sku, quantity=USERS)
    upns = [f"{name}{i}@bench.example" for i in range(USERS)]
    for upn in upns:
        directory.create_user(svc, OPERATOR_CLI, tid, upn=upn, display_name=upn.split("@")[0],
                              usage_location="US")
    lines = "".join(f"{upn},{sku},add\n" for upn in upns
                    for sku in ("MCOEV", "MCOPSTN1", "MCOPSTNC"))
    report = licenses.bulk_licenses(svc, OPERATOR_CLI, tid, "upn,sku,action\n" + lines)
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


def batch_path(rt: Runtime, tid: str, path: Path, n: int,
               ) -> tuple[cdrs.CdrReport, float, float]:
    """The whole file of ``n`` CDRs through the batch path, once, streamed; the report, the
    seconds taken and the CPU seconds this process used."""
    step = max(n // 10, 1)
    cpu = time.process_time()
    started = time.perf_counter()
    marks = [step]

    def progress(done: int, total: int) -> None:
        if n >= 50_000 and done >= marks[0]:
            rate = done / (time.perf_counter() - started)
            console.print(f"[dim]  {done:,} of {total:,} ({rate:,.0f}/s)[/]")
            marks[0] += step

    with path.open("rb") as stream:
        report = cdrs.import_cdrs(rt.services, OPERATOR_CLI, tid, stream, progress=progress)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if report.accepted != n or report.rejected or report.duplicates:
        raise RuntimeError(f"accepted {report.accepted} of {n}, {report.duplicates} "
                           f"duplicates, rejected {report.rejected[:3]}")
    return report, seconds, cpu


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux counts KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def engine_path(rt: Runtime, tid: str, data: str, seconds: float) -> tuple[int, float]:
    """Batches of one, in slices of SLICE rows, until all are in or ``seconds`` have
    passed; the CDRs imported and the time taken."""
    header, *lines = data.splitlines(keepends=True)
    n, done = len(lines), 0
    started = time.perf_counter()
    deadline = started + seconds if seconds > 0 else float("inf")
    while done < n and time.perf_counter() < deadline:
        part = lines[done:done + SLICE]
        chunk, cdrs.CHUNK = cdrs.CHUNK, 1  # each CDR a batch of one
        try:
            report = cdrs.import_cdrs(rt.services, OPERATOR_CLI, tid, header + "".join(part))
        finally:
            cdrs.CHUNK = chunk
        if report.accepted != len(part) or report.rejected or report.duplicates:
            raise RuntimeError(f"accepted {report.accepted} of {len(part)}")
        done += len(part)
    return done, time.perf_counter() - started


def bare_inserts(rt: Runtime, tid: str, base_tid: str) -> tuple[int, float, float]:
    """Read back what the batch path wrote for ``tid`` (not timed), then write the same rows
    again under ``base_tid`` with new ids and keys, by the batch path's own DBAPI means, one
    transaction per CHUNK calls (timed)."""
    calls_t, entries_t = t.calls, t.ledger_entries
    with rt.engine.connect() as conn:
        call_rows = conn.execute(select(*[calls_t.c[c] for c in CALL_ROW_COLUMNS])
                                 .where(calls_t.c.tenant_id == tid,
                                        calls_t.c.source == "cdr")
                                 .order_by(calls_t.c.start_at)).all()
        entry_rows = {r.id: r for r in conn.execute(
            select(entries_t.c.id, entries_t.c.kind, entries_t.c.amount,
                   entries_t.c.debt_delta, entries_t.c.at, entries_t.c.reference,
                   entries_t.c.description, entries_t.c.idempotency_key)
            .where(entries_t.c.tenant_id == tid, entries_t.c.kind == "charge"))}
        allocations: dict[int, list[tuple[int, int]]] = {}
        for a in conn.execute(select(t.ledger_allocations.c.entry_id,
                                     t.ledger_allocations.c.lot_id,
                                     t.ledger_allocations.c.amount)
                              .where(t.ledger_allocations.c.tenant_id == tid)):
            allocations.setdefault(a.entry_id, []).append((a.lot_id, to_micros(a.amount)))
        consumptions = {r.reference: r for r in conn.execute(
            select(t.pool_consumptions).where(t.pool_consumptions.c.tenant_id == tid))}
    amount_at = [CALL_ROW_COLUMNS.index(c) for c in ("reserved", "connection_fee", "charge")]
    entry_at, id_at = CALL_ROW_COLUMNS.index("entry_id"), CALL_ROW_COLUMNS.index("id")
    decision_at = CALL_ROW_COLUMNS.index("decision")
    decisions: dict[str, str] = {}
    # Prepared before the clock starts: the rows as the batch path hands them to the
    # repository; each (bulk, FUND-10) entry goes with the chunk of its first call, numbered
    # within it until ids are reserved, and its calls name it by its old id until then.
    chunks: list[tuple[list[list[Any]], list[tuple[Any, ...]], list[tuple[int, int, int]],
                       list[tuple[Any, ...]]]] = []
    placed: set[int] = set()
    for i in range(0, len(call_rows), CHUNK):
        rows: list[list[Any]] = []
        entries: list[tuple[Any, ...]] = []
        allocs: list[tuple[int, int, int]] = []
        pool_rows: list[tuple[Any, ...]] = []
        for r in call_rows[i:i + CHUNK]:
            row = list(r)
            old_id = row[id_at]
            row[id_at] = uuid.uuid4().hex
            row[1], row[2] = base_tid, "base-" + row[2]
            for k in amount_at:
                row[k] = to_micros(row[k])
            text_of = json.dumps(row[decision_at], sort_keys=True)
            row[decision_at] = decisions.setdefault(text_of, json.dumps(row[decision_at]))
            if row[entry_at] and row[entry_at] not in placed:
                placed.add(row[entry_at])
                e = entry_rows[row[entry_at]]
                key = "base-" + e.idempotency_key
                allocs.extend((len(entries), lot, m) for lot, m in allocations[row[entry_at]])
                entries.append((e.id, e.kind, to_micros(e.amount), to_micros(e.debt_delta),
                                e.at, key, e.description, key))
            c = consumptions.get(f"call:{old_id}")
            if c is not None:
                pool_rows.append((c.month, c.pool_key, f"call:{row[id_at]}", c.seconds,
                                  c.minutes_covered, c.uncovered_seconds, c.at))
            rows.append(row)
        chunks.append((rows, entries, allocs, pool_rows))
    cpu = time.process_time()
    started = time.perf_counter()
    new_ids: dict[int, int] = {}
    for rows, entries, allocs, pool_rows in chunks:
        with rt.services.uow() as uow:
            repo = uow.cdr_batch
            ids = repo.reserve_entry_ids(base_tid, len(entries))
            for n, e in enumerate(entries):
                new_ids[e[0]] = ids[n]
            for row in rows:
                if row[entry_at] is not None:
                    row[entry_at] = new_ids[row[entry_at]]
            repo.write(base_tid, CdrBatch(
                [tuple(row) for row in rows],
                [(ids[n], *e[1:]) for n, e in enumerate(entries)],
                [(ids[n], lot, m) for n, lot, m in allocs], {}, pool_rows))
            uow.commit()
    return len(call_rows), time.perf_counter() - started, time.process_time() - cpu


def check(rt: Runtime, tid: str, n: int) -> dict[str | None, int]:
    """Every CDR stored once; the ledger adds up (FUND-6). The calls by funding."""
    with rt.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(t.calls).where(
            t.calls.c.tenant_id == tid, t.calls.c.source == "cdr")).scalar_one()
        funding = {r[0]: r[1] for r in conn.execute(
            select(t.calls.c.funding, func.count()).where(t.calls.c.tenant_id == tid)
            .group_by(t.calls.c.funding))}
        total = conn.execute(select(func.coalesce(func.sum(
            type_coerce(t.ledger_entries.c.amount, BigInteger)), 0))
            .where(t.ledger_entries.c.tenant_id == tid)).scalar_one()
        balance = conn.execute(select(type_coerce(t.credit_accounts.c.balance, BigInteger))
                               .where(t.credit_accounts.c.tenant_id == tid)).scalar_one()
    if stored != n:
        raise RuntimeError(f"{stored} calls rows stored for {n} CDRs")
    if int(total) != int(balance):
        raise RuntimeError(f"ledger entries add up to {total}, the balance is {balance}")
    return funding


def run_database(label: str, url: str, n: int, engine_n: int, seconds: float) -> list[Row]:
    clock = FixedClock(SETUP_AT)
    rt = build(Settings(database_url=url, smtp_host=None, outbox_dir=tempfile.mkdtemp(
        prefix="commcredits-bench-outbox-")), clock=clock)
    try:
        started = time.perf_counter()
        tid, upns = set_up(rt)
        base_tid = tenants.create_tenant(
            rt.services, OPERATOR_CLI, name="Bench baseline", country="US",
            billing_account_type="MOSA", contacts=[]).id
        engine_tid, engine_upns = set_up(rt, "engine")
        setup_s = time.perf_counter() - started
        started = time.perf_counter()
        data = cdr_file(n, upns)
        gen_s = time.perf_counter() - started
        console.print(f"[dim]{label}: setup {setup_s:.1f} s; {n:,} CDRs generated in "
                      f"{gen_s:.2f} s ({len(data) / 1e6:.1f} MB of CSV)[/]")
        path = Path(tempfile.mkdtemp(prefix="commcredits-bench-cdrs-")) / "cdrs.csv"
        path.write_text(data, encoding="utf-8")
        del data
        clock.set(IMPORT_AT)
        rss = peak_rss_mb()
        report, batch_s, batch_cpu = batch_path(rt, tid, path, n)
        console.print(f"[dim]{label}: peak RSS {rss:,.0f} MB before the import, "
                      f"{peak_rss_mb():,.0f} MB after[/]")
        path.unlink()
        funding = check(rt, tid, n)
        console.print(f"[dim]{label}: {report.accepted:,} CDRs; calls by funding: "
                      f"{funding}[/]")
        base_n, base_s, base_cpu = bare_inserts(rt, tid, base_tid)
        rows = [Row(label, "batch path: cdrs.import_cdrs (set-based, chunks of "
                    f"{cdrs.CHUNK:,})", n, batch_s, batch_cpu),
                Row(label, "baseline: bare INSERTs of the same rows (DBAPI)", base_n, base_s,
                    base_cpu)]
        if engine_n:
            cpu = time.process_time()
            done, engine_s = engine_path(rt, engine_tid, cdr_file(engine_n, engine_upns, 11),
                                         seconds)
            rows.append(Row(label, "batches of one (one transaction per CDR)", done,
                            engine_s, time.process_time() - cpu))
        return rows
    finally:
        rt.close()


def report(rows: list[Row]) -> None:
    table = Table(title="CDRs rated and stored per second")
    for name, justify in (("database", "left"), ("what", "left"), ("rows", "right"),
                          ("seconds", "right"), ("per second", "right"),
                          ("vs baseline", "right"), ("CPU µs/CDR", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    baselines = {r.database: r.rate for r in rows if r.what.startswith("baseline")}
    for r in rows:
        base = baselines.get(r.database)
        ratio = "1.00" if r.what.startswith("baseline") else (
            f"{r.rate / base:.3f}" if base else "")
        table.add_row(r.database, r.what, f"{r.rows:,}", f"{r.seconds:.2f}", f"{r.rate:,.0f}",
                      ratio, f"{1e6 * r.cpu / r.rows:,.1f}" if r.rows else "")
    console.print(table)
    for db, base in baselines.items():
        batch = next(r for r in rows if r.database == db and r.what.startswith("batch"))
        single = next((r for r in rows if r.database == db and r.what.startswith("single")),
                      None)
        speedup = f"; {batch.rate / single.rate:,.0f}× batches of one" if single else ""
        console.print(f"{db}: batch/baseline = {batch.rate:,.0f} / {base:,.0f} = "
                      f"[bold]{batch.rate / base:.3f}[/bold]{speedup}")
    sqlite_batch = next((r for r in rows if r.database == "sqlite"
                         and r.what.startswith("batch")), None)
    if sqlite_batch:
        console.print(f"SQLite target {TARGET:,} CDRs/s: reached "
                      f"[bold]{sqlite_batch.rate / TARGET:.0%}[/bold] of it.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cdrs", type=int, default=100_000,
                        help="CDRs in the file (default 100,000; at most 1,000,000)")
    parser.add_argument("--engine-cdrs", type=int, default=2_000,
                        help="CDRs in batches of one for reference (default "
                             "2,000; 0: skip)")
    parser.add_argument("--seconds", type=float, default=SECONDS,
                        help=f"time limit of batches of one per database (default "
                             f"{SECONDS:.0f}; 0: none)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args(argv)
    n = args.cdrs
    if not 1 <= n <= cdrs.MAX_ROWS:
        parser.error(f"--cdrs must be 1 to {cdrs.MAX_ROWS:,}")
    console.print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}; load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="commcredits-bench-") as tmp:
        rows += run_database("sqlite", prepare_sqlite(Path(tmp) / "bench.db"), n,
                             args.engine_cdrs, args.seconds)
    if not args.sqlite_only:
        url = os.environ.get("COMMCREDITS_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
        version, sync = reset_postgres(url)
        console.print(f"PostgreSQL {version} (synchronous_commit={sync})")
        rows += run_database("postgres", url, n, args.engine_cdrs, args.seconds)
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
