"""Lots and first-in-first-out consumption (FUND-1, FUND-3, FUND-4, FUND-5).

A lot is one purchase of credits. These are pure functions over immutable lot views: they
decide which lots pay, which expire and how much debt a new lot settles, and report the
shortfall instead of raising. Persisting the outcome is the service layer's job.

FIFO has one kernel, `fifo_micros`, over mutable balances in integer micro-units: CDR
batches run it directly over a chunk's lots, and `consume_fifo` (a single charge, in Money)
converts to it and back.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from commcredits.domain.errors import CurrencyMismatch
from commcredits.domain.money import Money, from_micros, to_micros

LOT_LIFETIME_MONTHS = 12


class LotSource(StrEnum):
    MANUAL = "manual"
    AUTO_RECHARGE = "auto_recharge"
    PARTNER = "partner"
    ADJUSTMENT = "adjustment"


def add_months(at: datetime, months: int) -> datetime:
    """The same day and time ``months`` later, or the month's last day where it does not exist."""
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def expiry_for(purchased_at: datetime) -> datetime:
    """A lot expires 12 calendar months after purchase (FUND-1)."""
    return add_months(purchased_at, LOT_LIFETIME_MONTHS)


@dataclass(frozen=True, slots=True)
class LotView:
    """What FIFO needs to know about a lot."""

    id: int
    purchased_at: datetime
    expires_at: datetime
    remaining: Money

    def is_expired(self, at: datetime) -> bool:
        return at >= self.expires_at


@dataclass(frozen=True, slots=True)
class Allocation:
    """An amount taken from one lot by one ledger entry."""

    lot_id: int
    amount: Money


@dataclass(frozen=True, slots=True)
class Consumption:
    """The result of consuming an amount: what each lot paid, and what no lot could."""

    allocations: tuple[Allocation, ...]
    shortfall: Money

    def covered(self, currency: str) -> Money:
        total = Money.zero(currency)
        for a in self.allocations:
            total = total + a.amount
        return total


def fifo_order(lots: Iterable[LotView]) -> list[LotView]:
    """Oldest purchase first, ties broken by lot id (FUND-3)."""
    return sorted(lots, key=lambda lot: (lot.purchased_at, lot.id))


@dataclass(slots=True)
class LotBalance:
    """A lot as FIFO sees it during a batch: what it holds, in micros, changing in place."""

    id: int
    purchased_at: datetime
    expires_at: datetime
    remaining: int


def fifo_micros(lots: list[LotBalance], amount: int, at: datetime) -> tuple[
        list[tuple[int, int]], int]:
    """Take ``amount`` micros from unexpired lots, oldest purchase first, ties by id
    (``lots`` must already be in that order); returns ((lot id, micros) allocations,
    shortfall) and lowers each lot's ``remaining`` (FUND-3, FUND-5)."""
    left = amount
    allocations: list[tuple[int, int]] = []
    for lot in lots:
        if left <= 0:
            break
        if lot.remaining <= 0 or at >= lot.expires_at:
            continue
        take = lot.remaining if lot.remaining < left else left
        lot.remaining -= take
        allocations.append((lot.id, take))
        left -= take
    return allocations, left


def consume_fifo(lots: Iterable[LotView], amount: Money, at: datetime) -> Consumption:
    """Take ``amount`` from unexpired lots, oldest first. Expired lots are never used.

    `fifo_micros` over the lots in `fifo_order`, in the amount's currency (a lot in another
    raises CURRENCY_MISMATCH)."""
    currency = amount.currency
    balances = []
    for lot in fifo_order(lots):
        if lot.remaining.currency != currency:
            raise CurrencyMismatch(lot.remaining.currency, currency)
        balances.append(LotBalance(lot.id, lot.purchased_at, lot.expires_at,
                                   to_micros(lot.remaining.amount)))
    taken, shortfall = fifo_micros(balances, to_micros(amount.amount), at)
    return Consumption(
        tuple(Allocation(lot_id, Money(from_micros(m), currency)) for lot_id, m in taken),
        Money(from_micros(shortfall), currency) if taken else amount,
    )


def expiring(lots: Iterable[LotView], at: datetime) -> list[Allocation]:
    """What each lot forfeits at ``at``: everything it still holds once ``expires_at`` passed."""
    return [
        Allocation(lot.id, lot.remaining)
        for lot in fifo_order(lots)
        if lot.is_expired(at) and lot.remaining.is_positive()
    ]


def next_expiry(lots: Sequence[LotView]) -> datetime | None:
    """The earliest expiry among lots that still hold funds: when expiry next has work."""
    dates = [lot.expires_at for lot in lots if lot.remaining.is_positive()]
    return min(dates) if dates else None
