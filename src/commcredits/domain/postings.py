"""Bulk postings of CDR batches (FUND-10, FUND-3, FUND-5, FUND-6): many calls' charges, one
ledger entry.

A batch charges its calls one by one in start-time order, in memory (FIFO over the lots,
FUND-3; debt, FUND-5), and adds each charge to the entry that is open: `Posting` sums the
calls' charges (each rounded on its own, FUND-9) and their shortfalls, and merges their
allocations per lot in the order the lots were first drawn on, which is FIFO order. The
entry is closed (`Posting.closes`, `ends_entry`), and the next call opens a new one:

- when it holds `MAX_CALLS` calls;
- after the charge that moved the balance from above 0 to 0 or less (the depletion email,
  NOTE-1, names the entry whose balance after it is the one the email states);
- after the charge that queued an auto-recharge (AR-2): the batch path ends its chunk there,
  and the recharge's lot is bought before the next call's charge;
- where a lot expires (FUND-4): a chunk is charged at one clock reading, after the expiries
  due by then (`AccountWriter.apply_due_expiry`), so an expiry only ever falls between
  chunks, and so between entries.

So the balances, lots, debt and recharges are those of charging the calls one by one, and an
entry's amount is the sum of its calls' charges. Pure Python, stdlib only; amounts in
integer micro-units.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["MAX_CALLS", "Posting", "ends_entry"]

MAX_CALLS = 10_000  # calls per bulk charge entry at most (FUND-10)


@dataclass(slots=True)
class Posting:
    """One bulk charge entry being built: its calls' charges, shortfall (the part that went
    into debt) and allocations, in micro-units."""

    entry_id: int
    amount: int = 0
    shortfall: int = 0
    calls: int = 0
    allocations: dict[int, int] = field(default_factory=dict)

    def add(self, amount: int, allocations: Iterable[tuple[int, int]], shortfall: int) -> None:
        """Add one call's charge, the lots it took from (FIFO order) and its shortfall."""
        self.amount += amount
        self.shortfall += shortfall
        self.calls += 1
        merged = self.allocations
        for lot_id, taken in allocations:
            merged[lot_id] = merged.get(lot_id, 0) + taken

    @property
    def full(self) -> bool:
        """The entry holds `MAX_CALLS` calls: the next call opens a new one."""
        return self.calls >= MAX_CALLS

    def allocation_rows(self) -> list[tuple[int, int, int]]:
        """(entry id, lot id, micros) per lot drawn on, in FIFO order."""
        return [(self.entry_id, lot_id, taken) for lot_id, taken in self.allocations.items()
                if taken]


def ends_entry(before: int, after: int, *, recharge_queued: bool, full: bool) -> bool:
    """Whether the entry a charge went into closes after it: the balance went from above 0
    to 0 or less (NOTE-1), the charge queued an auto-recharge (AR-2), or the entry is full."""
    return (before > 0 >= after) or recharge_queued or full

