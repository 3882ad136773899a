"""Bulk postings of CDR batches (FUND-10, FUND-6, CDR-2, AR-2): a batch writes one `charge`
entry per chunk, split after a queued auto-recharge or the charge that depleted the balance,
and leaves the balance, lots, debt, recharges and emails of charging its calls one by one:
the same calls ended live, or the single-call CDR path, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.domain import postings
from commcredits.services import calls, cdr_posting, cdrs, rates, recharge
from commcredits.services.context import Services
from tests.support import GOOD_CARD, OPERATOR, add_card, buy, make_tenant, utc
from tests.support_directory import add_users
from tests.support_directory import buy as buy_seats

HEADER = ("UsageId,Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time,"
          "Duration Seconds,Conference ID")
DESTINATIONS = ("+447400123456", "+12025550123", "+4915112345678", "+33612345678",
                "+81312345678", "+41791234567", "+971501234567")
DECLINED = "4000000000000002"
# (call id, UPN, destination, seconds)
CallRow = tuple[str, str, str, int]


def set_up(svc: Services, *, first: str = "50.00", trigger: str | None = "40.00",
           card: str = GOOD_CARD) -> str:
    """A tenant with ``first`` in credits, auto-recharge of 50.00 below ``trigger`` (None:
    off) paid by ``card``, and three pay-as-you-go users, whose calls credits pay."""
    tid = make_tenant(svc)
    good = add_card(svc, tid)
    buy(svc, tid, first, good)
    if trigger is not None:
        pay = good if card == GOOD_CARD else add_card(svc, tid, card)
        recharge.configure(svc, OPERATOR, tid, enabled=True, amount="50.00", trigger=trigger,
                           payment_method_id=pay)
    buy_seats(svc, tid, MCOEV=3, MCOPSTN_PAYG_1=3)
    add_users(svc, tid, 3, "US", ("MCOEV", "MCOPSTN_PAYG_1", "MCOPSTNC"), prefix="fay")
    return tid


def cdr_file(rows: list[CallRow], last_start: datetime) -> str:
    """The calls as a CDR file, started a second apart in the order given, the last at
    ``last_start``."""
    first = last_start - timedelta(seconds=len(rows))
    lines = [HEADER] + [
        f",{call_id},{upn},user_out,+12065550100,{callee},"
        f"{(first + timedelta(seconds=n)).isoformat().replace('+00:00', 'Z')},{seconds},"
        for n, (call_id, upn, callee, seconds) in enumerate(rows)]
    return "\n".join(lines) + "\n"


def random_calls(rng: random.Random, count: int, prefix: str = "c",
                 longest: int = 180) -> list[CallRow]:
    return [(f"{prefix}{i:05d}", f"fay{rng.randrange(3)}@contoso.com",
             rng.choice(DESTINATIONS), rng.randrange(longest + 1)) for i in range(count)]


def state(engine: Engine, tid: str) -> dict[str, Any]:
    """What charging calls leaves, apart from which entry paid which call (FUND-10)."""
    with engine.connect() as conn:
        def rows(table: t.Table, *order: Any) -> list[Any]:
            return list(conn.execute(select(table).where(table.c.tenant_id == tid)
                                     .order_by(*order)))

        account = conn.execute(select(t.credit_accounts)
                               .where(t.credit_accounts.c.tenant_id == tid)).one()
        lots = rows(t.lots, t.lots.c.purchased_at, t.lots.c.id)
        lot_no = {r.id: n for n, r in enumerate(lots)}
        entries = rows(t.ledger_entries, t.ledger_entries.c.id)
        allocations = rows(t.ledger_allocations, t.ledger_allocations.c.id)
        charge_ids = {r.id for r in entries if r.kind == "charge"}
        taken = Counter[int]()
        for a in allocations:
            if a.entry_id in charge_ids:
                taken[lot_no[a.lot_id]] += a.amount
        return {
            "account": (account.balance, account.debt, account.next_expiry_at),
            "lots": [(r.amount, r.remaining, r.purchased_at, r.expires_at, r.source)
                     for r in lots],
            "other entries": [(r.kind, r.amount, r.debt_delta, r.at, lot_no.get(r.lot_id))
                              for r in entries if r.kind != "charge"],
            "charged": (sum(r.amount for r in entries if r.kind == "charge"),
                        sum(r.debt_delta for r in entries if r.kind == "charge"),
                        sorted(taken.items())),
            "recharges": sorted((r.chain, r.status, r.amount, r.attempt, r.failure,
                                 lot_no.get(r.lot_id, -1))
                                for r in rows(t.recharge_requests, t.recharge_requests.c.id)),
            "emails": [(r.kind, r.subject) for r in rows(t.email_outbox, t.email_outbox.c.id)],
            "calls": {(r.call_id, r.status, r.duration, r.charge, r.funding)
                      for r in rows(t.calls, t.calls.c.call_id)},
        }


def charge_entries(engine: Engine, tid: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(t.ledger_entries).where(
            t.ledger_entries.c.tenant_id == tid, t.ledger_entries.c.kind == "charge")
            .order_by(t.ledger_entries.c.id)))


def splits(engine: Engine, tid: str) -> int:
    """Where a batch's entry may be split: each recharge queued, each depletion email."""
    with engine.connect() as conn:
        queued = conn.execute(select(func.count()).select_from(t.recharge_requests).where(
            t.recharge_requests.c.tenant_id == tid)).scalar_one()
        depleted = conn.execute(select(func.count()).select_from(t.email_outbox).where(
            t.email_outbox.c.tenant_id == tid,
            t.email_outbox.c.kind == "balance_depleted")).scalar_one()
    return int(queued) + int(depleted)


