"""The append-only credit ledger (FUND-5, FUND-6): entry kinds and how each change is written.

Every change to a tenant's balance is one entry whose signed ``amount`` is the change in
balance. Entries take money from lots through allocations and move debt through
``debt_delta``, so that for every entry::

    amount == lot_created - sum(allocations) - debt_delta

and therefore, summed over the ledger, the balance (what lots hold minus debt) equals the sum
of the entries. The functions here only draft entries; the service persists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from commcredits.domain.errors import InvalidInput
from commcredits.domain.lots import Allocation, LotView, consume_fifo, expiring
from commcredits.domain.money import Money


class EntryKind(StrEnum):
    PURCHASE = "purchase"
    CHARGE = "charge"
    EXPIRED = "expired"
    DEBT_SETTLEMENT = "debt_settlement"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """A ledger entry not yet stored. ``lot_created`` is the amount of a lot it creates."""

    kind: EntryKind
    amount: Money
    debt_delta: Money
    allocations: tuple[Allocation, ...] = ()
    lot_created: Money | None = None
    reference: str | None = None
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        """Raise if the entry does not balance (a programming error, never user input)."""
        total = self.lot_created or Money.zero(self.amount.currency)
        for a in self.allocations:
            total = total - a.amount
        total = total - self.debt_delta
        if total != self.amount:
            raise AssertionError(f"unbalanced ledger entry {self!r}")


def charge_entry(
    lots: Iterable[LotView], amount: Money, at: datetime, *, reference: str | None = None,
    description: str = "", kind: EntryKind = EntryKind.CHARGE,
) -> EntryDraft:
    """Charge ``amount`` first-in-first-out; what the lots cannot pay becomes debt (FUND-5)."""
    if not amount.is_positive():
        raise InvalidInput("INVALID_AMOUNT", f"A charge must be above zero, not {amount}.")
    consumption = consume_fifo(lots, amount, at)
    return EntryDraft(
        kind=kind, amount=-amount, debt_delta=consumption.shortfall,
        allocations=consumption.allocations, reference=reference, description=description,
    )


def expiry_entries(lots: Iterable[LotView], at: datetime) -> list[EntryDraft]:
    """One ``expired`` entry per lot whose funds are forfeited at ``at`` (FUND-4)."""
    drafts = []
    for alloc in expiring(lots, at):
        drafts.append(EntryDraft(
            kind=EntryKind.EXPIRED, amount=-alloc.amount,
            debt_delta=Money.zero(alloc.amount.currency), allocations=(alloc,),
            reference=f"lot:{alloc.lot_id}",
            description=f"Funds of lot {alloc.lot_id} expired and were forfeited",
        ))
    return drafts


def funding_entries(
    lot_id: int, amount: Money, debt: Money, *, kind: EntryKind = EntryKind.PURCHASE,
    reference: str | None = None, description: str = "",
) -> list[EntryDraft]:
    """A new lot's entries: the funding itself, then settlement of any debt from it (FUND-5)."""
    zero = Money.zero(amount.currency)
    drafts = [EntryDraft(
        kind=kind, amount=amount, debt_delta=zero, lot_created=amount,
        reference=reference, description=description,
    )]
    settled = amount.min(debt) if debt.is_positive() else zero
    if settled.is_positive():
        drafts.append(EntryDraft(
            kind=EntryKind.DEBT_SETTLEMENT, amount=zero, debt_delta=-settled,
            allocations=(Allocation(lot_id, settled),), reference=reference,
            description=f"Debt of {settled} paid from the new lot",
        ))
    return drafts


def balance(lots: Iterable[LotView], debt: Money, at: datetime) -> Money:
    """What unexpired lots hold, minus debt (FUND-5)."""
    total = -debt
    for lot in lots:
        if not lot.is_expired(at):
            total = total + lot.remaining
    return total
