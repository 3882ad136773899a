"""SQL repository for calls: live reservations and rated usage (CALL-7, CALL-8, CDR-1).

The call-control hot path (authorize and end) runs statements compiled once per dialect on
the unit of work's own DBAPI cursor (`compiled.Compiled`), in its transaction:

- `control_facts`: one round trip before the tenant lock for everything a request needs
  to know that the lock does not protect: the API key, the tenant, its directory version,
  its auto-recharge settings, and the call itself (if stored);
- `reservations`: after the lock, what open reservations hold and whether the call is
  there already (a concurrent twin), in one statement;
- `add`, `update`, `get`: the call, a `domain.calls.Call`, with statements compiled per set
  of columns.

On PostgreSQL, `control_facts` sends two statements in one pipeline: the tenant lock, then
one read under it of the facts and the reservations (and, for an end, which charges the
ledger, the entry's id and the open lots, as arrays), served afterwards as the separate
statements' results; the call's writes wait for the commit (`hot_session`): see
`docs/benchmarks.md` (call control) for what this buys.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Dialect,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.types import NullType

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.compiled import Compiled, CursorRunner
from commcredits.adapters.db.hot_session import HotSession
from commcredits.domain.calls import Call, CallStatus
from commcredits.domain.money import Money
from commcredits.domain.tenants import BillingAccountType, Cloud, Role, Tenant
from commcredits.services.ports import (
    ApiKeyRecord,
    AutoRechargeRecord,
    CallControlFacts,
)

C = t.calls
CALL_COLUMNS = tuple(c.key for c in C.columns)

_K, _T, _V, _AR = t.api_keys, t.tenants, t.directory_versions, t.auto_recharge
_KEY_COLS = (_K.c.id, _K.c.tenant_id, _K.c.partner_id, _K.c.role, _K.c.name)
_TENANT_COLS = (_T.c.id, _T.c.name, _T.c.country, _T.c.currency, _T.c.billing_account_type,
                _T.c.billing_country, _T.c.cloud, _T.c.ea_region_exception)
_AR_COLS = (_AR.c.tenant_id, _AR.c.enabled, _AR.c.amount, _AR.c.trigger,
            _AR.c.payment_method_id, _AR.c.last_recharge_at, _AR.c.last_failure_at,
            _AR.c.last_failure_reason, _AR.c.waiting_for_payment_method)


def _facts_statement() -> Any:
    """One row whatever exists: a one-row driver, LEFT JOINed to each fact (no fact
    depends on another, so a missing tenant or key still leaves the others readable)."""
    one = select(literal(1).label("one")).subquery("one")
    tid: Any = bindparam("tenant_id")
    joined = (
        one.outerjoin(_K, _K.c.key_hash == bindparam("key_hash"))
        .outerjoin(_T, _T.c.id == tid)
        .outerjoin(_V, _V.c.tenant_id == tid)
        .outerjoin(_AR, _AR.c.tenant_id == tid)
        .outerjoin(C, and_(C.c.tenant_id == tid, C.c.call_id == bindparam("call_id"),
                           C.c.usage_id == bindparam("usage_id")))
    )
    return select(*_KEY_COLS, *_TENANT_COLS, _V.c.version, *_AR_COLS,
                  *C.columns).select_from(joined)


_RESERVATIONS = select(
    select(func.coalesce(func.sum(C.c.reserved), 0, type_=C.c.reserved.type))
    .where(C.c.tenant_id == bindparam("tenant_id"),
           t.OPEN_CALL)  # the partial index's own term
    .scalar_subquery().label("reserved"),
    select(C.c.id).where(C.c.tenant_id == bindparam("tenant_id"),
                         C.c.call_id == bindparam("call_id"),
                         C.c.usage_id == bindparam("usage_id"))
    .scalar_subquery().label("existing"),
)
_STATUS = select(C.c.status).where(C.c.tenant_id == bindparam("tenant_id"),
                                   C.c.id == bindparam("row_id"))
_GET = select(C).where(C.c.tenant_id == bindparam("tenant_id"),
                       C.c.call_id == bindparam("call_id"),
                       C.c.usage_id == bindparam("usage_id"))
# The hot session's pipeline (PostgreSQL): the tenant lock first, as `SqlCredits.account`
# reads it, taken only for a key that exists (or a caller authenticated already: no hash),
# so a forged key cannot hold a tenant's lock; then the open lots, as `open_lots` reads them.
_ACC, _LOTS = t.credit_accounts, t.lots
_LOCK_ACCOUNT = select(
    _ACC.c.currency, _ACC.c.balance, _ACC.c.debt, _ACC.c.next_expiry_at, _ACC.c.invoice_seq,
    _ACC.c.first_funded_at, _ACC.c.version,
).where(_ACC.c.tenant_id == bindparam("tenant_id"),
        or_(bindparam("key_hash", type_=_K.c.key_hash.type) == "",
            exists().where(_K.c.key_hash == bindparam("key_hash")))) \
    .with_for_update(of=_ACC)
_OPEN_LOTS = (
    select(_LOTS.c.id, _LOTS.c.purchased_at, _LOTS.c.expires_at, _LOTS.c.remaining)
    .where(_LOTS.c.tenant_id == bindparam("tenant_id"), _LOTS.c.remaining > 0)
    .order_by(_LOTS.c.purchased_at, _LOTS.c.id)
)
# An id for the ledger entry an end writes, taken under the lock (`SqlCredits.write_entries`).
_NEXT_ENTRY_ID = select(func.nextval(func.pg_get_serial_sequence("ledger_entries", "id"),
                                     type_=BigInteger))


def _under_lock_statement(*, charging: bool) -> Any:
    """PostgreSQL's read after the lock, in one statement: the facts, then what open
    reservations hold and whether the call is stored (`_RESERVATIONS`'s two columns) and,
    for an end, the ledger entry's id and the open lots as four arrays in `_OPEN_LOTS`'s
    order (one row, so the open lots travel as arrays, not rows)."""
    extra: list[Any] = [
        _RESERVATIONS.selected_columns.reserved, _RESERVATIONS.selected_columns.existing,
    ]
    if charging:
        order = (_LOTS.c.purchased_at, _LOTS.c.id)
        extra.append(_NEXT_ENTRY_ID.scalar_subquery().label("entry_id"))
        for column in (_LOTS.c.id, _LOTS.c.purchased_at, _LOTS.c.expires_at,
                       _LOTS.c.remaining):  # raw arrays: `SqlCalls` processes each value
            extra.append(
                select(func.array_agg(aggregate_order_by(column, *order), type_=NullType()))
                .where(_LOTS.c.tenant_id == bindparam("tenant_id"), _LOTS.c.remaining > 0)
                .scalar_subquery().label(f"lots_{column.key}"))
    return _facts_statement().add_columns(*extra)


_DISPLAY_NAME = select(t.users.c.display_name).where(
    t.users.c.tenant_id == bindparam("tenant_id"), t.users.c.id == bindparam("user_id"))


_FACT_COLUMNS = len(_facts_statement().selected_columns)


class _Statements:
    """The call-control statements compiled for one dialect; writes per column set."""

    def __init__(self, dialect: Dialect) -> None:
        self._compiled = Compiled
        self.dialect = dialect
        self.facts = Compiled(_facts_statement(), dialect)
        self.reservations = Compiled(_RESERVATIONS, dialect)
        self.status = Compiled(_STATUS, dialect)
        self.get = Compiled(_GET, dialect)
        self.display_name = Compiled(_DISPLAY_NAME, dialect)
        self.lock_account = Compiled(_LOCK_ACCOUNT, dialect)
        self.open_lots = Compiled(_OPEN_LOTS, dialect)
        self.next_entry_id = Compiled(_NEXT_ENTRY_ID, dialect)
        if dialect.name == "postgresql":  # the hot session's one read after the lock
            self.under_lock = Compiled(_under_lock_statement(charging=False), dialect)
            self.under_lock_charging = Compiled(_under_lock_statement(charging=True),
                                                dialect)
        self._writes: dict[tuple[str, tuple[str, ...]], Compiled] = {}
        self._lock = threading.Lock()

    def insert(self, keys: Sequence[str]) -> Compiled:
        return self._write("insert", tuple(keys))

    def update(self, keys: Sequence[str]) -> Compiled:
        return self._write("update", tuple(keys))

    def _write(self, kind: str, keys: tuple[str, ...]) -> Compiled:
        found = self._writes.get((kind, keys))
        if found is not None:
            return found
        if kind == "insert":
            stmt: Any = insert(C)
            compiled = self._compiled(stmt, self.dialect, keys)
        else:
            stmt = update(C).where(C.c.tenant_id == bindparam("w_tenant_id"),
                                   C.c.id == bindparam("w_row_id")) \
                .values({k: bindparam(f"v_{k}", type_=C.c[k].type) for k in keys})
            compiled = self._compiled(stmt, self.dialect)
        with self._lock:
            self._writes[(kind, keys)] = compiled
        return compiled


_STATEMENTS: weakref.WeakKeyDictionary[Dialect, _Statements] = weakref.WeakKeyDictionary()
_STATEMENTS_LOCK = threading.Lock()


def _statements(dialect: Dialect) -> _Statements:
    found = _STATEMENTS.get(dialect)
    if found is None:
        with _STATEMENTS_LOCK:
            found = _STATEMENTS.get(dialect)
            if found is None:
                found = _STATEMENTS[dialect] = _Statements(dialect)
    return found


def prefetched_account(tenant_id: str) -> str:
    return f"account:{tenant_id}"


def prefetched_lots(tenant_id: str) -> str:
    return f"lots:{tenant_id}"


def prefetched_entry_id(tenant_id: str) -> str:
    return f"entry_id:{tenant_id}"


class SqlCalls(CursorRunner):
    def __init__(self, conn: Connection, session: HotSession | None = None) -> None:
        self.conn = conn
        self._sql = _statements(conn.dialect)
        self._cursor = None
        self._session = session

    # --- the hot path ---------------------------------------------------------------------

    def control_facts(self, tenant_id: str, key_hash: str | None, call_id: str,
                      usage_id: str, *, charging: bool = False) -> CallControlFacts:
        values = {"tenant_id": tenant_id, "key_hash": key_hash or "", "call_id": call_id,
                  "usage_id": usage_id}
        session = self._session
        if session is not None and session.postgres and session.clean:
            # Two statements: the tenant lock, then one read of everything else under it.
            read = self._sql.under_lock_charging if charging else self._sql.under_lock
            got = session.prefetch({
                prefetched_account(tenant_id): (self._sql.lock_account, {
                    "tenant_id": tenant_id, "key_hash": key_hash or ""}),
                "facts": (read, values),
            })
            session.take("facts")
            ((*row,),) = got["facts"]
            self._keep_under_lock(session, row[_FACT_COLUMNS:], tenant_id, call_id,
                                  usage_id)
        else:
            ((*row,),) = self._run(self._sql.facts, values)
        i = 0

        def take(n: int) -> list[Any]:
            nonlocal i
            part = row[i:i + n]
            i += n
            return part

        k_id, k_tenant, k_partner, k_role, k_name = take(len(_KEY_COLS))
        tenant_row = take(len(_TENANT_COLS))
        (version,) = take(1)
        ar = take(len(_AR_COLS))
        call_row = take(len(CALL_COLUMNS))
        key = ApiKeyRecord(k_id, k_tenant, k_partner, Role(k_role), k_name) \
            if k_id is not None else None
        tenant = None
        if tenant_row[0] is not None:
            tid, name, country, currency, kind, billing_country, cloud, ea = tenant_row
            tenant = Tenant(id=tid, name=name, country=country, currency=currency,
                            billing_account_type=BillingAccountType(kind),
                            billing_country=billing_country, cloud=Cloud(cloud),
                            ea_region_exception=bool(ea))
        settings = None
        if ar[0] is not None and tenant is not None:
            (_, enabled, amount, trigger, method, last_ok, last_fail, reason, waiting) = ar
            cur = tenant.currency
            settings = AutoRechargeRecord(
                enabled=bool(enabled),
                amount=Money(amount, cur) if amount is not None else None,
                trigger=Money(trigger, cur) if trigger is not None else None,
                payment_method_id=method, last_recharge_at=last_ok, last_failure_at=last_fail,
                last_failure_reason=reason, waiting_for_payment_method=bool(waiting),
            )
        call = Call.of_row(call_row) if call_row[0] is not None else None
        if session is not None and session.active:  # read under the lock: serve it once
            session.keep(f"call:{tenant_id}:{call_id}:{usage_id}", (call,))
        return CallControlFacts(key, tenant, version, settings, call)

    def _keep_under_lock(self, session: HotSession, extra: list[Any], tenant_id: str,
                         call_id: str, usage_id: str) -> None:
        """Serve the read under the lock as the separate statements' results: the
        reservations, and for an end the entry's id and the open lots (rows, processed as
        `_OPEN_LOTS`'s own)."""
        reserved, existing, *charging = extra
        session.keep(f"reservations:{tenant_id}:{call_id}:{usage_id}",
                     [(reserved, existing)])
        if not charging:
            return
        entry_id, *lots = charging
        session.keep(prefetched_entry_id(tenant_id), [(entry_id,)])
        processors = self._sql.open_lots.results
        session.keep(prefetched_lots(tenant_id), [
            tuple(v if p is None else p(v) for p, v in zip(processors, lot, strict=True))
            for lot in zip(*(column or () for column in lots), strict=True)
        ])

    def reservations(self, tenant_id: str, currency: str, call_id: str,
                     usage_id: str) -> tuple[Money, bool]:
        """What open reservations hold, and whether the call is stored (read after the
        tenant lock, so both are current)."""
        got = self._session.take(f"reservations:{tenant_id}:{call_id}:{usage_id}") \
            if self._session is not None else None
        ((reserved, existing),) = got or self._run(self._sql.reservations, {
            "tenant_id": tenant_id, "call_id": call_id, "usage_id": usage_id,
        })
        value = reserved if isinstance(reserved, Decimal) else Decimal(reserved or 0)
        return Money(value, currency), existing is not None

    def _prefetched_call(self, tenant_id: str, row_id: str) -> Call | None:
        """The call read under the lock by `control_facts`, if nothing was written since."""
        if self._session is None:
            return None
        for (call,) in self._session.kept("call:"):
            if call is not None and call.tenant_id == tenant_id and call.id == row_id:
                return call  # type: ignore[no-any-return]
        return None

    def status(self, tenant_id: str, row_id: str) -> CallStatus | None:
        found = self._prefetched_call(tenant_id, row_id)
        if found is not None:
            return found.status
        rows = self._run(self._sql.status, {"tenant_id": tenant_id, "row_id": row_id})
        return CallStatus(rows[0][0]) if rows else None

    def display_name(self, tenant_id: str, user_id: str) -> str | None:
        rows = self._run(self._sql.display_name, {"tenant_id": tenant_id, "user_id": user_id})
        return str(rows[0][0]) if rows else None

    # --- calls ----------------------------------------------------------------------------

    def get(self, tenant_id: str, call_id: str, usage_id: str) -> Call | None:
        got = self._session.peek(f"call:{tenant_id}:{call_id}:{usage_id}") \
            if self._session is not None else None
        if got is not None:
            return got[0]  # type: ignore[no-any-return]
        rows = self._run(self._sql.get, {"tenant_id": tenant_id, "call_id": call_id,
                                         "usage_id": usage_id})
        return Call.of_row(rows[0]) if rows else None

    def add(self, call: Call) -> None:
        row = dict(zip(CALL_COLUMNS, call.row(), strict=True))
        self._write(self._sql.insert(CALL_COLUMNS), row)

    def update(self, call: Call, fields: Sequence[str]) -> None:
        """Write ``fields`` of ``call`` (a transition's `Call.UPDATE_FIELDS` or
        `Call.SETTLE_FIELDS`) to its stored row."""
        keys = sorted(fields)
        values = {f"v_{k}": getattr(call, k) for k in keys}
        if "v_status" in values:
            values["v_status"] = call.status.value
        self._write(self._sql.update(keys), {
            "w_tenant_id": call.tenant_id, "w_row_id": call.id, **values,
        })

    def _write(self, statement: Compiled, values: dict[str, Any]) -> None:
        """Run a write now, or let it wait for the commit on the hot path (`hot_session`)."""
        if self._session is None or not self._session.defer(statement, values):
            self._run(statement, values)

    def reserved(self, tenant_id: str, currency: str, *, exclude: str | None = None) -> Money:
        if exclude is not None and self._session is not None:
            # Under the lock, with nothing written: the prefetched total less the call's own.
            call = self._prefetched_call(tenant_id, exclude)
            total = self._session.peek(f"reservations:{tenant_id}:{call.call_id}:"
                                       f"{call.usage_id}") if call is not None else None
            if call is not None and total is not None and call.is_open:
                value = total[0][0]
                held = value if isinstance(value, Decimal) else Decimal(value or 0)
                return Money(held - call.reserved, currency)
        query = select(func.coalesce(func.sum(C.c.reserved), 0, type_=C.c.reserved.type)) \
            .where(C.c.tenant_id == tenant_id, t.OPEN_CALL)
        if exclude is not None:
            query = query.where(C.c.id != exclude)
        value = self.conn.execute(query).scalar_one()
        return Money(value if isinstance(value, Decimal) else Decimal(value), currency)

    def stale(self, cutoff: datetime) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            select(C.c.tenant_id, C.c.call_id)
            .where(t.OPEN_CALL, C.c.last_update_at <= cutoff,
                   C.c.call_id == C.c.usage_id)
            .order_by(C.c.last_update_at)
        )
        return [(r.tenant_id, r.call_id) for r in rows]
