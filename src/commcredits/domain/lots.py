"""Lots and first-in-first-out consumption (FUND-1, FUND-3, FUND-4, FUND-5).

A lot is one purchase of credits. These are pure functions over immutable lot views: they
decide which lots pay, which expire and how much debt a new lot settles, and report the
shortfall instead of raising. Persisting the outcome is the service layer's job.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from commcredits.domain.money import Money

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


def consume_fifo(lots: Iterable[LotView], amount: Money, at: datetime) -> Consumption:
    """Take ``amount`` from unexpired lots, oldest first. Expired lots are never used."""
    left = amount
    allocations: list[Allocation] = []
    for lot in fifo_order(lots):
        if not left.is_positive():
            break
        if lot.is_expired(at) or not lot.remaining.is_positive():
            continue
        take = lot.remaining.min(left)
        allocations.append(Allocation(lot.id, take))
        left = left - take
    return Consumption(tuple(allocations), left)


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
