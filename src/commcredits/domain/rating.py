"""Rating (RATE-1, RATE-2, RATE-4, CALL-6): rate rows, the one longest-prefix index
(`RateIndex`), billed seconds, a call's charge, and the longest call a balance can pay for.

The charge has one arithmetic: integers in micro-units (`RateTerms`, `charge_micros`,
rounded half-up to cents); `charge` is its Decimal edge (`Money`). Live calls and CDR
batches rate through the same functions (CDR-2). Pure functions over immutable rows; the
rate table CSV format is parsed in `domain.rate_tables`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from commcredits.domain.money import Money, from_micros, to_micros

MAX_CALL_SECONDS = 4 * 3600


class Direction(StrEnum):
    OUTBOUND = "outbound"
    TOLL_FREE_INBOUND = "toll_free_inbound"


class NumberType(StrEnum):
    FIXED = "fixed"
    MOBILE = "mobile"
    TOLL_FREE = "toll_free"
    PREMIUM = "premium"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Rate:
    """One row of a rate table (RATE-1)."""

    prefix: str
    destination: str
    number_type: NumberType
    direction: Direction
    rate_per_minute: Money
    connection_fee: Money
    first_increment: int
    next_increment: int
    effective_from: datetime
    effective_to: datetime | None = None
    # RATE-2's integers, worked out once per row: every call rated by it reads them.
    terms: RateTerms = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", RateTerms(
            to_micros(self.rate_per_minute.amount), to_micros(self.connection_fee.amount),
            self.first_increment, self.next_increment))

    def in_force(self, at: datetime) -> bool:
        return self.effective_from <= at and (self.effective_to is None or at < self.effective_to)


def billed_seconds(duration: int, first: int, next_: int) -> int:
    """RATE-2: the first increment for any answered call up to it, then whole next
    increments."""
    if duration <= 0:
        return 0
    if duration <= first:
        return first
    return first + (duration - first + next_ - 1) // next_ * next_


CENT_MICROS = 10_000
# charge (in cents) = (60 × fee + rate × seconds) / 600,000 with both amounts in micros.
_CENTS_DENOMINATOR = 60 * CENT_MICROS
_HALF = _CENTS_DENOMINATOR // 2


@dataclass(frozen=True, slots=True)
class RateTerms:
    """What RATE-2 needs of a rate row, in micro-units."""

    rate_micros: int
    fee_micros: int
    first: int
    next_: int

    def without_fee(self) -> RateTerms:
        return RateTerms(self.rate_micros, 0, self.first, self.next_)


def charge_micros(terms: RateTerms, duration: int) -> int:
    """RATE-2 in integers: fee + rate/60 × billed seconds, half-up to cents, in micros.

    With fee F and rate R in micros and s billed seconds, the charge in cents is
    (60·F + R·s) / 600,000, exactly; adding half the denominator before the floor division
    rounds half-up (amounts are never negative). 0 s costs nothing.
    """
    seconds = billed_seconds(duration, terms.first, terms.next_)
    if seconds == 0:
        return 0
    numerator = 60 * terms.fee_micros + terms.rate_micros * seconds
    return (numerator + _HALF) // _CENTS_DENOMINATOR * CENT_MICROS


def charge(rate: Rate, duration: int) -> Money:
    """RATE-2: connection fee + rate/60 × billed seconds, half-up to cents; 0 s is free
    (`charge_micros`, as `Money`)."""
    micros = charge_micros(rate.terms, duration)
    if micros == 0:
        return Money.zero(rate.rate_per_minute.currency)
    return Money(from_micros(micros), rate.rate_per_minute.currency)


def max_seconds(rate: Rate, available: Money, cap: int = MAX_CALL_SECONDS) -> int:
    """CALL-6: the longest duration whose charge fits ``available``, on a billing increment,
    at most ``cap``. 0 when not even the first increment fits. Integer micro-units, as
    `charge_micros` (``available`` has at most 6 decimal places, as every balance)."""
    terms = rate.terms
    budget = to_micros(available.amount)
    first, step = terms.first, terms.next_
    if terms.rate_micros == 0:
        return cap if charge_micros(terms, first) <= budget else 0
    if charge_micros(terms, first) > budget:
        return 0
    last = _last_billing_point(first, step, cap)
    if last == 0:  # the cap is shorter than the first increment
        return 0
    limit = (last - first) // step
    # floor((B - F) * 60 / R) seconds, then whole steps past the first increment: the
    # estimate; the loops below settle it on the exact charges.
    steps = ((budget - terms.fee_micros) * 60 // terms.rate_micros - first) // step
    steps = max(0, min(steps, limit))
    while steps > 0 and charge_micros(terms, first + steps * step) > budget:
        steps -= 1
    while steps < limit and charge_micros(terms, first + (steps + 1) * step) <= budget:
        steps += 1
    return first + steps * step  # at most ``last``: steps <= limit


def _last_billing_point(first: int, step: int, cap: int) -> int:
    """The longest billable duration at or under ``cap``."""
    if cap < first:
        return 0
    return first + (cap - first) // step * step


# A candidate row: (effective_from, effective_to, row id, rate).
Candidate = tuple[datetime, datetime | None, int, Rate]


class RateIndex:
    """Longest-prefix lookup over one rate table version (RATE-1), built once per version
    and shared by every call (`services.rates.RateBook`).

    Rows are grouped by (direction, prefix), newest ``effective_from`` first (stably), and
    the prefix lengths present are kept per direction, longest first. For each distinct
    number the candidate rows (longest prefix first) are computed once; a call takes the
    first candidate in force at its start.
    """

    def __init__(self, rows: Iterable[tuple[int, Rate]]) -> None:
        grouped: dict[tuple[Direction, str], list[Candidate]] = {}
        for row_id, rate in rows:
            grouped.setdefault((rate.direction, rate.prefix), []).append(
                (rate.effective_from, rate.effective_to, row_id, rate))
        for candidates in grouped.values():
            candidates.sort(key=lambda c: c[0], reverse=True)
        self._rows = grouped
        self._by_id = {row_id: rate for cands in grouped.values() for _, _, row_id, rate in cands}
        lengths: dict[Direction, set[int]] = {}
        for direction, prefix in grouped:
            lengths.setdefault(direction, set()).add(len(prefix))
        self._lengths = {d: sorted(ls, reverse=True) for d, ls in lengths.items()}
        self._chains: dict[tuple[Direction, str], tuple[Candidate, ...]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def row(self, row_id: int) -> Rate | None:
        """The rate of row ``row_id``, if it is one of this version's."""
        return self._by_id.get(row_id)

    def chain(self, digits: str, direction: Direction) -> tuple[Candidate, ...]:
        """Every row whose prefix starts ``digits``, longest prefix first."""
        key = (direction, digits)
        found = self._chains.get(key)
        if found is None:
            out: list[Candidate] = []
            rows = self._rows
            for length in self._lengths.get(direction, ()):
                if length <= len(digits):
                    out.extend(rows.get((direction, digits[:length]), ()))
            found = self._chains[key] = tuple(out)
        return found

    def lookup(self, digits: str, at: datetime,
               direction: Direction = Direction.OUTBOUND) -> tuple[int, Rate] | None:
        """(row id, rate) of the longest prefix of ``digits`` with a row in force at ``at``;
        among rows of the same prefix, the latest ``effective_from`` at or before ``at``."""
        for start, end, row_id, rate in self.chain(digits, direction):
            if start <= at and (end is None or at < end):
                return row_id, rate
        return None


@dataclass(frozen=True, slots=True)
class Classified:
    """What a dialled string is: E.164 digits (no +), country, type; or an emergency call."""

    valid: bool
    digits: str = ""
    country: str = ""
    number_type: NumberType = NumberType.OTHER
    emergency: bool = False
