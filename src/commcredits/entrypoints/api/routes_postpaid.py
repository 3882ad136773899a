"""The /api/v1 routes for post-usage billing (ACCT-6, POST-1, POST-2): the billing account
type (operator), overage on or off, and the month's overage statement."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from commcredits.domain.pools import month_of
from commcredits.entrypoints.api import views
from commcredits.entrypoints.api.bodies import BillingAccountChange, OverageChange
from commcredits.entrypoints.api.deps import OperateDep, OverageDep, PrincipalDep, ServicesDep
from commcredits.entrypoints.api.routing import api_router
from commcredits.entrypoints.api.views import ts
from commcredits.services import postpaid

router = api_router()
Json = dict[str, Any]


@router.put("/tenants/{tid}/billing-account", tags=["post-usage billing"])
def switch_billing_account(
    tid: str, body: BillingAccountChange, svc: ServicesDep, who: OperateDep,
) -> Json:
    return views.tenant(postpaid.switch_billing_account(svc, who, tid,
                                                        body.billing_account_type))


@router.put("/tenants/{tid}/overage", tags=["post-usage billing"])
def set_overage(tid: str, body: OverageChange, svc: ServicesDep, who: OverageDep) -> Json:
    setting = postpaid.set_overage(svc, who, tid, body.enabled)
    return {"tenant_id": tid, "overage_enabled": setting.enabled,
            "resumes_on": setting.resumes_on.date().isoformat() if setting.resumes_on else None}


@router.get("/tenants/{tid}/overage", tags=["post-usage billing"])
def overage_statement(
    tid: str, svc: ServicesDep, who: PrincipalDep,
    month: Annotated[str | None, Query(max_length=20)] = None,
) -> Json:
    s = postpaid.statement(svc, who, tid, month or month_of(svc.clock.now()))
    return {
        "tenant_id": tid, "month": s.month, "currency": s.currency,
        "lines": [{"capability": x.capability, "country": x.country,
                   "description": x.description, "amount": x.amount.format()}
                  for x in s.lines],
        "total": s.total.format(), "invoice_id": s.invoice_id,
        "invoice_number": s.invoice_number, "issued_at": ts(s.issued_at),
        "overage_enabled": s.overage_enabled,
    }
