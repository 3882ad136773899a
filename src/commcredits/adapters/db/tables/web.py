"""The web admin center (AUTH-1): local admin accounts, browser sessions, one-time links
and sign-in throttling.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    String,
    Table,
)

from commcredits.adapters.db.tables.base import BigId, metadata
from commcredits.adapters.db.types import UTCDateTime

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
