"""The Communications Credits page in headless Chromium: add funds (minimum, card errors, a
good purchase to the cent), auto-recharge, cards, lots, ledger, invoices, and roles (AUTH-1).

Tests that change money use a fresh tenant each, so they do not depend on one another; the
screenshot is of the demo tenant.
"""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import Page, expect

from commcredits.services import funds, queries, recharge
from commcredits.services.auth import OPERATOR_CLI
from tests.browser.conftest import Site, shot

pytestmark = pytest.mark.browser

DECLINED = "4000000000000002"


def _open(site: Site, signed_in: object, role: str, tid: str, width: int = 1280,
          query: str = "") -> Page:
    page: Page = signed_in(role, tenant_id=tid, width=width)  # type: ignore[operator]
    page.goto(f"{site.url}/t/{tid}/credits{query}")
    assert page.title().startswith("Communications Credits")
    return page


def _balance(site: Site, tid: str) -> Decimal:
    return queries.credits(site.svc, OPERATOR_CLI, tid).balance.amount


@pytest.mark.rule("FUND-1", "FUND-2", "FUND-8", "ERR-1")
def test_add_funds_below_minimum_is_refused_then_a_good_purchase_adds_exactly_that(
    site: Site, signed_in: object,
) -> None:
    tid = site.fresh_tenant(name="Minimum")
    page = _open(site, signed_in, "global_admin", tid)
    expect(page.get_by_test_id("balance")).to_have_text("0.00 USD")
    amount = page.get_by_label("Amount (USD)", exact=True)  # lazy: finds the swapped form too

    amount.fill("49.99")
    page.get_by_role("button", name="Add funds").click()
    error = page.locator("#funds-error")
    expect(error).to_have_text(
        "The smallest purchase is 50.00 USD; add at least that much. (AMOUNT_BELOW_MINIMUM)")
    expect(amount).to_have_value("49.99")  # kept for correcting
    expect(amount).to_have_attribute("aria-invalid", "true")
    view = queries.credits(site.svc, OPERATOR_CLI, tid)
    assert view.balance.amount == 0 and view.lots == []  # the refusal changed nothing
    assert queries.invoices(site.svc, OPERATOR_CLI, tid) == []

    before = _balance(site, tid)
    amount.fill("123.45")
    page.get_by_role("button", name="Add funds").click()
    expect(page.get_by_test_id("funds-done")).to_contain_text("Added 123.45 USD")
    expect(page.get_by_test_id("balance")).to_have_text("123.45 USD")  # swapped in place
    assert _balance(site, tid) - before == Decimal("123.45")
    view = queries.credits(site.svc, OPERATOR_CLI, tid)
    [lot] = view.lots
    assert (lot.amount.amount, lot.remaining.amount, lot.amount.currency) == \
        (Decimal("123.45"), Decimal("123.45"), "USD")
    [invoice] = queries.invoices(site.svc, OPERATOR_CLI, tid)
    assert invoice.total.amount == Decimal("123.45")
    expect(page.get_by_test_id("lots")).to_contain_text(lot.expires_at.strftime("%Y-%m-%d"))
    expect(page.get_by_test_id("invoices")).to_contain_text(invoice.number)
    expect(page.get_by_test_id("ledger")).to_contain_text("purchase")
    assert page.locator("#funds-error").count() == 0

    # A reload is the plain page: the same numbers from the server.
    page.reload()
    expect(page.get_by_test_id("balance")).to_have_text("123.45 USD")


@pytest.mark.rule("PAY-3", "ERR-1")
def test_a_declined_card_is_shown_inline_and_adds_nothing(
    site: Site, signed_in: object,
) -> None:
    tid = site.fresh_tenant(name="Declined", card=DECLINED)
    page = _open(site, signed_in, "billing_admin", tid)
    page.get_by_label("Amount (USD)", exact=True).fill("75.00")
    page.get_by_role("button", name="Add funds").click()
    expect(page.locator("#funds-error")).to_contain_text("(card_declined)")
    assert _balance(site, tid) == 0
    assert queries.credits(site.svc, OPERATOR_CLI, tid).lots == []
    expect(page.get_by_test_id("balance")).to_have_text("0.00 USD")


