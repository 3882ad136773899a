"""Random sequences of purchases, charges, adjustments, replays, jobs and clock moves, through
the services on a real database, checked step by step against a small reference model
(FUND-3, FUND-4, FUND-5, FUND-6).

The model is FIFO lots with expiry and debt in plain Decimal. After every step the ledger
invariants hold, the read side's balance, debt and per-lot remaining equal the model's, a
charge's allocations are exactly the model's FIFO allocations, and no expired lot is charged.
After a clock move the test does *not* read, so the next charge or purchase must apply due
expiry by itself (FUND-4).

The database is not reset between hypothesis examples, so each example makes its own tenant.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from commcredits.adapters.clock import FixedClock
from commcredits.domain.ledger import EntryKind, charge_entry
from commcredits.domain.lots import LotSource
from commcredits.domain.money import Money
from commcredits.services import funds, queries
from commcredits.services.account import AccountWriter
from commcredits.services.context import Services
from commcredits.services.jobs import run_due_work
from tests.support import (
    OPERATOR,
    add_card,
    buy,
    check_ledger_invariants,
    make_tenant,
    usd,
    utc,
)

START = utc(2026, 1, 15, 9, 0)
ZERO = Decimal(0)


def one_year_later(at: datetime) -> datetime:
    """FUND-1, written independently of the code under test."""
    last = calendar.monthrange(at.year + 1, at.month)[1]
    return at.replace(year=at.year + 1, day=min(at.day, last))


@dataclass
class ModelLot:
    id: int
    purchased_at: datetime
    expires_at: datetime
    remaining: Decimal


@dataclass
class Model:
    """What the balance should be: FIFO lots with expiry and debt, in Decimal."""

    lots: dict[int, ModelLot] = field(default_factory=dict)
    debt: Decimal = ZERO
    forfeited: dict[int, Decimal] = field(default_factory=dict)

    def expire(self, now: datetime) -> None:
        for lot in self.lots.values():
            if now >= lot.expires_at and lot.remaining > 0:
                self.forfeited[lot.id] = lot.remaining
                lot.remaining = ZERO

    def fund(self, lot_id: int, amount: Decimal, now: datetime) -> None:
        self.expire(now)
        settled = min(amount, self.debt)
        self.debt -= settled
        self.lots[lot_id] = ModelLot(lot_id, now, one_year_later(now), amount - settled)

    def charge(self, amount: Decimal, now: datetime) -> tuple[list[tuple[int, Decimal]], Decimal]:
        self.expire(now)
        left = amount
        taken = []
        for lot in sorted(self.lots.values(), key=lambda x: (x.purchased_at, x.id)):
            if left <= 0:
                break
            if now >= lot.expires_at or lot.remaining <= 0:
                continue
            take = min(lot.remaining, left)
            lot.remaining -= take
            left -= take
            taken.append((lot.id, take))
        self.debt += left
        return taken, left

    def balance(self, now: datetime) -> Decimal:
        held = sum((x.remaining for x in self.lots.values() if now < x.expires_at), ZERO)
        return held - self.debt

    def next_expiry(self) -> datetime | None:
        dates = [x.expires_at for x in self.lots.values() if x.remaining > 0]
        return min(dates) if dates else None


# --- steps ------------------------------------------------------------------------------------

_cents = st.integers(min_value=1, max_value=25_000).map(lambda c: Decimal(c).scaleb(-2))
_micros = st.integers(min_value=1, max_value=25_000_000).map(lambda m: Decimal(m).scaleb(-6))

steps = st.lists(st.one_of(
    st.tuples(st.just("buy"),
              st.integers(min_value=5_000, max_value=30_000).map(lambda c: Decimal(c).scaleb(-2))),
    st.tuples(st.just("charge"), st.one_of(_cents, _micros)),
    st.tuples(st.just("charge"), _cents),
    st.tuples(st.just("adjust"), st.integers(min_value=-20_000, max_value=20_000)
              .filter(lambda c: c != 0).map(lambda c: Decimal(c).scaleb(-2))),
    st.tuples(st.just("replay"), st.none()),
    st.tuples(st.just("advance"), st.one_of(
        st.just(0), st.integers(min_value=1, max_value=86_400),
        st.integers(min_value=1, max_value=200).map(lambda d: d * 86_400))),
    st.tuples(st.just("to_expiry"), st.sampled_from([-1, 0, 1])),
    st.tuples(st.just("jobs"), st.none()),
), min_size=1, max_size=25)


class Run:
    """One example: a fresh tenant, the services, and the model kept in step with them."""

    def __init__(self, svc: Services, clock: FixedClock, engine: Engine) -> None:
        self.svc, self.clock, self.engine = svc, clock, engine
        clock.set(START)
        self.tid = make_tenant(svc)
        self.card = add_card(svc, self.tid)
        self.model = Model()
        self.charges: list[tuple[str, Decimal, int]] = []  # key, amount, entry id

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def money(self, amount: Decimal) -> Money:
        return Money(amount, "USD")

    def step(self, kind: str, value: object) -> bool:
        """Apply one step; returns whether to compare the read side afterwards."""
        if kind == "buy":
            assert isinstance(value, Decimal)
            result = buy(self.svc, self.tid, f"{value:.2f}", self.card)
            self.funded(result, value)
        elif kind == "adjust":
            assert isinstance(value, Decimal)
            adjusted = funds.adjust(self.svc, OPERATOR, self.tid, amount=f"{value:.2f}",
                                    reason="property test")
            if value > 0:
                assert isinstance(adjusted, funds.PurchaseResult)
                self.funded(adjusted, value)
            else:
                assert isinstance(adjusted, funds.ChargeResult)
                self.charged(adjusted, -value)
        elif kind == "charge":
            assert isinstance(value, Decimal)
            key = f"charge-{len(self.charges)}"
            result = funds.charge(self.svc, self.tid, self.money(value), idempotency_key=key,
                                  reference=key)
            assert not result.replayed
            self.charged(result, value)
            self.charges.append((key, value, result.entry_id))
        elif kind == "replay":
            if not self.charges:
                return False
            key, amount, entry_id = self.charges[-1]
            result = funds.charge(self.svc, self.tid, self.money(amount), idempotency_key=key)
            assert result.replayed
            assert (result.entry_id, result.amount) == (entry_id, self.money(amount))
        elif kind == "advance":
            assert isinstance(value, int)
            self.clock.set(self.now + timedelta(seconds=value))
            return False
        elif kind == "to_expiry":
            assert isinstance(value, int)
            due = self.model.next_expiry()
            if due is None or due + timedelta(seconds=value) < self.now:
                return False
            self.clock.set(due + timedelta(seconds=value))
            return False
        elif kind == "jobs":
            run_due_work(self.svc)
            self.model.expire(self.now)
        return True

    def funded(self, result: funds.PurchaseResult, amount: Decimal) -> None:
        self.model.fund(result.lot.id, amount, self.now)
        assert result.lot.amount == self.money(amount)
        assert result.lot.purchased_at == self.now
        assert result.lot.expires_at == one_year_later(self.now)
        assert result.lot.remaining == self.money(self.model.lots[result.lot.id].remaining)

    def charged(self, result: funds.ChargeResult, amount: Decimal) -> None:
        lots_before = {x.id: (x.expires_at, x.purchased_at) for x in self.model.lots.values()}
        want, shortfall = self.model.charge(amount, self.now)
        got = [(a.lot_id, a.amount.amount) for a in result.allocations]
        # FUND-3: expired lots are never charged, and lots are used oldest first
        for lot_id, _ in got:
            assert self.now < lots_before[lot_id][0], f"expired lot {lot_id} was charged"
        assert got == sorted(got, key=lambda a: (lots_before[a[0]][1], a[0]))
        assert got == want
        assert result.debt_added == self.money(shortfall)
        assert result.amount == self.money(amount)
        assert result.balance == self.money(self.model.balance(self.now))
        assert result.debt == self.money(self.model.debt)

    def compare_read_side(self) -> None:
        view = queries.credits(self.svc, OPERATOR, self.tid)
        self.model.expire(self.now)
        assert view.balance == self.money(self.model.balance(self.now))
        assert view.debt == self.money(self.model.debt)
        assert {x.id: x.remaining.amount for x in view.lots} == {
            x.id: x.remaining for x in self.model.lots.values()
        }
        assert view.balance.amount == sum(
            (x.remaining.amount for x in view.lots if self.now < x.expires_at), ZERO,
        ) - view.debt.amount

    def compare_ledger(self) -> None:
        _, entries = queries.ledger(self.svc, OPERATOR, self.tid, limit=1000)
        self.model.expire(self.now)
        expired = {e.allocations[0].lot_id: -e.amount.amount
                   for e in entries if e.kind is EntryKind.EXPIRED}
        assert expired == self.model.forfeited
        assert len([e for e in entries if e.kind is EntryKind.EXPIRED]) == len(expired)
        total = sum((e.amount.amount for e in entries), ZERO)
        assert total == self.model.balance(self.now)
        keys = [k for k, _, _ in self.charges]
        assert len({e.reference for e in entries if e.reference in keys}) == len(keys)


@pytest.mark.rule("FUND-3")
@pytest.mark.rule("FUND-4")
@pytest.mark.rule("FUND-5")
@pytest.mark.rule("FUND-6")
def test_random_purchases_charges_and_clock_moves_keep_the_ledger_equal_to_the_fifo_model(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    examples = 15 if engine.dialect.name == "postgresql" else 40

    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(plan=steps)
    def run(plan: list[tuple[str, object]]) -> None:
        example = Run(svc, clock, engine)
        for kind, value in plan:
            read = example.step(kind, value)
            check_ledger_invariants(engine)
            if read:
                example.compare_read_side()
        example.compare_read_side()
        example.compare_ledger()
        check_ledger_invariants(engine)

    run()


@pytest.mark.rule("FUND-6")
@pytest.mark.rule("FUND-3")
def test_a_lot_added_through_an_account_writer_is_listed_once_and_paid_from_once(
    svc: Services, clock: FixedClock,
) -> None:
    tid = make_tenant(svc)
    with svc.uow() as uow:  # never committed: the unit of work rolls back
        writer = AccountWriter(uow, tid, clock.now())
        writer.apply_due_expiry()  # nothing is due, so the open lots are not loaded yet
        lot_id, _ = writer.add_lot(usd("50.00"), LotSource.MANUAL, None)
        draft = charge_entry(writer.lots, usd("80.00"), clock.now())
        assert [(a.lot_id, a.amount) for a in draft.allocations] == [(lot_id, usd("50.00"))]
        assert draft.debt_delta == usd("30.00")
        assert [lot.id for lot in writer.lots] == [lot_id]
