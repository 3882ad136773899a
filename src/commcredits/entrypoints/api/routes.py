"""The /api/v1 routes: thin adapters from HTTP to service calls (SPEC §4)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Query, Request
from fastapi.responses import HTMLResponse, Response

from commcredits.entrypoints.api import views
from commcredits.entrypoints.api.bodies import (
    AdjustmentCreate,
    ApiKeyCreate,
    AutoRechargeSettings,
    ClockMove,
    EaException,
    PartnerBind,
    PartnerCreate,
    PartnerKeyCreate,
    PaymentMethodCreate,
    PurchaseCreate,
    TenantCreate,
)
from commcredits.entrypoints.api.deps import (
    AutoRechargeDep,
    FundDep,
    KeysDep,
    OperateDep,
    OperatorDep,
    PaymentMethodsDep,
    PrincipalDep,
    ServicesDep,
)
from commcredits.entrypoints.api.routing import api_router
from commcredits.entrypoints.web.security import INVOICE_POLICY
from commcredits.services import clock as clock_service
from commcredits.services import funds, notifications, payments, queries, recharge, tenants
from commcredits.services.auth import require_operator
from commcredits.services.funds import PurchaseResult
from commcredits.services.jobs import run_due_work

router = api_router()
Json = dict[str, Any]


@router.post("/tenants", status_code=201, tags=["tenants"])
def create_tenant(body: TenantCreate, svc: ServicesDep, who: OperatorDep) -> Json:
    t = tenants.create_tenant(
        svc, who, name=body.name, country=body.country,
        billing_account_type=body.billing_account_type, billing_country=body.billing_country,
        currency=body.currency, cloud=body.cloud,
        contacts=[c.model_dump() for c in body.contacts],
    )
    return views.tenant(t)


@router.get("/tenants", tags=["tenants"])
def list_tenants(svc: ServicesDep, who: PrincipalDep) -> Json:
    return {"tenants": [views.tenant(t) for t in tenants.list_tenants(svc, who)]}


@router.get("/tenants/{tid}", tags=["tenants"])
def get_tenant(tid: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    t, contacts = queries.tenant(svc, who, tid)
    return views.tenant(t, contacts)


@router.put("/tenants/{tid}/ea-exception", tags=["tenants"])
def ea_exception(tid: str, body: EaException, svc: ServicesDep, who: OperateDep) -> Json:
    return views.tenant(tenants.set_ea_exception(svc, who, tid, body.enabled))


@router.post("/tenants/{tid}/api-keys", status_code=201, tags=["access"])
def create_api_key(tid: str, body: ApiKeyCreate, svc: ServicesDep, who: KeysDep) -> Json:
    k = tenants.create_api_key(svc, who, tid, role=body.role, name=body.name)
    return {"id": k.id, "key": k.key, "role": k.role.value, "name": k.name,
            "note": "The key is shown once; store it safely."}


@router.get("/tenants/{tid}/audit-log", tags=["access"])
def audit_log(
    tid: str, svc: ServicesDep, who: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Json:
    return {"entries": [views.audit(a) for a in queries.audit_log(svc, who, tid, limit)]}


@router.post("/tenants/{tid}/payment-methods", status_code=201, tags=["payments"])
def add_payment_method(
    tid: str, body: PaymentMethodCreate, svc: ServicesDep, who: PaymentMethodsDep,
    response: Response,
) -> Json:
    """201 with a new method; 200 with the existing one when the same card is added again."""
    added = payments.add_or_find_payment_method(
        svc, who, tid, type=body.type, number=body.number, exp_month=body.exp_month,
        exp_year=body.exp_year,
    )
    if not added.created:
        response.status_code = 200
    return views.payment_method(added.method)


@router.delete("/tenants/{tid}/payment-methods/{mid}", status_code=204, tags=["payments"],
               response_class=Response)
def remove_payment_method(tid: str, mid: str, svc: ServicesDep, who: PrincipalDep) -> Response:
    """Remove a payment method; 409 PAYMENT_METHOD_IN_USE while auto-recharge pays with it."""
    payments.remove_payment_method(svc, who, tid, mid)
    return Response(status_code=204)


@router.get("/tenants/{tid}/payment-methods", tags=["payments"])
def list_payment_methods(tid: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    return {"payment_methods": [
        views.payment_method(m) for m in queries.payment_methods(svc, who, tid)
    ]}


@router.get("/tenants/{tid}/credits", tags=["credits"])
def get_credits(tid: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    return views.credits(queries.credits(svc, who, tid))


@router.post("/tenants/{tid}/credits/purchases", status_code=201, tags=["credits"],
             responses={200: {"description": "A repeat of the same Idempotency-Key: the first "
                              "purchase, with replayed true"}})
def create_purchase(
    tid: str, body: PurchaseCreate, svc: ServicesDep, who: FundDep, response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Json:
    result = funds.purchase(
        svc, who, tid, amount=body.amount, payment_method_id=body.payment_method_id,
        channel=body.channel, idempotency_key=idempotency_key,
    )
    if result.replayed:
        response.status_code = 200
    return views.purchase(result)


@router.put("/tenants/{tid}/credits/auto-recharge", tags=["credits"])
def put_auto_recharge(
    tid: str, body: AutoRechargeSettings, svc: ServicesDep, who: AutoRechargeDep,
) -> Json:
    return views.recharge_status(recharge.configure(
        svc, who, tid, enabled=body.enabled, amount=body.amount, trigger=body.trigger,
        payment_method_id=body.payment_method_id,
    ))


@router.get("/tenants/{tid}/credits/auto-recharge", tags=["credits"])
def get_auto_recharge(tid: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    return views.recharge_status(recharge.status(svc, who, tid))


@router.get("/tenants/{tid}/notifications", tags=["notifications"])
def list_notifications(
    tid: str, svc: ServicesDep, who: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Json:
    return {"notifications": [
        views.notification(n) for n in notifications.list_notifications(svc, who, tid, limit)
    ]}


@router.post("/tenants/{tid}/credits/adjustments", status_code=201, tags=["credits"])
def create_adjustment(
    tid: str, body: AdjustmentCreate, svc: ServicesDep, who: OperateDep,
) -> Json:
    result = funds.adjust(svc, who, tid, amount=body.amount, reason=body.reason)
    if isinstance(result, PurchaseResult):
        return {"kind": "credit", **views.purchase(result)}
    return {"kind": "debit", **views.charge(result)}


@router.get("/tenants/{tid}/credits/ledger", tags=["credits"])
def get_ledger(
    tid: str, svc: ServicesDep, who: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Json:
    t, entries = queries.ledger(svc, who, tid, limit=limit, before_id=before)
    body: Json = {"currency": t.currency, "entries": [views.entry(e) for e in entries]}
    if len(entries) == limit:
        body["next"] = f"/api/v1/tenants/{tid}/credits/ledger?limit={limit}&before={entries[-1].id}"
    return body


@router.get("/tenants/{tid}/invoices", tags=["invoices"])
def list_invoices(tid: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    return {"invoices": [views.invoice(i) for i in queries.invoices(svc, who, tid)]}


@router.get("/tenants/{tid}/invoices/{iid}", tags=["invoices"], response_model=None)
def get_invoice(
    tid: str, iid: str, request: Request, svc: ServicesDep, who: PrincipalDep,
    format: Annotated[str | None, Query(pattern="^(json|html)$")] = None,
) -> Json | HTMLResponse:
    as_html = iid.endswith(".html") or format == "html"
    found = queries.invoice(svc, who, tid, iid.removesuffix(".html"))
    if as_html:
        template = request.app.state.templates.get_template("invoice.html")
        return HTMLResponse(template.render(invoice=found.document),
                            headers={"Content-Security-Policy": INVOICE_POLICY})
    return views.invoice(found)


@router.post("/partners", status_code=201, tags=["partners"])
def create_partner(body: PartnerCreate, svc: ServicesDep, who: OperatorDep) -> Json:
    return {"id": tenants.create_partner(svc, who, name=body.name)}


@router.post("/partners/{pid}/api-keys", status_code=201, tags=["partners"])
def create_partner_key(
    pid: str, body: PartnerKeyCreate, svc: ServicesDep, who: OperatorDep,
) -> Json:
    k = tenants.create_partner_key(svc, who, pid, body.name)
    return {"id": k.id, "key": k.key, "role": k.role.value, "name": k.name}


@router.post("/partners/{pid}/tenants", status_code=201, tags=["partners"])
def bind_partner(pid: str, body: PartnerBind, svc: ServicesDep, who: OperatorDep) -> Json:
    tenants.bind_partner(svc, who, pid, body.tenant_id)
    return {"partner_id": pid, "tenant_id": body.tenant_id}


@router.get("/clock", tags=["operations"])
def get_clock(svc: ServicesDep, who: PrincipalDep) -> Json:
    require_operator(who)
    simulated, _ = svc.clock_store.read() if svc.clock_store else (False, None)
    return {"now": views.ts(svc.clock.now()), "simulated": simulated}


@router.post("/clock", tags=["operations"])
def move_clock(body: ClockMove, svc: ServicesDep, who: OperatorDep) -> Json:
    now, report = clock_service.move_clock(
        svc, who, now=body.now, advance_seconds=body.advance_seconds,
    )
    return {"now": views.ts(now), "simulated": True, "jobs": report.summary()}


@router.post("/jobs/run", tags=["operations"])
def run_jobs(svc: ServicesDep, who: PrincipalDep) -> Json:
    require_operator(who)
    report = run_due_work(svc)
    return {"tenants_expired": report.tenants_expired, "lots_expired": report.lots_expired,
            "expiry_warnings": report.expiry_warnings, "recharges": report.recharges,
            "emails_sent": report.emails_sent, "emails_failed": report.emails_failed}