@pytest.mark.rule("AR-1")
def test_turn_on_auto_recharge_from_the_recommendation_link(
    site: Site, signed_in: object,
) -> None:
    tid = site.fresh_tenant(name="Recharge")
    [card] = queries.payment_methods(site.svc, OPERATOR_CLI, tid)
    page = _open(site, signed_in, "billing_admin", tid, query="?amount=80&trigger=25")
    section = page.locator("#auto-recharge")
    expect(section.get_by_label("Add this amount (USD)")).to_have_value("80")
    expect(section.get_by_label("When balance is below (USD)")).to_have_value("25")

    # Below the minimum first: refused inline, nothing saved.
    section.get_by_label("Add this amount (USD)").fill("20")
    section.get_by_label("Turn on auto-recharge").check()
    section.get_by_role("button", name="Save auto-recharge").click()
    expect(page.locator("#recharge-error")).to_contain_text("(AMOUNT_BELOW_MINIMUM)")
    settings = recharge.status(site.svc, OPERATOR_CLI, tid).settings
    assert settings is None or not settings.enabled

    section = page.locator("#auto-recharge")
    section.get_by_label("Add this amount (USD)").fill("100.00")
    section.get_by_label("When balance is below (USD)").fill("25.50")
    section.get_by_label("Turn on auto-recharge").check()
    section.get_by_label("Payment method").select_option(card.id)
    section.get_by_role("button", name="Save auto-recharge").click()
    page.wait_for_url(re.compile(r".*/credits\?notice=.*#auto-recharge$"))
    expect(page.get_by_role("status").first).to_contain_text("Auto-recharge is on")
    expect(page.get_by_test_id("recharge-status")).to_contain_text(
        "On. Adds 100.00 USD when the balance is below 25.50 USD")

    settings = recharge.status(site.svc, OPERATOR_CLI, tid).settings
    assert settings is not None and settings.enabled
    assert settings.amount is not None and settings.amount.amount == Decimal("100.00")
    assert settings.trigger is not None and settings.trigger.amount == Decimal("25.50")
    assert settings.payment_method_id == card.id

    # And off again: takes effect at once (AR-7), the amounts stay for next time.
    page.locator("#auto-recharge").get_by_label("Turn on auto-recharge").uncheck()
    page.locator("#auto-recharge").get_by_role("button", name="Save auto-recharge").click()
    expect(page.get_by_test_id("recharge-status")).to_contain_text("Off.")
    settings = recharge.status(site.svc, OPERATOR_CLI, tid).settings
    assert settings is not None and not settings.enabled


@pytest.mark.rule("PAY-1", "PAY-3")
def test_add_a_card(site: Site, signed_in: object) -> None:
    tid = site.fresh_tenant(name="Cards", card=None)
    page = _open(site, signed_in, "global_admin", tid)
    expect(page.locator("#payment-methods")).to_contain_text("No payment methods yet")
    page.get_by_label("Card number").fill("4242 4242 4242 4241")  # fails the Luhn check
    page.get_by_label("Expiry month").select_option("11")
    page.get_by_label("Expiry year").fill("2031")
    page.get_by_role("button", name="Add card").click()
    expect(page.locator("#card-error")).to_contain_text("(INVALID_CARD_NUMBER)")
    assert queries.payment_methods(site.svc, OPERATOR_CLI, tid) == []
    expect(page.get_by_label("Card number")).to_have_value("")  # the number is not echoed
    expect(page.get_by_label("Expiry year")).to_have_value("2031")

    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name="Add card").click()
    expect(page.get_by_role("status").first).to_contain_text("Added Visa ending 4242")
    row = page.get_by_test_id("payment-methods").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Visa")
    expect(row).to_contain_text("4242")
    expect(row).to_contain_text("11/2031")
    [method] = queries.payment_methods(site.svc, OPERATOR_CLI, tid)
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == \
        ("visa", "4242", 11, 2031)
    assert "4242424242424242" not in page.content()
    # The new card is offered for purchases at once.
    expect(page.get_by_label("Pay with")).to_have_value(method.id)


