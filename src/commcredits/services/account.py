"""Writing to one tenant's credit account inside a unit of work that holds its lock.

`AccountWriter` keeps the running balance, debt and open lots while a command appends
entries, applies due expiry first (FUND-4), and saves the account row once at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from commcredits.domain.ledger import EntryDraft, expiry_entries
from commcredits.domain.lots import LotSource, LotView, expiry_for, next_expiry
from commcredits.domain.money import Money
from commcredits.domain.notifications import NotificationKind
from commcredits.services.notifications import notify
from commcredits.services.ports import AccountState, UnitOfWork


class AccountWriter:
    def __init__(self, uow: UnitOfWork, tenant_id: str, now: datetime) -> None:
        self.uow = uow
        self.now = now
        self.state: AccountState = uow.credits.account(tenant_id, lock=True)
        self.tenant_id = tenant_id
        self.currency = self.state.currency
        self.balance = self.state.balance
        self.debt = self.state.debt
        self.invoice_seq = self.state.invoice_seq
        self.first_funded_at = self.state.first_funded_at
        self._lots: list[LotView] | None = None
        self.expired: list[EntryDraft] = []

    @property
    def lots(self) -> list[LotView]:
        if self._lots is None:
            self._lots = self.uow.credits.open_lots(self.tenant_id, self.currency)
        return self._lots

    def expiry_due(self) -> bool:
        due = self.state.next_expiry_at
        return due is not None and self.now >= due

    def apply_due_expiry(self) -> list[EntryDraft]:
        """Forfeit what expired lots hold, before any charge or read (FUND-4)."""
        if not self.expiry_due():
            return []
        lots = {lot.id: lot for lot in self.lots}
        drafts = expiry_entries(self.lots, self.now)
        if drafts:
            self.write(drafts)
            self.expired.extend(drafts)
            for draft in drafts:
                lot = lots[draft.allocations[0].lot_id]
                notify(self.uow, self.tenant_id, NotificationKind.FUNDS_EXPIRED,
                       f"funds-expired:{lot.id}", {
                           "amount": (-draft.amount).format(), "lot_id": lot.id,
                           "balance": self.balance.format(),
                           "purchased_on": lot.purchased_at.date().isoformat(),
                           "expired_on": lot.expires_at.date().isoformat(),
                       }, self.now)
        return drafts

    def write(
        self, drafts: Sequence[EntryDraft], *, lot_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> list[int]:
        ids = self.uow.credits.write_entries(
            self.tenant_id, drafts, self.now, lot_id=lot_id, idempotency_key=idempotency_key,
        )
        taken: dict[int, Money] = {}
        for draft in drafts:
            self.balance = self.balance + draft.amount
            self.debt = self.debt + draft.debt_delta
            for alloc in draft.allocations:
                taken[alloc.lot_id] = taken.get(alloc.lot_id, Money.zero(self.currency)) \
                    + alloc.amount
        if taken:
            self._lots = [
                LotView(lot.id, lot.purchased_at, lot.expires_at,
                        lot.remaining - taken[lot.id]) if lot.id in taken else lot
                for lot in self.lots
            ]
        return ids

    def add_lot(
        self, amount: Money, source: LotSource, idempotency_key: str | None,
    ) -> tuple[int, datetime]:
        expires_at = expiry_for(self.now)
        lots = self.lots  # load the open lots first, or the new lot would be listed twice
        lot_id = self.uow.credits.add_lot(
            self.tenant_id, amount, self.now, expires_at, source, idempotency_key,
        )
        lots.append(LotView(lot_id, self.now, expires_at, amount))
        return lot_id, expires_at

    def next_invoice_seq(self) -> int:
        self.invoice_seq += 1
        return self.invoice_seq

    def save(self) -> None:
        self.uow.credits.save_account(
            self.state, balance=self.balance, debt=self.debt,
            next_expiry_at=next_expiry(self.lots) if self._lots is not None
            else self.state.next_expiry_at,
            invoice_seq=self.invoice_seq, first_funded_at=self.first_funded_at,
        )
