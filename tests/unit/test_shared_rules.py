"""The rules the live and the CDR batch paths share since issue #13 (first slice): each is one
function that both call, here checked in the forms each path calls it with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commcredits.domain.licensing import calling_plan, calling_plan_code
from commcredits.domain.money import Money, from_micros, to_micros
from commcredits.domain.notifications import balance_depleted
from commcredits.domain.rating import Direction, NumberType, Rate
from commcredits.services.ports import RateTableRecord
from commcredits.services.rates import RateBook

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_micros = st.integers(min_value=-10**12, max_value=10**12)


@pytest.mark.rule("NOTE-1")
@given(before=_micros, after=_micros)
def test_the_depleted_email_rule_answers_alike_in_money_and_in_micros(
    before: int, after: int,
) -> None:
    as_money = balance_depleted(Money(from_micros(before), "USD"),
                                Money(from_micros(after), "USD"))
    assert balance_depleted(before, after) is as_money
    assert as_money is (before > 0 and after <= 0)


@pytest.mark.rule("FUND-9")
@given(value=_micros)
def test_micro_units_round_trip(value: int) -> None:
    assert to_micros(from_micros(value)) == value


@pytest.mark.rule("LIC-3")
def test_the_calling_plan_of_a_call_is_the_first_plan_by_code() -> None:
    held = {"MCOPSTN2": None, "MCOEV": None, "MCOPSTN1": "GB"}
    assert calling_plan_code(held) == "MCOPSTN1"
    assert calling_plan_code({"MCOEV": None}) is None
    plan = calling_plan(["MCOPSTN2", "MCOPSTN1"])
    assert plan is not None and plan.part_number == "MCOPSTN1"


class _Rates:
    def __init__(self) -> None:
        self.reads = 0
        self.table = RateTableRecord(1, "USD", 1, T0, 1, "test", "")

    def tables(self, currency: str) -> list[RateTableRecord]:
        return [self.table]

    def rows(self, table_id: int, currency: str) -> list[tuple[int, Rate]]:
        self.reads += 1
        return [(42, Rate("44", "United Kingdom", NumberType.FIXED, Direction.OUTBOUND,
                          Money(Decimal("0.10"), "USD"), Money(Decimal("0"), "USD"), 60, 60,
                          T0))]


@pytest.mark.rule("RATE-3")
def test_a_rate_version_is_read_once_into_one_index_that_every_lookup_uses() -> None:
    class Uow:
        rates = _Rates()

    uow: Any = Uow()
    book = RateBook()
    at = T0 + timedelta(days=1)
    found = book.lookup(uow, "USD", "447400123456", at)
    assert found is not None and found.rate_id == 42
    index = book.index(uow, uow.rates.table)
    hit = index.lookup("447400123456", at)
    assert hit is not None and hit[0] == 42 and hit[1] is found.rate
    assert book.index(uow, uow.rates.table) is index and uow.rates.reads == 1
