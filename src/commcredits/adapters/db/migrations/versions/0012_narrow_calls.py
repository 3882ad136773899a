"""Narrow usage storage (CDR-2, FUND-10, DIST-1): ``calls`` keeps no JSON.

- ``decision`` (a JSON copy per call of the authorize reply, the rate and the guard's cap)
  is dropped. The rate is ``rate_id`` (rows of ``rates`` are never changed); the reply is
  rebuilt from the row's columns, with a denial's ``reason`` code and ``message`` in two
  columns of their own; the spend guard's cap is ``guard_seconds``.
- ``source``, ``status``, ``call_type``, ``funding`` and ``number_type`` become SMALLINT
  codes (`adapters.db.codes`); a value without a code stops the migration before any change.
- ``ix_calls_tenant_open`` indexed every call by (tenant, status); it now holds the open
  calls only (a partial index, ``WHERE status IN (<authorized>, <active>)``), by tenant and
  last update (reservations, CALL-8; expiry, CALL-7).

Data is carried over: each row's denial and cap come out of its JSON before the column
goes. A row whose JSON holds a rate but has no ``rate_id`` would lose its rate: the
migration refuses to run (nothing is changed) and names it.

Runs unchanged on SQLite (``batch_alter_table`` copies the table), PostgreSQL and Citus
(plain ``ALTER TABLE`` on the distributed table).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 07:00:00
"""
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from commcredits.adapters.db.codes import CALL_CODES, open_call_clause
from commcredits.adapters.db.types import UTCDateTime, from_micros

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = open_call_clause()
_CHUNK = 5_000
GRANT_SECONDS = 300  # `domain.authorization.GRANT_SECONDS` when 0012 was written


def _calls(*extra: sa.ColumnClause[Any]) -> sa.TableClause:
    return sa.table('calls', sa.column('tenant_id'), sa.column('id'), sa.column('status'),
                    sa.column('rate_id'), *extra)


