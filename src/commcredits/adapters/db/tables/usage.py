"""Rating, call control, CDRs, post-usage billing and the spend guard (RATE, CALL, CDR,
POST, GUARD).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from commcredits.adapters.db.codes import Coded, open_call_clause
from commcredits.adapters.db.keys import id_index, next_id
from commcredits.adapters.db.tables.base import BigId, metadata
from commcredits.adapters.db.types import MicroAmount, UTCDateTime

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
    id_index("overage_lines"),
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
