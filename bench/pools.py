"""Pool lookups per second for the call-authorization path, against a baseline.

A tenant with 10,000 users (US, PR, GB and DE; MCOPSTN1, MCOPSTN2, MCOPSTN8, E5 and Audio
Conferencing), some minutes already used. Each lookup asks "how many minutes are left in the
pool for this user and this destination, at this time?" for a random user, destination and
moment of the month:

- **cached, in the caller's unit of work**: ``pools.minutes_left(uow, …)`` inside an open
  read transaction, as call authorization will use it (it already holds a transaction). The
  tenant's license index is cached per process; each lookup makes one query (the directory
  version and the pool's usage together).
- **cached, own unit of work**: ``pools.minutes_left(svc, …)``: a transaction per lookup.
- **baseline (SQL per lookup)**: the straightforward way, in an open transaction: read the
  user's licenses at that moment, count the holders of the plan in the region at that moment
  (``COUNT(DISTINCT user_id)`` over the assignment intervals), and read the pool's usage.
- **ratio**: the cached rate over the baseline, both measured in this run.

It also checks that every cached answer equals the baseline's. It prints figures; it asserts
no timings and is not a test.

Run: ``.venv/bin/python bench/pools.py [--lookups N] [--postgres URL]``. With ``--postgres``
the same runs on PostgreSQL too (its schema ``public`` is DROPped and re-created first).
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, and_, func, or_, select, text

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.adapters.db.engine import make_engine
from commcredits.adapters.db.migrate import upgrade
from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from commcredits.domain.licensing import sku_table
from commcredits.domain.pools import (
    PoolKind,
    PoolRef,
    is_domestic,
    month_of,
    plan_for,
    region_countries,
    region_of,
    zone_a,
)
from commcredits.services import licenses, pools, tenants
from commcredits.services.auth import OPERATOR_CLI

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
# (count, usage location, licenses)
MIX = [
    (4000, "US", ["MCOEV", "MCOPSTN1"]),
    (1000, "PR", ["SPE_E5", "MCOPSTN1"]),
    (2000, "GB", ["MCOEV", "MCOPSTN2"]),
    (1500, "DE", ["SPE_E5", "MCOPSTN1"]),
    (1000, "US", ["MCOEV", "MCOPSTN8"]),
    (500, "US", ["MCOMEETADV"]),
]
DESTINATIONS = ["US", "US", "US", "PR", "GB", "GB", "DE", "DE", "FR", "JP"]

console = Console(width=None if sys.stdout.isatty() else 120)


def seed(rt: Runtime) -> tuple[str, list[str]]:
    svc = rt.services
    tenant = tenants.create_tenant(svc, OPERATOR_CLI, name="Bench", country="US",
                                   billing_account_type="MOSA")
    seats: dict[str, int] = {}
    for count, _, skus in MIX:
        for sku in skus:
            seats[sku] = seats.get(sku, 0) + count
    for sku, quantity in seats.items():
        licenses.buy_seats(svc, OPERATOR_CLI, tenant.id, sku=sku, quantity=quantity)
    rows, upns, n = [], [], 0
    now = svc.clock.now()
    for count, location, _ in MIX:
        for _ in range(count):
            upn = f"user{n}@bench.example"
            rows.append({"id": str(uuid.uuid4()), "tenant_id": tenant.id, "upn": upn,
                         "display_name": f"User {n}", "usage_location": location,
                         "blocked": False, "created_at": now, "updated_at": now})
            upns.append(upn)
            n += 1
    with rt.engine.begin() as conn:
        conn.execute(t.users.insert(), rows)
    lines, n = ["upn,sku,action"], 0
    for count, _, skus in MIX:
        for _ in range(count):
            lines.extend(f"user{n}@bench.example,{sku},add" for sku in skus)
            n += 1
    report = licenses.bulk_licenses(svc, OPERATOR_CLI, tenant.id, "\n".join(lines))
    assert report.failed == 0
    rng = random.Random(7)
    for i in range(300):  # some usage in many pools
        upn = rng.choice(upns)
        q = pools.minutes_left(svc, tenant.id, upn, rng.choice(DESTINATIONS), NOW)
        if q.pool_key:
            pools.consume(svc, tenant.id, q.pool_key, rng.randint(1, 1800), NOW,
                          reference=f"seed-{i}")
    return tenant.id, upns


# --- The baseline: plain SQL per lookup ----------------------------------------------------

A, U, PU = t.license_assignments, t.users, t.pool_usage


def _active(at: datetime) -> object:
    return and_(A.c.assigned_at <= at, or_(A.c.removed_at.is_(None), A.c.removed_at > at))


def baseline_lookup(
    conn: Connection, tenant_id: str, upn: str, destination: str, at: datetime,
) -> tuple[str | None, int | None]:
    user = conn.execute(select(U.c.id, U.c.usage_location).where(
        U.c.tenant_id == tenant_id, U.c.upn == upn)).one()
    held = {r.sku: r.usage_location for r in conn.execute(
        select(A.c.sku, A.c.usage_location).where(
            A.c.tenant_id == tenant_id, A.c.user_id == user.id, _active(at)))}
    table = sku_table()
    plan = next((s for s in sorted(held) if table[s].is_calling_plan), None)
    if plan is None or table[plan].is_payg:
        return None, None
    location = held[plan] or user.usage_location
    region = region_of(location)
    kind = PoolKind.DOMESTIC if is_domestic(location, destination) else PoolKind.INTERNATIONAL
    minutes = plan_for(plan, kind, region)
    if minutes is None:
        return None, None
    ref = PoolRef(plan, kind, region, user.id if minutes.per_user else None)
    if minutes.per_user:
        holders = 1
    else:
        holders = conn.execute(select(func.count(func.distinct(A.c.user_id))).where(
            A.c.tenant_id == tenant_id, A.c.sku == plan,
            A.c.usage_location.in_(region_countries(region)), _active(at))).scalar_one()
    used = conn.execute(select(PU.c.used_minutes).where(
        PU.c.tenant_id == tenant_id, PU.c.month == month_of(at),
        PU.c.pool_key == ref.key)).scalar_one_or_none() or 0
    return ref.key, max(0, minutes.minutes * holders - used)


# --- Runs --------------------------------------------------------------------------------


def timed(n: int, fn: Callable[[int], object]) -> float:
    for i in range(min(200, n)):  # warm-up
        fn(i)
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - started)


def bench(name: str, url: str, lookups: int) -> list[tuple[str, str, float, str]]:
    rt = build(Settings(database_url=url, smtp_host=None,
                        outbox_dir=tempfile.mkdtemp()), clock=FixedClock(NOW - timedelta(days=30)))
    try:
        started = time.perf_counter()
        tid, upns = seed(rt)
        seeded = time.perf_counter() - started
        console.print(f"[dim]{name}: seeded 10,000 users in {seeded:.1f} s[/]")
        rng = random.Random(42)
        cases = [(rng.choice(upns), rng.choice(DESTINATIONS),
                  NOW + timedelta(seconds=rng.randint(0, 10 * 86400))) for _ in range(lookups)]
        svc = rt.services
        with svc.uow(readonly=True) as uow, rt.engine.connect() as conn:
            for upn, dest, at in cases[:2000]:  # the cached answers are the baseline's
                q = pools.minutes_left(uow, tid, upn, dest, at)
                expected = baseline_lookup(conn, tid, upn, dest, at)
                assert (q.pool_key, q.minutes_left) == expected, (upn, dest, q, expected)
            in_uow = timed(lookups, lambda i: pools.minutes_left(uow, tid, *cases[i]))
        own = timed(lookups // 4, lambda i: pools.minutes_left(svc, tid, *cases[i]))
        base_n = max(200, lookups // 10)
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            baseline = timed(base_n, lambda i: baseline_lookup(conn, tid, *cases[i]))
        pools.INDEX_CACHE.clear()
        with svc.uow(readonly=True) as uow:
            started = time.perf_counter()
            pools.license_index(uow, tid)
            build_ms = (time.perf_counter() - started) * 1000
        dial = timed(lookups // 4, lambda i: pools.minutes_left(
            svc, tid, upns[-1 - i % 500], sorted(zone_a())[i % 44], cases[i][2], dial_out=True))
        return [
            (name, "cached, in the caller's unit of work", in_uow,
             f"{in_uow / baseline:.1f}× baseline"),
            (name, "cached, own unit of work per lookup", own, f"{own / baseline:.1f}× baseline"),
            (name, "cached dial-out, own unit of work", dial, f"{dial / baseline:.1f}× baseline"),
            (name, "baseline: SQL per lookup (open transaction)", baseline, "1.0×"),
            (name, "rebuilding the index after a change", 1000 / build_ms,
             f"{build_ms:.0f} ms per rebuild"),
        ]
    finally:
        rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=50_000)
    parser.add_argument("--postgres", help="also run on this PostgreSQL URL (schema reset)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url, pool=False)
        upgrade(engine)
        engine.dispose()
        rows += bench("SQLite", url, args.lookups)
    if args.postgres:
        engine = make_engine(args.postgres, pool=False)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        engine.dispose()
        rows += bench("PostgreSQL", args.postgres, args.lookups)
    table = Table(title="Pool lookups per second (10,000 users; one process)")
    for h in ("database", "what", "per second", "note"):
        table.add_column(h, justify="right" if h == "per second" else "left")
    for name, what, rate, note in rows:
        table.add_row(name, what, f"{rate:,.0f}", note)
    console.print(table)
    console.print(f"[dim]Python {platform.python_version()} on {platform.machine()}, "
                  f"{args.lookups:,} lookups per cached run[/]")


if __name__ == "__main__":
    main()
