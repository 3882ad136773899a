"""Auto-recharge (AR-1..AR-7) and the email outbox (NOTE-1..NOTE-3).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from commcredits.adapters.db.keys import id_index, next_id
from commcredits.adapters.db.tables.base import BigId, metadata
from commcredits.adapters.db.types import MicroAmount, UTCDateTime

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
    id_index("email_outbox"),
)
