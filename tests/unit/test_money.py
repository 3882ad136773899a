"""Money and amount parsing (FUND-9, FUND-2): exact decimals, one currency per operation,
half-up rounding to cents, and the refusals every entrypoint shares."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commcredits.domain.errors import CurrencyMismatch, InvalidInput
from commcredits.domain.money import Money, format_amount, parse_amount
from commcredits.domain.purchases import check_purchase_amount


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


cents = st.integers(min_value=-100_000_000, max_value=100_000_000)


def cents_text(value: int) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"


# --- currencies (FUND-9) ----------------------------------------------------------------------


@pytest.mark.rule("FUND-9")
@pytest.mark.parametrize("operation", [
    pytest.param(lambda a, b: a + b, id="add"),
    pytest.param(lambda a, b: a - b, id="subtract"),
    pytest.param(lambda a, b: a < b, id="less-than"),
    pytest.param(lambda a, b: a >= b, id="greater-or-equal"),
    pytest.param(lambda a, b: a.min(b), id="min"),
])
def test_combining_two_currencies_is_refused_with_currency_mismatch(operation: Any) -> None:
    with pytest.raises(CurrencyMismatch) as refused:
        operation(usd("10.00"), eur("10.00"))
    assert refused.value.code == "CURRENCY_MISMATCH"
    assert refused.value.details == {"currencies": ["USD", "EUR"]}


@pytest.mark.rule("FUND-9")
def test_equal_amounts_in_two_currencies_are_not_equal() -> None:
    assert usd("10.00") != eur("10.00")
    assert usd("10.00") == usd("10.0")
    assert hash(usd("10.00")) == hash(usd("10.0"))


@pytest.mark.rule("FUND-9")
def test_arithmetic_in_one_currency_is_exact_where_binary_floats_are_not() -> None:
    total = Money.zero("USD")
    for _ in range(10):
        total = total + usd("0.10")
    assert total == usd("1.00")
    assert usd("0.30") - usd("0.10") - usd("0.20") == usd("0.00")
    assert (-usd("12.34")).amount == Decimal("-12.34")
    assert usd("3.00").min(usd("2.99")) == usd("2.99")


@pytest.mark.rule("FUND-9")
@pytest.mark.parametrize("amount", [0.1, 1, "1.00", None, Decimal("NaN"), Decimal("Infinity")])
def test_money_refuses_anything_but_a_finite_decimal(amount: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        Money(amount, "USD")
    assert refused.value.code == "INVALID_AMOUNT"


@pytest.mark.rule("FUND-9")
@pytest.mark.parametrize("currency", ["usd", "US", "USDD", "", "12$", None])
def test_money_refuses_a_currency_that_is_not_an_iso_code(currency: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        Money(Decimal("1.00"), currency)
    assert refused.value.code == "INVALID_CURRENCY"


# --- rounding (FUND-9) ------------------------------------------------------------------------


@pytest.mark.rule("FUND-9")
@pytest.mark.parametrize(("amount", "rounded"), [
    ("0.125", "0.13"),
    ("0.124999", "0.12"),
    ("-0.125", "-0.13"),
    ("-0.124999", "-0.12"),
    ("0.135", "0.14"),
    ("2.675", "2.68"),  # 2.675 as a binary float is 2.67499999…; decimals round it up
    ("0.005", "0.01"),
    ("0.004999", "0.00"),
    ("1.995", "2.00"),
    ("12.345678", "12.35"),
    ("7", "7.00"),
    ("0.10", "0.10"),
])
def test_round_cents_rounds_half_up_to_two_decimals(amount: str, rounded: str) -> None:
    result = usd(amount).round_cents()
    assert result.amount == Decimal(rounded)
    assert result.format() == rounded
    assert result.currency == "USD"


@pytest.mark.rule("FUND-9")
@given(micros=st.integers(min_value=-10**12, max_value=10**12))
def test_round_cents_moves_an_amount_by_at_most_half_a_cent(micros: int) -> None:
    amount = Decimal(micros).scaleb(-6)
    rounded = Money(amount, "EUR").round_cents()
    assert abs(rounded.amount - amount) <= Decimal("0.005")
    assert rounded.amount == rounded.amount.quantize(Decimal("0.01"))
    assert rounded.round_cents() == rounded
    # half-up is symmetric: rounding the negative is the negative of rounding
    assert Money(-amount, "EUR").round_cents() == -rounded


# --- parsing untrusted input (FUND-2) ---------------------------------------------------------


@pytest.mark.rule("FUND-2")
@pytest.mark.parametrize("value", [
    "abc", "", "   ", "NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN",
    "1e3", "1E-2", "0x10", "1,000.00", "50 USD", "$50", "50.", ".5", "5..0", "--5", "+-5",
    "1.234", "50.001", "0.000001",
    float("nan"), float("inf"), float("-inf"), 1e-7, 1.5e16, 50.123,
    Decimal("NaN"), Decimal("Infinity"), Decimal("50.001"),
    True, False, None, [], {}, ["50.00"], {"amount": "50.00"}, b"50.00", object(),
])
def test_parse_amount_refuses_what_is_not_a_plain_decimal_with_invalid_amount(
    value: Any,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_amount(value)
    assert refused.value.code == "INVALID_AMOUNT"
    assert refused.value.message


@pytest.mark.rule("FUND-2")
@pytest.mark.parametrize(("value", "expected"), [
    ("50.00", "50.00"),
    (" 50.5 ", "50.5"),
    ("+7", "7"),
    ("-12.34", "-12.34"),
    (50, "50"),
    (50.5, "50.5"),
    (0.1, "0.1"),  # the shortest repr of the float, never 0.1000000000000000055…
    (Decimal("19.99"), "19.99"),
    ("1000000.00", "1000000.00"),
])
def test_parse_amount_accepts_plain_decimals_exactly(value: Any, expected: str) -> None:
    parsed = parse_amount(value)
    assert isinstance(parsed, Decimal)
    assert parsed == Decimal(expected)
    assert parsed.as_tuple() == Decimal(expected).as_tuple()


@pytest.mark.rule("FUND-2")
def test_parse_amount_allows_more_places_only_when_asked() -> None:
    assert parse_amount("0.012345", max_places=6) == Decimal("0.012345")
    with pytest.raises(InvalidInput) as refused:
        parse_amount("0.0123456", max_places=6)
    assert refused.value.code == "INVALID_AMOUNT"


@pytest.mark.rule("FUND-2")
@given(value=cents)
def test_a_two_decimal_string_round_trips_through_parse_and_format(value: int) -> None:
    text = cents_text(value)
    parsed = parse_amount(text)
    assert parsed == Decimal(value).scaleb(-2)
    assert format_amount(parsed) == text
    assert Money(parsed, "USD").format() == text
    assert Money(parsed, "USD").round_cents().format() == text


@pytest.mark.rule("FUND-9")
@given(values=st.lists(cents, max_size=50))
def test_summing_money_never_creates_or_loses_a_cent(values: list[int]) -> None:
    total = Money.zero("GBP")
    for value in values:
        total = total + Money(parse_amount(cents_text(value)), "GBP")
    assert total.amount == Decimal(sum(values)).scaleb(-2)
    assert total.round_cents() == total


@pytest.mark.rule("FUND-2")
@given(micros=st.integers(min_value=0, max_value=10**15))
def test_format_amount_never_drops_a_significant_digit(micros: int) -> None:
    amount = Decimal(micros).scaleb(-6)
    text = format_amount(amount)
    assert Decimal(text) == amount
    assert len(text.split(".")[1]) >= 2


# --- purchase amounts (FUND-2) ----------------------------------------------------------------


@pytest.mark.rule("FUND-2")
@pytest.mark.parametrize(("value", "code"), [
    ("49.99", "AMOUNT_BELOW_MINIMUM"),
    ("0.01", "AMOUNT_BELOW_MINIMUM"),
    ("0", "INVALID_AMOUNT"),
    ("0.00", "INVALID_AMOUNT"),
    ("-50.00", "INVALID_AMOUNT"),
    ("1000000.01", "INVALID_AMOUNT"),
    ("50.001", "INVALID_AMOUNT"),
    ("NaN", "INVALID_AMOUNT"),
    (float("inf"), "INVALID_AMOUNT"),
    ("fifty", "INVALID_AMOUNT"),
])
def test_a_purchase_amount_out_of_range_is_refused_with_its_code(value: Any, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_purchase_amount(value, "USD")
    assert refused.value.code == code


@pytest.mark.rule("FUND-2")
@pytest.mark.parametrize("value", ["50", "50.00", "50.1", "999999.99", "1000000.00", 75])
def test_a_purchase_between_the_minimum_and_one_million_is_accepted(value: Any) -> None:
    money = check_purchase_amount(value, "USD")
    assert money == Money(Decimal(str(value)), "USD")
    assert money.currency == "USD"
