"""The credits repository (SQLAlchemy Core): credit accounts, lots and the append-only
ledger, with the charge hot path.

`account(lock=True)` takes the tenant's write lock: SELECT … FOR UPDATE on PostgreSQL, and
the BEGIN IMMEDIATE that every writing unit of work takes on SQLite.

The charge hot path (lock the account, read its open lots, append the entry with its
allocations and take them from the lots, save the account) runs Core statements compiled
once per dialect (`credit_statements.py`) on the connection's DBAPI cursor, in the same
transaction (`Compiled`); on PostgreSQL one statement appends an entry, its allocations and
the lot updates. On the call-control path, the account and the open lots come prefetched
under the lock and the account's UPDATE waits for the commit (`hot_session.HotSession`).
See `docs/benchmarks.md` for what this buys.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import MultipleResultsFound, NoResultFound

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.account_repos import Repo
from commcredits.adapters.db.calls_repos import (
    prefetched_account,
    prefetched_entry_id,
    prefetched_lots,
)
from commcredits.adapters.db.compiled import CursorRunner
from commcredits.adapters.db.credit_statements import ENTRY_ALLOCATIONS, arrays, hot_path
from commcredits.adapters.db.hot_session import HotSession
from commcredits.adapters.db.types import to_micros
from commcredits.adapters.metrics import LEDGER_ENTRIES, Tally
from commcredits.domain.ledger import EntryDraft, EntryKind
from commcredits.domain.lots import LotSource, LotView
from commcredits.domain.money import Money
from commcredits.services.ports import (
    AccountState,
    AllocationRecord,
    CdrBatch,
    EntryRecord,
    LotRecord,
)

_LOT_COLS = (
    t.lots.c.id, t.lots.c.amount, t.lots.c.remaining, t.lots.c.purchased_at,
    t.lots.c.expires_at, t.lots.c.source, t.lots.c.invoice_id,
)


_ENTRIES = t.ledger_entries
# Statements of each auto-recharge, built once (see `account_repos._TENANT`).
_LOT_BY_KEY = select(*_LOT_COLS).where(t.lots.c.tenant_id == bindparam("tenant_id"),
                                       t.lots.c.idempotency_key == bindparam("key"))
_LINK_INVOICE = update(t.lots).where(
    t.lots.c.tenant_id == bindparam("b_tenant_id"), t.lots.c.id == bindparam("b_lot"),
).values(invoice_id=bindparam("b_invoice"))
_ADD_LOT = insert(t.lots).returning(t.lots.c.id)
_LAST_CHARGE = select(_ENTRIES.c.id).where(
    _ENTRIES.c.tenant_id == bindparam("tenant_id"), _ENTRIES.c.kind == EntryKind.CHARGE.value,
).order_by(_ENTRIES.c.id.desc()).limit(1)


class SqlCredits(Repo, CursorRunner):
    def __init__(self, conn: Connection, postgres: bool,
                 session: HotSession | None = None, tally: Tally | None = None) -> None:
        super().__init__(conn)
        self.postgres = postgres
        self._hot = hot_path(conn.dialect)
        self._cursor = None
        self._session = session
        self.tally = tally if tally is not None else Tally()  # the unit of work's own

    def create_account(self, tenant_id: str, currency: str) -> None:
        self.conn.execute(insert(t.credit_accounts).values(
            tenant_id=tenant_id, currency=currency, balance=0, debt=0, next_expiry_at=None,
            invoice_seq=0, first_funded_at=None, version=0,
        ))

    def account(self, tenant_id: str, *, lock: bool) -> AccountState:
        query = self._hot.account_for_update if lock and self.postgres else self._hot.account
        rows = self._session.take(prefetched_account(tenant_id)) \
            if lock and self._session is not None else None
        if not rows:  # (an empty prefetch: no lock taken; ask the database)
            rows = self._run(query, {"tenant_id": tenant_id})
        if len(rows) != 1:
            raise MultipleResultsFound() if rows else NoResultFound(
                f"No credit account for tenant {tenant_id!r}",
            )
        cur, balance, debt, next_expiry_at, invoice_seq, first_funded_at, version = rows[0]
        return AccountState(
            tenant_id=tenant_id, currency=cur, balance=Money(balance, cur),
            debt=Money(debt, cur), next_expiry_at=next_expiry_at, invoice_seq=invoice_seq,
            first_funded_at=first_funded_at, version=version,
        )

    def save_account(
        self, state: AccountState, *, balance: Money, debt: Money,
        next_expiry_at: datetime | None, invoice_seq: int, first_funded_at: datetime | None,
    ) -> None:
        values = {
            "account_tenant_id": state.tenant_id, "new_balance": balance.amount,
            "new_debt": debt.amount, "new_next_expiry_at": next_expiry_at,
            "new_invoice_seq": invoice_seq, "new_first_funded_at": first_funded_at,
            "new_version": state.version + 1,
        }
        if self._session is None or not self._session.defer(self._hot.save_account, values):
            self._run(self._hot.save_account, values)

    def open_lots(self, tenant_id: str, currency: str) -> list[LotView]:
        rows = self._session.take(prefetched_lots(tenant_id)) \
            if self._session is not None else None
        if rows is None:
            rows = self._run(self._hot.open_lots, {"tenant_id": tenant_id})
        return [
            LotView(lot_id, purchased_at, expires_at, Money(remaining, currency))
            for lot_id, purchased_at, expires_at, remaining in rows
        ]

    @staticmethod
    def _lot(r: Any, currency: str) -> LotRecord:
        return LotRecord(
            id=r.id, amount=Money(r.amount, currency), remaining=Money(r.remaining, currency),
            purchased_at=r.purchased_at, expires_at=r.expires_at, source=LotSource(r.source),
            invoice_id=r.invoice_id,
        )

    def lots(self, tenant_id: str, currency: str) -> list[LotRecord]:
        rows = self.conn.execute(
            select(*_LOT_COLS).where(t.lots.c.tenant_id == tenant_id)
            .order_by(t.lots.c.purchased_at, t.lots.c.id)
        )
        return [self._lot(r, currency) for r in rows]

    def add_lot(
        self, tenant_id: str, amount: Money, purchased_at: datetime, expires_at: datetime,
        source: LotSource, idempotency_key: str | None,
    ) -> int:
        result = self.conn.execute(_ADD_LOT, {
            "tenant_id": tenant_id, "amount": amount.amount, "remaining": amount.amount,
            "purchased_at": purchased_at, "expires_at": expires_at, "source": source.value,
            "invoice_id": None, "idempotency_key": idempotency_key,
        })
        return int(result.scalar_one())

    def link_invoice(self, tenant_id: str, lot_id: int, invoice_id: str) -> None:
        self.conn.execute(_LINK_INVOICE,
                          {"b_tenant_id": tenant_id, "b_lot": lot_id, "b_invoice": invoice_id})

    def lot_by_key(self, tenant_id: str, key: str, currency: str) -> LotRecord | None:
        row = self.conn.execute(_LOT_BY_KEY, {"tenant_id": tenant_id, "key": key}).first()
        return self._lot(row, currency) if row else None

    def write_entries(
        self, tenant_id: str, drafts: Sequence[EntryDraft], at: datetime,
        *, lot_id: int | None = None, idempotency_key: str | None = None,
    ) -> list[int]:
        """Append entries and their allocations, and take the allocations from the lots.

        Entry by entry: on PostgreSQL one statement for each (entry, allocations, lot
        updates); elsewhere the entry, each allocation, and one update per lot it takes from.
        """
        hot = self._hot
        ids: list[int] = []
        known_id = None
        if self._session is not None:
            if len(drafts) == 1 and hot.write_entry_with_id is not None:
                known_id = self._session.take(prefetched_entry_id(tenant_id))
            self._session.written()
        for i, draft in enumerate(drafts):
            draft.check()
            self.tally.add(LEDGER_ENTRIES, draft.kind.value)
            entry: dict[str, Any] = {
                "tenant_id": tenant_id, "kind": draft.kind.value,
                "amount": to_micros(draft.amount.amount),
                "debt_delta": to_micros(draft.debt_delta.amount), "at": at,
                "reference": draft.reference, "description": draft.description,
                "lot_id": lot_id if draft.lot_created is not None else None,
                "idempotency_key": idempotency_key if i == 0 else None,
            }
            allocations = [(a.lot_id, to_micros(a.amount.amount)) for a in draft.allocations]
            taken: dict[int, int] = {}
            for alloc_lot, micros in allocations:
                taken[alloc_lot] = taken.get(alloc_lot, 0) + micros
            if known_id is not None and hot.write_entry_with_id is not None:
                ((entry_id,),) = known_id
                values = {**entry, "entry_id": entry_id, **arrays(allocations, taken)}
                if not self._session or not self._session.defer(hot.write_entry_with_id,
                                                                 values):
                    self._run(hot.write_entry_with_id, values)
                ids.append(int(entry_id))
                continue
            if hot.write_entry is not None:
                ((entry_id,),) = self._run(hot.write_entry,
                                           {**entry, **arrays(allocations, taken)})
                ids.append(int(entry_id))
                continue
            ((entry_id,),) = self._run(hot.insert_entry, entry)
            ids.append(int(entry_id))
            for alloc_lot, micros in allocations:
                self._run(hot.insert_allocation, {
                    "tenant_id": tenant_id, "entry_id": entry_id, "lot_id": alloc_lot,
                    "amount": micros,
                })
            for alloc_lot, micros in taken.items():
                self._run(hot.take_from_lot, {"tenant_id": tenant_id, "lot_id": alloc_lot,
                                             "taken": micros})
        return ids

    def defer_batch_entry(self, tenant_id: str, batch: CdrBatch) -> bool:
        """On call control's hot path (PostgreSQL, after the session's prefetch): a batch
        that is one charge entry and nothing else (a live call's end) waits for the commit
        as one statement, entry, allocations and lots together, as `write_entries` does;
        True when it was queued. Anything else is written by `SqlCdrBatch.write`."""
        session, hot = self._session, self._hot
        if session is None or not session.active or hot.write_entry_with_id is None \
                or len(batch.entries) != 1 or batch.calls or batch.pool_consumptions \
                or batch.call_keys:
            return False
        ((entry_id, kind, amount, debt, at, reference, description, key),) = batch.entries
        values = {
            "entry_id": entry_id, "tenant_id": tenant_id, "kind": kind, "amount": amount,
            "debt_delta": debt, "at": at, "reference": reference, "description": description,
            "lot_id": None, "idempotency_key": key,
            **arrays([(lot, micros) for _, lot, micros in batch.allocations],
                      batch.lots_taken),
        }
        if not session.defer(hot.write_entry_with_id, values):
            return False
        self.tally.add(LEDGER_ENTRIES, str(kind))
        return True

    def _entries(self, where: Any, currency: str, limit: int) -> list[EntryRecord]:
        rows = self.conn.execute(
            select(t.ledger_entries).where(where).order_by(t.ledger_entries.c.id.desc())
            .limit(limit)
        ).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        allocs: dict[int, list[AllocationRecord]] = {}
        for a in self.conn.execute(ENTRY_ALLOCATIONS, {"entry_ids": ids}):
            allocs.setdefault(a.entry_id, []).append(
                AllocationRecord(a.lot_id, Money(a.amount, currency))
            )
        return [
            EntryRecord(
                id=r.id, kind=EntryKind(r.kind), amount=Money(r.amount, currency),
                debt_delta=Money(r.debt_delta, currency), at=r.at, reference=r.reference,
                description=r.description, lot_id=r.lot_id,
                allocations=tuple(allocs.get(r.id, ())),
            )
            for r in rows
        ]

    def entry_by_key(self, tenant_id: str, key: str, currency: str) -> EntryRecord | None:
        # A miss (a new key: the usual case) costs one hot-path lookup; a hit reads the record.
        rows = self._run(self._hot.entry_id_by_key, {"tenant_id": tenant_id, "key": key})
        if not rows:
            return None
        found = self._entries(_ENTRIES.c.id == rows[0][0], currency, 1)
        return found[0] if found else None

    def last_charge_id(self, tenant_id: str) -> int | None:
        # Back along (tenant_id, id) to the first charge: charges are most of the entries.
        return self.conn.execute(_LAST_CHARGE, {"tenant_id": tenant_id}).scalar_one_or_none()

    def ledger(
        self, tenant_id: str, currency: str, *, limit: int, before_id: int | None,
    ) -> list[EntryRecord]:
        where = t.ledger_entries.c.tenant_id == tenant_id
        if before_id is not None:
            where = and_(where, t.ledger_entries.c.id < before_id)
        return self._entries(where, currency, limit)

    def lots_expiring(
        self, start: datetime, end: datetime,
    ) -> list[tuple[str, int, Decimal, datetime, datetime]]:
        """Lots of every tenant that still hold funds and expire in [start, end)."""
        rows = self.conn.execute(
            select(t.lots.c.tenant_id, t.lots.c.id, t.lots.c.remaining,
                   t.lots.c.purchased_at, t.lots.c.expires_at)
            .where(t.lots.c.remaining > 0, t.lots.c.expires_at >= start,
                   t.lots.c.expires_at < end)
            .order_by(t.lots.c.expires_at, t.lots.c.id)
        )
        return [(r.tenant_id, r.id, r.remaining, r.purchased_at, r.expires_at) for r in rows]

    def tenants_with_expiry_due(self, at: datetime) -> list[str]:
        rows = self.conn.execute(
            select(t.credit_accounts.c.tenant_id)
            .where(t.credit_accounts.c.next_expiry_at <= at)
            .order_by(t.credit_accounts.c.tenant_id)
        )
        return [r.tenant_id for r in rows]
