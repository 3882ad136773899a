"""Directory, licenses, numbers and minute pools (LIC, NUM, POOL): records and repositories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from commcredits.domain.directory import (
    AssigneeKind,
    NumberType,
    PhoneNumber,
    ResourceAccount,
    ResourceKind,
    User,
)
from commcredits.domain.pool_index import DirectoryUser, Holding

# --- Directory, licenses, numbers and minute pools (LIC, NUM, POOL) ------------------------


@dataclass(frozen=True, slots=True)
class UserSearch:
    """Which users to list: `text` in the UPN, display name or number (any case); `sku` held
    (`""`: no license at all; None: any); `location` (`""`: not set; None: any); `upn` exactly
    and `upn_prefix` as the UPN's start (lower case; None: any)."""

    text: str = ""
    sku: str | None = None
    location: str | None = None
    upn: str | None = None
    upn_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class UserDraft:
    """A user as written: the stable object id, UPN (lower case) and attributes."""

    id: str
    upn: str
    display_name: str
    usage_location: str | None
    blocked: bool


@dataclass(frozen=True, slots=True)
class LicenseWrite:
    """One license assignment change for `DirectoryRepository.write_licenses`."""

    user_id: str
    sku: str
    location: str | None
    added: bool


@dataclass(frozen=True, slots=True)
class PoolConsumptionRecord:
    pool_key: str
    month: str
    reference: str | None
    seconds: int
    minutes_covered: int
    uncovered_seconds: int
    at: datetime


class DirectoryRepository(Protocol):
    def version(self, tenant_id: str) -> str | None: ...
    def bump_version(self, tenant_id: str, at: datetime) -> str: ...
    def upn_taken(self, tenant_id: str, upn: str) -> bool: ...
    def add_user(self, tenant_id: str, user: UserDraft, at: datetime) -> None: ...
    def update_user(self, tenant_id: str, user_id: str, at: datetime, **fields: Any) -> None: ...
    def user(self, tenant_id: str, key: str) -> User | None: ...
    def users(
        self, tenant_id: str, *, limit: int, after_upn: str | None,
        search: UserSearch | None = None,
    ) -> list[User]: ...
    def all_users(self, tenant_id: str) -> list[User]: ...
    def write_licenses(
        self, tenant_id: str, changes: Sequence[LicenseWrite], at: datetime,
    ) -> None: ...
    def relocate(self, tenant_id: str, user_id: str, location: str, at: datetime) -> None: ...
    def assigned_counts(self, tenant_id: str) -> dict[str, int]: ...
    def snapshot(self, tenant_id: str) -> tuple[list[DirectoryUser], list[Holding]]: ...
    def add_audit(
        self, tenant_id: str, at: datetime, actor: str,
        entries: Sequence[tuple[str, dict[str, Any]]],
    ) -> None: ...
    def add_resource_account(
        self, tenant_id: str, account_id: str, upn: str, display_name: str,
        kind: ResourceKind, at: datetime,
    ) -> None: ...
    def resource_account(self, tenant_id: str, key: str) -> ResourceAccount | None: ...
    def resource_accounts(self, tenant_id: str) -> list[ResourceAccount]: ...


class NumberRepository(Protocol):
    def add(self, tenant_id: str, number: str, number_type: NumberType, at: datetime) -> None: ...
    def get(self, tenant_id: str, number: str) -> PhoneNumber | None: ...
    def inventory(self, tenant_id: str) -> list[PhoneNumber]: ...
    def held_by(self, tenant_id: str, kind: AssigneeKind, assignee_id: str) -> list[str]: ...
    def assign(
        self, tenant_id: str, number: str, kind: AssigneeKind | None, assignee_id: str | None,
        at: datetime,
    ) -> None: ...
    def remove(self, tenant_id: str, number: str) -> None: ...


class PoolRepository(Protocol):
    def check(self, tenant_id: str, month: str, pool_key: str) -> tuple[str | None, int]:
        """The directory version and a pool's minutes used, in one read (the hot path)."""
        ...
    def used(self, tenant_id: str, month: str, pool_key: str) -> int: ...
    def usage(self, tenant_id: str, month: str) -> dict[str, int]: ...
    def add_usage(
        self, tenant_id: str, month: str, pool_key: str, minutes: int, at: datetime,
    ) -> None: ...
    def consumption(self, tenant_id: str, reference: str) -> PoolConsumptionRecord | None: ...
    def record(self, tenant_id: str, row: PoolConsumptionRecord) -> None: ...
