"""SQL repositories for auto-recharge (settings and requests) and the email outbox.

Requests and outbox rows are claimed with a lease (a wall-clock deadline) by a conditional
UPDATE, so several workers can run at once and a crashed worker's claim simply lapses.

Every statement on one request or one email names its tenant (``tenant_id = :t`` beside the
id), so on Citus it routes to the one shard that holds the row (DIST-1). Only the scans for
due work (`due_requests`, `SqlOutbox.due`) read every tenant, read-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.compiled import keyed_params, keyed_update
from commcredits.adapters.metrics import EMAILS, RECHARGES, Tally
from commcredits.domain.money import Money
from commcredits.domain.recharge import ACTIVE, RequestStatus
from commcredits.services.ports import AutoRechargeRecord, OutboxRecord, RechargeRequestRecord

R = t.recharge_requests
# Read several times per auto-recharge: built once (see `account_repos._TENANT`).
_SETTINGS = select(t.auto_recharge).where(t.auto_recharge.c.tenant_id == bindparam("tenant_id"))
_REQUEST = select(R).where(R.c.tenant_id == bindparam("tenant_id"), R.c.id == bindparam("rid"))
_ACTIVE = select(R).where(R.c.tenant_id == bindparam("tenant_id"), R.c.status.in_(ACTIVE))
_CLAIM = update(R).where(
    R.c.tenant_id == bindparam("b_tenant_id"), R.c.id == bindparam("b_id"), R.c.status.in_(ACTIVE),
    or_(R.c.lease_until.is_(None), R.c.lease_until < bindparam("b_wall")),
).values(status=RequestStatus.PROCESSING.value, lease_until=bindparam("b_lease"))

O = t.email_outbox  # noqa: E741


_ADD_REQUEST = insert(R)
# An email is queued once per event id (NOTE-2): per dialect, its insert that ignores a
# repeat, built once.
_ENQUEUE: dict[str, Any] = {
    name: dialect.insert(O).on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
    .returning(O.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
# Recharge outcomes (OPS-1): an attempt that failed (retried later or not), or a request
# closed as succeeded, cancelled or not needed.
_CLOSED = frozenset({RequestStatus.SUCCEEDED.value, RequestStatus.CANCELLED.value,
                     RequestStatus.NOT_NEEDED.value})


class SqlRecharge:
    def __init__(self, conn: Connection, tally: Tally | None = None) -> None:
        self.conn = conn
        self.tally = tally or Tally()

    def settings(self, tenant_id: str, currency: str) -> AutoRechargeRecord | None:
        r = self.conn.execute(_SETTINGS, {"tenant_id": tenant_id}).first()
        if r is None:
            return None
        return AutoRechargeRecord(
            enabled=bool(r.enabled),
            amount=Money(r.amount, currency) if r.amount is not None else None,
            trigger=Money(r.trigger, currency) if r.trigger is not None else None,
            payment_method_id=r.payment_method_id, last_recharge_at=r.last_recharge_at,
            last_failure_at=r.last_failure_at, last_failure_reason=r.last_failure_reason,
            waiting_for_payment_method=bool(r.waiting_for_payment_method),
        )

    def save_settings(
        self, tenant_id: str, *, enabled: bool, amount: Money | None, trigger: Money | None,
        payment_method_id: str | None, at: datetime,
    ) -> None:
        values: dict[str, Any] = {
            "enabled": enabled, "amount": amount.amount if amount else None,
            "trigger": trigger.amount if trigger else None,
            "payment_method_id": payment_method_id, "updated_at": at,
        }
        changed = self.conn.execute(
            update(t.auto_recharge).where(t.auto_recharge.c.tenant_id == tenant_id)
            .values(**values)
        ).rowcount
        if not changed:
            self.conn.execute(insert(t.auto_recharge).values(
                tenant_id=tenant_id, waiting_for_payment_method=False, **values,
            ))

    def record_outcome(
        self, tenant_id: str, *, succeeded_at: datetime | None = None,
        failed_at: datetime | None = None, reason: str | None = None,
        waiting_for_payment_method: bool | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if succeeded_at is not None:
            values["last_recharge_at"] = succeeded_at
        if failed_at is not None:
            values["last_failure_at"] = failed_at
            values["last_failure_reason"] = reason
        if waiting_for_payment_method is not None:
            values["waiting_for_payment_method"] = waiting_for_payment_method
        if values:
            self.conn.execute(keyed_update(t.auto_recharge, tuple(sorted(values)), by_id=False),
                              keyed_params(values, tenant_id=tenant_id))

    @staticmethod
    def _request(r: Any) -> RechargeRequestRecord:
        return RechargeRequestRecord(
            id=r.id, tenant_id=r.tenant_id, status=r.status, amount=Money(r.amount, r.currency),
            chain=r.chain, cause_entry_id=r.cause_entry_id, attempt=r.attempt,
            next_attempt_at=r.next_attempt_at, payment_method_id=r.payment_method_id,
            payment_id=r.payment_id, failure=r.failure, lot_id=r.lot_id,
            created_at=r.created_at,
        )

    def active_request(self, tenant_id: str, currency: str) -> RechargeRequestRecord | None:
        r = self.conn.execute(_ACTIVE, {"tenant_id": tenant_id}).first()
        return self._request(r) if r else None

    def add_request(
        self, request_id: str, tenant_id: str, amount: Money, *, chain: int,
        cause_entry_id: int | None, at: datetime,
    ) -> bool:
        """Queue a recharge unless one is already active for the tenant (AR-3)."""
        if self.active_request(tenant_id, amount.currency) is not None:
            return False
        self.conn.execute(_ADD_REQUEST, {
            "id": request_id, "tenant_id": tenant_id, "status": RequestStatus.PENDING.value,
            "amount": amount.amount, "currency": amount.currency, "chain": chain,
            "cause_entry_id": cause_entry_id, "attempt": 1, "next_attempt_at": at,
            "lease_until": None, "created_at": at, "updated_at": at,
        })
        return True

    def get_request(self, tenant_id: str, request_id: str) -> RechargeRequestRecord | None:
        r = self.conn.execute(_REQUEST, {"tenant_id": tenant_id, "rid": request_id}).first()
        return self._request(r) if r else None

    def due_requests(self, now: datetime, wall: float) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            select(R.c.id, R.c.tenant_id).where(
                or_(
                    (R.c.status == RequestStatus.PENDING.value) & (R.c.next_attempt_at <= now),
                    (R.c.status == RequestStatus.PROCESSING.value) & (R.c.lease_until < wall),
                )
            ).order_by(R.c.next_attempt_at, R.c.id)
        )
        return [(r.id, r.tenant_id) for r in rows]

    def claim(self, tenant_id: str, request_id: str, wall: float, lease_until: float) -> bool:
        claimed = self.conn.execute(_CLAIM, {"b_tenant_id": tenant_id, "b_id": request_id,
                                             "b_wall": wall, "b_lease": lease_until}).rowcount
        return bool(claimed)

    def update_request(self, tenant_id: str, request_id: str, **fields: Any) -> None:
        self.conn.execute(keyed_update(R, tuple(sorted(fields)), by_id=True),
                          keyed_params(fields, tenant_id=tenant_id, id=request_id))
        status = str(fields.get("status", ""))
        if fields.get("failure") and status != RequestStatus.SUCCEEDED.value:
            self.tally.add(RECHARGES, RequestStatus.FAILED.value)
        elif status in _CLOSED:
            self.tally.add(RECHARGES, status)

    def cancel_pending(self, tenant_id: str, at: datetime) -> int:
        return int(self.conn.execute(
            update(R).where(R.c.tenant_id == tenant_id,
                            R.c.status == RequestStatus.PENDING.value)
            .values(status=RequestStatus.CANCELLED.value, updated_at=at, lease_until=None)
        ).rowcount)

    def requests(self, tenant_id: str, currency: str, limit: int) -> list[RechargeRequestRecord]:
        rows = self.conn.execute(
            select(R).where(R.c.tenant_id == tenant_id)
            .order_by(R.c.created_at.desc(), R.c.id).limit(limit)
        )
        return [self._request(r) for r in rows]


class SqlOutbox:
    def __init__(self, conn: Connection, tally: Tally | None = None) -> None:
        self.conn = conn
        self.tally = tally or Tally()

    def enqueue(
        self, tenant_id: str, event_id: str, kind: str, recipients: list[str], subject: str,
        context: dict[str, Any], at: datetime, due: datetime,
    ) -> bool:
        """Queue an email once per event id; a repeat of the same event is ignored (NOTE-2)."""
        values = {
            "tenant_id": tenant_id, "event_id": event_id, "kind": kind,
            "recipients": recipients, "subject": subject[:300], "context": context,
            "status": "queued", "attempts": 0, "next_attempt_at": due, "lease_until": None,
            "last_error": None, "created_at": at, "sent_at": None,
        }
        queued = self.conn.execute(_ENQUEUE[self.conn.dialect.name], values).first() \
            is not None
        if queued:
            self.tally.add(EMAILS, "queued")
        return queued

    @staticmethod
    def _record(r: Any) -> OutboxRecord:
        return OutboxRecord(
            id=r.id, tenant_id=r.tenant_id, event_id=r.event_id, kind=r.kind,
            recipients=list(r.recipients), subject=r.subject, context=dict(r.context),
            status=r.status, attempts=r.attempts, last_error=r.last_error,
            created_at=r.created_at, sent_at=r.sent_at,
        )

    def due(self, now: datetime, wall: float, limit: int) -> list[OutboxRecord]:
        rows = self.conn.execute(
            select(O).where(
                O.c.status.in_(("queued", "retrying")), O.c.next_attempt_at <= now,
                or_(O.c.lease_until.is_(None), O.c.lease_until < wall),
            ).order_by(O.c.id).limit(limit)
        )
        return [self._record(r) for r in rows]

    def claim(self, tenant_id: str, outbox_id: int, wall: float, lease_until: float) -> bool:
        return bool(self.conn.execute(
            update(O).where(
                O.c.tenant_id == tenant_id, O.c.id == outbox_id,
                O.c.status.in_(("queued", "retrying")),
                or_(O.c.lease_until.is_(None), O.c.lease_until < wall),
            ).values(lease_until=lease_until)
        ).rowcount)

    def mark_sent(self, tenant_id: str, outbox_id: int, at: datetime) -> None:
        self.conn.execute(update(O).where(O.c.tenant_id == tenant_id, O.c.id == outbox_id)
                          .values(
            status="sent", sent_at=at, lease_until=None, attempts=O.c.attempts + 1,
            last_error=None,
        ))
        self.tally.add(EMAILS, "sent")

    def mark_failed(
        self, tenant_id: str, outbox_id: int, error: str, next_attempt_at: datetime,
    ) -> None:
        self.conn.execute(update(O).where(O.c.tenant_id == tenant_id, O.c.id == outbox_id)
                          .values(
            status="retrying", last_error=error[:2000], next_attempt_at=next_attempt_at,
            lease_until=None, attempts=O.c.attempts + 1,
        ))
        self.tally.add(EMAILS, "failed")

    def list(self, tenant_id: str, limit: int) -> list[OutboxRecord]:
        rows = self.conn.execute(
            select(O).where(O.c.tenant_id == tenant_id).order_by(O.c.id.desc()).limit(limit)
        )
        return [self._record(r) for r in rows]
