"""The schema, as SQLAlchemy Core tables. Every tenant-owned table carries `tenant_id`, and
its primary key, unique constraints and foreign keys to other tenant-owned tables include it
(DIST-1, migration 0009), so Citus can distribute them by tenant (`citus.py`).

Alembic migrations (`migrations/versions`) create and evolve exactly this schema; a test
checks that the migrated database matches it.
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
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from commcredits.adapters.db.codes import Coded, open_call_clause
from commcredits.adapters.db.keys import next_id
from commcredits.adapters.db.types import MicroAmount, UTCDateTime

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite, so ids autoincrement on both.
BigId = BigInteger().with_variant(Integer(), "sqlite")

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

# --- Auto-recharge (AR-1..AR-7) and the email outbox (NOTE-1..NOTE-3) ---------------------

auto_recharge = Table(
    "auto_recharge", metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("amount", MicroAmount, nullable=True),
    Column("trigger", MicroAmount, nullable=True),
    Column("payment_method_id", String(32), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_recharge_at", UTCDateTime, nullable=True),
    Column("last_failure_at", UTCDateTime, nullable=True),
    Column("last_failure_reason", String(64), nullable=True),
    Column("waiting_for_payment_method", Boolean, nullable=False, default=False),
)

recharge_requests = Table(
    "recharge_requests", metadata,
    Column("id", String(32), nullable=False),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount", MicroAmount, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("chain", Integer, nullable=False),
    Column("cause_entry_id", BigInteger, nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", Float, nullable=True),
    Column("payment_method_id", String(32), nullable=True),
    Column("payment_id", String(40), nullable=True),
    Column("failure", String(64), nullable=True),
    Column("lot_id", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_recharge_due", "status", "next_attempt_at"),
    Index(
        "uq_recharge_one_active_per_tenant", "tenant_id", unique=True,
        sqlite_where=text("status IN ('pending', 'processing')"),
        postgresql_where=text("status IN ('pending', 'processing')"),
    ),
    PrimaryKeyConstraint("tenant_id", "id"),
)

email_outbox = Table(
    "email_outbox", metadata,
    Column("id", BigId, autoincrement=True, default=next_id("email_outbox")),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("event_id", String(200), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("recipients", JSON, nullable=False),
    Column("subject", String(300), nullable=False),
    Column("context", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", Float, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    UniqueConstraint("tenant_id", "event_id", name="uq_email_outbox_tenant_event"),
    PrimaryKeyConstraint("tenant_id", "id"),
)

# --- Directory, licenses, phone numbers and minute pools (LIC, NUM, POOL) ------------------

# A random token that changes with every directory write, so processes that cache a tenant's
# license index (services/pools.py) know in one read whether it is still current.
directory_versions = Table(
    "directory_versions", metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("version", String(32), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

users = Table(
    "users", metadata,
    Column("id", String(36), nullable=False),  # the Entra ObjectId (a UUID)
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("upn", String(128), nullable=False),
    Column("display_name", String(256), nullable=False),
    Column("usage_location", String(2), nullable=True),
    Column("blocked", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "upn", name="uq_users_tenant_upn"),
    PrimaryKeyConstraint("tenant_id", "id"),
)

resource_accounts = Table(
    "resource_accounts", metadata,
    Column("id", String(36), nullable=False),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("upn", String(128), nullable=False),
    Column("display_name", String(256), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "upn", name="uq_resource_accounts_tenant_upn"),
    PrimaryKeyConstraint("tenant_id", "id"),
)

# License assignments as intervals [assigned_at, removed_at): capacity "at the time of the
# call" (POOL-1, LIC-5) is read from them. `usage_location` is the user's location for that
# interval; moving a user closes the open intervals and opens new ones.
license_assignments = Table(
    "license_assignments", metadata,
    Column("id", BigId, autoincrement=True, default=next_id("license_assignments")),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("user_id", String(36), nullable=False),
    Column("sku", String(32), nullable=False),
    Column("usage_location", String(2), nullable=True),
    Column("assigned_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime, nullable=True),
    Index("ix_license_assignments_tenant_user", "tenant_id", "user_id", "removed_at"),
    Index("ix_license_assignments_tenant_sku", "tenant_id", "sku", "removed_at"),
    PrimaryKeyConstraint("tenant_id", "id"),
    ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"],
                         name="fk_license_assignments_tenant_user"),
)

phone_numbers = Table(
    "phone_numbers", metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("number", String(16), primary_key=True),
    Column("type", String(16), nullable=False),
    Column("assignee_kind", String(24), nullable=True),
    Column("assignee_id", String(36), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_phone_numbers_assignee", "tenant_id", "assignee_id"),
)

pool_usage = Table(
    "pool_usage", metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("pool_key", String(120), primary_key=True),
    Column("used_minutes", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

pool_consumptions = Table(
    "pool_consumptions", metadata,
    Column("id", BigId, autoincrement=True, default=next_id("pool_consumptions")),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("pool_key", String(120), nullable=False),
    Column("reference", String(200), nullable=True),
    Column("seconds", BigInteger, nullable=False),
    Column("minutes_covered", BigInteger, nullable=False),
    Column("uncovered_seconds", BigInteger, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_pool_consumptions_tenant_month", "tenant_id", "month"),
    UniqueConstraint("tenant_id", "reference", name="uq_pool_consumptions_tenant_reference"),
    PrimaryKeyConstraint("tenant_id", "id"),
)

# --- Rating, call control, CDRs and post-usage billing (RATE, CALL, CDR, POST) ------------

rate_tables = Table(
    "rate_tables", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("currency", String(3), nullable=False),
    Column("version", Integer, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("source", String(200), nullable=False),
    Column("sha256", String(64), nullable=False),
    UniqueConstraint("currency", "version", name="uq_rate_tables_currency_version"),
)

rates = Table(
    "rates", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("table_id", BigInteger, ForeignKey("rate_tables.id"), nullable=False, index=True),
    Column("prefix", String(16), nullable=False),
    Column("destination", String(100), nullable=False),
    Column("number_type", String(16), nullable=False),
    Column("direction", String(24), nullable=False),
    Column("rate_per_minute", MicroAmount, nullable=False),
    Column("connection_fee", MicroAmount, nullable=False),
    Column("first_increment", Integer, nullable=False),
    Column("next_increment", Integer, nullable=False),
    Column("effective_from", UTCDateTime, nullable=False),
    Column("effective_to", UTCDateTime, nullable=True),
)

# The open calls (authorized, active), written the same in the partial index and in the
# queries that use it: SQLite uses a partial index only for a query with the same term.
OPEN_CALL = open_call_clause()

calls = Table(
    "calls", metadata,
    Column("id", String(32), nullable=False),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("call_id", String(64), nullable=False),
    Column("usage_id", String(64), nullable=False),
    Column("source", Coded("source"), nullable=False),
    Column("status", Coded("status"), nullable=False),
    Column("call_type", Coded("call_type"), nullable=False),
    Column("user_object_id", String(36), nullable=True),
    Column("upn", String(128), nullable=True),
    Column("display_name", String(128), nullable=True),
    Column("user_location", String(2), nullable=True),
    Column("caller", String(64), nullable=False),
    Column("callee", String(64), nullable=False),
    Column("conference_id", String(64), nullable=True),
    Column("number_type", Coded("number_type"), nullable=True),
    Column("domestic", Boolean, nullable=True),
    Column("destination_name", String(100), nullable=True),
    Column("external_country", String(2), nullable=True),
    Column("start_at", UTCDateTime, nullable=False),
    Column("end_at", UTCDateTime, nullable=True),
    Column("duration", Integer, nullable=True),
    Column("funding", Coded("funding"), nullable=True),
    Column("capability", String(32), nullable=True),
    Column("pool_key", String(64), nullable=True),
    Column("pool_minutes", Integer, nullable=True),
    Column("rate_id", BigInteger, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("reserved", MicroAmount, nullable=False),
    Column("max_seconds", Integer, nullable=True),
    Column("granted_seconds", Integer, nullable=True),
    Column("used_seconds", Integer, nullable=False),
    Column("last_update_at", UTCDateTime, nullable=False),
    Column("connection_fee", MicroAmount, nullable=True),
    Column("charge", MicroAmount, nullable=True),
    Column("entry_id", BigInteger, nullable=True),
    Column("reason", String(32), nullable=True),  # a denial's code (None: allowed)
    Column("message", String(200), nullable=True),  # a denial's message
    Column("guard_seconds", Integer, nullable=True),  # the spend guard's cap (GUARD-1)
    # Open calls only (CALL-8's reservations, expiry): finished calls are not in it.
    Index("ix_calls_tenant_open", "tenant_id", "last_update_at",
          sqlite_where=OPEN_CALL, postgresql_where=OPEN_CALL),
    Index("ix_calls_tenant_start", "tenant_id", "start_at"),
    Index("ix_calls_entry_id", "entry_id"),  # the entry that paid the call (FUND-10)
    UniqueConstraint("tenant_id", "call_id", "usage_id", name="uq_calls_tenant_call_usage"),
    PrimaryKeyConstraint("tenant_id", "id"),
)

overage_lines = Table(
    "overage_lines", metadata,
    Column("id", BigId, autoincrement=True, default=next_id("overage_lines")),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("capability", String(32), nullable=False),
    Column("country", String(2), nullable=False),
    Column("amount", MicroAmount, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_overage_tenant_month", "tenant_id", "month"),
    UniqueConstraint("tenant_id", "reference", name="uq_overage_tenant_reference"),
    PrimaryKeyConstraint("tenant_id", "id"),
)

overage_statements = Table(
    "overage_statements", metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("invoice_id", String(32), nullable=True),
    Column("total", MicroAmount, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
)

tenant_billing = Table(
    "tenant_billing", metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("overage_enabled", Boolean, nullable=False),
    Column("postpaid_since", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# --- Web admin center (AUTH-1): local admin accounts, browser sessions, one-time links ---

admin_accounts = Table(
    "admin_accounts", metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=True, index=True),
    Column("created_at", UTCDateTime, nullable=False),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(32), ForeignKey("admin_accounts.id"), nullable=True),
    Column("key_hash", String(64), nullable=True),
    Column("role", String(32), nullable=False),
    Column("tenant_id", String(32), nullable=True),
    Column("partner_id", String(32), nullable=True),
    Column("name", String(200), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

signin_links = Table(
    "signin_links", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(32), ForeignKey("admin_accounts.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
)

# Failed sign-ins (migration 0007): scope "account" (subject: a hash of the
# email) or "address" (the client address); read to throttle, pruned as they age.
signin_failures = Table(
    "signin_failures", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("scope", String(16), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_signin_failures_scope_subject_at", "scope", "subject", "at"),
)

# The spend guard (GUARD-1, GUARD-3; migration 0011): a tenant's optional limits and blocked
# destinations (country codes and "+prefix" texts), one row per tenant that has a guard.
spend_guards = Table(
    "spend_guards", metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("user_hour", MicroAmount, nullable=True),
    Column("user_day", MicroAmount, nullable=True),
    Column("tenant_day", MicroAmount, nullable=True),
    Column("intl_minutes_user_day", Integer, nullable=True),
    Column("blocked", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
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
