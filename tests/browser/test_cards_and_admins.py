"""Issue #11 in headless Chromium: the same card added twice is one row, Remove (with its
confirmation) takes a card off, the auto-recharge card says how to free it, Pay with
offers the card that worked, and a global admin invites an admin who signs in with the link.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from commcredits.services import funds, payments, queries, recharge
from commcredits.services.auth import OPERATOR_CLI
from tests.browser.conftest import Site
from tests.support import usd

pytestmark = pytest.mark.browser

DECLINED = "4000000000000002"


def _credits(site: Site, signed_in: object, role: str, tid: str) -> Page:
    page: Page = signed_in(role, tenant_id=tid)  # type: ignore[operator]
    page.goto(f"{site.url}/t/{tid}/credits")
    return page


@pytest.mark.rule("PAY-1", "AR-1")
def test_a_card_added_twice_is_one_row_and_remove_takes_it_off(
    site: Site, signed_in: object,
) -> None:
    tid = site.fresh_tenant(name="Twice", card=None)
    page = _credits(site, signed_in, "billing_admin", tid)
    for _ in range(2):
        page.get_by_label("Card number").fill("4242 4242 4242 4242")
        page.get_by_label("Expiry month").select_option("11")
        page.get_by_label("Expiry year").fill("2031")
        page.get_by_role("button", name="Add card").click()
    expect(page.get_by_role("status").first).to_contain_text("is already saved")
    rows = page.get_by_test_id("payment-methods").locator("tbody tr")
    expect(rows).to_have_count(1)

    dialogs: list[str] = []

    def accept(dialog: object) -> None:
        dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.accept()  # type: ignore[attr-defined]

    page.once("dialog", accept)
    page.get_by_role("button", name="Remove Visa ending 4242 (expires 11/2031)").click()
    expect(page.get_by_role("status").first).to_contain_text("Removed Visa ending 4242")
    assert dialogs and "It can no longer pay" in dialogs[0]
    expect(page.locator("#payment-methods")).to_contain_text("No payment methods yet")
    assert queries.payment_methods(site.svc, OPERATOR_CLI, tid) == []


@pytest.mark.rule("PAY-3", "AR-5")
def test_pay_with_offers_the_card_that_worked_after_the_recharge_card_is_declined(
    site: Site, signed_in: object,
) -> None:
    tid = site.fresh_tenant(name="Declined")  # with a good card
    [good] = queries.payment_methods(site.svc, OPERATOR_CLI, tid)
    funds.purchase(site.svc, OPERATOR_CLI, tid, amount="60.00", payment_method_id=good.id)
    bad = payments.add_payment_method(site.svc, OPERATOR_CLI, tid, number=DECLINED,
                                      exp_month=12, exp_year=2030)
    recharge.configure(site.svc, OPERATOR_CLI, tid, enabled=True, amount="100.00",
                       trigger="50.00", payment_method_id=bad.id)
    funds.charge(site.svc, tid, usd("15.00"))  # below the trigger: the recharge is declined
    page = _credits(site, signed_in, "billing_admin", tid)
    expect(page.get_by_test_id("recharge-failure")).to_contain_text(
        "Last failure: The card was declined")
    expect(page.get_by_test_id("recharge-failure").locator("code")).to_have_text(
        "card_declined")
    expect(page.get_by_label("Pay with")).to_have_value(good.id)
    row = page.get_by_test_id("payment-methods").locator("tbody tr", has_text="0002")
    expect(row).to_contain_text("Switch auto-recharge to another card to remove this one.")
    expect(row.get_by_role("button", name="Remove")).to_have_count(0)


@pytest.mark.rule("AUTH-1")
def test_a_global_admin_invites_an_admin_who_opens_the_link(
    site: Site, signed_in: object, browser: object,
) -> None:
    tid = site.fresh_tenant(name="Invites")
    page: Page = signed_in("global_admin", tenant_id=tid)  # type: ignore[operator]
    page.get_by_role("link", name="Admins", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Admins")
    page.get_by_label("Email").fill("nestor@invites.example")
    page.get_by_label("Role").select_option("teams_admin")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_test_id("invite-link")).to_contain_text(
        "Invited nestor@invites.example as teams admin.")
    link = page.get_by_label("One-time sign-in link").input_value()
    assert link.startswith(f"{site.url}/signin/link/")
    expect(page.get_by_test_id("admins").locator("tbody tr")).to_have_count(2)

    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        other = context.new_page()
        other.goto(link)
        expect(other.locator(".who")).to_contain_text("nestor@invites.example")
        expect(other.locator(".role-badge")).to_have_text("teams admin")
        expect(other.get_by_role("link", name="Admins", exact=True)).to_have_count(0)
        response = other.goto(f"{site.url}/t/{tid}/admins")
        assert response is not None and response.status == 403
    finally:
        context.close()
