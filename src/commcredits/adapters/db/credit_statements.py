"""The statements of the charge hot path (`credit_repos.SqlCredits`), built once at import
(no I/O) and compiled once per dialect (`hot_path`): the account and its lock, its save, the
open lots, the entry by idempotency key, the entry and allocation inserts, the lot updates,
and on PostgreSQL the one statement that appends an entry, its allocations and the lot
updates in one round trip.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

from sqlalchemy import BigInteger, Dialect, bindparam, insert, select, text, update

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.compiled import Compiled
from commcredits.adapters.db.types import UTCDateTime

_ACC = t.credit_accounts
_LOTS = t.lots
_ENTRIES = t.ledger_entries
_ALLOCS = t.ledger_allocations

# Statements of the charge hot path, built once (no I/O happens here).
_ACCOUNT = select(
    _ACC.c.currency, _ACC.c.balance, _ACC.c.debt, _ACC.c.next_expiry_at, _ACC.c.invoice_seq,
    _ACC.c.first_funded_at, _ACC.c.version,
).where(_ACC.c.tenant_id == bindparam("tenant_id"))
_ACCOUNT_FOR_UPDATE = _ACCOUNT.with_for_update()
_SAVE_ACCOUNT = (
    update(_ACC).where(_ACC.c.tenant_id == bindparam("account_tenant_id"))
    .values(
        balance=bindparam("new_balance"), debt=bindparam("new_debt"),
        next_expiry_at=bindparam("new_next_expiry_at"),
        invoice_seq=bindparam("new_invoice_seq"),
        first_funded_at=bindparam("new_first_funded_at"), version=bindparam("new_version"),
    )
)
_OPEN_LOTS = (
    select(_LOTS.c.id, _LOTS.c.purchased_at, _LOTS.c.expires_at, _LOTS.c.remaining)
    .where(_LOTS.c.tenant_id == bindparam("tenant_id"), _LOTS.c.remaining > 0)
    .order_by(_LOTS.c.purchased_at, _LOTS.c.id)
)
_INSERT_ENTRY = insert(_ENTRIES).returning(_ENTRIES.c.id)
_INSERT_ALLOCATION = insert(_ALLOCS).inline()  # the id default in the statement (keys.py)
_TAKE_FROM_LOT = (
    update(_LOTS).where(_LOTS.c.tenant_id == bindparam("tenant_id"),
                        _LOTS.c.id == bindparam("lot_id"))
    .values(remaining=_LOTS.c.remaining - bindparam("taken", type_=_LOTS.c.remaining.type))
)
_ENTRY_ID_BY_KEY = select(_ENTRIES.c.id).where(
    _ENTRIES.c.tenant_id == bindparam("tenant_id"),
    _ENTRIES.c.idempotency_key == bindparam("key"),
)
_ENTRY_COLUMNS = (
    "tenant_id", "kind", "amount", "debt_delta", "at", "reference", "description", "lot_id",
    "idempotency_key",
)
ENTRY_ALLOCATIONS = (
    select(_ALLOCS.c.entry_id, _ALLOCS.c.lot_id, _ALLOCS.c.amount)
    .where(_ALLOCS.c.entry_id.in_(bindparam("entry_ids", expanding=True)))
    .order_by(_ALLOCS.c.id)
)
# PostgreSQL: one entry, its allocations (in order) and what they take from each lot, in one
# statement and one round trip. The lot updates get per-lot totals, so a lot is updated once.
_PG_WRITE_ENTRY_SQL = """
WITH entry AS (
    INSERT INTO ledger_entries (tenant_id, kind, amount, debt_delta, at, reference,
                                description, lot_id, idempotency_key)
    VALUES (:tenant_id, :kind, :amount, :debt_delta, :at, :reference, :description,
            :lot_id, :idempotency_key)
    RETURNING id
), allocations AS (
    INSERT INTO ledger_allocations (tenant_id, entry_id, lot_id, amount)
    SELECT :tenant_id, entry.id, a.lot_id, a.amount
    FROM entry, unnest(CAST(:alloc_lots AS BIGINT[]), CAST(:alloc_amounts AS BIGINT[]))
                WITH ORDINALITY AS a(lot_id, amount, n)
    ORDER BY a.n
), taken AS (
    UPDATE lots SET remaining = lots.remaining - x.taken
    FROM unnest(CAST(:taken_lots AS BIGINT[]), CAST(:taken_amounts AS BIGINT[]))
         AS x(lot_id, taken)
    WHERE lots.tenant_id = :tenant_id AND lots.id = x.lot_id
)
SELECT id FROM entry
"""
_PG_WRITE_ENTRY = text(_PG_WRITE_ENTRY_SQL).bindparams(
    bindparam("at", type_=UTCDateTime())).columns(id=BigInteger())
# The same with the entry's id given: an id the hot session took from the sequence under the
# lock, so the statement can wait for the commit (`hot_session.py`).
_PG_WRITE_ENTRY_WITH_ID = text(_PG_WRITE_ENTRY_SQL.replace(
    "(tenant_id, kind,", "(id, tenant_id, kind,", 1).replace(
    "VALUES (:tenant_id,", "VALUES (:entry_id, :tenant_id,", 1)).bindparams(
    bindparam("at", type_=UTCDateTime())).columns(id=BigInteger())


def arrays(allocations: Sequence[tuple[int, int]], taken: Mapping[int, int],
            ) -> dict[str, list[int]]:
    """The array parameters of `_PG_WRITE_ENTRY`: (lot, micros) allocations, micros taken per
    lot."""
    return {"alloc_lots": [lot for lot, _ in allocations],
            "alloc_amounts": [micros for _, micros in allocations],
            "taken_lots": list(taken), "taken_amounts": list(taken.values())}


class HotPath:
    """The hot path's statements, compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.account = Compiled(_ACCOUNT, dialect)
        self.account_for_update = Compiled(_ACCOUNT_FOR_UPDATE, dialect)
        self.save_account = Compiled(_SAVE_ACCOUNT, dialect)
        self.open_lots = Compiled(_OPEN_LOTS, dialect)
        self.entry_id_by_key = Compiled(_ENTRY_ID_BY_KEY, dialect)
        self.insert_entry = Compiled(_INSERT_ENTRY, dialect, _ENTRY_COLUMNS)
        self.insert_allocation = Compiled(
            _INSERT_ALLOCATION, dialect, ("tenant_id", "entry_id", "lot_id", "amount"),
        )
        self.take_from_lot = Compiled(_TAKE_FROM_LOT, dialect)
        self.write_entry = (
            Compiled(_PG_WRITE_ENTRY, dialect) if dialect.name == "postgresql" else None
        )
        self.write_entry_with_id = (
            Compiled(_PG_WRITE_ENTRY_WITH_ID, dialect) if dialect.name == "postgresql"
            else None
        )


_HOT_PATHS: weakref.WeakKeyDictionary[Dialect, HotPath] = weakref.WeakKeyDictionary()


def hot_path(dialect: Dialect) -> HotPath:
    hot = _HOT_PATHS.get(dialect)
    if hot is None:
        hot = _HOT_PATHS[dialect] = HotPath(dialect)
    return hot
