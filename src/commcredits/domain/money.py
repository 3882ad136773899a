"""Money: exact `Decimal` amounts that always carry their ISO 4217 currency (FUND-9).

Rounding happens only at named points: `Money.round_cents()` (half-up, a call's charge and
invoice totals). Parsing user input into an amount lives here too, so every entrypoint
refuses the same bad values with the same codes (FUND-2).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from functools import total_ordering
from typing import Any

from commcredits.domain.errors import CurrencyMismatch, InvalidInput

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
MICROS = 1_000_000  # micro-units (10^-6) per unit: how amounts are stored and batch-rated
MAX_PURCHASE = Decimal("1000000.00")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_AMOUNT_RE = re.compile(r"^[+-]?([0-9]+)(\.[0-9]+)?$", re.ASCII)


def _check_currency(code: str) -> str:
    if not isinstance(code, str) or not _CURRENCY_RE.match(code):
        raise InvalidInput(
            "INVALID_CURRENCY", f"{code!r} is not an ISO 4217 currency code such as USD.",
        )
    return code


@total_ordering
@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency. Arithmetic across currencies raises CURRENCY_MISMATCH."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise InvalidInput("INVALID_AMOUNT", f"{self.amount!r} is not a finite decimal.")
        _check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal("0.00"), currency)

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Build from a trusted literal (code and tests), e.g. ``Money.of("50.00", "USD")``."""
        return cls(Decimal(amount), currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.currency == other.currency and self.amount == other.amount

    def __hash__(self) -> int:
        return hash((self.amount, self.currency))

    def min(self, other: Money) -> Money:
        return self if self <= other else other

    def is_zero(self) -> bool:
        return self.amount == 0

    def is_positive(self) -> bool:
        return self.amount > 0

    def is_negative(self) -> bool:
        return self.amount < 0

    def round_cents(self) -> Money:
        """Round half-up to 2 decimals: the only rounding of a charge (FUND-9, RATE-2)."""
        return Money(self.amount.quantize(CENT, rounding=ROUND_HALF_UP), self.currency)

    def format(self) -> str:
        """The amount as an API string with 2 decimals, e.g. ``"50.00"``."""
        return format_amount(self.amount)

    def __str__(self) -> str:
        return f"{self.format()} {self.currency}"


def to_micros(amount: Decimal) -> int:
    """A Decimal amount of at most 6 places as integer micro-units (exact, or ValueError)."""
    scaled = amount * MICROS
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than 6 decimal places")
    return int(scaled)


def from_micros(value: int) -> Decimal:
    """Micro-units back to a Decimal: 2 places when exact in cents, else up to 6."""
    exact = Decimal(value).scaleb(-6)
    cents = exact.quantize(CENT)
    return cents if cents == exact else exact.normalize()


def format_amount(amount: Decimal) -> str:
    """Format with at least 2 decimals, never dropping a significant digit.

    Works for any finite value (a refusal may quote an amount of 1e400), so the quantize
    runs with as many digits of precision as the amount needs.
    """
    with localcontext() as ctx:
        ctx.prec = max(28, len(amount.as_tuple().digits) + 4 + max(0, amount.adjusted()))
        q = amount.quantize(CENT) if amount == amount.quantize(CENT) else amount.normalize()
    return f"{q:f}"


def check_limit(amount: Decimal, value: Any, what: str = "An amount") -> Decimal:
    """Refuse (INVALID_AMOUNT) an amount whose absolute value is above FUND-2's maximum,
    1,000,000.00: purchases, auto-recharge amounts and triggers, and operator adjustments."""
    if abs(amount) > MAX_PURCHASE:
        raise InvalidInput(
            "INVALID_AMOUNT",
            f"{what} may be at most {format_amount(MAX_PURCHASE)} "
            f"(or -{format_amount(MAX_PURCHASE)}); send a smaller amount.",
            {"value": str(value)[:50], "maximum": format_amount(MAX_PURCHASE)},
        )
    return amount


def parse_amount(value: Any, *, max_places: int = 2) -> Decimal:
    """Parse untrusted input (JSON value or CLI text) into a Decimal, or refuse.

    Refuses with INVALID_AMOUNT: booleans, text that is not a plain decimal, NaN, infinity,
    and more than ``max_places`` decimal places. Floats are accepted only when their shortest
    representation is a plain decimal (JSON ``50.5``), so no binary rounding sneaks in.
    """
    if isinstance(value, bool) or value is None:
        raise _invalid(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _invalid(value)
        value = repr(value)
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, Decimal):
        value = format(value, "f") if value.is_finite() else "nan"
    if not isinstance(value, str):
        raise _invalid(value)
    text = value.strip()
    if not _AMOUNT_RE.match(text):
        raise _invalid(value)
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise _invalid(value) from exc
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > max_places:
        raise InvalidInput(
            "INVALID_AMOUNT",
            f"{value!r} has more than {max_places} decimal places; round it to cents.",
            {"value": str(value)},
        )
    return amount


def _invalid(value: Any) -> InvalidInput:
    return InvalidInput(
        "INVALID_AMOUNT",
        f"{value!r} is not an amount; send a decimal string such as \"50.00\".",
        {"value": str(value)},
    )
