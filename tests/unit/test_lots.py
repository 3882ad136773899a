"""Lots, FIFO consumption and ledger drafts as pure functions (FUND-1, FUND-3..FUND-6).

Scenario tables pin the calendar and tie-breaking rules; hypothesis properties check that
consumption neither creates nor loses money, never touches expired lots, keeps FIFO order,
and that every drafted ledger entry balances.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commcredits.domain.errors import CurrencyMismatch, InvalidInput
from commcredits.domain.ledger import (
    EntryDraft,
    EntryKind,
    balance,
    charge_entry,
    expiry_entries,
    funding_entries,
)
from commcredits.domain.lots import (
    Allocation,
    LotView,
    add_months,
    consume_fifo,
    expiring,
    expiry_for,
    fifo_order,
    next_expiry,
)
from commcredits.domain.money import Money

T0 = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def usd(amount: str | Decimal) -> Money:
    return Money(Decimal(amount), "USD")


def lot(lot_id: int, purchased_at: datetime, remaining: str,
        expires_at: datetime | None = None) -> LotView:
    return LotView(lot_id, purchased_at, expires_at or expiry_for(purchased_at), usd(remaining))


# --- the calendar (FUND-1) --------------------------------------------------------------------


@pytest.mark.rule("FUND-1")
@pytest.mark.parametrize(("purchased_at", "expires_at"), [
    (datetime(2026, 1, 31, tzinfo=UTC), datetime(2027, 1, 31, tzinfo=UTC)),
    (datetime(2028, 2, 29, tzinfo=UTC), datetime(2029, 2, 28, tzinfo=UTC)),
    (datetime(2027, 2, 28, tzinfo=UTC), datetime(2028, 2, 28, tzinfo=UTC)),
    (datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
     datetime(2027, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    (datetime(2026, 3, 1, 10, 0, tzinfo=UTC), datetime(2027, 3, 1, 10, 0, tzinfo=UTC)),
    (datetime(2028, 2, 29, 13, 45, 7, 123456, tzinfo=UTC),
     datetime(2029, 2, 28, 13, 45, 7, 123456, tzinfo=UTC)),
])
def test_a_lot_expires_twelve_calendar_months_after_purchase_at_the_same_time(
    purchased_at: datetime, expires_at: datetime,
) -> None:
    assert expiry_for(purchased_at) == expires_at
    assert expiry_for(purchased_at).tzinfo is UTC


@pytest.mark.rule("FUND-1")
@pytest.mark.parametrize(("start", "months", "expected"), [
    (datetime(2026, 1, 31, 8, tzinfo=UTC), 1, datetime(2026, 2, 28, 8, tzinfo=UTC)),
    (datetime(2028, 1, 31, 8, tzinfo=UTC), 1, datetime(2028, 2, 29, 8, tzinfo=UTC)),
    (datetime(2026, 3, 31, tzinfo=UTC), 1, datetime(2026, 4, 30, tzinfo=UTC)),
    (datetime(2026, 12, 15, tzinfo=UTC), 1, datetime(2027, 1, 15, tzinfo=UTC)),
    (datetime(2026, 11, 30, tzinfo=UTC), 3, datetime(2027, 2, 28, tzinfo=UTC)),
    (datetime(2026, 5, 31, tzinfo=UTC), 0, datetime(2026, 5, 31, tzinfo=UTC)),
    (datetime(2026, 1, 15, tzinfo=UTC), 24, datetime(2028, 1, 15, tzinfo=UTC)),
])
def test_add_months_keeps_the_day_or_falls_back_to_the_last_day_of_the_month(
    start: datetime, months: int, expected: datetime,
) -> None:
    assert add_months(start, months) == expected


@pytest.mark.rule("FUND-1")
@given(moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 12, 31),
                           timezones=st.just(UTC)))
def test_expiry_is_the_same_wall_time_one_year_later_clamped_to_the_month(
    moment: datetime,
) -> None:
    expires = expiry_for(moment)
    last_day = calendar.monthrange(moment.year + 1, moment.month)[1]
    assert (expires.year, expires.month) == (moment.year + 1, moment.month)
    assert expires.day == min(moment.day, last_day)
    assert expires.timetz() == moment.timetz()
    assert expires > moment


# --- FIFO scenarios (FUND-3) ------------------------------------------------------------------


@pytest.mark.rule("FUND-3")
def test_lots_bought_at_the_same_moment_are_used_in_lot_id_order() -> None:
    lots = [lot(9, T0, "10.00"), lot(2, T0, "10.00"), lot(5, T0, "10.00")]
    assert [x.id for x in fifo_order(lots)] == [2, 5, 9]
    used = consume_fifo(lots, usd("25.00"), T0)
    assert used.allocations == (
        Allocation(2, usd("10.00")), Allocation(5, usd("10.00")), Allocation(9, usd("5.00")),
    )
    assert used.shortfall == usd("0.00")


@pytest.mark.rule("FUND-3")
def test_the_oldest_purchase_pays_first_whatever_its_id() -> None:
    older = lot(7, T0, "30.00")
    newer = lot(1, T0 + timedelta(seconds=1), "30.00")
    used = consume_fifo([newer, older], usd("40.00"), T0 + timedelta(days=1))
    assert used.allocations == (Allocation(7, usd("30.00")), Allocation(1, usd("10.00")))


@pytest.mark.rule("FUND-3")
@pytest.mark.rule("FUND-4")
def test_an_expired_lot_is_skipped_and_a_lot_at_its_expiry_instant_is_expired() -> None:
    old = lot(1, T0, "100.00")
    new = lot(2, T0 + timedelta(days=30), "50.00")
    at_expiry = old.expires_at
    assert old.is_expired(at_expiry)
    assert not old.is_expired(at_expiry - timedelta(microseconds=1))
    used = consume_fifo([old, new], usd("60.00"), at_expiry)
    assert used.allocations == (Allocation(2, usd("50.00")),)
    assert used.shortfall == usd("10.00")
    before = consume_fifo([old, new], usd("60.00"), at_expiry - timedelta(microseconds=1))
    assert before.allocations == (Allocation(1, usd("60.00")),)


@pytest.mark.rule("FUND-3")
@pytest.mark.rule("FUND-5")
def test_empty_lots_are_skipped_and_what_no_lot_holds_is_the_shortfall() -> None:
    lots = [lot(1, T0, "0.00"), lot(2, T0, "0.000001")]
    used = consume_fifo(lots, usd("1.00"), T0)
    assert used.allocations == (Allocation(2, usd("0.000001")),)
    assert used.shortfall == usd("0.999999")
    assert used.covered("USD") == usd("0.000001")


@pytest.mark.rule("FUND-9")
def test_consuming_another_currency_than_the_lots_hold_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        consume_fifo([lot(1, T0, "10.00")], Money(Decimal("1.00"), "EUR"), T0)


@pytest.mark.rule("FUND-5")
@pytest.mark.parametrize("amount", ["0", "0.00", "-5.00"])
def test_a_charge_of_zero_or_less_is_refused(amount: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        charge_entry([lot(1, T0, "10.00")], usd(amount), T0)
    assert refused.value.code == "INVALID_AMOUNT"


@pytest.mark.rule("FUND-4")
def test_next_expiry_is_the_earliest_expiry_of_a_lot_that_still_holds_funds() -> None:
    empty_oldest = lot(1, T0, "0.00")
    holding = lot(2, T0 + timedelta(days=3), "1.00")
    later = lot(3, T0 + timedelta(days=9), "5.00")
    assert next_expiry([empty_oldest, later, holding]) == holding.expires_at
    assert next_expiry([empty_oldest]) is None


# --- properties over random lots --------------------------------------------------------------

# Purchases fall on a few instants so that ties are common; expiry is either the FUND-1 date or
# an arbitrary time after purchase, and "now" ranges from before the first purchase to after
# every expiry.
_instants = st.integers(min_value=0, max_value=40).map(lambda d: T0 + timedelta(days=d * 13))
_remaining = st.one_of(
    st.integers(min_value=0, max_value=50_000).map(lambda c: Decimal(c).scaleb(-2)),
    st.integers(min_value=0, max_value=50_000_000).map(lambda m: Decimal(m).scaleb(-6)),
)


@st.composite
def lot_sets(draw: st.DrawFn) -> list[LotView]:
    ids = draw(st.lists(st.integers(min_value=1, max_value=10_000), unique=True, max_size=12))
    lots = []
    for lot_id in ids:
        purchased_at = draw(_instants)
        lifetime = draw(st.one_of(
            st.none(), st.integers(min_value=1, max_value=800 * 86_400)))
        expires_at = expiry_for(purchased_at) if lifetime is None \
            else purchased_at + timedelta(seconds=lifetime)
        lots.append(LotView(lot_id, purchased_at, expires_at, Money(draw(_remaining), "USD")))
    return lots


_moments = st.integers(min_value=-5, max_value=1400).map(lambda d: T0 + timedelta(days=d))
_amounts = st.one_of(
    st.integers(min_value=1, max_value=300_000).map(lambda c: Decimal(c).scaleb(-2)),
    st.integers(min_value=1, max_value=300_000_000).map(lambda m: Decimal(m).scaleb(-6)),
).map(lambda a: Money(a, "USD"))


def usable(lots: list[LotView], at: datetime) -> list[LotView]:
    return [x for x in fifo_order(lots) if not x.is_expired(at) and x.remaining.is_positive()]


@pytest.mark.rule("FUND-3")
@pytest.mark.rule("FUND-5")
@given(lots=lot_sets(), amount=_amounts, at=_moments)
def test_allocations_plus_shortfall_always_equal_the_requested_amount(
    lots: list[LotView], amount: Money, at: datetime,
) -> None:
    used = consume_fifo(lots, amount, at)
    assert used.covered("USD") + used.shortfall == amount
    assert not used.shortfall.is_negative()
    held = sum((x.remaining for x in usable(lots, at)), Money.zero("USD"))
    assert used.shortfall == (amount - held if amount > held else Money.zero("USD"))


@pytest.mark.rule("FUND-3")
@given(lots=lot_sets(), amount=_amounts, at=_moments)
def test_no_allocation_exceeds_what_its_lot_holds(
    lots: list[LotView], amount: Money, at: datetime,
) -> None:
    by_id = {x.id: x for x in lots}
    used = consume_fifo(lots, amount, at)
    seen = [a.lot_id for a in used.allocations]
    assert len(seen) == len(set(seen)), "a lot appears twice in one consumption"
    for a in used.allocations:
        assert a.amount.is_positive()
        assert a.amount <= by_id[a.lot_id].remaining


@pytest.mark.rule("FUND-3")
@pytest.mark.rule("FUND-4")
@given(lots=lot_sets(), amount=_amounts, at=_moments)
def test_expired_lots_are_never_touched_by_a_charge(
    lots: list[LotView], amount: Money, at: datetime,
) -> None:
    expired = {x.id for x in lots if x.is_expired(at)}
    draft = charge_entry(lots, amount, at)
    assert expired.isdisjoint(a.lot_id for a in draft.allocations)


@pytest.mark.rule("FUND-3")
@given(lots=lot_sets(), amount=_amounts, at=_moments)
def test_a_later_lot_is_only_touched_once_every_earlier_unexpired_lot_is_empty(
    lots: list[LotView], amount: Money, at: datetime,
) -> None:
    order = usable(lots, at)
    used = consume_fifo(lots, amount, at)
    touched = [a.lot_id for a in used.allocations]
    # the lots used are a prefix of the usable lots in (purchased_at, id) order ...
    assert touched == [x.id for x in order[: len(touched)]]
    # ... and every one of them but the last is emptied
    for a, x in zip(used.allocations[:-1], order, strict=False):
        assert a.amount == x.remaining
    if used.shortfall.is_positive():
        assert touched == [x.id for x in order]
        assert all(a.amount == x.remaining for a, x in zip(used.allocations, order, strict=True))


def apply(lots: list[LotView], debt: Money, draft: EntryDraft,
          new_lot: LotView | None = None) -> tuple[list[LotView], Money]:
    """Apply a draft the way the service does: allocations come out of lots, debt moves."""
    taken: dict[int, Money] = {}
    for a in draft.allocations:
        taken[a.lot_id] = taken.get(a.lot_id, Money.zero("USD")) + a.amount
    after = [*lots, *([new_lot] if new_lot else [])]
    after = [
        LotView(x.id, x.purchased_at, x.expires_at, x.remaining - taken.get(x.id, usd("0")))
        for x in after
    ]
    return after, debt + draft.debt_delta


_debts = st.integers(min_value=0, max_value=200_000).map(lambda c: usd(Decimal(c).scaleb(-2)))


@pytest.mark.rule("FUND-5")
@pytest.mark.rule("FUND-6")
@given(lots=lot_sets(), amount=_amounts, at=_moments, debt=_debts)
def test_a_charge_entry_balances_and_moves_the_balance_by_exactly_its_amount(
    lots: list[LotView], amount: Money, at: datetime, debt: Money,
) -> None:
    # expiry is applied before a charge (FUND-4), so start from lots with nothing expired held
    lots = [x for x in lots if not x.is_expired(at)]
    draft = charge_entry(lots, amount, at, reference="call-1")
    draft.check()
    assert draft.kind is EntryKind.CHARGE
    assert draft.amount == -amount
    assert draft.reference == "call-1"
    after, new_debt = apply(lots, debt, draft)
    assert all(not x.remaining.is_negative() for x in after)
    assert balance(after, new_debt, at) == balance(lots, debt, at) - amount
    assert new_debt - debt == draft.debt_delta


@pytest.mark.rule("FUND-4")
@pytest.mark.rule("FUND-6")
@given(lots=lot_sets(), at=_moments, debt=_debts)
def test_expiry_forfeits_exactly_what_expired_lots_hold_one_balanced_entry_per_lot(
    lots: list[LotView], at: datetime, debt: Money,
) -> None:
    drafts = expiry_entries(lots, at)
    want = {x.id: x.remaining for x in lots if x.is_expired(at) and x.remaining.is_positive()}
    assert {d.allocations[0].lot_id: d.allocations[0].amount for d in drafts} == want
    assert [d.allocations[0].lot_id for d in drafts] == [x.id for x in fifo_order(lots)
                                                          if x.id in want]
    assert expiring(lots, at) == [d.allocations[0] for d in drafts]
    for d in drafts:
        d.check()
        assert d.kind is EntryKind.EXPIRED
        assert len(d.allocations) == 1
        assert d.amount == -d.allocations[0].amount
        assert d.debt_delta == usd("0")
        assert d.reference == f"lot:{d.allocations[0].lot_id}"
    # forfeiting changes no balance: expired lots no longer counted before or after
    after = lots
    for d in drafts:
        after, debt_after = apply(after, debt, d)
        assert debt_after == debt
    assert balance(after, debt, at) == balance(lots, debt, at)
    assert all(x.remaining.is_zero() for x in after if x.is_expired(at))


@pytest.mark.rule("FUND-5")
@pytest.mark.rule("FUND-6")
@given(
    amount=st.integers(min_value=1, max_value=200_000).map(lambda c: usd(Decimal(c).scaleb(-2))),
    debt=st.one_of(st.just(usd("0")), _debts,
                   st.integers(min_value=1, max_value=10**8).map(
                       lambda m: usd(Decimal(m).scaleb(-6)))),
    lots=lot_sets(),
)
def test_a_new_lot_settles_the_smaller_of_its_amount_and_the_debt(
    amount: Money, debt: Money, lots: list[LotView],
) -> None:
    new_id = max((x.id for x in lots), default=0) + 1
    drafts = funding_entries(new_id, amount, debt, reference="INV-1", description="test")
    for d in drafts:
        d.check()
    funding = drafts[0]
    assert funding.kind is EntryKind.PURCHASE
    assert (funding.amount, funding.lot_created, funding.debt_delta) == (amount, amount, usd("0"))
    assert funding.allocations == ()
    settled = amount.min(debt)
    if not debt.is_positive():
        assert len(drafts) == 1
    else:
        assert len(drafts) == 2
        settlement = drafts[1]
        assert settlement.kind is EntryKind.DEBT_SETTLEMENT
        assert settlement.amount == usd("0")
        assert settlement.debt_delta == -settled
        assert settlement.allocations == (Allocation(new_id, settled),)
    # applied in order, the balance rises by the amount and the lot keeps what debt left
    new_lot = LotView(new_id, T0 + timedelta(days=600), expiry_for(T0 + timedelta(days=600)),
                      amount)
    at = new_lot.purchased_at
    after, new_debt = apply(lots, debt, funding, new_lot)
    for d in drafts[1:]:
        after, new_debt = apply(after, new_debt, d)
    assert new_debt == debt - settled
    assert next(x for x in after if x.id == new_id).remaining == amount - settled
    assert balance(after, new_debt, at) == balance(lots, debt, at) + amount


@pytest.mark.rule("FUND-6")
def test_an_unbalanced_draft_is_caught_by_check() -> None:
    bad = EntryDraft(kind=EntryKind.CHARGE, amount=usd("-10.00"), debt_delta=usd("0.00"),
                     allocations=(Allocation(1, usd("9.99")),))
    with pytest.raises(AssertionError, match="unbalanced"):
        bad.check()


@pytest.mark.rule("FUND-5")
def test_the_balance_counts_unexpired_lots_only_minus_debt() -> None:
    old = lot(1, T0, "40.00")
    new = lot(2, T0 + timedelta(days=60), "15.50")
    assert balance([old, new], usd("0.25"), T0 + timedelta(days=61)) == usd("55.25")
    assert balance([old, new], usd("0.25"), old.expires_at) == usd("15.25")
    assert balance([], usd("3.00"), T0) == usd("-3.00")
