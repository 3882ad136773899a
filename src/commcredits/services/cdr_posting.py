"""The ledger side of settling calls, for a CDR chunk and for a live call alike: charge
entries over the tenant's lots, balance and debt, tracked in micro-units in start-time
order (FUND-3..6, FUND-10, AR-2, NOTE-1).

`ChunkLedger.charge` takes one call's charge: FIFO over the lots (`lots.fifo_micros`), the
shortfall into debt, the balance-depleted email and the auto-recharge, into the open entry
(`domain.postings.Posting`), which closes where `domain.postings.ends_entry` says. `finish`
writes the closed entries, their merged allocations and the account into a `CdrBatch`,
which `CdrBatchRepository.write` stores. A chunk's entries are bulk entries
`cdr-batch:<import>:<n>`; a live call's end or expiry is a batch of one (``single``): its
own entry, with the call's reference and idempotency key (`call_settlement.settle`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from commcredits.domain.lots import LotBalance, fifo_micros
from commcredits.domain.money import Money, from_micros, to_micros
from commcredits.domain.notifications import balance_depleted
from commcredits.domain.postings import MAX_CALLS, Posting, ends_entry
from commcredits.domain.recharge import AutoRecharge
from commcredits.services.account import AccountWriter
from commcredits.services.notifications import notify_depleted
from commcredits.services.ports import CdrBatch, UnitOfWork
from commcredits.services.recharge import ReadSettings, queue_if_due


def batch_reference(batch_id: str, n: int) -> str:
    """The reference (and idempotency key) of an import's ``n``-th bulk charge entry."""
    return f"cdr-batch:{batch_id}:{n}"


class ChunkLedger:
    """The tenant's lots, balance and debt during a chunk, and its bulk charge entries."""

    def __init__(self, uow: UnitOfWork, tenant_id: str, now: datetime, remaining: int,
                 batch_id: str, first_entry_no: int, *,
                 single: tuple[str, str] | None = None,
                 locked: Callable[[], None] | None = None,
                 known: ReadSettings | None = None) -> None:
        """``single`` (reference, description): one call's own entry, not a bulk one.
        ``locked`` is called once the tenant lock is held, before anything else is read
        (it may raise to refuse); ``known``: the auto-recharge settings, already read."""
        self.uow = uow
        self.tenant_id = tenant_id
        self.now = now
        self.writer = AccountWriter(uow, tenant_id, now)
        if locked is not None:
            locked()
        self.single = single
        self.known = known
        self.writer.apply_due_expiry()  # FUND-4, before the chunk's first charge
        self.currency = self.writer.currency
        self.balance = to_micros(self.writer.balance.amount)
        self.debt = to_micros(self.writer.debt.amount)
        self.lots = [LotBalance(lot.id, lot.purchased_at, lot.expires_at,
                                to_micros(lot.remaining.amount))
                     for lot in sorted(self.writer.lots, key=lambda v: (v.purchased_at, v.id))]
        self.before = {lot.id: lot.remaining for lot in self.lots}
        # Entries this chunk can need: one per MAX_CALLS calls, plus one for the split at
        # the depletion point (the balance crosses 0 once: nothing credits it mid-chunk).
        # (never more than the calls: a live call's end, a batch of one, needs one id)
        self.ids = uow.cdr_batch.reserve_entry_ids(
            tenant_id, min(remaining, remaining // MAX_CALLS + 2))
        self.batch_id = batch_id
        self.entry_no = first_entry_no
        self.open: Posting | None = None
        self.closed: list[Posting] = []
        settings = known.settings if known is not None \
            else uow.recharge.settings(tenant_id, self.currency)
        self.rule = None
        if settings is not None and not settings.waiting_for_payment_method \
                and settings.enabled:
            self.rule = AutoRecharge(settings.enabled, settings.amount, settings.trigger,
                                     settings.payment_method_id)
        self.recharge_blocked = False

    def money(self, value: int) -> Money:
        return Money(from_micros(value), self.currency)

    def charge(self, amount: int) -> tuple[int, str | None]:
        """One call's charge (FIFO, debt) into the open entry; returns that entry's id and
        a queued recharge, if any."""
        posting = self.open
        if posting is None:
            posting = self.open = Posting(self.ids[len(self.closed)])
        allocations, shortfall = fifo_micros(self.lots, amount, self.now)
        before = self.balance
        self.balance -= amount
        self.debt += shortfall
        posting.add(amount, allocations, shortfall)
        entry_id = posting.entry_id
        if balance_depleted(before, self.balance):
            notify_depleted(self.uow, self.tenant_id, entry_id, self.money(self.balance),
                            self.now)
        request = None
        if self.rule is not None and not self.recharge_blocked \
                and self.rule.due_micros(self.balance):
            request = queue_if_due(self.uow, self.tenant_id, self.money(self.balance),
                                   self.now, cause_entry_id=entry_id, known=self.known)
            self.recharge_blocked = request is None
        if ends_entry(before, self.balance, recharge_queued=request is not None,
                      full=posting.full):
            self._close()
        return entry_id, request

    def _close(self) -> None:
        if self.open is not None:
            self.closed.append(self.open)
            self.open = None

    def finish(self, batch: CdrBatch) -> None:
        """The chunk's entries, allocations, lots taken and account, into ``batch``;
        ``entry_no`` is then the number the import's next entry takes."""
        self._close()
        for posting in self.closed:
            if self.single is not None:
                reference, description = self.single
            else:
                reference = batch_reference(self.batch_id, self.entry_no)
                description = f"CDR batch: {posting.calls} call(s)"
                self.entry_no += 1
            batch.entries.append((
                posting.entry_id, "charge", -posting.amount, posting.shortfall, self.now,
                reference, description, reference))
            batch.allocations.extend(posting.allocation_rows())
        for lot in self.lots:
            taken = self.before[lot.id] - lot.remaining
            if taken:
                batch.lots_taken[lot.id] = taken
        holding = [lot.expires_at for lot in self.lots if lot.remaining > 0]
        w = self.writer
        self.uow.credits.save_account(
            w.state, balance=self.money(self.balance), debt=self.money(self.debt),
            next_expiry_at=min(holding) if holding else None, invoice_seq=w.invoice_seq,
            first_funded_at=w.first_funded_at,
        )
