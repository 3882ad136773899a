"""Calls name the ledger entry that paid them (FUND-10): CDR batches post bulk charge entries,
so ``calls.entry_id`` is how a call finds its entry, and an entry its calls.

The column exists since 0004 and both paths have always filled it; this revision links any
charged call still without one to its single-call entry by that entry's idempotency key
(``call:<call id>:<usage id>``), and indexes the column (an entry's calls, the invariant
that an entry's amount is the sum of its calls' charges).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:30:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Portable SQL (SQLite and PostgreSQL): a correlated subquery, '||' concatenation.
    op.execute(
        "UPDATE calls SET entry_id = ("
        " SELECT e.id FROM ledger_entries e"
        " WHERE e.tenant_id = calls.tenant_id AND e.kind = 'charge'"
        " AND e.idempotency_key = 'call:' || calls.call_id || ':' || calls.usage_id)"
        " WHERE entry_id IS NULL AND charge IS NOT NULL AND charge > 0"
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_entry_id', ['entry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_entry_id')
