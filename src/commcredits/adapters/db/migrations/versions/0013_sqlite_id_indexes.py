"""An index on ``id`` of every ``(tenant_id, id)`` table, on SQLite only (DIST-1, CDR-2).

Since 0009 those tables number their rows with ``keys.next_id``: ``nextval`` of the table's
sequence on PostgreSQL, ``(SELECT coalesce(max(id), 0) + 1 FROM <table>)`` on SQLite. There
``id`` is the key's second column, so each ``max(id)`` scanned the table: every new lot,
ledger entry, allocation, audit row, contact, email, overage line, license assignment and
pool row cost a pass over its table. With ``ix_<table>_id`` SQLite reads the maximum from
the end of the index.

PostgreSQL and Citus are left as they are: the sequence numbers the rows there, and the
index would be one more to keep up on every insert of the hot path.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables whose ``id`` default is ``keys.next_id`` when 0013 was written.
TABLES = ("contacts", "lots", "ledger_entries", "ledger_allocations", "audit_log",
          "license_assignments", "pool_consumptions", "email_outbox", "overage_lines")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        op.create_index(f"ix_{table}_id", table, ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        op.drop_index(f"ix_{table}_id", table_name=table)
