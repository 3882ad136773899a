"""Communications Credits: balance, add funds, auto-recharge, payment methods, lots, the
ledger and invoices (issue #7), on the same services as the REST API.

- Every form posts to its own route and works as a plain form post (303 back to the page with
  a notice) and with HTMX (the Add funds form swaps its section and, out of band, the
  summary, lots, ledger and invoices).
- A refusal (`DomainError`) re-renders the form with the stable code and message inline and
  a 4xx status; the value typed is kept (never the card number).
- Add funds carries an idempotency key minted per form render, so a double submit is one
  payment and one lot (FUND-8, AR-4's key discipline for manual purchases). After a refusal
  the form gets a new key: nothing was charged, and a retry must be a new attempt.
- What a role may not do is not offered, and a forced POST is refused with 403 FORBIDDEN
  before anything runs (AUTH-1).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from commcredits.domain.errors import DomainError, PaymentFailed
from commcredits.domain.payments import PaymentMethod, PaymentMethodType, default_payment_method
from commcredits.domain.reference import minimum_purchase
from commcredits.domain.tenants import BillingAccountType
from commcredits.entrypoints.web.common import FormDep, Page, PageDep, status_of
from commcredits.services import funds, payments, queries, recharge
from commcredits.services.auth import Action
from commcredits.services.ports import EntryRecord, InvoiceRecord
from commcredits.services.queries import CreditsView
from commcredits.services.recharge import RechargeStatus

router = APIRouter(include_in_schema=False)

LEDGER_PAGE = 20
ERROR_HEADER = "X-CC-Form-Error"  # HTMX swaps a refused form only when this is present


def _new_key() -> str:
    return "web-" + secrets.token_urlsafe(18)


@dataclass
class Forms:
    """What each form shows: values typed, the inline error, the idempotency key."""

    funds: dict[str, str] = field(default_factory=dict)
    funds_error: DomainError | None = None
    funds_done: str | None = None
    recharge: dict[str, str] = field(default_factory=dict)
    recharge_error: DomainError | None = None
    card: dict[str, str] = field(default_factory=dict)
    card_error: DomainError | None = None
    methods_error: DomainError | None = None  # a refused Remove
    key: str = field(default_factory=_new_key)


@dataclass
class CreditsData:
    credits: CreditsView
    status: RechargeStatus
    methods: list[PaymentMethod]
    entries: list[EntryRecord]
    more_before: int | None
    invoices: list[InvoiceRecord]
    minimum: str
    expired_ids: set[str]
    pay_default: str  # the method Add funds offers first: the one that last worked

    @property
    def currency(self) -> str:
        return self.credits.tenant.currency

    def method_label(self, method_id: str | None) -> str:
        for m in self.methods:
            if m.id == method_id:
                return _label(m)
        return "—"


def _label(m: PaymentMethod) -> str:
    if m.type is PaymentMethodType.INVOICE:
        return "Invoice account"
    return f"{m.brand.title()} ending {m.last4} (expires {m.exp_month:02d}/{m.exp_year})"


def _load(page: Page, before: int | None = None) -> CreditsData:
    tid = str(page.tenant_id)
    view = queries.credits(page.svc, page.principal, tid)
    status = recharge.status(page.svc, page.principal, tid)
    methods = queries.payment_methods(page.svc, page.principal, tid)
    _, entries = queries.ledger(page.svc, page.principal, tid, limit=LEDGER_PAGE + 1,
                                before_id=before)
    more = entries[LEDGER_PAGE - 1].id if len(entries) > LEDGER_PAGE else None
    invoices = queries.invoices(page.svc, page.principal, tid) \
        if page.can(Action.READ_INVOICES) else []
    now = page.svc.clock.now()
    expired = {m.id for m in methods if not m.usable(now)}
    chosen = default_payment_method(methods, now)
    return CreditsData(
        view, status, methods, entries[:LEDGER_PAGE], more, invoices,
        f"{minimum_purchase(view.tenant.currency):,.2f}", expired,
        chosen.id if chosen else "",
    )


def _recharge_defaults(data: CreditsData, request: Request) -> dict[str, str]:
    """The auto-recharge form's values: saved settings, or `?amount=&trigger=` from Home."""
    s = data.status.settings
    usable = [m for m in data.methods if m.id not in data.expired_ids]
    values = {
        "enabled": "on" if s and s.enabled else "",
        "amount": f"{s.amount.amount:.2f}" if s and s.amount else "",
        "trigger": f"{s.trigger.amount:.2f}" if s and s.trigger else "",
        "payment_method_id": (s.payment_method_id if s and s.payment_method_id
                              else (usable[0].id if usable else "")),
    }
    suggested = {k: request.query_params.get(k, "").strip()[:20] for k in ("amount", "trigger")}
    if any(suggested.values()):
        values.update({k: v for k, v in suggested.items() if v})
        values["enabled"] = "on"
        values["suggested"] = "1"
    return values


