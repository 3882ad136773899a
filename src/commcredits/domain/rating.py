"""Rating (RATE-1, RATE-2, RATE-4, CALL-6): rate rows, the longest-prefix index, billed
seconds, a call's charge, and the longest call a balance can pay for.

Pure functions over immutable rows; the rate table CSV format is parsed in
`domain.rate_tables`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR
from enum import StrEnum

from commcredits.domain.money import Money

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

    def in_force(self, at: datetime) -> bool:
        return self.effective_from <= at and (self.effective_to is None or at < self.effective_to)


def billed_seconds(duration: int, first: int, next_: int) -> int:
    """RATE-2: the first increment for any answered call up to it, then whole next
    increments."""
    if duration <= 0:
        return 0
    if duration <= first:
        return first
    return first + math.ceil((duration - first) / next_) * next_


def charge(rate: Rate, duration: int) -> Money:
    """RATE-2: connection fee + rate/60 × billed seconds, half-up to cents; 0 s is free."""
    seconds = billed_seconds(duration, rate.first_increment, rate.next_increment)
    if seconds == 0:
        return Money.zero(rate.rate_per_minute.currency)
    raw = rate.connection_fee.amount + rate.rate_per_minute.amount * seconds / 60
    return Money(raw, rate.rate_per_minute.currency).round_cents()


def max_seconds(rate: Rate, available: Money, cap: int = MAX_CALL_SECONDS) -> int:
    """CALL-6: the longest duration whose charge fits ``available``, on a billing increment,
    at most ``cap``. 0 when not even the first increment fits."""
    first, step = rate.first_increment, rate.next_increment
    if rate.rate_per_minute.amount == 0:
        return cap if charge(rate, first) <= available else 0
    if charge(rate, first) > available:
        return 0
    budget = (available.amount - rate.connection_fee.amount) * 60 / rate.rate_per_minute.amount
    limit = (_last_billing_point(first, step, cap) - first) // step
    steps = int(((budget - first) / step).to_integral_value(rounding=ROUND_FLOOR))
    steps = max(0, min(steps, limit))
    while steps > 0 and charge(rate, first + steps * step) > available:
        steps -= 1
    while steps < limit and charge(rate, first + (steps + 1) * step) <= available:
        steps += 1
    return min(first + steps * step, _last_billing_point(first, step, cap))


def _last_billing_point(first: int, step: int, cap: int) -> int:
    """The longest billable duration at or under ``cap``."""
    if cap < first:
        return 0
    return first + (cap - first) // step * step


class RateIndex:
    """Longest-prefix lookup over one rate table version, built once (RATE-1)."""

    def __init__(self, rates: Iterable[Rate]) -> None:
        self._rows: dict[tuple[Direction, str], list[Rate]] = {}
        for rate in rates:
            self._rows.setdefault((rate.direction, rate.prefix), []).append(rate)
        for rows in self._rows.values():
            rows.sort(key=lambda r: r.effective_from, reverse=True)
        self._longest = max((len(p) for _, p in self._rows), default=0)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    def lookup(self, digits: str, at: datetime,
               direction: Direction = Direction.OUTBOUND) -> Rate | None:
        """The longest prefix of ``digits`` with a row in force at ``at``; among rows of the
        same prefix, the latest ``effective_from`` at or before ``at`` wins."""
        for length in range(min(len(digits), self._longest), 0, -1):
            rows = self._rows.get((direction, digits[:length]))
            if rows:
                for row in rows:
                    if row.in_force(at):
                        return row
        return None


@dataclass(frozen=True, slots=True)
class Classified:
    """What a dialled string is: E.164 digits (no +), country, type; or an emergency call."""

    valid: bool
    digits: str = ""
    country: str = ""
    number_type: NumberType = NumberType.OTHER
    emergency: bool = False
