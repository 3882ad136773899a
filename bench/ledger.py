"""Ledger write throughput: charges per second through the service layer, against a baseline.

What it measures, on SQLite (a temporary file) and PostgreSQL (``COMMCREDITS_BENCH_POSTGRES_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``):

- **service**: ``commcredits.services.funds.charge(svc, tenant_id, Money(...))``, one
  transaction per charge as in production: lock the tenant's credit row, apply due expiry,
  FIFO over the open lots, append the entry and its allocation, take from the lot, save the
  account row, check auto-recharge, commit. The clock is a ``FixedClock``: no clock query.
- **service + key**: the same with a new idempotency key on every charge (one more lookup).
- **baseline**: bare INSERTs of the same ledger rows on the raw DBAPI connection, one
  transaction per charge: one ``ledger_entries`` row, one ``ledger_allocations`` row and the
  lot ``UPDATE``. No lock, no reads, no domain code: what the database alone costs.
- **ratio**: service rate / baseline rate. The three single-process workloads run in
  interleaved rounds in the same run, so a noisy neighbour slows them alike.
- **multi-process**: 2 and 4 processes each charging their own tenant, and 4 processes
  charging one tenant (they serialize on its lock), through the service layer.
- **client CPU**: CPU time of the charging process(es) per charge: what Python and the driver
  cost, as opposed to waiting for the database.

Afterwards it checks the ledger invariants (sum of entries = balance = lots - debt) for every
tenant. It prints figures and asserts no timings: it is not a test. Machines here are shared,
so figures move from run to run; compare ratios, and rerun before reading much into a change.

- **--citus**: the PostgreSQL workloads again on a Citus coordinator
  (``COMMCREDITS_BENCH_CITUS_URL``, default the ``../shared/citus`` cluster), after
  ``--tenants`` funded tenants on each server, and each Citus figure over the PostgreSQL one.

Run: ``.venv/bin/python bench/ledger.py [--sqlite-only] [--charges N] [--citus]`` (or
``make bench``).
The PostgreSQL part DROPs and re-creates schema ``public`` of its database before migrating.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select, text

from benchdb import prepare_sqlite, reset_postgres
from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.adapters.db.engine import make_engine
from commcredits.adapters.db.keys import sqlite_next_id_sql
from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from commcredits.domain.money import Money
from commcredits.services import funds, tenants
from commcredits.services.auth import OPERATOR_CLI

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_CITUS_URL = "postgresql+psycopg://postgres@127.0.0.1:9700/citus"  # cluster.sh url
TENANTS = 100
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
CHARGE = Money(Decimal("0.07"), "USD")
CHARGE_MICROS = 70_000
WARMUP = 200
ROUNDS = 5
LOTS = ("400000.00", "300000.00", "300000.00")  # the charges all come from the oldest lot

console = Console(width=None if sys.stdout.isatty() else 132)

Charge = Callable[[int], None]


@dataclass
class Row:
    database: str
    what: str
    processes: int
    charges: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.charges / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.charges * 1e6 if self.charges else 0.0


# --- setup -------------------------------------------------------------------------------





def runtime(url: str) -> Runtime:
    return build(Settings(database_url=url), clock=FixedClock(NOW))


def funded_tenant(rt: Runtime, name: str) -> str:
    svc = rt.services
    tenant = tenants.create_tenant(
        svc, OPERATOR_CLI, name=name, country="US", billing_account_type="MOSA",
    )
    for amount in LOTS:
        funds.adjust(svc, OPERATOR_CLI, tenant.id, amount=amount, reason="bench")
    return tenant.id


# --- workloads: each yields a function that performs charge number i ---------------------


@contextmanager
def service_charges(rt: Runtime, tenant_id: str, *, keyed: bool) -> Iterator[Charge]:
    svc = rt.services
    if keyed:
        tag = os.urandom(4).hex()

        def one(i: int) -> None:
            funds.charge(svc, tenant_id, CHARGE, idempotency_key=f"call-{tag}-{i}")
    else:
        def one(i: int) -> None:
            funds.charge(svc, tenant_id, CHARGE)
    yield one


@contextmanager
def bare_inserts(engine: Engine, tenant_id: str) -> Iterator[Charge]:
    """The rows one charge writes, on the raw DBAPI connection, one transaction each."""
    with engine.connect() as sa_conn:
        lot_id = sa_conn.execute(
            select(t.lots.c.id).where(t.lots.c.tenant_id == tenant_id)
            .order_by(t.lots.c.purchased_at, t.lots.c.id).limit(1)
        ).scalar_one()
    sqlite = engine.dialect.name == "sqlite"
    # Stored as SQLAlchemy stores it: naive UTC, and on SQLite its text format.
    at: Any = NOW.replace(tzinfo=None)
    if sqlite:
        at = at.isoformat(" ", timespec="microseconds")
    ph = "?" if sqlite else "%s"
    # Keys are (tenant_id, id) (DIST-1): ids from the sequence, or max + 1 on SQLite.
    entry_id_sql, alloc_id_sql = (
        (sqlite_next_id_sql("ledger_entries"), sqlite_next_id_sql("ledger_allocations"))
        if sqlite else ("nextval('ledger_entries_id_seq')", "nextval('ledger_allocations_id_seq')")
    )
    insert_entry = (
        "INSERT INTO ledger_entries (id, tenant_id, kind, amount, debt_delta, at, reference, "
        f"description, lot_id, idempotency_key) VALUES ({entry_id_sql}, {ph}, {ph}, {ph}, "
        f"{ph}, {ph}, NULL, {ph}, NULL, NULL) RETURNING id"
    )
    insert_alloc = (
        "INSERT INTO ledger_allocations (id, tenant_id, entry_id, lot_id, amount) "
        f"VALUES ({alloc_id_sql}, {ph}, {ph}, {ph}, {ph})"
    )
    update_lot = (f"UPDATE lots SET remaining = remaining - {ph} "
                  f"WHERE tenant_id = {ph} AND id = {ph}")
    raw = engine.raw_connection()
    done = 0
    try:
        dbapi: Any = raw.driver_connection
        cur = dbapi.cursor()

        def one(_i: int) -> None:
            nonlocal done
            if sqlite:
                cur.execute("BEGIN IMMEDIATE")
            cur.execute(insert_entry, (tenant_id, "charge", -CHARGE_MICROS, 0, at, ""))
            entry_id = cur.fetchone()[0]
            cur.execute(insert_alloc, (tenant_id, entry_id, lot_id, CHARGE_MICROS))
            cur.execute(update_lot, (CHARGE_MICROS, tenant_id, lot_id))
            dbapi.commit()
            done += 1

        yield one
        cur.close()
    finally:
        raw.close()
    # The baseline moved money without touching the account row: book it there, so the
    # invariant check at the end holds for this tenant too.
    with engine.begin() as conn:
        conn.execute(
            t.credit_accounts.update().where(t.credit_accounts.c.tenant_id == tenant_id)
            .values(balance=t.credit_accounts.c.balance - done * CHARGE_MICROS)
        )


def interleaved(
    workloads: dict[str, Charge], n: int, rounds: int,
) -> dict[str, tuple[float, float]]:
    """Warm each workload up, then run n charges of each in interleaved rounds.

    Returns wall seconds and CPU seconds of this process per workload.
    """
    for one in workloads.values():
        for i in range(WARMUP):
            one(-1 - i)
    spent = {name: (0.0, 0.0) for name in workloads}
    counter = 0
    for r in range(rounds):
        chunk = n // rounds + (1 if r < n % rounds else 0)
        for name, one in workloads.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(chunk):
                one(counter)
                counter += 1
            w, c = spent[name]
            spent[name] = (w + time.perf_counter() - wall, c + time.process_time() - cpu)
    return spent


# --- multi-process -----------------------------------------------------------------------


def _worker(url: str, tenant_id: str, n: int, barrier: Barrier, out: Any) -> None:
    rt = runtime(url)
    try:
        svc = rt.services
        for _ in range(WARMUP // 4):
            funds.charge(svc, tenant_id, CHARGE)
        barrier.wait()
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            funds.charge(svc, tenant_id, CHARGE)
        out.put((start, time.perf_counter(), time.process_time() - cpu))
    finally:
        rt.close()


def multi_process(url: str, tenant_ids: list[str], n_each: int) -> tuple[float, float]:
    """One process per tenant id (ids may repeat): wall time of the timed part, summed CPU."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(tenant_ids))
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, tid, n_each, barrier, out))
        for tid in tenant_ids
    ]
    for p in procs:
        p.start()
    spans = [out.get() for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"a bench worker failed with exit code {p.exitcode}")
    wall = max(s[1] for s in spans) - min(s[0] for s in spans)
    return wall, sum(s[2] for s in spans)