def _decode(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _quoted(value: object) -> str:
    """A value of `CALL_CODES` (a str enum's value, or its code) as an SQL string literal:
    the codes go in as text first, then the column's new type reads them."""
    return f"'{value!s}'"


def _case(column: str, pairs: dict[str, str]) -> str:
    whens = " ".join(f"WHEN {old} THEN {new}" for old, new in pairs.items())
    return f"CASE {column} {whens} END"


def _check_codes(bind: sa.Connection) -> None:
    """Every stored value has a code; else nothing changes and the values are named."""
    for column, codes in CALL_CODES.items():
        found = bind.execute(sa.text(f"SELECT DISTINCT {column} FROM calls "  # noqa: S608
                                     f"WHERE {column} IS NOT NULL")).scalars().all()
        unknown = sorted(str(v) for v in found if v not in codes)
        if unknown:
            raise RuntimeError(f"calls.{column} holds values without a code: {unknown}; "
                               "0012 would lose them. Nothing was changed.")


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    _check_codes(bind)
    calls = _calls(sa.column('decision', sa.JSON), sa.column('reason'), sa.column('message'),
                   sa.column('guard_seconds'))
    text_of = sa.cast(calls.c.decision, sa.Text)
    # Only denials, guarded calls and rows without a rate id have something to carry.
    rows = bind.execute(
        sa.select(calls.c.tenant_id, calls.c.id, calls.c.status, calls.c.rate_id,
                  calls.c.decision)
        .where(sa.or_(calls.c.status == 'denied', calls.c.rate_id.is_(None),
                      text_of.like('%"guard_seconds"%')))
    ).all()
    updates = []
    for tenant_id, row_id, status, rate_id, decision in rows:
        got = _decode(decision)
        if rate_id is None and got.get("rate"):
            raise RuntimeError(
                f"calls row {tenant_id}/{row_id} keeps a rate in its decision but has no "
                "rate_id; 0012 would lose it. Nothing was changed.")
        reply = got.get("reply") or {}
        cap = got.get("guard_seconds")
        denied = status == 'denied'
        if denied or cap is not None:
            updates.append({
                "t": tenant_id, "i": row_id,
                "r": str(reply.get("reason"))[:32] if denied and reply.get("reason") else None,
                "m": str(reply.get("message"))[:200] if denied and reply.get("message")
                else None,
                "g": int(cap) if cap is not None else None,
            })
    if sqlite:
        op.execute("PRAGMA defer_foreign_keys = ON")  # the table is copied, then swapped
    with op.batch_alter_table('calls') as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('message', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('guard_seconds', sa.Integer(), nullable=True))
    write = sa.update(calls).where(calls.c.tenant_id == sa.bindparam("t"),
                                   calls.c.id == sa.bindparam("i")) \
        .values(reason=sa.bindparam("r"), message=sa.bindparam("m"),
                guard_seconds=sa.bindparam("g"))
    for lo in range(0, len(updates), _CHUNK):
        bind.execute(write, updates[lo:lo + _CHUNK])
    op.drop_index('ix_calls_tenant_open', 'calls')
    # The codes, as text in the old columns; the new types take them as numbers (one copy
    # of the table on SQLite, ``USING`` on PostgreSQL).
    op.execute("UPDATE calls SET " + ", ".join(  # noqa: S608
        f"{column} = {_case(column, {_quoted(v): _quoted(c) for v, c in codes.items()})}"
        for column, codes in CALL_CODES.items()))
    with op.batch_alter_table('calls') as batch_op:
        batch_op.drop_column('decision')
        for column in CALL_CODES:
            batch_op.alter_column(column, type_=sa.SmallInteger(),
                                  postgresql_using=f"CAST({column} AS SMALLINT)")
    op.create_index('ix_calls_tenant_open', 'calls', ['tenant_id', 'last_update_at'],
                    sqlite_where=OPEN, postgresql_where=OPEN)


def _snapshot(rate: Any) -> dict[str, Any] | None:
    """A rate row as the JSON 0011 kept with each call."""
    if rate is None or rate.prefix is None:
        return None
    return {
        "prefix": rate.prefix, "destination": rate.destination,
        "number_type": rate.number_type, "direction": rate.direction,
        "rate_per_minute": str(from_micros(int(rate.rate_per_minute))),
        "connection_fee": str(from_micros(int(rate.connection_fee))),
        "currency": rate.currency, "first_increment": rate.first_increment,
        "next_increment": rate.next_increment,
        "effective_from": rate.effective_from.isoformat(),
    }


def _reply(row: Any) -> dict[str, Any]:
    """The authorize reply 0011 kept: empty for a CDR's call, else as call control built
    it (a pool call's capability as the row keeps it)."""
    if row.source != 'live':
        return {}
    if row.status == 'denied':
        return {"decision": "deny", "reason": row.reason, "message": row.message,
                "funding": None, "capability": None, "max_seconds": 0, "grant_seconds": 0,
                "reservation_id": None}
    grant = None if row.funding == 'free' else (
        GRANT_SECONDS if row.max_seconds is None else min(GRANT_SECONDS, row.max_seconds))
    return {"decision": "allow", "reason": "OK", "funding": row.funding,
            "capability": row.capability, "max_seconds": row.max_seconds,
            "grant_seconds": grant, "reservation_id": row.id}


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA defer_foreign_keys = ON")
    op.drop_index('ix_calls_tenant_open', 'calls')
    lengths = {"source": 8, "status": 16, "call_type": 32, "funding": 16, "number_type": 16}
    with op.batch_alter_table('calls') as batch_op:
        batch_op.add_column(sa.Column('decision', sa.JSON(), nullable=True))
        for column, length in lengths.items():
            batch_op.alter_column(column, type_=sa.String(length=length),
                                  postgresql_using=f"CAST({column} AS VARCHAR({length}))")
    op.execute("UPDATE calls SET " + ", ".join(  # noqa: S608
        f"{column} = {_case(column, {_quoted(c): _quoted(v) for v, c in codes.items()})}"
        for column, codes in CALL_CODES.items()))
    calls = _calls(*(sa.column(c) for c in (
        'source', 'funding', 'capability', 'max_seconds', 'reason', 'message',
        'guard_seconds')), sa.column('decision', sa.JSON))
    rates = sa.table('rates', *(sa.column(c) for c in (
        'id', 'table_id', 'prefix', 'destination', 'number_type', 'direction',
        'rate_per_minute', 'connection_fee', 'first_increment', 'next_increment')),
        sa.column('effective_from', UTCDateTime))
    tables = sa.table('rate_tables', sa.column('id'), sa.column('currency'))
    query = sa.select(
        *(c for c in calls.c if c.key != 'decision'), rates.c.prefix, rates.c.destination,
        rates.c.number_type, rates.c.direction, rates.c.rate_per_minute,
        rates.c.connection_fee, rates.c.first_increment, rates.c.next_increment,
        rates.c.effective_from, tables.c.currency,
    ).select_from(calls.outerjoin(rates, rates.c.id == calls.c.rate_id)
                  .outerjoin(tables, tables.c.id == rates.c.table_id))
    write = sa.update(calls).where(calls.c.tenant_id == sa.bindparam("t"),
                                   calls.c.id == sa.bindparam("i")) \
        .values(decision=sa.bindparam("d", type_=sa.JSON))
    updates = []
    for row in bind.execute(query):
        decision: dict[str, Any] = {"reply": _reply(row), "rate": _snapshot(row)}
        if row.guard_seconds is not None:
            decision["guard_seconds"] = int(row.guard_seconds)
        updates.append({"t": row.tenant_id, "i": row.id, "d": decision})
    for lo in range(0, len(updates), _CHUNK):
        bind.execute(write, updates[lo:lo + _CHUNK])
    with op.batch_alter_table('calls') as batch_op:
        batch_op.alter_column('decision', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('guard_seconds')
        batch_op.drop_column('message')
        batch_op.drop_column('reason')
        batch_op.create_index('ix_calls_tenant_open', ['tenant_id', 'status'], unique=False)

