"""Many processes charging one tenant at once (FUND-3, FUND-5, FUND-6).

Each child process builds its own runtime (engine, unit of work, clock) from the database URL,
as an API worker would, waits at a barrier so that all of them start together, and charges
the same tenant. SQLite serializes writers with WAL and BEGIN IMMEDIATE; PostgreSQL locks the
tenant's credit row with SELECT … FOR UPDATE. Afterwards nothing may be lost or doubled: the
balance is purchases minus charges to the micro-unit, and every idempotency key was applied
exactly once.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.bootstrap import build
from commcredits.config import Settings
from commcredits.domain.ledger import EntryKind
from commcredits.domain.money import Money
from commcredits.services import funds, queries
from commcredits.services.context import Services
from tests.support import OPERATOR, add_card, buy, check_ledger_invariants, make_tenant, usd, utc

WORKERS = 8
CHARGES_PER_WORKER = 200
NOW = utc(2026, 1, 15, 9, 0)
JOIN_TIMEOUT_S = 120


def charge_amount(worker: int, i: int) -> Decimal:
    """Deterministic amounts from 0.01 to 2.50, some with micro-units."""
    cents = Decimal((worker * 37 + i * 11) % 250 + 1).scaleb(-2)
    return cents + (Decimal("0.000001") if i % 7 == 0 else 0)


def _charge_worker(url: str, now: datetime, tenant_id: str, worker: int,
                   jobs: list[tuple[str, str]], barrier: Any, results: Any) -> None:
    """Child process: build a runtime, wait for the others, then charge every (key, amount)."""
    try:
        runtime = build(Settings(database_url=url), clock=FixedClock(now))
        try:
            done = []
            barrier.wait(timeout=60)
            for key, amount in jobs:
                result = funds.charge(runtime.services, tenant_id, Money(Decimal(amount), "USD"),
                                      idempotency_key=key, reference=key)
                done.append((key, result.entry_id, result.replayed, str(result.amount.amount)))
            results.put((worker, "ok", done))
        finally:
            runtime.close()
    except BaseException:  # report everything to the parent, which fails the test
        results.put((worker, "error", traceback.format_exc()))


def run_workers(url: str, tenant_id: str,
                jobs: list[list[tuple[str, str]]]) -> dict[int, list[tuple[str, int, bool, str]]]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(jobs))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_charge_worker,
                    args=(url, NOW, tenant_id, w, worker_jobs, barrier, results))
        for w, worker_jobs in enumerate(jobs)
    ]
    for p in procs:
        p.start()
    outcome: dict[int, list[tuple[str, int, bool, str]]] = {}
    errors: list[str] = []
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    try:
        while len(outcome) + len(errors) < len(procs):
            try:
                worker, status, payload = results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if status == "ok":
                outcome[worker] = payload
            else:
                errors.append(f"worker {worker}:\n{payload}")
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()
    assert not errors, "\n".join(errors)
    assert len(outcome) == len(procs), "a worker did not report in time"
    assert all(p.exitcode == 0 for p in procs)
    return outcome


def ledger_rows(engine: Engine, tenant_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(
            select(t.ledger_entries).where(t.ledger_entries.c.tenant_id == tenant_id)
            .order_by(t.ledger_entries.c.id)
        ))


@pytest.mark.slow
@pytest.mark.rule("FUND-5")
@pytest.mark.rule("FUND-6")
@pytest.mark.rule("FUND-3")
def test_eight_processes_charging_one_tenant_at_once_lose_and_double_nothing(
    db_url: str, svc: Services, engine: Engine,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    lots = [buy(svc, tid, amount, card).lot for amount in ("500.00", "700.00", "300.00")]
    purchased = Decimal("1500.00")
    jobs = [
        [(f"w{w}-c{i}", str(charge_amount(w, i))) for i in range(CHARGES_PER_WORKER)]
        for w in range(WORKERS)
    ]
    charged = sum((Decimal(a) for worker in jobs for _, a in worker), Decimal(0))
    assert charged > purchased  # the run ends in debt (FUND-5)

    outcome = run_workers(db_url, tid, jobs)

    # every child got its own, fresh entry for every key
    sent = {key: amount for worker in jobs for key, amount in worker}
    answered = [row for rows in outcome.values() for row in rows]
    assert len(answered) == WORKERS * CHARGES_PER_WORKER
    assert not any(replayed for _, _, replayed, _ in answered)
    assert len({entry_id for _, entry_id, _, _ in answered}) == len(answered)
    assert {key: Decimal(amount) for key, _, _, amount in answered} == {
        k: Decimal(v) for k, v in sent.items()
    }

    # the ledger: exactly one charge entry per key, for the amount sent
    rows = ledger_rows(engine, tid)
    charges = [r for r in rows if r.kind == EntryKind.CHARGE.value]
    assert len(charges) == WORKERS * CHARGES_PER_WORKER
    assert len({r.idempotency_key for r in charges}) == len(charges)
    assert {r.idempotency_key: -r.amount for r in charges} == {
        k: Decimal(v) for k, v in sent.items()
    }
    with engine.connect() as conn:
        per_key = conn.execute(
            select(func.count()).select_from(t.ledger_entries)
            .where(t.ledger_entries.c.tenant_id == tid,
                   t.ledger_entries.c.idempotency_key.is_not(None))
        ).scalar_one()
    assert per_key == len(sent)

    # the balance is purchases minus charges, to the micro-unit; the excess is debt
    view = queries.credits(svc, OPERATOR, tid)
    assert view.balance == Money(purchased - charged, "USD")
    assert view.debt == Money(charged - purchased, "USD")
    assert [x.remaining for x in view.lots] == [usd("0.00")] * 3
    # FIFO across processes: each lot was emptied in full, and the debt began only after
    debt_entries = [r for r in charges if r.debt_delta > 0]
    first_debt = min(r.id for r in debt_entries)
    assert all(r.debt_delta == 0 for r in charges if r.id < first_debt)
    assert sum((r.debt_delta for r in charges), Decimal(0)) == charged - purchased
    with engine.connect() as conn:
        taken = dict(conn.execute(
            select(t.ledger_allocations.c.lot_id, func.count())
            .where(t.ledger_allocations.c.tenant_id == tid)
            .group_by(t.ledger_allocations.c.lot_id)
        ).all())
    assert set(taken) == {lot.id for lot in lots}
    check_ledger_invariants(engine)


@pytest.mark.slow
@pytest.mark.rule("FUND-6")
@pytest.mark.rule("FUND-5")
def test_one_idempotency_key_replayed_from_many_processes_at_once_charges_once(
    db_url: str, svc: Services, engine: Engine,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "50.00", card)
    # each worker sends the same key several times, interleaved with keys of its own
    jobs = [
        [("same-call", "12.34"), (f"own-{w}", "0.01"), ("same-call", "12.34"),
         ("same-call", "12.34")]
        for w in range(6)
    ]

    outcome = run_workers(db_url, tid, jobs)

    same = [row for rows in outcome.values() for row in rows if row[0] == "same-call"]
    assert len(same) == 18
    assert len({entry_id for _, entry_id, _, _ in same}) == 1
    assert [replayed for _, _, replayed, _ in same].count(False) == 1
    assert {amount for _, _, _, amount in same} == {"12.34"}
    rows = ledger_rows(engine, tid)
    assert [r.idempotency_key for r in rows if r.idempotency_key == "same-call"] == ["same-call"]
    assert len([r for r in rows if r.kind == EntryKind.CHARGE.value]) == 1 + 6
    view = queries.credits(svc, OPERATOR, tid)
    assert view.balance == usd("37.60")  # 50.00 - 12.34 - 6 × 0.01
    assert view.debt == usd("0.00")
    check_ledger_invariants(engine)
