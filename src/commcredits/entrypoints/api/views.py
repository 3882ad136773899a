"""How resources look in JSON: money as 2-decimal strings with a currency, times ISO 8601 UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from commcredits.domain.payments import PaymentMethod
from commcredits.domain.recharge import ACTIVE
from commcredits.domain.tenants import Contact, Tenant
from commcredits.services.funds import ChargeResult, PurchaseResult
from commcredits.services.ports import (
    AuditRecord,
    AutoRechargeRecord,
    EntryRecord,
    InvoiceRecord,
    LotRecord,
    OutboxRecord,
    RechargeRequestRecord,
)
from commcredits.services.queries import CreditsView
from commcredits.services.recharge import RechargeStatus


def ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def tenant(t: Tenant, contacts: list[Contact] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": t.id, "name": t.name, "country": t.country, "currency": t.currency,
        "billing_account_type": t.billing_account_type.value,
        "billing_country": t.billing_country, "cloud": t.cloud.value,
        "ea_region_exception": t.ea_region_exception,
    }
    if contacts is not None:
        body["contacts"] = [{"email": c.email, "role": c.role.value} for c in contacts]
    return body


def lot(x: LotRecord) -> dict[str, Any]:
    return {
        "id": x.id, "amount": x.amount.format(), "remaining": x.remaining.format(),
        "currency": x.amount.currency, "purchased_at": ts(x.purchased_at),
        "expires_at": ts(x.expires_at), "source": x.source.value, "invoice_id": x.invoice_id,
    }


def credits(v: CreditsView) -> dict[str, Any]:
    return {
        "tenant_id": v.tenant.id,
        "balance": v.balance.format(), "available": v.available.format(),
        "debt": v.debt.format(), "currency": v.balance.currency,
        "lots": [lot(x) for x in v.lots],
        "auto_recharge": auto_recharge_settings(v.auto_recharge),
    }


def auto_recharge_settings(s: AutoRechargeRecord | None) -> dict[str, Any]:
    if s is None:
        return {"enabled": False, "amount": None, "trigger": None, "payment_method_id": None}
    return {
        "enabled": s.enabled, "amount": s.amount.format() if s.amount else None,
        "trigger": s.trigger.format() if s.trigger else None,
        "payment_method_id": s.payment_method_id,
    }


def request(r: RechargeRequestRecord) -> dict[str, Any]:
    return {
        "id": r.id, "status": r.status, "amount": r.amount.format(),
        "currency": r.amount.currency, "attempt": r.attempt, "chain": r.chain,
        "next_attempt_at": ts(r.next_attempt_at), "failure": r.failure, "lot_id": r.lot_id,
        "payment_id": r.payment_id, "created_at": ts(r.created_at),
    }


def recharge_status(st: RechargeStatus) -> dict[str, Any]:
    s = st.settings
    last_success = next((r for r in st.recent if r.status == "succeeded"), None)
    last_closed = next((r for r in st.recent if r.status not in ACTIVE), None)
    return {
        **auto_recharge_settings(s),
        "status": {
            "last_recharge_at": ts(s.last_recharge_at) if s else None,
            "last_recharge": request(last_success) if last_success else None,
            "last_failure_at": ts(s.last_failure_at) if s else None,
            "last_failure_reason": s.last_failure_reason if s else None,
            "next_retry_at": ts(st.active.next_attempt_at)
            if st.active and st.active.attempt > 1 else None,
            "in_flight": request(st.active) if st.active else None,
            # The newest request that is over: succeeded, failed, cancelled (AR-7) or
            # not_needed (AR-8, a due retry that found the balance back at the trigger).
            "last_closed": request(last_closed) if last_closed else None,
            "waiting_for_payment_method": bool(s and s.waiting_for_payment_method),
        },
        "recent": [request(r) for r in st.recent],
    }


def notification(n: OutboxRecord) -> dict[str, Any]:
    return {
        "id": n.id, "event_id": n.event_id, "kind": n.kind, "to": n.recipients,
        "subject": n.subject, "status": n.status, "attempts": n.attempts,
        "last_error": n.last_error, "created_at": ts(n.created_at), "sent_at": ts(n.sent_at),
    }


def entry(e: EntryRecord) -> dict[str, Any]:
    return {
        "id": e.id, "kind": e.kind.value, "amount": e.amount.format(),
        "debt_delta": e.debt_delta.format(), "currency": e.amount.currency, "at": ts(e.at),
        "reference": e.reference, "description": e.description, "lot_id": e.lot_id,
        "allocations": [{"lot_id": a.lot_id, "amount": a.amount.format()}
                        for a in e.allocations],
    }


def invoice(i: InvoiceRecord) -> dict[str, Any]:
    return {"id": i.id, "number": i.number, "issued_at": ts(i.issued_at),
            "total": i.total.format(), "currency": i.total.currency, "lot_id": i.lot_id,
            "document": i.document}


def purchase(p: PurchaseResult) -> dict[str, Any]:
    return {"lot": lot(p.lot), "invoice": invoice(p.invoice), "replayed": p.replayed}


def charge(c: ChargeResult) -> dict[str, Any]:
    return {
        "entry_id": c.entry_id, "amount": c.amount.format(), "currency": c.amount.currency,
        "debt_added": c.debt_added.format(), "balance": c.balance.format(),
        "debt": c.debt.format(),
        "allocations": [{"lot_id": a.lot_id, "amount": a.amount.format()}
                        for a in c.allocations],
    }


def payment_method(m: PaymentMethod) -> dict[str, Any]:
    return {"id": m.id, "type": m.type.value, "brand": m.brand, "last4": m.last4,
            "exp_month": m.exp_month, "exp_year": m.exp_year}


def audit(a: AuditRecord) -> dict[str, Any]:
    return {"id": a.id, "at": ts(a.at), "actor": a.actor, "action": a.action,
            "details": a.details}
