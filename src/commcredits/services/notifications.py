"""Admin emails (NOTE-1..NOTE-3): queued in the business transaction, delivered later.

`notify` writes to the durable outbox inside the caller's unit of work, once per event id.
`deliver_due` hands queued emails to the `Mailer` with a lease per email and retries with
back-off, so an SMTP outage delays email but loses none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from commcredits.domain.money import Money
from commcredits.domain.notifications import (
    NotificationKind,
    depleted_event,
    recipients,
    subject,
)
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.ports import Mailer, OutboxRecord, UnitOfWork

LEASE_SECONDS = 120.0
MAX_BACKOFF = timedelta(hours=1)


def notify(
    uow: UnitOfWork, tenant_id: str, kind: NotificationKind, event_id: str,
    context: dict[str, Any], at: datetime,
) -> bool:
    """Queue one email to the tenant's global and billing admins; False if already queued."""
    tenant = uow.tenants.get(tenant_id)
    if tenant is None:  # pragma: no cover - callers hold a valid tenant
        return False
    to = recipients(uow.tenants.contacts(tenant_id))
    if not to:
        return False
    ctx = {"tenant_name": tenant.name, "tenant_id": tenant_id, "currency": tenant.currency,
           **context}
    return uow.outbox.enqueue(
        tenant_id, event_id, kind.value, to, subject(kind, ctx), ctx, at, datetime.now(UTC),
    )


def notify_depleted(uow: UnitOfWork, tenant_id: str, entry_id: int, balance: Money,
                    at: datetime) -> bool:
    """The balance-depleted email for the charge ``entry_id``, which left ``balance``
    (call it when `notifications.balance_depleted` says so: single charges and CDR batches
    alike)."""
    event_id, context = depleted_event(entry_id, balance)
    return notify(uow, tenant_id, NotificationKind.BALANCE_DEPLETED, event_id, context, at)


@dataclass(frozen=True, slots=True)
class Delivery:
    sent: int
    failed: int


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2 ** max(0, attempts)), MAX_BACKOFF)


def deliver_due(
    svc: Services, mailer: Mailer, *, limit: int = 100,
    wall: Callable[[], float] = time.time, retry_now: bool = False,
) -> Delivery:
    """Send what is due. ``retry_now`` ignores back-off (the CLI's `notifications send`)."""
    now_wall = wall()
    due_at = datetime.fromtimestamp(now_wall, UTC)
    horizon = due_at + (MAX_BACKOFF * 2 if retry_now else timedelta(0))
    with svc.uow(readonly=True) as uow:
        batch = uow.outbox.due(horizon, now_wall, limit)
    sent = failed = 0
    for email in batch:
        with svc.uow() as uow:
            claimed = uow.outbox.claim(email.tenant_id, email.id, now_wall,
                                       now_wall + LEASE_SECONDS)
            uow.commit()
        if not claimed:
            continue
        try:
            mailer.send(email)
        except Exception as exc:  # any delivery failure is retried later
            with svc.uow() as uow:
                uow.outbox.mark_failed(email.tenant_id, email.id, f"{type(exc).__name__}: {exc}",
                                       due_at + backoff(email.attempts))
                uow.commit()
            failed += 1
            continue
        with svc.uow() as uow:
            uow.outbox.mark_sent(email.tenant_id, email.id, datetime.now(UTC))
            uow.commit()
        sent += 1
    return Delivery(sent, failed)


def list_notifications(
    svc: Services, principal: Principal, tenant_id: str, limit: int = 200,
) -> list[OutboxRecord]:
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.READ_CREDITS)
        return uow.outbox.list(tenant_id, max(1, min(limit, 1000)))