def _funds_defaults(data: CreditsData) -> dict[str, str]:
    """Add funds offers the card that last worked, not the auto-recharge card (issue #11)."""
    return {"amount": "", "payment_method_id": data.pay_default}


def _kept_after(exc: DomainError, values: dict[str, str]) -> dict[str, str]:
    """What a refused Add funds form keeps: all it was sent, except a card that just failed
    to pay (the form then offers the card that last worked)."""
    if isinstance(exc, PaymentFailed):
        return {k: v for k, v in values.items() if k != "payment_method_id"}
    return values


def _render_page(page: Page, forms: Forms, *, before: int | None = None,
                 status_code: int = 200) -> HTMLResponse:
    data = _load(page, before)
    forms.funds = {**_funds_defaults(data), **forms.funds}
    forms.recharge = {**_recharge_defaults(data, page.request), **forms.recharge}
    return page.render(
        "credits.html", title="Communications Credits", active="credits", d=data, f=forms,
        before=before, status_code=status_code, **_kinds(data),
    )


def _kinds(data: CreditsData) -> dict[str, bool]:
    kind = data.credits.tenant.billing_account_type
    return {"csp": kind is BillingAccountType.CSP, "mca": kind is BillingAccountType.MCA}


@router.get("/t/{tid}/credits", response_class=HTMLResponse)
def credits_page(
    tid: str, page: PageDep, before: int | None = Query(None, ge=1, le=2**63 - 1),
) -> HTMLResponse:
    return _render_page(page, Forms(), before=before)


@router.post("/t/{tid}/credits/funds", response_model=None)
def add_funds(tid: str, page: PageDep, form: FormDep) -> Response:
    page.require(Action.FUND)  # a reader's forced post: 403 FORBIDDEN, nothing runs
    values = {k: form.get(k, "").strip()[:200]
              for k in ("amount", "payment_method_id", "channel")}
    try:
        result = funds.purchase(
            page.svc, page.principal, tid, amount=values["amount"],
            payment_method_id=values["payment_method_id"] or None,
            channel=values["channel"] or None,
            idempotency_key=form.get("idempotency_key", "")[:200] or None,
        )
    except DomainError as exc:
        kept = _kept_after(exc, values)
        forms = Forms(funds=kept, funds_error=exc)
        if page.is_htmx:
            data = _load(page)
            forms.funds = {**_funds_defaults(data), **kept}
            response = page.partial("credits/_funds_swap.html", d=data, f=forms,
                                    status_code=status_of(exc), oob=False, **_kinds(data))
            response.headers[ERROR_HEADER] = exc.code
            return response
        return _render_page(page, forms, status_code=status_of(exc))
    lot = result.lot
    notice = (f"Added {lot.amount.amount:,.2f} {lot.amount.currency}; invoice "
              f"{result.invoice.number}." + (" (Already done: this form was sent twice.)"
                                             if result.replayed else ""))
    if page.is_htmx:
        data = _load(page)
        forms = Forms(funds_done=notice)
        forms.funds = _funds_defaults(data)
        return page.partial("credits/_funds_swap.html", d=data, f=forms, oob=True,
                            **_kinds(data))
    return page.redirect(page.url("/credits"), notice=notice)