# --- checks and report -------------------------------------------------------------------


def check_invariants(engine: Engine) -> None:
    """Sum of entries = balance = lots remaining - debt, for every tenant."""
    with engine.connect() as conn:
        for acc in conn.execute(select(t.credit_accounts)).all():
            entries = conn.execute(
                select(func.coalesce(func.sum(t.ledger_entries.c.amount), 0))
                .where(t.ledger_entries.c.tenant_id == acc.tenant_id)
            ).scalar_one()
            lots = conn.execute(
                select(func.coalesce(func.sum(t.lots.c.remaining), 0))
                .where(t.lots.c.tenant_id == acc.tenant_id)
            ).scalar_one()
            if not entries == acc.balance == lots - acc.debt:  # Decimals, all three
                raise AssertionError(
                    f"ledger invariants broken for tenant {acc.tenant_id}: entries {entries}, "
                    f"balance {acc.balance}, lots {lots}, debt {acc.debt}"
                )


def run_database(label: str, url: str, n: int, rounds: int, tenants_first: int = 0) \
        -> list[Row]:
    rows: list[Row] = []
    rt = runtime(url)
    try:
        # Many tenants (--citus): spread over the shards, as a sharded deployment holds.
        for i in range(tenants_first):
            funded_tenant(rt, f"bench {label} other {i}")
        service_tid = funded_tenant(rt, f"bench {label} service")
        keyed_tid = funded_tenant(rt, f"bench {label} keyed")
        base_tid = funded_tenant(rt, f"bench {label} baseline")
        with service_charges(rt, service_tid, keyed=False) as plain, \
                service_charges(rt, keyed_tid, keyed=True) as keyed, \
                bare_inserts(rt.engine, base_tid) as bare:
            spent = interleaved({"service": plain, "keyed": keyed, "baseline": bare}, n, rounds)
        rows.append(Row(label, "service charge", 1, n, *spent["service"]))
        rows.append(Row(label, "service charge + idempotency key", 1, n, *spent["keyed"]))
        rows.append(Row(label, "baseline: bare INSERTs (DBAPI)", 1, n, *spent["baseline"]))
        n_mp = max(n // 2, 1)
        for procs in (2, 4):
            ids = [funded_tenant(rt, f"bench {label} mp{procs}-{i}") for i in range(procs)]
            rows.append(Row(label, "service, one tenant per process", procs, n_mp * procs,
                            *multi_process(url, ids, n_mp)))
        one = funded_tenant(rt, f"bench {label} shared")
        rows.append(Row(label, "service, all processes on one tenant", 4, n_mp * 4,
                        *multi_process(url, [one] * 4, n_mp)))
        check_invariants(rt.engine)
    finally:
        rt.close()
    return rows


def report(rows: list[Row]) -> None:
    table = Table(title="Charges per second, one transaction per charge")
    for name, justify in (("database", "left"), ("what", "left"), ("procs", "right"),
                          ("charges", "right"), ("seconds", "right"),
                          ("charges/s", "right"), ("vs baseline", "right"),
                          ("CPU µs/charge", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    baselines = {r.database: r.rate for r in rows if r.what.startswith("baseline")}
    for r in rows:
        base = baselines.get(r.database)
        ratio = f"{r.rate / base:.2f}" if base and not r.what.startswith("baseline") else ""
        table.add_row(r.database, r.what, str(r.processes), str(r.charges),
                      f"{r.seconds:.2f}", f"{r.rate:,.0f}", ratio, f"{r.cpu_us:,.0f}")
    console.print(table)
    for db, base in baselines.items():
        service = next(r for r in rows if r.database == db and r.what == "service charge")
        console.print(
            f"{db}: service/baseline = {service.rate:,.0f} / {base:,.0f} = "
            f"[bold]{service.rate / base:.2f}[/bold]"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--charges", type=int, default=3000,
                        help="timed charges per single-process workload (default 3000); "
                             "each multi-process run does half as many per process")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help=f"interleaved rounds of the single-process workloads ({ROUNDS})")
    parser.add_argument("--citus", action="store_true",
                        help="also run on a Citus coordinator (COMMCREDITS_BENCH_CITUS_URL, "
                             "default the ../shared/citus cluster), beside plain PostgreSQL")
    parser.add_argument("--tenants", type=int, default=TENANTS,
                        help=f"with --citus: funded tenants created first, on both servers "
                             f"({TENANTS})")
    args = parser.parse_args(argv)
    n = max(args.charges, 1)
    rounds = max(min(args.rounds, n), 1)
    console.print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="commcredits-bench-") as tmp:
        rows += run_database("sqlite", prepare_sqlite(Path(tmp) / "bench.db"), n, rounds)
    if not args.sqlite_only:
        url = os.environ.get("COMMCREDITS_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
        reset_postgres(url)
        engine = make_engine(url, pool=False)
        try:
            with engine.connect() as conn:
                version = conn.execute(text("SHOW server_version")).scalar_one()
                sync = conn.execute(text("SHOW synchronous_commit")).scalar_one()
        finally:
            engine.dispose()
        console.print(f"PostgreSQL {version} (synchronous_commit={sync})")
        many = args.tenants if args.citus else 0
        rows += run_database("postgres", url, n, rounds, many)
        if args.citus:
            citus_url = os.environ.get("COMMCREDITS_BENCH_CITUS_URL", DEFAULT_CITUS_URL)
            version, sync = reset_postgres(citus_url)
            console.print(f"Citus coordinator, PostgreSQL {version} "
                          f"(synchronous_commit={sync}), {many} other tenants on each server")
            rows += run_database("citus", citus_url, n, rounds, many)
    report(rows)
    if args.citus:
        console.print("citus / postgres, same run:")
        for what, procs in dict.fromkeys((r.what, r.processes) for r in rows):
            pg = next((r for r in rows if r.database == "postgres" and r.what == what
                       and r.processes == procs), None)
            ct = next((r for r in rows if r.database == "citus" and r.what == what
                       and r.processes == procs), None)
            if pg and ct:
                console.print(f"  {what} ({procs}): {ct.rate:,.0f} / {pg.rate:,.0f} = "
                              f"[bold]{ct.rate / pg.rate:.2f}[/bold]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
