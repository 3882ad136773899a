"""The Communications Credits page without a browser (TestClient): plain form posts and
redirects, the HTMX answers, the per-render idempotency key, ledger paging, and refusals
that change nothing (FUND-2, FUND-8, AR-1, PAY-3, AUTH-1, ERR-1).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from commcredits.domain.money import Money
from commcredits.services import funds, payments, queries, recharge, web_access
from commcredits.services.context import Services
from tests.e2e.conftest import DECLINED_CARD, row_counts, successful_charges
from tests.support import GOOD_CARD, OPERATOR, make_tenant


def _sign_in(client: TestClient, svc: Services, tid: str, role: str) -> None:
    account = web_access.create_admin(
        svc, OPERATOR, email=f"{role}@web.example", password="correct horse battery",
        role=role, tenant_id=tid)
    r = client.get(f"/signin/link/{web_access.create_sign_in_link(svc, account.id)}")
    assert r.status_code == 200, r.text


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert match, f"no hidden {name}"
    return match.group(1)


@pytest.fixture
def tenant(svc: Services) -> tuple[str, str]:
    tid = make_tenant(svc)
    card = payments.add_payment_method(svc, OPERATOR, tid, number=GOOD_CARD, exp_month=12,
                                       exp_year=2030)
    return tid, card.id


@pytest.mark.rule("FUND-2", "FUND-8", "ERR-1")
def test_plain_form_posts_refuse_inline_then_buy_once_per_form(
    client: TestClient, svc: Services, engine: Engine, tenant: tuple[str, str],
) -> None:
    tid, card = tenant
    _sign_in(client, svc, tid, "billing_admin")
    page = client.get(f"/t/{tid}/credits")
    assert page.status_code == 200
    csrf, key = _hidden(page.text, "csrf_token"), _hidden(page.text, "idempotency_key")

    before = row_counts(engine)
    for amount, code, status in (("49.99", "AMOUNT_BELOW_MINIMUM", 422),
                                 ("abc", "INVALID_AMOUNT", 422),
                                 ("50.001", "INVALID_AMOUNT", 422)):
        r = client.post(f"/t/{tid}/credits/funds", data={
            "csrf_token": csrf, "idempotency_key": key, "amount": amount,
            "payment_method_id": card}, follow_redirects=False)
        assert r.status_code == status and f"({code})" in r.text, (amount, r.status_code)
        assert 'role="alert"' in r.text and 'aria-invalid="true"' in r.text
        assert _hidden(r.text, "idempotency_key") != key  # a refused form gets a new key
    assert row_counts(engine) == before

    form = {"csrf_token": csrf, "idempotency_key": key, "amount": "100.00",
            "payment_method_id": card}
    r = client.post(f"/t/{tid}/credits/funds", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/t/{tid}/credits?notice=Added%20100.00%20USD")
    # The same form sent again (a double click, a resent POST): one payment, one lot.
    r = client.post(f"/t/{tid}/credits/funds", data=form, follow_redirects=False)
    assert r.status_code == 303 and "sent%20twice" in r.headers["location"]
    view = queries.credits(svc, OPERATOR, tid)
    assert view.balance == Money(Decimal("100.00"), "USD") and len(view.lots) == 1
    assert len(queries.invoices(svc, OPERATOR, tid)) == 1
    assert successful_charges(engine) == 1

    page = client.get(r.headers["location"])
    assert 'data-testid="balance">100.00 <small>USD</small>' in page.text
    assert _hidden(page.text, "idempotency_key") != key  # the next form is a new purchase


@pytest.mark.rule("FUND-2", "PAY-3")
def test_htmx_add_funds_swaps_the_section_and_the_parts_it_changed(
    client: TestClient, svc: Services, tenant: tuple[str, str],
) -> None:
    tid, card = tenant
    _sign_in(client, svc, tid, "global_admin")
    page = client.get(f"/t/{tid}/credits")
    csrf, key = _hidden(page.text, "csrf_token"), _hidden(page.text, "idempotency_key")
    htmx = {"HX-Request": "true", "X-CSRF-Token": csrf}

    r = client.post(f"/t/{tid}/credits/funds", headers=htmx,
                    data={"idempotency_key": key, "amount": "10", "payment_method_id": card})
    assert r.status_code == 422 and r.headers["X-CC-Form-Error"] == "AMOUNT_BELOW_MINIMUM"
    assert r.text.lstrip().startswith('<section id="add-funds"')
    assert "hx-swap-oob" not in r.text and "<html" not in r.text

    r = client.post(f"/t/{tid}/credits/funds", headers=htmx,
                    data={"idempotency_key": key, "amount": "64.10", "payment_method_id": card})
    assert r.status_code == 200 and "X-CC-Form-Error" not in r.headers
    assert r.text.count('hx-swap-oob="true"') == 4  # summary, lots, ledger, invoices
    assert 'data-testid="balance">64.10 <small>USD</small>' in r.text
    assert queries.credits(svc, OPERATOR, tid).balance.amount == Decimal("64.10")

    declined = payments.add_payment_method(svc, OPERATOR, tid, number=DECLINED_CARD,
                                           exp_month=12, exp_year=2030)
    r = client.post(f"/t/{tid}/credits/funds", headers=htmx, data={
        "idempotency_key": "another", "amount": "80", "payment_method_id": declined.id})
    assert r.status_code == 402 and r.headers["X-CC-Form-Error"] == "card_declined"
    assert queries.credits(svc, OPERATOR, tid).balance.amount == Decimal("64.10")


@pytest.mark.rule("AR-1")
def test_auto_recharge_form_saves_and_refuses_inline(
    client: TestClient, svc: Services, tenant: tuple[str, str],
) -> None:
    tid, card = tenant
    _sign_in(client, svc, tid, "billing_admin")
    page = client.get(f"/t/{tid}/credits?amount=120&trigger=40")
    assert 'id="ar-amount" name="amount"' in page.text and 'value="120"' in page.text
    assert 'value="40"' in page.text
    csrf = _hidden(page.text, "csrf_token")
    r = client.post(f"/t/{tid}/credits/auto-recharge", data={
        "csrf_token": csrf, "enabled": "on", "amount": "120", "trigger": "40"})
    assert r.status_code == 422 and "(PAYMENT_METHOD_REQUIRED)" in r.text
    r = client.post(f"/t/{tid}/credits/auto-recharge", data={
        "csrf_token": csrf, "enabled": "on", "amount": "120", "trigger": "-1",
        "payment_method_id": card})
    assert r.status_code == 422 and "(INVALID_TRIGGER)" in r.text
    assert recharge.status(svc, OPERATOR, tid).settings is None
    r = client.post(f"/t/{tid}/credits/auto-recharge", follow_redirects=False, data={
        "csrf_token": csrf, "enabled": "on", "amount": "120", "trigger": "40",
        "payment_method_id": card})
    assert r.status_code == 303 and r.headers["location"].endswith("#auto-recharge")
    s = recharge.status(svc, OPERATOR, tid).settings
    assert s is not None and s.enabled and s.payment_method_id == card
    assert s.amount == Money(Decimal("120"), "USD") and s.trigger == Money(Decimal("40"), "USD")
    # Off with blank amounts is fine.
    r = client.post(f"/t/{tid}/credits/auto-recharge", follow_redirects=False, data={
        "csrf_token": csrf, "amount": "", "trigger": "", "payment_method_id": ""})
    assert r.status_code == 303
    s = recharge.status(svc, OPERATOR, tid).settings
    assert s is not None and not s.enabled


@pytest.mark.rule("AUTH-1", "ERR-1")
def test_reader_gets_no_forms_and_403_on_every_post(
    client: TestClient, svc: Services, engine: Engine, tenant: tuple[str, str],
) -> None:
    tid, card = tenant
    funds.purchase(svc, OPERATOR, tid, amount="70", payment_method_id=card)
    _sign_in(client, svc, tid, "reader")
    page = client.get(f"/t/{tid}/credits")
    assert page.status_code == 200
    assert 'id="add-funds"' not in page.text and "Add funds</button>" not in page.text
    assert "Save auto-recharge" not in page.text and "Add card</button>" not in page.text
    csrf = _hidden(page.text, "csrf_token")
    before = row_counts(engine)
    for path in ("funds", "auto-recharge", "payment-methods"):
        r = client.post(f"/t/{tid}/credits/{path}", data={
            "csrf_token": csrf, "amount": "100", "enabled": "on", "trigger": "5",
            "payment_method_id": card, "number": GOOD_CARD, "exp_month": "1",
            "exp_year": "2031"})
        assert r.status_code == 403 and "<code>FORBIDDEN</code>" in r.text, path
    assert row_counts(engine) == before


@pytest.mark.rule("FUND-6", "FUND-8")
def test_ledger_pages_and_invoice_page(
    client: TestClient, svc: Services, tenant: tuple[str, str],
) -> None:
    tid, card = tenant
    bought = funds.purchase(svc, OPERATOR, tid, amount="50", payment_method_id=card)
    for i in range(25):
        funds.charge(svc, tid, Money(Decimal("0.10"), "USD"), reference=f"call:{i}",
                     idempotency_key=f"web-test-{i}", description=f"Call {i}")
    _sign_in(client, svc, tid, "reader")
    page = client.get(f"/t/{tid}/credits")
    assert page.text.count("<code>call:") == 20
    more = re.search(r'href="(/t/[^"]+/credits\?before=\d+)#ledger"', page.text)
    assert more
    older = client.get(more.group(1))
    assert older.status_code == 200
    assert older.text.count("<code>call:") == 5 and "Newest entries" in older.text
    assert "purchase" in older.text and "More (older entries)" not in older.text
    r = client.get(f"/t/{tid}/credits/invoices/{bought.invoice.id}")
    assert r.status_code == 200 and f"Invoice {bought.invoice.number}" in r.text
    assert 'data-testid="invoice-total">50.00 USD' in r.text
    r = client.get(f"/t/{tid}/credits/invoices/nope")
    assert r.status_code == 404 and "INVOICE_NOT_FOUND" in r.text
