"""Tenants, partners, API keys, credit accounts, lots, the append-only ledger, invoices,
payment methods, seats, the audit log, the simulated clock, the sandbox processor and the
due-work leader's lease.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from commcredits.adapters.db.keys import id_index, next_id
from commcredits.adapters.db.tables.base import BigId, metadata
from commcredits.adapters.db.types import MicroAmount, UTCDateTime

tenants = Table(
    "tenants", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("billing_account_type", String(8), nullable=False),
    Column("billing_country", String(2), nullable=False),
    Column("cloud", String(16), nullable=False),
    Column("ea_region_exception", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
)

contacts = Table(
    "contacts", metadata,
    Column("id", BigId, autoincrement=True, default=next_id("contacts")),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("email", String(254), nullable=False),
    Column("role", String(32), nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    id_index("contacts"),
)

partners = Table(
    "partners", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

partner_tenants = Table(
    "partner_tenants", metadata,
    Column("partner_id", String(32), ForeignKey("partners.id"), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=True, index=True),
    Column("partner_id", String(32), ForeignKey("partners.id"), nullable=True),
    Column("role", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

credit_accounts = Table(
    "credit_accounts", metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("balance", MicroAmount, nullable=False),
    Column("debt", MicroAmount, nullable=False),
    Column("next_expiry_at", UTCDateTime, nullable=True, index=True),
    Column("invoice_seq", Integer, nullable=False),
    Column("first_funded_at", UTCDateTime, nullable=True),
    Column("version", BigInteger, nullable=False),
)

lots = Table(
    "lots", metadata,
    Column("id", BigId, autoincrement=True, default=next_id("lots")),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("amount", MicroAmount, nullable=False),
    Column("remaining", MicroAmount, nullable=False),
    Column("purchased_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),
    Column("invoice_id", String(32), nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Index("ix_lots_tenant_fifo", "tenant_id", "purchased_at", "id"),
    UniqueConstraint("tenant_id", "idempotency_key", name="uq_lots_tenant_key"),
    PrimaryKeyConstraint("tenant_id", "id"),
    id_index("lots"),
)

ledger_entries = Table(
    "ledger_entries", metadata,
    Column("id", BigId, autoincrement=True, default=next_id("ledger_entries")),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", MicroAmount, nullable=False),
    Column("debt_delta", MicroAmount, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("reference", String(200), nullable=True),
    Column("description", Text, nullable=False),
    Column("lot_id", BigInteger, nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Index("ix_ledger_tenant_id", "tenant_id", "id"),
    UniqueConstraint("tenant_id", "idempotency_key", name="uq_ledger_tenant_key"),
    PrimaryKeyConstraint("tenant_id", "id"),
    id_index("ledger_entries"),
)

ledger_allocations = Table(
    "ledger_allocations", metadata,
    Column("id", BigId, autoincrement=True, default=next_id("ledger_allocations")),
    Column("tenant_id", String(32), nullable=False),
    Column("entry_id", BigInteger, nullable=False, index=True),
    Column("lot_id", BigInteger, nullable=False, index=True),
    Column("amount", MicroAmount, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    ForeignKeyConstraint(["tenant_id", "entry_id"],
                         ["ledger_entries.tenant_id", "ledger_entries.id"],
                         name="fk_ledger_allocations_tenant_entry"),
    ForeignKeyConstraint(["tenant_id", "lot_id"], ["lots.tenant_id", "lots.id"],
                         name="fk_ledger_allocations_tenant_lot"),
    id_index("ledger_allocations"),
)

invoices = Table(
    "invoices", metadata,
    Column("id", String(32), nullable=False),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("number", String(40), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", MicroAmount, nullable=False),
    Column("lot_id", BigInteger, nullable=True),
    Column("document", JSON, nullable=False),
    UniqueConstraint("tenant_id", "seq", name="uq_invoices_tenant_seq"),
    UniqueConstraint("tenant_id", "number", name="uq_invoices_tenant_number"),
    PrimaryKeyConstraint("tenant_id", "id"),
)

payment_methods = Table(
    "payment_methods", metadata,
    Column("id", String(32), nullable=False),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("type", String(16), nullable=False),
    Column("brand", String(32), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("exp_month", Integer, nullable=True),
    Column("exp_year", Integer, nullable=True),
    Column("token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The processor's keyed hash of the card number (never the number): the same card added
    # again is found by it (PAY-1). Null for invoice accounts and cards added before 0006.
    Column("fingerprint", String(64), nullable=True),
    # Set when an admin removes the method: it can no longer pay, and past invoices (which
    # copy brand and last 4) are untouched.
    Column("removed_at", UTCDateTime, nullable=True),
    # The last successful and the last failed payment with this method: Add funds offers
    # the card that last worked.
    Column("last_paid_at", UTCDateTime, nullable=True),
    Column("last_failed_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("tenant_id", "id"),
)

subscriptions = Table(
    "subscriptions", metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("sku", String(32), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", BigId, autoincrement=True, default=next_id("audit_log")),
    Column("tenant_id", String(32), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("details", JSON, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    id_index("audit_log"),
)

sim_clock = Table(
    "sim_clock", metadata,
    Column("id", Integer, primary_key=True),
    Column("simulated", Boolean, nullable=False),
    Column("now", UTCDateTime, nullable=True),
)

# The built-in sandbox payment processor's own tables (PAY-3): its card vault and its log
# of charges by idempotency key. A real processor keeps these on its side.
sandbox_vault = Table(
    "sandbox_vault", metadata,
    Column("token", String(64), primary_key=True),
    Column("outcome", String(32), nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
)

# The sandbox's secret key for card fingerprints (one row, made on first use).
sandbox_secret = Table(
    "sandbox_secret", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("secret", String(64), nullable=False),
)

sandbox_charges = Table(
    "sandbox_charges", metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("payment_id", String(40), nullable=False),
    Column("token", String(64), nullable=False),
    Column("amount", MicroAmount, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("failure", String(32), nullable=True),
    Column("at", UTCDateTime, nullable=False),
)


# The due-work leader's lease on SQLite (migration 0010, OPS-3): one row per lease name,
# its holder and a wall-clock deadline (seconds since the epoch). PostgreSQL uses an
# advisory lock instead (`adapters/db/leader.py`).
leader_lease = Table(
    "leader_lease", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", Float, nullable=False),
)