def _blank_is_none(value: str) -> str | None:
    return value if value else None


@router.post("/t/{tid}/credits/auto-recharge", response_model=None)
def save_auto_recharge(tid: str, page: PageDep, form: FormDep) -> Response:
    page.require(Action.MANAGE_AUTO_RECHARGE)
    values = {k: form.get(k, "").strip()[:200] for k in ("amount", "trigger", "payment_method_id")}
    enabled = form.get("enabled") in ("on", "true", "1")
    values["enabled"] = "on" if enabled else ""
    try:
        st = recharge.configure(
            page.svc, page.principal, tid, enabled=enabled,
            amount=_blank_is_none(values["amount"]),
            trigger=_blank_is_none(values["trigger"]),
            payment_method_id=_blank_is_none(values["payment_method_id"]),
        )
    except DomainError as exc:
        return _render_page(page, Forms(recharge=values, recharge_error=exc),
                            status_code=status_of(exc))
    s = st.settings
    if s and s.enabled and s.amount and s.trigger:
        notice = (f"Auto-recharge is on: add {s.amount.amount:,.2f} {s.amount.currency} "
                  f"when the balance is below {s.trigger.amount:,.2f}.")
    else:
        notice = "Auto-recharge is off."
    return page.redirect(_back(page, notice, "auto-recharge"))


@router.post("/t/{tid}/credits/payment-methods", response_model=None)
def add_card(tid: str, page: PageDep, form: FormDep) -> Response:
    page.require(Action.MANAGE_PAYMENT_METHODS)
    number = form.get("number", "")[:40]
    kept = {k: form.get(k, "").strip()[:4] for k in ("exp_month", "exp_year")}
    try:
        added = payments.add_or_find_payment_method(
            page.svc, page.principal, tid, type="card", number=number,
            exp_month=_int_or_text(kept["exp_month"]), exp_year=_int_or_text(kept["exp_year"]),
        )
    except DomainError as exc:
        return _render_page(page, Forms(card=kept, card_error=exc), status_code=status_of(exc))
    notice = f"Added {_label(added.method)}." if added.created \
        else f"{_label(added.method)} is already saved; nothing was added."
    return page.redirect(_back(page, notice, "payment-methods"))


@router.post("/t/{tid}/credits/payment-methods/{mid}/remove", response_model=None)
def remove_card(tid: str, mid: str, page: PageDep) -> Response:
    """Remove a payment method; the auto-recharge card is refused inline (409)."""
    page.require(Action.MANAGE_PAYMENT_METHODS)
    try:
        method = payments.remove_payment_method(page.svc, page.principal, tid, mid[:100])
    except DomainError as exc:
        return _render_page(page, Forms(methods_error=exc), status_code=status_of(exc))
    return page.redirect(_back(page, f"Removed {_label(method)}.", "payment-methods"))


def _back(page: Page, notice: str, section: str) -> str:
    """The page with a notice, scrolled to the section the form was in."""
    return f"{page.url('/credits')}?notice={quote(notice)}#{section}"


def _int_or_text(value: str) -> Any:
    return int(value) if value.isdigit() else (value or None)


@router.get("/t/{tid}/credits/invoices/{iid}", response_class=HTMLResponse)
def invoice_page(tid: str, iid: str, page: PageDep) -> HTMLResponse:
    found = queries.invoice(page.svc, page.principal, tid, iid[:100])
    return page.render("credits_invoice.html", title=f"Invoice {found.number}",
                       active="credits", invoice=found, doc=found.document)