@pytest.mark.rule("AUTH-1", "ERR-1")
def test_a_reader_sees_no_forms_and_a_forced_post_is_refused(
    site: Site, signed_in: object,
) -> None:
    tid = site.fresh_tenant(name="Readers")
    [card] = queries.payment_methods(site.svc, OPERATOR_CLI, tid)
    funds.purchase(site.svc, OPERATOR_CLI, tid, amount="60.00", payment_method_id=card.id)
    page = _open(site, signed_in, "reader", tid)
    expect(page.get_by_test_id("balance")).to_have_text("60.00 USD")
    assert page.get_by_role("button", name="Add funds").count() == 0
    assert page.locator("#add-funds").count() == 0
    assert page.get_by_role("button", name="Save auto-recharge").count() == 0
    assert page.get_by_role("button", name="Add card").count() == 0
    assert page.locator("main form").count() == 0  # nothing to change here
    expect(page.get_by_test_id("lots")).to_contain_text("60.00")  # but it can read
    expect(page.get_by_test_id("invoices")).to_contain_text("CC-")

    cookie = next(c for c in page.context.cookies() if c["name"] == "cc_session")
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert csrf
    before = queries.credits(site.svc, OPERATOR_CLI, tid)
    with httpx.Client(base_url=site.url, cookies={"cc_session": cookie["value"]}) as client:
        for path, data in (
            ("/credits/funds", {"amount": "100.00", "payment_method_id": card.id,
                                "idempotency_key": "forced-by-reader"}),
            ("/credits/auto-recharge", {"enabled": "on", "amount": "50", "trigger": "10",
                                        "payment_method_id": card.id}),
            ("/credits/payment-methods", {"number": "4242424242424242", "exp_month": "1",
                                          "exp_year": "2032"}),
        ):
            r = client.post(f"/t/{tid}{path}", data={**data, "csrf_token": csrf})
            assert r.status_code == 403, (path, r.status_code)
            assert "FORBIDDEN" in r.text
            assert "The reader role may not" in r.text
    after = queries.credits(site.svc, OPERATOR_CLI, tid)
    assert after.balance == before.balance and len(after.lots) == len(before.lots) == 1
    assert len(queries.payment_methods(site.svc, OPERATOR_CLI, tid)) == 1
    st = recharge.status(site.svc, OPERATOR_CLI, tid).settings
    assert st is None or not st.enabled


@pytest.mark.rule("FUND-8")
def test_the_printable_invoice_page_opens(site: Site, signed_in: object) -> None:
    tid = site.fresh_tenant(name="Invoices")
    [card] = queries.payment_methods(site.svc, OPERATOR_CLI, tid)
    bought = funds.purchase(site.svc, OPERATOR_CLI, tid, amount="250.00",
                            payment_method_id=card.id)
    page = _open(site, signed_in, "billing_admin", tid)
    page.get_by_role("link", name=bought.invoice.number).click()
    page.wait_for_url(re.compile(rf".*/t/{tid}/credits/invoices/{bought.invoice.id}$"))
    assert page.title().startswith(f"Invoice {bought.invoice.number}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Invoice {bought.invoice.number}")
    expect(page.get_by_test_id("invoice-total")).to_have_text("250.00 USD")
    expect(page.get_by_test_id("invoice-status")).to_have_text("paid")
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    page.emulate_media(media="print")  # printed: no navigation, no buttons
    expect(page.locator(".sidenav")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.get_by_test_id("invoice-total")).to_be_visible()
    # Another tenant's invoice id is simply not found here (AUTH-2).
    r = page.goto(f"{site.url}/t/{tid}/credits/invoices/no-such-invoice")
    assert r is not None and r.status == 404
    assert "INVOICE_NOT_FOUND" in page.content()


def _unlabelled(page: Page) -> list[str]:
    result: list[str] = page.evaluate("""() => [...document.querySelectorAll(
        'main input:not([type=hidden]), main select, main textarea')]
        .filter(el => el.labels.length === 0).map(el => el.name || el.id)""")
    return result


@pytest.mark.rule("AUTH-1")
def test_demo_tenant_page_at_desktop_and_phone_widths(site: Site, signed_in: object) -> None:
    page = _open(site, signed_in, "global_admin", site.tenant_id)
    view = queries.credits(site.svc, OPERATOR_CLI, site.tenant_id)
    expect(page.get_by_test_id("balance")).to_have_text(f"{view.balance.amount:,.2f} USD")
    expect(page.get_by_role("heading", level=1)).to_have_text("Communications Credits")
    for name in ("Add funds", "Auto-recharge", "Payment methods", "Lots", "Ledger",
                 "Invoices"):
        expect(page.get_by_role("heading", level=2, name=name)).to_be_visible()
    assert _unlabelled(page) == []
    expect(page.get_by_test_id("lots").locator("tbody tr")).to_have_count(len(view.lots))
    shot(page, "credits")

    # The ledger pages: "More" shows older entries, and the way back.
    more = page.get_by_test_id("ledger-more")
    if more.count():
        first_page = page.get_by_test_id("ledger").inner_text()
        more.click()
        page.wait_for_url(re.compile(r".*/credits\?before=\d+#ledger$"))
        assert page.get_by_test_id("ledger").inner_text() != first_page
        expect(page.get_by_role("link", name="Newest entries")).to_be_visible()

    phone = _open(site, signed_in, "global_admin", site.tenant_id, width=390)
    overflow = phone.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 390px"
    expect(phone.get_by_role("button", name="Add funds")).to_be_visible()
    assert _unlabelled(phone) == []
