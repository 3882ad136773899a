"""Directory, licenses, phone numbers and minute pools (LIC, NUM, POOL).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from commcredits.adapters.db.keys import id_index, next_id
from commcredits.adapters.db.tables.base import BigId, metadata
from commcredits.adapters.db.types import UTCDateTime

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
    id_index("license_assignments"),
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
    id_index("pool_consumptions"),
)
