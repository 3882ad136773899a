"""The foundation's scenarios to the cent, on SQLite and PostgreSQL, through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commcredits.adapters.clock import FixedClock
from commcredits.domain.ledger import EntryKind
from commcredits.services import funds, queries
from commcredits.services.context import Services
from commcredits.services.jobs import run_due_work
from tests.support import OPERATOR, add_card, buy, make_tenant, usd, utc


def lots_remaining(svc: Services, tid: str) -> list[str]:
    return [lot.remaining.format() for lot in queries.credits(svc, OPERATOR, tid).lots]


@pytest.mark.rule("FUND-3")
@pytest.mark.rule("FUND-1")
def test_charge_uses_the_oldest_lot_first(svc: Services, clock: FixedClock) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    clock.set(utc(2026, 1, 15, 10))
    buy(svc, tid, "100.00", card)
    clock.set(utc(2026, 3, 1, 10))
    buy(svc, tid, "60.00", card)
    clock.set(utc(2026, 4, 1, 10))
    result = funds.charge(svc, tid, usd("130.00"), reference="call-1")
    assert [(a.amount.format()) for a in result.allocations] == ["100.00", "30.00"]
    assert lots_remaining(svc, tid) == ["0.00", "30.00"]
    assert queries.credits(svc, OPERATOR, tid).balance == usd("30.00")


@pytest.mark.rule("FUND-4")
def test_expired_lot_is_forfeited_with_an_expired_entry(svc: Services, clock: FixedClock) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    clock.set(utc(2026, 1, 15, 10))
    buy(svc, tid, "100.00", card)
    clock.set(utc(2026, 3, 1, 10))
    second = buy(svc, tid, "60.00", card)
    assert second.lot.expires_at == utc(2027, 3, 1, 10)
    clock.set(utc(2026, 4, 1, 10))
    funds.charge(svc, tid, usd("130.00"))
    clock.set(utc(2027, 3, 1, 10))
    view = queries.credits(svc, OPERATOR, tid)  # a read applies expiry without any job
    assert view.balance == usd("0.00")
    assert lots_remaining(svc, tid) == ["0.00", "0.00"]
    _, entries = queries.ledger(svc, OPERATOR, tid)
    expired = [e for e in entries if e.kind is EntryKind.EXPIRED]
    assert len(expired) == 1
    assert expired[0].amount == usd("-30.00")
    assert [(a.lot_id, a.amount) for a in expired[0].allocations] == [
        (second.lot.id, usd("30.00"))
    ]


@pytest.mark.rule("FUND-4")
def test_a_lot_one_second_before_expiry_still_pays(svc: Services, clock: FixedClock) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    clock.set(utc(2026, 3, 1, 10))
    buy(svc, tid, "60.00", card)
    clock.set(utc(2027, 3, 1, 9, 59, 59))
    assert funds.charge(svc, tid, usd("60.00")).debt_added == usd("0.00")


@pytest.mark.rule("FUND-4")
def test_expiry_job_forfeits_without_any_read(svc: Services, clock: FixedClock) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "75.00", card)
    clock.set(utc(2027, 1, 15, 9, 0))
    report = run_due_work(svc)
    assert (report.tenants_expired, report.lots_expired) == (1, 1)
    assert run_due_work(svc).lots_expired == 0  # nothing is forfeited twice
    assert queries.credits(svc, OPERATOR, tid).balance == usd("0.00")


@pytest.mark.rule("FUND-3")
@pytest.mark.rule("FUND-4")
def test_expired_lot_is_never_charged(svc: Services, clock: FixedClock) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    clock.set(utc(2026, 1, 15, 9))
    old = buy(svc, tid, "100.00", card)
    clock.set(utc(2026, 6, 1, 9))
    new = buy(svc, tid, "50.00", card)
    clock.set(utc(2027, 2, 1, 9))
    result = funds.charge(svc, tid, usd("20.00"))
    assert [a.lot_id for a in result.allocations] == [new.lot.id]
    assert old.lot.id not in [a.lot_id for a in result.allocations]
    assert result.balance == usd("30.00")


@pytest.mark.rule("FUND-5")
def test_charge_beyond_balance_leaves_debt_and_next_purchase_pays_it_first(
    svc: Services, clock: FixedClock,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "50.00", card)
    result = funds.charge(svc, tid, usd("72.35"))
    assert result.debt_added == usd("22.35")
    view = queries.credits(svc, OPERATOR, tid)
    assert (view.balance, view.debt) == (usd("-22.35"), usd("22.35"))
    paid = buy(svc, tid, "100.00", card)
    assert paid.lot.remaining == usd("77.65")
    view = queries.credits(svc, OPERATOR, tid)
    assert (view.balance, view.debt) == (usd("77.65"), usd("0.00"))
    _, entries = queries.ledger(svc, OPERATOR, tid)
    settlement = entries[0]
    assert settlement.kind is EntryKind.DEBT_SETTLEMENT
    assert settlement.debt_delta == usd("-22.35")
    assert settlement.amount == usd("0.00")


@pytest.mark.rule("FUND-5")
def test_a_purchase_smaller_than_the_debt_leaves_the_rest_as_debt(
    svc: Services, clock: FixedClock,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    funds.charge(svc, tid, usd("180.00"))
    paid = buy(svc, tid, "100.00", card)
    assert paid.lot.remaining == usd("0.00")
    view = queries.credits(svc, OPERATOR, tid)
    assert (view.balance, view.debt) == (usd("-80.00"), usd("80.00"))


@pytest.mark.rule("FUND-1")
@pytest.mark.parametrize(("bought", "expires"), [
    (utc(2026, 1, 31, 12), utc(2027, 1, 31, 12)),
    (utc(2028, 2, 29, 8, 30), utc(2029, 2, 28, 8, 30)),
])
def test_lot_expires_twelve_calendar_months_later(
    svc: Services, clock: FixedClock, bought: object, expires: object,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    clock.set(bought)  # type: ignore[arg-type]
    result = buy(svc, tid, "50.00", card)
    assert result.lot.purchased_at == bought
    assert result.lot.expires_at == expires
    assert result.lot.source.value == "manual"
    assert result.lot.remaining == result.lot.amount == usd("50.00")


@pytest.mark.rule("FUND-6")
@pytest.mark.rule("FUND-9")
def test_ledger_entries_carry_allocations_and_references(svc: Services) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    first = buy(svc, tid, "50.00", card)
    funds.charge(svc, tid, usd("12.345678"), reference="call-9")
    _, entries = queries.ledger(svc, OPERATOR, tid)
    charge = entries[0]
    assert charge.reference == "call-9"
    assert charge.amount.amount == Decimal("-12.345678")
    assert [(a.lot_id, a.amount.amount) for a in charge.allocations] == [
        (first.lot.id, Decimal("12.345678"))
    ]
    assert entries[1].reference == first.invoice.number
