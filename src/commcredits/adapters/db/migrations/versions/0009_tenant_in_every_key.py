"""Every primary key, unique constraint and foreign key between tenant-owned tables includes
``tenant_id`` (DIST-1), so Citus can distribute those tables by tenant and co-locate them.

- Primary keys ``(id)`` become ``(tenant_id, id)``; ids keep their sequences on PostgreSQL
  (on SQLite the next id is ``max(id) + 1``, see ``keys.next_id``).
- ``invoices.number`` and ``email_outbox.event_id`` are unique per tenant.
- The allocations' links to their entry and lot, and a license assignment's link to its
  user, are composite foreign keys ``(tenant_id, …)``.

Data is carried over: on PostgreSQL the constraints are altered in place; on SQLite each
table is copied into its new shape (``batch_alter_table``), foreign keys deferred to the
commit, and the append-only triggers of the ledger and invoices made again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose primary key was ``id`` alone.
ID_TABLES = (
    "contacts", "lots", "ledger_entries", "invoices", "payment_methods", "audit_log",
    "recharge_requests", "email_outbox", "users", "resource_accounts", "calls",
    "overage_lines", "pool_consumptions", "ledger_allocations", "license_assignments",
)
# (table, old unique constraint, its column, new name)
UNIQUES = (
    ("invoices", "uq_invoices_number", "number", "uq_invoices_tenant_number"),
    ("email_outbox", "uq_email_outbox_event_id", "event_id", "uq_email_outbox_tenant_event"),
)
# (table, old fk name, column, referred table, new fk name)
FOREIGN_KEYS = (
    ("ledger_allocations", "fk_ledger_allocations_entry_id_ledger_entries", "entry_id",
     "ledger_entries", "fk_ledger_allocations_tenant_entry"),
    ("ledger_allocations", "fk_ledger_allocations_lot_id_lots", "lot_id", "lots",
     "fk_ledger_allocations_tenant_lot"),
    ("license_assignments", "fk_license_assignments_user_id_users", "user_id", "users",
     "fk_license_assignments_tenant_user"),
)
APPEND_ONLY = ("ledger_entries", "ledger_allocations", "invoices")


def upgrade() -> None:
    _rekey(composite=True)


def downgrade() -> None:
    _rekey(composite=False)


def _rekey(*, composite: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # Tables are copied and dropped one by one: check the references at the commit.
        op.execute("PRAGMA defer_foreign_keys = ON")
    # Foreign keys first: PostgreSQL keeps them on the primary keys they depend on.
    for table, old, _column, _referred, new in FOREIGN_KEYS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(new if not composite else old, type_="foreignkey")
    for table in ID_TABLES:
        with op.batch_alter_table(table, recreate="always" if sqlite else "auto") as batch_op:
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(
                f"pk_{table}", ["tenant_id", "id"] if composite else ["id"])
    for table, old, column, new in UNIQUES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(old if composite else new, type_="unique")
            if composite:
                batch_op.create_unique_constraint(new, ["tenant_id", column])
            else:
                batch_op.create_unique_constraint(old, [column])
    for table, old, column, referred, new in FOREIGN_KEYS:
        with op.batch_alter_table(table) as batch_op:
            if composite:
                batch_op.create_foreign_key(new, referred, ["tenant_id", column],
                                            ["tenant_id", "id"])
            else:
                batch_op.create_foreign_key(old, referred, [column], ["id"])
    if sqlite:
        # Dropping the old tables dropped their triggers (FUND-6, FUND-8).
        for table in APPEND_ONLY:
            for event in ("UPDATE", "DELETE"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event.lower()}")
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
