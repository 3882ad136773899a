"""Call control (CALL-*) and CDR batches (CDR-1, CDR-2): the call repository, the facts
one call-control request reads, and set-based writes of rated calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from commcredits.domain.calls import Call, CallStatus
from commcredits.domain.money import Money
from commcredits.domain.tenants import Tenant
from commcredits.services.ports.accounts import ApiKeyRecord
from commcredits.services.ports.notify import AutoRechargeRecord


@dataclass(frozen=True, slots=True)
class CallControlFacts:
    """What one call-control request reads before the tenant lock, in one round trip: the
    API key (by hash), the tenant, its directory version, its auto-recharge settings, and
    the stored call if there is one."""

    key: ApiKeyRecord | None
    tenant: Tenant | None
    directory_version: str | None
    auto_recharge: AutoRechargeRecord | None
    call: Call | None


class CallRepository(Protocol):
    """Calls (`domain.calls.Call`) with their reservations and rated usage."""

    def control_facts(self, tenant_id: str, key_hash: str | None, call_id: str,
                      usage_id: str, *, charging: bool = False) -> CallControlFacts:
        """The facts of a call-control request; ``charging`` (an end) may also read ahead
        what a ledger charge needs."""
        ...
    def reservations(self, tenant_id: str, currency: str, call_id: str,
                     usage_id: str) -> tuple[Money, bool]:
        """What open reservations hold, and whether the call is stored (under the lock)."""
        ...
    def status(self, tenant_id: str, row_id: str) -> CallStatus | None: ...
    def display_name(self, tenant_id: str, user_id: str) -> str | None: ...
    def get(self, tenant_id: str, call_id: str, usage_id: str) -> Call | None: ...
    def add(self, call: Call) -> None: ...
    def update(self, call: Call, fields: Sequence[str]) -> None:
        """Write these fields of the call (those its last transition changed)."""
        ...
    def reserved(self, tenant_id: str, currency: str, *, exclude: str | None = None) -> Money: ...
    def stale(self, cutoff: datetime) -> list[tuple[str, str]]: ...


# --- CDR batches (CDR-1, CDR-2): set-based writes of rated calls ---------------------------

# The columns of a rated call row, in the order `CdrBatch.calls` rows carry them: amounts in
# integer micro-units, times timezone-aware UTC.
CALL_ROW_COLUMNS = (
    "id", "tenant_id", "call_id", "usage_id", "source", "status", "call_type",
    "user_object_id", "upn", "display_name", "user_location", "caller", "callee",
    "conference_id", "number_type", "domestic", "destination_name", "external_country",
    "start_at", "end_at", "duration", "funding", "capability", "pool_key", "pool_minutes",
    "rate_id", "currency", "reserved", "max_seconds", "granted_seconds", "used_seconds",
    "last_update_at", "connection_fee", "charge", "entry_id", "reason", "message",
    "guard_seconds",
)


@dataclass(slots=True)
class CdrBatch:
    """What one chunk of rated CDRs writes, in one transaction (rows as tuples).

    - ``calls``: rows in `CALL_ROW_COLUMNS` order;
    - ``entries``: (id, kind, amount µ, debt_delta µ, at, reference, description,
      idempotency_key), ids from `CdrBatchRepository.reserve_entry_ids`;
    - ``allocations``: (entry id, lot id, amount µ);
    - ``lots_taken``: lot id → micros taken from it;
    - ``pool_consumptions``: (month, pool key, reference, seconds, minutes covered,
      uncovered seconds, at);
    - ``call_keys``: the ledger idempotency keys the charged calls would have on the
      single-call path; one already taken refuses the chunk (`Conflict`).

    Entries are bulk charges (FUND-10): each call row's ``entry_id`` names the one that paid
    it.
    """

    calls: list[tuple[Any, ...]]
    entries: list[tuple[Any, ...]]
    allocations: list[tuple[int, int, int]]
    lots_taken: dict[int, int]
    pool_consumptions: list[tuple[Any, ...]]
    call_keys: list[str] = field(default_factory=list)


class CdrBatchRepository(Protocol):
    def existing(self, tenant_id: str, call_ids: Sequence[str]) -> set[tuple[str, str]]:
        """(call id, usage id) of the tenant's calls among ``call_ids``."""
        ...
    def reserve_entry_ids(self, tenant_id: str, count: int) -> list[int]:
        """``count`` new ledger entry ids for the tenant's chunk, increasing (the caller
        holds the tenant lock)."""
        ...
    def write(self, tenant_id: str, batch: CdrBatch) -> None:
        """Store the chunk; a unique key already taken raises `Conflict` (nothing kept)."""
        ...
