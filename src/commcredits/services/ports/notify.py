"""Auto-recharge requests, the email outbox, the mailer and the number classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from commcredits.domain.money import Money
from commcredits.domain.rating import Classified

# --- Auto-recharge and notifications (issue: auto-recharge and email) ----------------------


@dataclass(frozen=True, slots=True)
class AutoRechargeRecord:
    enabled: bool
    amount: Money | None
    trigger: Money | None
    payment_method_id: str | None
    last_recharge_at: datetime | None
    last_failure_at: datetime | None
    last_failure_reason: str | None
    waiting_for_payment_method: bool


@dataclass(frozen=True, slots=True)
class RechargeRequestRecord:
    id: str
    tenant_id: str
    status: str
    amount: Money
    chain: int
    cause_entry_id: int | None
    attempt: int
    next_attempt_at: datetime
    payment_method_id: str | None
    payment_id: str | None
    failure: str | None
    lot_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: int
    tenant_id: str
    event_id: str
    kind: str
    recipients: list[str]
    subject: str
    context: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class RechargeRepository(Protocol):
    def settings(self, tenant_id: str, currency: str) -> AutoRechargeRecord | None: ...
    def save_settings(
        self, tenant_id: str, *, enabled: bool, amount: Money | None, trigger: Money | None,
        payment_method_id: str | None, at: datetime,
    ) -> None: ...
    def record_outcome(
        self, tenant_id: str, *, succeeded_at: datetime | None = None,
        failed_at: datetime | None = None, reason: str | None = None,
        waiting_for_payment_method: bool | None = None,
    ) -> None: ...
    def active_request(self, tenant_id: str, currency: str) -> RechargeRequestRecord | None: ...
    def add_request(
        self, request_id: str, tenant_id: str, amount: Money, *, chain: int,
        cause_entry_id: int | None, at: datetime,
    ) -> bool: ...
    def get_request(self, tenant_id: str, request_id: str) -> RechargeRequestRecord | None: ...
    def due_requests(self, now: datetime, wall: float) -> list[tuple[str, str]]:
        """(request id, tenant id) of every request due or with a lapsed claim, across
        tenants (read-only); each is then claimed in a transaction of its own tenant."""
        ...
    def claim(self, tenant_id: str, request_id: str, wall: float, lease_until: float,
              ) -> bool: ...
    def update_request(self, tenant_id: str, request_id: str, **fields: Any) -> None: ...
    def cancel_pending(self, tenant_id: str, at: datetime) -> int: ...
    def requests(
        self, tenant_id: str, currency: str, limit: int,
    ) -> list[RechargeRequestRecord]: ...


class OutboxRepository(Protocol):
    def enqueue(
        self, tenant_id: str, event_id: str, kind: str, recipients: list[str], subject: str,
        context: dict[str, Any], at: datetime, due: datetime,
    ) -> bool: ...
    def due(self, now: datetime, wall: float, limit: int) -> list[OutboxRecord]: ...
    def claim(self, tenant_id: str, outbox_id: int, wall: float, lease_until: float,
              ) -> bool: ...
    def mark_sent(self, tenant_id: str, outbox_id: int, at: datetime) -> None: ...
    def mark_failed(self, tenant_id: str, outbox_id: int, error: str,
                    next_attempt_at: datetime) -> None: ...
    def list(self, tenant_id: str, limit: int) -> list[OutboxRecord]: ...


class NumberClassifier(Protocol):
    """Validity, country, type and emergency status of a dialled number (CALL-2, CALL-3)."""

    def classify(self, dialled: str, from_country: str) -> Classified: ...


class Mailer(Protocol):
    """Delivers one rendered email; raises on failure so the sender retries (NOTE-2)."""

    def send(self, email: OutboxRecord) -> str: ...
