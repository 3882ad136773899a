"""Rating to the cent (RATE-1..RATE-4, CALL-6, FUND-9): increments, charges, prefixes, CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commcredits.domain.errors import InvalidInput
from commcredits.domain.money import Money
from commcredits.domain.rate_tables import parse_rate_csv
from commcredits.domain.rating import (
    Direction,
    NumberType,
    Rate,
    RateIndex,
    billed_seconds,
    charge,
    max_seconds,
)

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def rate(per_minute: str = "0.023", fee: str = "0.00", first: int = 60, step: int = 60,
         prefix: str = "44", start: datetime = JAN, end: datetime | None = None) -> Rate:
    return Rate(prefix, "United Kingdom", NumberType.FIXED, Direction.OUTBOUND,
                Money(Decimal(per_minute), "USD"), Money(Decimal(fee), "USD"), first, step,
                start, end)


@pytest.mark.rule("RATE-2")
@pytest.mark.parametrize(("duration", "first", "step", "billed"), [
    (0, 60, 60, 0), (1, 60, 60, 60), (60, 60, 60, 60), (61, 60, 60, 120),
    (61, 30, 6, 66), (29, 30, 6, 30), (31, 30, 6, 36), (121, 1, 1, 121),
])
def test_billed_seconds_follow_the_first_and_next_increments(
    duration: int, first: int, step: int, billed: int,
) -> None:
    assert billed_seconds(duration, first, step) == billed


@pytest.mark.rule("RATE-2")
@pytest.mark.rule("FUND-9")
def test_a_charge_is_the_fee_plus_rate_per_second_rounded_half_up_per_call() -> None:
    # 0.15 + 0.023/60 × 66 s = 0.15 + 0.0253 = 0.1753 → 0.18
    assert charge(rate("0.023", "0.15", 30, 6), 61) == Money(Decimal("0.18"), "USD")
    # 0.125 exactly rounds half-up to 0.13
    assert charge(rate("0.125", "0.00", 60, 60), 60) == Money(Decimal("0.13"), "USD")
    assert charge(rate("0.023", "0.15", 30, 6), 0) == Money(Decimal("0.00"), "USD")


@pytest.mark.rule("CALL-6")
def test_max_seconds_is_the_longest_affordable_duration_on_an_increment() -> None:
    # 0.10/min, per-minute billing: 1.00 buys 10 minutes
    assert max_seconds(rate("0.10"), Money(Decimal("1.00"), "USD")) == 600
    # with a 0.25 fee: 0.75 left → 7 whole minutes
    assert max_seconds(rate("0.10", "0.25"), Money(Decimal("1.00"), "USD")) == 420
    assert max_seconds(rate("0.10"), Money(Decimal("0.09"), "USD")) == 0
    # capped at 4 hours
    assert max_seconds(rate("0.01"), Money(Decimal("1000.00"), "USD")) == 14400


@pytest.mark.rule("CALL-6")
@given(per_minute=st.decimals("0.001", "5", places=3), fee=st.decimals("0", "1", places=2),
       first=st.sampled_from([1, 6, 30, 60]), step=st.sampled_from([1, 6, 30, 60]),
       available=st.decimals("0", "500", places=2))
def test_max_seconds_fits_the_balance_and_one_more_increment_does_not(
    per_minute: Decimal, fee: Decimal, first: int, step: int, available: Decimal,
) -> None:
    r = rate(str(per_minute), str(fee), first, step)
    budget = Money(available, "USD")
    seconds = max_seconds(r, budget)
    if seconds == 0:
        assert charge(r, first) > budget
        return
    assert charge(r, seconds) <= budget
    assert seconds <= 14400
    assert billed_seconds(seconds, first, step) == seconds
    if seconds + step <= 14400:
        assert charge(r, seconds + step) > budget


@pytest.mark.rule("RATE-1")
def test_the_longest_prefix_and_the_latest_effective_row_win() -> None:
    index = RateIndex(enumerate([
        rate("0.02", prefix="44"),
        rate("0.15", prefix="447"),
        rate("0.12", prefix="447", start=datetime(2026, 6, 1, tzinfo=UTC)),
        rate("0.50", prefix="4479", end=datetime(2026, 3, 1, tzinfo=UTC)),
    ]))
    at = datetime(2026, 2, 1, tzinfo=UTC)
    assert index.lookup("447911123456", at)[1].rate_per_minute.amount == Decimal("0.50")
    later = datetime(2026, 7, 1, tzinfo=UTC)
    assert index.lookup("447911123456", later)[1].rate_per_minute.amount == Decimal("0.12")
    assert index.lookup("442071234567", later)[1].rate_per_minute.amount == Decimal("0.02")
    assert index.lookup("33123", later) is None


HEADER = ("prefix,destination,number_type,direction,rate_per_minute,connection_fee,"
          "first_increment,next_increment,effective_from\n")


@pytest.mark.rule("RATE-3")
@pytest.mark.rule("RATE-4")
def test_a_rate_table_csv_is_parsed_with_toll_free_inbound_rows() -> None:
    rows = parse_rate_csv(
        HEADER + "44,United Kingdom,fixed,outbound,0.023000,0.00,60,60,2026-01-01\n"
        "1,United States,mobile,toll_free_inbound,0.018,0,60,6,2026-01-01T00:00:00Z\n",
        "USD",
    )
    assert [(r.prefix, r.direction.value, r.rate_per_minute.amount) for r in rows] == [
        ("44", "outbound", Decimal("0.023")), ("1", "toll_free_inbound", Decimal("0.018")),
    ]


@pytest.mark.rule("RATE-3")
def test_every_bad_row_is_reported_with_its_line_and_nothing_is_imported() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_rate_csv(
            HEADER + "44,United Kingdom,fixed,outbound,0.023,0.00,60,60,2026-01-01\n"
            "+x1,Nowhere,fixed,outbound,0.1,0,60,60,2026-01-01\n"
            "33,France,fax,outbound,0.1,0,60,60,2026-01-01\n"
            "49,Germany,fixed,outbound,0.1234567,0,60,60,2026-01-01\n"
            "34,Spain,fixed,outbound,0.1,0,0,60,2026-01-01\n",
            "USD",
        )
    assert refused.value.code == "INVALID_RATE_TABLE"
    assert [e["line"] for e in refused.value.details["errors"]] == [3, 4, 5, 6]


@pytest.mark.rule("RATE-3")
def test_an_extra_column_refuses_the_whole_table() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_rate_csv(HEADER.strip() + ",notes\n", "USD")
    assert refused.value.details["extra"] == ["notes"]


@pytest.mark.rule("RATE-2")
@pytest.mark.parametrize(("per_minute", "fee", "first", "step", "duration", "expected"), [
    ("0.020", "0.00", 60, 60, 61, "0.04"),
    ("0.020", "0.00", 60, 1, 61, "0.02"),  # 0.020333… rounds half-up to 0.02
    ("0.2", "0.10", 60, 1, 130, "0.53"),  # 0.10 + 0.4333…
    ("0.020", "0.00", 60, 60, 0, "0.00"),
])
def test_the_rating_vectors_of_the_issue_to_the_cent(
    per_minute: str, fee: str, first: int, step: int, duration: int, expected: str,
) -> None:
    assert charge(rate(per_minute, fee, first, step), duration).format() == expected


@pytest.mark.rule("RATE-1")
def test_4420_beats_44_and_a_newer_effective_from_wins_after_it() -> None:
    later = datetime(2026, 7, 1, tzinfo=UTC)
    index = RateIndex(enumerate([rate("0.02", prefix="44"), rate("0.05", prefix="4420"),
                                 rate("0.04", prefix="4420", start=later)]))
    assert index.lookup("442071234567", JAN)[1].rate_per_minute.amount == Decimal("0.05")
    assert index.lookup("442071234567", later)[1].rate_per_minute.amount == Decimal("0.04")
    assert index.lookup("441611234567", later)[1].rate_per_minute.amount == Decimal("0.02")
