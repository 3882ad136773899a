"""Rate tables (RATE-1, RATE-3) and post-usage billing for MCA tenants (ACCT-6, POST-1,
POST-2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from commcredits.domain.money import Money
from commcredits.domain.rating import Rate

# --- Rate tables (RATE-1, RATE-3) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateTableRecord:
    """One imported version of a currency's rate table."""

    id: int
    currency: str
    version: int
    imported_at: datetime
    rows: int
    source: str
    sha256: str


class RateRepository(Protocol):
    def add_table(
        self, currency: str, imported_at: datetime, source: str, sha256: str,
        rates: Sequence[Rate],
    ) -> RateTableRecord:
        """Store the next version of ``currency``'s table with all its rows (bulk insert)."""
        ...
    def tables(self, currency: str) -> list[RateTableRecord]:
        """Every version of ``currency``'s table, oldest first."""
        ...
    def rows(self, table_id: int, currency: str) -> list[tuple[int, Rate]]:
        """The rows of one version as ``(row id, Rate)``."""
        ...
    def in_force(self, currency: str, at: datetime) -> RateTableRecord | None:
        """The newest version imported at or before ``at``, else the oldest (RATE-3)."""
        ...
    def table_of(self, rate_id: int) -> RateTableRecord | None:
        """The version that row ``rate_id`` belongs to."""
        ...


# --- Post-usage billing for MCA tenants (ACCT-6, POST-1, POST-2) ---------------------------


@dataclass(frozen=True, slots=True)
class TenantBillingRecord:
    """A tenant's post-usage settings. `updated_at` is when overage was last turned on or
    off: while `overage_enabled` is false, overage stays off until the 1st of the month after
    it (POST-2)."""

    overage_enabled: bool
    postpaid_since: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OverageLineRecord:
    id: int
    month: str
    capability: str
    country: str
    amount: Money
    reference: str
    at: datetime


@dataclass(frozen=True, slots=True)
class OverageStatementRecord:
    month: str
    invoice_id: str | None
    total: Money
    issued_at: datetime


class PostpaidRepository(Protocol):
    def billing(self, tenant_id: str) -> TenantBillingRecord | None: ...
    def set_postpaid_since(self, tenant_id: str, since: datetime | None, at: datetime) -> None:
        """Creates the row (overage on) when missing; keeps `updated_at` of an existing one."""
        ...
    def set_overage(self, tenant_id: str, enabled: bool, at: datetime) -> None: ...
    def line_by_reference(
        self, tenant_id: str, reference: str, currency: str,
    ) -> OverageLineRecord | None: ...
    def add_line(
        self, tenant_id: str, month: str, capability: str, country: str, amount: Money,
        reference: str, at: datetime,
    ) -> None: ...
    def lines(self, tenant_id: str, month: str, currency: str) -> list[OverageLineRecord]: ...
    def statement(
        self, tenant_id: str, month: str, currency: str,
    ) -> OverageStatementRecord | None: ...
    def add_statement(
        self, tenant_id: str, month: str, invoice_id: str | None, total: Money,
        issued_at: datetime,
    ) -> None: ...
    def unbilled_months(self, before_month: str) -> list[tuple[str, str]]:
        """(tenant id, month) with overage lines, month < before_month, and no statement."""
        ...
