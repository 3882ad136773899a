"""The schema, as SQLAlchemy Core tables. Every tenant-owned table carries `tenant_id`, and
its primary key, unique constraints and foreign keys to other tenant-owned tables include it
(DIST-1, migration 0009), so Citus can distribute them by tenant (`citus.py`).

One module per area; this package names every table. Alembic migrations
(`migrations/versions`) create and evolve exactly this schema; a test checks that the
migrated database matches it.
"""

from commcredits.adapters.db.tables.accounts import (
    api_keys,
    audit_log,
    contacts,
    credit_accounts,
    invoices,
    leader_lease,
    ledger_allocations,
    ledger_entries,
    lots,
    partner_tenants,
    partners,
    payment_methods,
    sandbox_charges,
    sandbox_secret,
    sandbox_vault,
    sim_clock,
    subscriptions,
    tenants,
)
from commcredits.adapters.db.tables.base import (
    BigId,
    metadata,
)
from commcredits.adapters.db.tables.directory import (
    directory_versions,
    license_assignments,
    phone_numbers,
    pool_consumptions,
    pool_usage,
    resource_accounts,
    users,
)
from commcredits.adapters.db.tables.notify import (
    auto_recharge,
    email_outbox,
    recharge_requests,
)
from commcredits.adapters.db.tables.usage import (
    OPEN_CALL,
    calls,
    overage_lines,
    overage_statements,
    rate_tables,
    rates,
    spend_guards,
    tenant_billing,
)
from commcredits.adapters.db.tables.web import (
    admin_accounts,
    signin_failures,
    signin_links,
    web_sessions,
)

__all__ = [
    "OPEN_CALL",
    "BigId",
    "admin_accounts",
    "api_keys",
    "audit_log",
    "auto_recharge",
    "calls",
    "contacts",
    "credit_accounts",
    "directory_versions",
    "email_outbox",
    "invoices",
    "leader_lease",
    "ledger_allocations",
    "ledger_entries",
    "license_assignments",
    "lots",
    "metadata",
    "overage_lines",
    "overage_statements",
    "partner_tenants",
    "partners",
    "payment_methods",
    "phone_numbers",
    "pool_consumptions",
    "pool_usage",
    "rate_tables",
    "rates",
    "recharge_requests",
    "resource_accounts",
    "sandbox_charges",
    "sandbox_secret",
    "sandbox_vault",
    "signin_failures",
    "signin_links",
    "sim_clock",
    "spend_guards",
    "subscriptions",
    "tenant_billing",
    "tenants",
    "users",
    "web_sessions",
]