def paid_by(engine: Engine, tid: str) -> dict[int, tuple[int, Any]]:
    """Entry id → (how many calls it paid, the sum of their charges)."""
    with engine.connect() as conn:
        c = t.calls
        return {r.entry_id: (int(r.n), r.total) for r in conn.execute(
            select(c.c.entry_id, func.count().label("n"),
                   func.sum(c.c.charge, type_=c.c.charge.type).label("total"))
            .where(c.c.tenant_id == tid, c.c.entry_id.is_not(None)).group_by(c.c.entry_id))}


@pytest.mark.rule("FUND-10")
@pytest.mark.rule("FUND-6")
@pytest.mark.rule("CDR-2")
@pytest.mark.rule("AR-2")
def test_1000_cdrs_post_one_entry_per_chunk_plus_splits_and_leave_what_live_calls_leave(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    rates.import_samples(svc, OPERATOR, only_missing=True)
    batched, live = set_up(svc), set_up(svc)  # on 15 January
    now = utc(2026, 1, 20, 12, 0)
    clock.set(now)
    rows = random_calls(random.Random(10), 1_000)
    report = cdrs.import_cdrs(svc, OPERATOR, batched, cdr_file(rows, now - timedelta(hours=1)))
    assert (report.accepted, report.rejected) == (1_000, [])
    for call_id, upn, callee, seconds in rows:  # the same calls, ended live one by one
        calls.authorize(svc, OPERATOR, live, {
            "call_id": call_id, "call_type": "user_out", "user": upn,
            "caller": "+12065550100", "callee": callee})
        calls.end(svc, OPERATOR, live, call_id, seconds)

    assert state(engine, batched) == state(engine, live)
    entries = charge_entries(engine, batched)
    recharges = splits(engine, batched)
    assert recharges >= 2  # the batch crossed the trigger, more than once
    assert len(entries) <= -(-1_000 // 10_000) + recharges
    assert len(charge_entries(engine, live)) == sum(1 for r in rows if r[3] > 0)
    paid = paid_by(engine, batched)
    assert sum(n for n, _ in paid.values()) == sum(1 for r in rows if r[3] > 0)
    for entry in entries:  # each entry is its calls' charges, and names the batch
        assert -entry.amount == paid[entry.id][1]
        assert entry.reference.startswith("cdr-batch:") \
            and entry.idempotency_key == entry.reference
        assert paid[entry.id][0] > 1


@pytest.mark.rule("FUND-10")
@pytest.mark.rule("FUND-6")
@pytest.mark.rule("NOTE-1")
def test_the_entry_that_depleted_the_balance_ends_there_and_the_email_names_it(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    rates.import_samples(svc, OPERATOR, only_missing=True)
    tid = set_up(svc, trigger=None)
    now = utc(2026, 1, 20, 12, 0)
    clock.set(now)
    rows = [(f"d{i}", "fay0@contoso.com", "+447400123456", 3600) for i in range(12)]
    report = cdrs.import_cdrs(svc, OPERATOR, tid, cdr_file(rows, now - timedelta(hours=1)))
    assert report.accepted == 12
    entries = charge_entries(engine, tid)
    assert len(entries) == 2  # up to the charge that crossed 0, then the rest, into debt
    with engine.connect() as conn:
        (event,) = conn.execute(select(t.email_outbox.c.event_id).where(
            t.email_outbox.c.tenant_id == tid,
            t.email_outbox.c.kind == "balance_depleted")).scalars()
        account = conn.execute(select(t.credit_accounts)
                               .where(t.credit_accounts.c.tenant_id == tid)).one()
    assert event == f"balance-depleted:{entries[0].id}"
    assert -entries[0].amount >= Decimal("50.00") > -entries[0].amount - Decimal("15.00")
    assert account.debt == entries[0].debt_delta + entries[1].debt_delta > 0
    assert account.balance == Decimal("50.00") + entries[0].amount + entries[1].amount


@st.composite
def mixes(draw: st.DrawFn) -> dict[str, Any]:
    """A random mix: how much is bought when, auto-recharge on or off (a good card or a
    declined one), the trigger, a chunk size, and two files of calls, the second imported
    after the first lot expired."""
    return {
        "first": draw(st.sampled_from(("50.00", "80.00"))),
        "trigger": draw(st.sampled_from((None, "5.00", "30.00", "75.00"))),
        "card": draw(st.sampled_from((GOOD_CARD, GOOD_CARD, DECLINED))),
        "chunk": draw(st.integers(3, 60)),
        "seed": draw(st.integers(0, 10_000)),
        "calls": (draw(st.integers(1, 60)), draw(st.integers(1, 60))),
        "longest": draw(st.sampled_from((60, 600, 3600, 7200))),
    }


@pytest.mark.rule("FUND-10")
@pytest.mark.rule("FUND-6")
@pytest.mark.rule("FUND-4")
@pytest.mark.rule("CDR-2")
@pytest.mark.rule("AR-2")
def test_random_batches_with_recharges_and_an_expiry_post_in_bulk_what_one_by_one_charges_leave(
    svc: Services, clock: FixedClock, engine: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    rates.import_samples(svc, OPERATOR, only_missing=True)
    bought = utc(2025, 1, 20, 12, 0)  # the first lot expires on 2026-01-20 12:00

    @settings(max_examples=15, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(mix=mixes())
    def run(mix: dict[str, Any]) -> None:
        monkeypatch.setattr(cdrs, "CHUNK", mix["chunk"])
        clock.set(bought)
        tenants = [set_up(svc, first=mix["first"], trigger=mix["trigger"], card=mix["card"])
                   for _ in range(2)]
        clock.set(bought + timedelta(days=200))
        for tid in tenants:  # a second, later lot, which outlives the first
            buy(svc, tid, "50.00", add_card(svc, tid))
        rng = random.Random(mix["seed"])
        before, after = (random_calls(rng, n, prefix=p, longest=mix["longest"])
                         for n, p in zip(mix["calls"], ("a", "b"), strict=True))
        # The first file is imported an hour before the first lot expires, the second an
        # hour after: the calls straddle the expiry, which falls between the chunks.
        for at, rows in ((utc(2026, 1, 20, 11, 0), before), (utc(2026, 1, 20, 13, 0), after)):
            clock.set(at)
            body = cdr_file(rows, at - timedelta(minutes=30))
            monkeypatch.setattr(cdrs, "CHUNK", 1)  # each call a batch of one
            one = cdrs.import_cdrs(svc, OPERATOR, tenants[0], body)
            monkeypatch.setattr(cdrs, "CHUNK", mix["chunk"])
            many = cdrs.import_cdrs(svc, OPERATOR, tenants[1], body)
            assert (many.accepted, many.rejected) == (one.accepted, one.rejected)
        single, batched = (state(engine, tid) for tid in tenants)
        assert batched == single
        entries = charge_entries(engine, tenants[1])
        chunks = sum(-(-len(rows) // mix["chunk"]) for rows in (before, after))
        assert len(entries) <= chunks + splits(engine, tenants[1])
        paid = paid_by(engine, tenants[1])
        assert all(-e.amount == paid[e.id][1] for e in entries)

    run()


@pytest.mark.rule("FUND-10")
def test_an_entry_holds_at_most_max_calls_calls(
    svc: Services, clock: FixedClock, engine: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """10,000 calls per entry at most, here 5 (the same code, a smaller bound)."""
    monkeypatch.setattr(postings, "MAX_CALLS", 5)
    monkeypatch.setattr(cdr_posting, "MAX_CALLS", 5)
    rates.import_samples(svc, OPERATOR, only_missing=True)
    tid = set_up(svc, trigger=None)
    now = utc(2026, 1, 20, 12, 0)
    clock.set(now)
    rows = [(f"m{i}", "fay1@contoso.com", "+12025550123", 60) for i in range(23)]
    assert cdrs.import_cdrs(svc, OPERATOR, tid, cdr_file(rows, now)).accepted == 23
    entries = charge_entries(engine, tid)
    paid = paid_by(engine, tid)
    assert [paid[e.id][0] for e in entries] == [5, 5, 5, 5, 3]
    assert [e.reference.rsplit(":", 1)[1] for e in entries] == ["0", "1", "2", "3", "4"]


@pytest.mark.rule("CDR-1")
@pytest.mark.rule("CDR-3")
@pytest.mark.rule("AR-2")
def test_a_cdr_a_concurrent_import_stores_between_two_runs_of_a_chunk_is_charged_once(
    svc: Services, clock: FixedClock, engine: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chunk's stored keys are read once, by its first run: a row another import stores
    while this one buys a recharge (between two runs) still refuses the run that would
    store it again, and the run's records, applied again as batches of one, are each
    accepted or found stored, none lost and none charged twice."""
    rates.import_samples(svc, OPERATOR, only_missing=True)
    tid, reference = set_up(svc), set_up(svc)
    now = utc(2026, 1, 20, 12, 0)
    clock.set(now)
    rows = [*random_calls(random.Random(10), 999),
            ("late", "fay1@contoso.com", "+447400123456", 120)]
    body = cdr_file(rows, now - timedelta(hours=1))
    process_request, concurrent = cdrs.process_request, []

    def recharge_while_another_import_runs(svc: Services, tenant_id: str, request_id: str,
                                          ) -> bool:
        if not concurrent:  # the first recharge: the last CDR arrives through another import
            concurrent.append(cdrs.import_cdrs(svc, OPERATOR, tid, HEADER + "\n" + next(
                line for line in body.splitlines() if ",late," in line) + "\n"))
        return process_request(svc, tenant_id, request_id)

    monkeypatch.setattr(cdrs, "process_request", recharge_while_another_import_runs)
    report = cdrs.import_cdrs(svc, OPERATOR, tid, body)
    monkeypatch.setattr(cdrs, "process_request", process_request)
    assert [(r.accepted, r.duplicates, r.rejected) for r in concurrent] == [(1, 0, [])]
    assert (report.accepted, report.duplicates, report.rejected) == (999, 1, [])
    assert cdrs.import_cdrs(svc, OPERATOR, reference, body).accepted == 1_000
    with engine.connect() as conn:
        c = t.calls
        stored = {r.tenant_id: (int(r.n), int(r.ids), r.total) for r in conn.execute(
            select(c.c.tenant_id, func.count().label("n"),
                   func.count(c.c.call_id.distinct()).label("ids"),
                   func.sum(c.c.charge, type_=c.c.charge.type).label("total"))
            .where(c.c.tenant_id.in_([tid, reference])).group_by(c.c.tenant_id))}
    assert stored[tid][:2] == (1_000, 1_000)
    assert stored[tid] == stored[reference]
    assert splits(engine, tid) >= 2  # the chunk had several runs
