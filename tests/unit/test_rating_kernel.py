"""The one rating arithmetic and lookup against plain references (RATE-1, RATE-2, FUND-3,
FUND-5): integer charges against RATE-2's formula in Decimal, `RateIndex` against a naive
scan of the rows, `fifo_micros` against `lots.consume_fifo`, over many random inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commcredits.domain.lots import LotBalance, LotView, consume_fifo, fifo_micros
from commcredits.domain.money import Money
from commcredits.domain.money import to_micros as micros
from commcredits.domain.rating import (
    Direction,
    NumberType,
    Rate,
    RateIndex,
    billed_seconds,
    charge,
    charge_micros,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
amounts = st.integers(min_value=0, max_value=20_000_000).map(lambda m: Decimal(m).scaleb(-6))
increments = st.sampled_from([1, 6, 10, 30, 60, 120, 3600]) | st.integers(1, 3600)
durations = st.sampled_from([0, 1, 59, 60, 61, 86_400]) | st.integers(0, 86_400)


def rate(per_minute: Decimal, fee: Decimal, first: int, next_: int, prefix: str = "44",
         start: datetime = T0, end: datetime | None = None,
         direction: Direction = Direction.OUTBOUND) -> Rate:
    return Rate(prefix, f"dest {prefix}", NumberType.FIXED, direction,
                Money(per_minute, "USD"), Money(fee, "USD"), first, next_, start, end)


@pytest.mark.rule("RATE-2")
@pytest.mark.rule("FUND-9")
@settings(max_examples=3000)
@given(amounts, amounts, increments, increments, durations)
def test_integer_charges_equal_the_decimal_engine_to_the_micro_unit(
    per_minute: Decimal, fee: Decimal, first: int, next_: int, duration: int,
) -> None:
    r = rate(per_minute, fee, first, next_)
    seconds = billed_seconds(duration, first, next_)
    raw = fee + per_minute * seconds / 60 if seconds else Decimal(0)
    expected = micros(Money(raw, "USD").round_cents().amount)  # RATE-2 in Decimal
    assert charge_micros(r.terms, duration) == expected
    assert micros(charge(r, duration).amount) == expected


@pytest.mark.rule("RATE-2")
@pytest.mark.parametrize(("per_minute", "fee", "first", "next_", "seconds", "cents"), [
    ("0.020", "0", 60, 60, 61, 4), ("0.020", "0", 60, 1, 61, 2), ("0.2", "0.10", 60, 1, 130, 53),
    ("0.020", "0", 60, 60, 0, 0), ("0.009", "0", 60, 1, 100, 2), ("0.003", "0", 60, 60, 60, 0),
    ("0.006", "0.004999", 1, 1, 50, 1),
])
def test_the_issue_vectors_and_half_up_edges(per_minute: str, fee: str, first: int, next_: int,
                                             seconds: int, cents: int) -> None:
    terms = rate(Decimal(per_minute), Decimal(fee), first, next_).terms
    assert charge_micros(terms, seconds) == cents * 10_000


prefixes = st.text("1247", min_size=1, max_size=4)
moments = st.integers(0, 60).map(lambda d: T0 + timedelta(days=d))


@st.composite
def tables(draw: st.DrawFn) -> list[tuple[int, Rate]]:
    rows: list[tuple[int, Rate]] = []
    seen: set[tuple[Direction, str, datetime]] = set()
    for row_id in range(draw(st.integers(1, 25))):
        prefix = draw(prefixes)
        start = draw(moments)
        direction = draw(st.sampled_from(list(Direction)))
        if (direction, prefix, start) in seen:
            continue  # the CSV import refuses such duplicates
        seen.add((direction, prefix, start))
        end = draw(st.none() | st.integers(1, 40).map(lambda d, s=start: s + timedelta(days=d)))
        rows.append((row_id + 100, rate(Decimal("0.01"), Decimal(0), 60, 60, prefix, start, end,
                                        direction)))
    return rows


@pytest.mark.rule("RATE-1")
@settings(max_examples=500)
@given(tables(), st.lists(st.tuples(st.text("12470", min_size=0, max_size=7), moments,
                                    st.sampled_from(list(Direction))), min_size=1, max_size=30))
def test_the_rate_index_answers_the_longest_prefix_then_the_latest_row_in_force(
    rows: list[tuple[int, Rate]], calls: list[tuple[str, datetime, Direction]],
) -> None:
    index = RateIndex(rows)

    def naive(digits: str, at: datetime, direction: Direction) -> tuple[int, Rate] | None:
        matching = [(len(r.prefix), r.effective_from, -n, row_id, r)
                    for n, (row_id, r) in enumerate(rows)
                    if r.direction is direction and digits.startswith(r.prefix)
                    and r.in_force(at)]
        if not matching:
            return None
        best = max(matching, key=lambda m: m[:3])
        return best[3], best[4]

    for digits, at, direction in calls * 2:  # twice: the memoized chains answer the same
        assert index.lookup(digits, at, direction) == naive(digits, at, direction)


@pytest.mark.rule("FUND-3")
@pytest.mark.rule("FUND-5")
@settings(max_examples=1000)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3_000_000),
                          st.integers(-2, 3)), max_size=6),
       st.lists(st.integers(1, 2_500_000), min_size=1, max_size=8))
def test_fifo_in_micros_takes_what_the_lot_engine_takes(
    spec: list[tuple[int, int, int]], charges: list[int],
) -> None:
    at = T0 + timedelta(days=400)
    views = [LotView(n + 1, T0 + timedelta(days=day), at + timedelta(days=expiry),
                     Money(Decimal(rem).scaleb(-6), "USD"))
             for n, (day, rem, expiry) in enumerate(spec)]
    balances = sorted((LotBalance(v.id, v.purchased_at, v.expires_at,
                                  micros(v.remaining.amount))
                       for v in views if v.remaining.is_positive()),
                      key=lambda b: (b.purchased_at, b.id))
    for amount in charges:
        expected = consume_fifo(views, Money(Decimal(amount).scaleb(-6), "USD"), at)
        allocations, shortfall = fifo_micros(balances, amount, at)
        assert allocations == [(a.lot_id, micros(a.amount.amount))
                               for a in expected.allocations]
        assert shortfall == micros(expected.shortfall.amount)
        taken = dict(allocations)
        views = [LotView(v.id, v.purchased_at, v.expires_at,
                         v.remaining - Money(Decimal(taken.get(v.id, 0)).scaleb(-6), "USD"))
                 for v in views]
