"""The directory pages in headless Chromium: Marketplace, Active users (search, the Licenses
and apps tab, bulk CSV), Phone numbers and resource accounts (LIC-1..4, NUM-1, AUTH-1, ERR-1).

Each test that changes something starts from a fresh tenant set up through the services, acts
in the browser, and then checks the outcome through the services, not only on the page.
"""

from __future__ import annotations

import re
import secrets

import httpx
import pytest

from commcredits.services import directory, funds, licenses, payments
from commcredits.services.auth import OPERATOR_CLI as OP
from tests.browser.conftest import Site, shot

pytestmark = pytest.mark.browser


def _funded_tenant(site: Site, name: str = "Fabrikam") -> str:
    """A fresh tenant with one purchase behind it, so it holds the 10,000,000 free
    Communications Credits seats (FUND-7)."""
    tid = site.fresh_tenant(name=name, card=None)
    card = payments.add_payment_method(site.svc, OP, tid, number="4242424242424242",
                                       exp_month=12, exp_year=2030)
    funds.purchase(site.svc, OP, tid, amount="50.00", payment_method_id=card.id)
    return tid


def _upn(name: str) -> str:
    return f"{name}.{secrets.token_hex(3)}@fabrikam.example"


def _seat(site: Site, tid: str, sku: str) -> licenses.SeatCount:
    return next(s for s in licenses.subscriptions(site.svc, OP, tid) if s.sku == sku)


def _cookie(page: object) -> str:
    return next(c["value"] for c in page.context.cookies()  # type: ignore[attr-defined]
                if c["name"] == "cc_session")


def _csrf(page: object) -> str:
    return str(page.locator("input[name=csrf_token]").first.get_attribute("value"))  # type: ignore[attr-defined]


@pytest.mark.rule("LIC-3", "LIC-5", "AUTH-1")
def test_assign_communications_credits_with_the_checkbox_and_save(
    site: Site, signed_in: object,
) -> None:
    tid = _funded_tenant(site)
    upn = _upn("nora.kim")
    directory.create_user(site.svc, OP, tid, upn=upn, display_name="Nora Kim",
                          usage_location="US")
    page = signed_in("teams_admin", tid)  # type: ignore[operator]
    page.goto(f"{site.url}/t/{tid}/users")
    page.get_by_role("link", name="Nora Kim").click()
    page.get_by_role("link", name="Licenses and apps").click()
    assert page.get_by_role("heading", name="Licenses and apps").is_visible()
    box = page.get_by_label("Communications Credits")
    assert box.is_enabled() and not box.is_checked()
    box.focus()
    page.keyboard.press("Space")  # keyboard usable
    assert box.is_checked()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/licenses\?notice="))
    assert "assigned Communications Credits" in page.get_by_role("status").inner_text()
    assert page.get_by_label("Communications Credits").is_checked()  # still ticked after reload
    user = directory.get_user(site.svc, OP, tid, upn)
    assert user.licenses == frozenset({"MCOPSTNC"})
    assert _seat(site, tid, "MCOPSTNC").assigned == 1
    # Unticking and saving removes it again.
    page.get_by_label("Communications Credits").uncheck()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/licenses\?notice="))
    assert directory.get_user(site.svc, OP, tid, upn).licenses == frozenset()


@pytest.mark.rule("LIC-3", "ERR-1")
def test_no_free_seat_and_missing_prerequisites_are_shown_in_words(
    site: Site, signed_in: object,
) -> None:
    tid = _funded_tenant(site)
    licenses.buy_seats(site.svc, OP, tid, sku="MCOEV", quantity=1)
    licenses.buy_seats(site.svc, OP, tid, sku="MCOPSTN1", quantity=5)
    first, second = _upn("first"), _upn("second")
    directory.create_user(site.svc, OP, tid, upn=first, display_name="First User",
                          usage_location="US")
    directory.create_user(site.svc, OP, tid, upn=second, display_name="Second User",
                          usage_location="US")
    licenses.change_licenses(site.svc, OP, tid, first, add=["MCOEV"])
    page = signed_in("global_admin", tid)  # type: ignore[operator]
    page.goto(f"{site.url}/t/{tid}/users/{second}/licenses")

    # The last Teams Phone seat is taken: NO_FREE_SEATS, in words, with a 409.
    page.get_by_label("Teams Phone Standard").check()
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 409
    alert = page.get_by_role("alert")
    assert "Every seat of MCOEV (Teams Phone Standard) is assigned" in alert.inner_text()
    assert "(NO_FREE_SEATS)" in alert.inner_text()
    assert page.get_by_label("Teams Phone Standard").is_checked()  # the admin's choice kept
    assert page.get_by_role("link", name="Buy more seats in the Marketplace").is_visible()

    # A calling plan without Teams Phone: PHONE_LICENSE_REQUIRED.
    page.get_by_label("Teams Phone Standard").uncheck()
    page.get_by_label("Domestic Calling Plan", exact=False).first.check()
    page.get_by_role("button", name="Save").click()
    assert "(PHONE_LICENSE_REQUIRED)" in page.get_by_role("alert").inner_text()
    assert "needs Teams Phone" in page.get_by_role("alert").inner_text()
    assert directory.get_user(site.svc, OP, tid, second).licenses == frozenset()  # unchanged

    # A user with no usage location: the tab says so, and Save is refused in words.
    third = _upn("third")
    directory.create_user(site.svc, OP, tid, upn=third, display_name="Third User")
    page.goto(f"{site.url}/t/{tid}/users/{third}/licenses")
    assert "Set a usage location" in page.locator(".licenses").inner_text()
    page.get_by_label("Communications Credits").check()
    page.get_by_role("button", name="Save").click()
    assert "(USAGE_LOCATION_REQUIRED)" in page.get_by_role("alert").inner_text()
    assert directory.get_user(site.svc, OP, tid, third).licenses == frozenset()
    # Setting it on the Account tab then lets the same assignment through.
    tabs = page.get_by_role("navigation", name="User details")
    tabs.get_by_role("link", name="Account").click()
    page.get_by_label("Usage location").select_option("GB")
    page.get_by_role("button", name="Save details").click()
    page.wait_for_url(re.compile(r".*\?notice="))
    tabs.get_by_role("link", name="Licenses and apps").click()
    page.get_by_label("Communications Credits").check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/licenses\?notice="))
    user = directory.get_user(site.svc, OP, tid, third)
    assert (user.usage_location, user.licenses) == ("GB", frozenset({"MCOPSTNC"}))


@pytest.mark.rule("LIC-4")
def test_bulk_csv_with_one_bad_row(site: Site, signed_in: object) -> None:
    tid = _funded_tenant(site)
    licenses.buy_seats(site.svc, OP, tid, sku="MCOEV", quantity=5)
    ann, bob, cy = _upn("ann"), _upn("bob"), _upn("cy")
    directory.create_user(site.svc, OP, tid, upn=ann, display_name="Ann", usage_location="US")
    directory.create_user(site.svc, OP, tid, upn=bob, display_name="Bob", usage_location="DE")
    directory.create_user(site.svc, OP, tid, upn=cy, display_name="Cy")  # no usage location
    csv = (f"upn,sku,action\n{ann},MCOEV,add\n{ann},MCOPSTNC,add\n{cy},MCOEV,add\n"
           f"{bob},MCOPSTNC,add\n").encode()
    page = signed_in("teams_admin", tid)  # type: ignore[operator]
    page.goto(f"{site.url}/t/{tid}/users")
    page.get_by_role("link", name="Assign licenses in bulk from a CSV file").click()
    assert "upn,sku,action" in page.locator("#format-h + ul").inner_text()  # format documented
    page.get_by_label("CSV file").set_input_files(
        {"name": "licenses.csv", "mimeType": "text/csv", "buffer": csv})
    page.get_by_role("button", name="Upload and apply").click()
    summary = page.locator("#bulk-summary").inner_text()
    assert summary == "3 rows applied, 1 failed, of 4."
    rows = page.locator("#bulk-results tbody tr")
    assert rows.count() == 4
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(4)]
    assert [c[:5] for c in cells] == [
        ["2", ann, "MCOEV", "add", "Applied"],
        ["3", ann, "MCOPSTNC", "add", "Applied"],
        ["4", cy, "MCOEV", "add", "Error"],
        ["5", bob, "MCOPSTNC", "add", "Applied"],
    ]
    assert cells[2][5] == "USAGE_LOCATION_REQUIRED"
    assert cells[2][6].startswith("Set the user's usage location")
    assert page.locator("tr[data-line='4']").get_attribute("data-status") == "error"
    # The services agree: exactly the good rows were applied.
    assert directory.get_user(site.svc, OP, tid, ann).licenses == {"MCOEV", "MCOPSTNC"}
    assert directory.get_user(site.svc, OP, tid, bob).licenses == {"MCOPSTNC"}
    assert directory.get_user(site.svc, OP, tid, cy).licenses == frozenset()
    assert _seat(site, tid, "MCOEV").assigned == 1

    # A malformed file is refused whole, in words, and changes nothing.
    page.get_by_label("CSV file").set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv",
         "buffer": f"user,license\n{cy},MCOPSTNC\n".encode()})
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Upload and apply").click()
    assert answer.value.status == 422
    assert "(MALFORMED_FILE)" in page.get_by_role("alert").inner_text()
    assert "refused whole" in page.get_by_role("alert").inner_text()
    assert directory.get_user(site.svc, OP, tid, cy).licenses == frozenset()


@pytest.mark.rule("LIC-3")
def test_buying_seats_updates_purchased_and_available_by_the_quantity(
    site: Site, signed_in: object,
) -> None:
    tid = _funded_tenant(site)
    licenses.buy_seats(site.svc, OP, tid, sku="MCOEV", quantity=2)
    upn = _upn("dee")
    directory.create_user(site.svc, OP, tid, upn=upn, display_name="Dee", usage_location="US")
    licenses.change_licenses(site.svc, OP, tid, upn, add=["MCOEV"])
    before = _seat(site, tid, "MCOEV")
    assert (before.purchased, before.assigned, before.available) == (2, 1, 1)
    page = signed_in("billing_admin", tid)  # type: ignore[operator]
    page.goto(f"{site.url}/t/{tid}/marketplace")
    assert page.locator("[data-testid=purchased-MCOEV]").inner_text() == "2"
    assert page.locator("[data-testid=available-MCOEV]").inner_text() == "1"
    assert page.locator("[data-testid=available-MCOPSTNC]").inner_text() == "10,000,000"
    page.get_by_label("License").select_option("MCOEV")
    page.get_by_label("Number of seats").fill("7")
    page.get_by_role("button", name="Buy seats").click()
    page.wait_for_url(re.compile(r".*/marketplace\?notice="))
    assert "Bought 7 seats of Teams Phone Standard" in page.get_by_role("status").inner_text()
    assert page.locator("[data-testid=purchased-MCOEV]").inner_text() == "9"
    assert page.locator("[data-testid=assigned-MCOEV]").inner_text() == "1"
    assert page.locator("[data-testid=available-MCOEV]").inner_text() == "8"
    after = _seat(site, tid, "MCOEV")
    assert (after.purchased - before.purchased, after.available - before.available) == (7, 7)
    assert after.assigned == before.assigned

    # Communications Credits seats are not sold: refused in words, nothing bought.
    cookie, token = _cookie(page), _csrf(page)
    with httpx.Client(base_url=site.url, cookies={"cc_session": cookie}) as client:
        r = client.post(f"/t/{tid}/marketplace/seats",
                        data={"csrf_token": token, "sku": "MCOPSTNC", "quantity": "5"})
        assert r.status_code == 422 and "SKU_NOT_SOLD" in r.text
        r = client.post(f"/t/{tid}/marketplace/seats",
                        data={"csrf_token": token, "sku": "MCOEV", "quantity": "lots"})
        assert r.status_code == 422 and "INVALID_QUANTITY" in r.text
    assert _seat(site, tid, "MCOEV").purchased == 9
    assert _seat(site, tid, "MCOPSTNC").purchased == 10_000_000


@pytest.mark.rule("AUTH-1")
def test_a_reader_sees_licenses_read_only_and_a_forced_save_is_refused(
    site: Site, signed_in: object,
) -> None:
    upn = "miriam.graham@contoso.com"
    before = directory.get_user(site.svc, OP, site.tenant_id, "patti.fernandez@contoso.com")
    page = signed_in("reader")  # type: ignore[operator]
    page.goto(f"{site.url}/t/{site.tenant_id}/users/patti.fernandez@contoso.com/licenses")
    boxes = page.locator("#licenses-form input[type=checkbox]")
    assert boxes.count() == 12
    assert all(boxes.nth(i).is_disabled() for i in range(boxes.count()))
    assert page.get_by_label("Microsoft 365 E5").is_checked()
    assert page.get_by_role("button", name="Save").count() == 0
    assert "can see this user's licenses but not change them" in page.content()
    page.goto(f"{site.url}/t/{site.tenant_id}/marketplace")
    assert page.get_by_role("button", name="Buy seats").count() == 0
    page.goto(f"{site.url}/t/{site.tenant_id}/numbers")
    assert page.locator("main form").count() == 0
    page.goto(f"{site.url}/t/{site.tenant_id}/users/bulk")
    assert page.get_by_role("button", name="Upload and apply").count() == 0

    cookie, token = _cookie(page), _csrf(page)  # a real session and CSRF token
    tid = site.tenant_id
    with httpx.Client(base_url=site.url, cookies={"cc_session": cookie}) as client:
        for path, data in [
            (f"/t/{tid}/users/patti.fernandez@contoso.com/licenses", {"sku": "MCOPSTNC"}),
            (f"/t/{tid}/users/{upn}", {"display_name": "Hacked", "usage_location": "US"}),
            (f"/t/{tid}/marketplace/seats", {"sku": "MCOEV", "quantity": "3"}),
            (f"/t/{tid}/numbers/release", {"number": "+14255550120"}),
        ]:
            r = client.post(path, data={"csrf_token": token, **data})
            assert r.status_code == 403, path
            assert "FORBIDDEN" in r.text
        r = client.post(f"/t/{tid}/users/bulk", data={"csrf_token": token},
                        files={"file": ("x.csv", b"upn,sku,action\n" + upn.encode()
                                        + b",MCOPSTNC,add\n", "text/csv")})
        assert r.status_code == 403
    assert directory.get_user(site.svc, OP, tid, "patti.fernandez@contoso.com") == before
    assert directory.get_user(site.svc, OP, tid, upn).display_name == "Miriam Graham"
    assert any(n.number == "+14255550120" for n in directory.list_numbers(site.svc, OP, tid))


@pytest.mark.rule("LIC-1")
def test_search_and_filters_with_and_without_javascript(
    site: Site, signed_in: object, browser: object,
) -> None:
    from playwright.sync_api import expect

    page = signed_in("reader", width=390)  # type: ignore[operator]
    tid = site.tenant_id
    everyone = directory.list_users(site.svc, OP, tid)
    page.goto(f"{site.url}/t/{tid}/users")
    assert page.locator("#users-table tbody tr").count() == min(len(everyone), 25)
    page.get_by_label("Search").fill("lorenz")  # live search (HTMX), no button pressed
    # expect() polls from the test, not with eval in the page (the CSP allows no eval).
    expect(page.locator("#users-table tbody tr")).to_have_count(1)
    assert page.locator("#users-table tbody tr").get_attribute("data-upn") == \
        "johanna.lorenz@contoso.com"
    assert "q=lorenz" in page.url  # the search is in the address, so it can be shared
    page.get_by_label("Search").fill("")
    page.get_by_label("Usage location").select_option("GB")
    in_gb = [u.upn for u in everyone if u.usage_location == "GB"]
    expect(page.locator("#users-table tbody tr")).to_have_count(len(in_gb))
    rows = page.locator("#users-table tbody tr")
    assert [rows.nth(i).get_attribute("data-upn") for i in range(rows.count())] == in_gb
    # At 390 px the page itself never scrolls sideways (tables scroll in their wrapper).
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    context = browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    _, account_id = site.admin("reader")
    plain = context.new_page()
    plain.goto(site.link(account_id))
    plain.goto(f"{site.url}/t/{tid}/users")
    plain.get_by_label("License").select_option("MCOPSTNC")
    plain.get_by_role("button", name="Search").click()
    holders = plain.locator("#users-table tbody tr")
    expected = [u.upn for u in everyone if "MCOPSTNC" in u.licenses]
    assert [holders.nth(i).get_attribute("data-upn") for i in range(holders.count())] == \
        expected
    plain.goto(f"{site.url}/t/{tid}/users?location=none")
    unset = [u.upn for u in everyone if u.usage_location is None]
    assert "miriam.graham@contoso.com" in unset  # the demo's new joiner
    assert plain.locator("#users-table tbody tr").count() == len(unset)
    context.close()


@pytest.mark.rule("LIC-1")
def test_users_are_paged_by_upn(site: Site, signed_in: object) -> None:
    tid = site.fresh_tenant(name="Tailspin", card=None)
    upns = [f"user{i:02d}@tailspin.example" for i in range(27)]
    for upn in upns:
        directory.create_user(site.svc, OP, tid, upn=upn, display_name=upn.split("@")[0],
                              usage_location="US" if upn.endswith(("0@tailspin.example",))
                              else None)
    page = signed_in("teams_admin", tid)  # type: ignore[operator]
    page.goto(f"{site.url}/t/{tid}/users")
    rows = page.locator("#users-table tbody tr")
    assert rows.count() == 25
    page.get_by_role("link", name="Next page").click()
    assert [rows.nth(i).get_attribute("data-upn") for i in range(rows.count())] == upns[25:]
    assert page.get_by_role("link", name="Next page").count() == 0
    page.get_by_role("link", name="First page").click()
    assert rows.first.get_attribute("data-upn") == upns[0]
    # Filters apply across pages: the three users in the US (user00, user10, user20).
    search = page.get_by_role("search", name="Find users")
    search.get_by_label("Usage location").select_option("US")
    search.get_by_role("button", name="Search").click()
    from playwright.sync_api import expect

    expect(page.locator("#users-table tbody tr")).to_have_count(3)  # no eval under the CSP
    assert [rows.nth(i).get_attribute("data-upn") for i in range(3)] == \
        [upns[0], upns[10], upns[20]]


@pytest.mark.rule("NUM-1", "ERR-1")
def test_numbers_add_assign_release_with_errors_inline(site: Site, signed_in: object) -> None:
    tid = site.fresh_tenant(name="Northwind")
    upn = _upn("eve")
    directory.create_user(site.svc, OP, tid, upn=upn, display_name="Eve", usage_location="US")
    page = signed_in("teams_admin", tid)  # type: ignore[operator]
    page.goto(f"{site.url}/t/{tid}/numbers")
    assert "no phone numbers yet" in page.content()
    # A resource account, then a toll-free number for it.
    page.get_by_label("User principal name").fill("hotline@northwind.example")
    page.get_by_label("Display name").fill("Northwind Hotline")
    page.get_by_label("Kind").select_option("call_queue")
    page.get_by_role("button", name="Add resource account").click()
    page.wait_for_url(re.compile(r".*/numbers\?notice="))
    page.get_by_label("Number (E.164)").fill("+1 800 555 0199")
    page.get_by_label("Type").select_option("toll_free")
    page.get_by_label("Assign to (optional UPN)").fill("hotline@northwind.example")
    page.get_by_role("button", name="Add number").click()
    page.wait_for_url(re.compile(r".*/numbers\?notice="))
    row = page.locator("tr[data-number='+18005550199']")
    assert "hotline@northwind.example" in row.inner_text()
    # A spare user number, then assigned to the user from its row.
    page.get_by_label("Number (E.164)").fill("+14255550177")
    page.get_by_label("Type").select_option("user")
    page.get_by_role("button", name="Add number").click()
    page.wait_for_url(re.compile(r".*/numbers\?notice="))
    page.get_by_label("Assign +14255550177 to").fill(upn)
    page.get_by_role("button", name="Assign", exact=True).click()
    page.wait_for_url(re.compile(r".*/numbers\?notice="))
    assert directory.get_user(site.svc, OP, tid, upn).phone_number == "+14255550177"
    # Adding the same number again: NUMBER_EXISTS under the add form, with a 409.
    page.get_by_label("Number (E.164)").fill("+14255550177")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Add number").click()
    assert answer.value.status == 409
    assert "(NUMBER_EXISTS)" in page.locator("#add-number-error").inner_text()
    # An assigned number cannot be released; unassign first, then release.
    page.get_by_role("button", name="Unassign +14255550177").click()
    page.wait_for_url(re.compile(r".*/numbers\?notice="))
    assert directory.get_user(site.svc, OP, tid, upn).phone_number is None
    page.get_by_role("button", name="Release +14255550177").click()
    page.wait_for_url(re.compile(r".*/numbers\?notice="))
    numbers = {n.number: n for n in directory.list_numbers(site.svc, OP, tid)}
    assert set(numbers) == {"+18005550199"}
    assert numbers["+18005550199"].assignee_upn == "hotline@northwind.example"


def test_screenshots_of_the_licenses_tab_and_marketplace(
    site: Site, signed_in: object,
) -> None:
    page = signed_in("global_admin", width=1280)  # type: ignore[operator]
    page.goto(f"{site.url}/t/{site.tenant_id}/users/megan.bowen@contoso.com/licenses")
    assert page.get_by_label("Communications Credits").is_checked()
    assert page.get_by_label("Microsoft 365 E5").is_checked()
    assert page.get_by_role("button", name="Save").is_enabled()
    shot(page, "user-licenses")
    page.goto(f"{site.url}/t/{site.tenant_id}/marketplace")
    seats = {s.sku: s for s in licenses.subscriptions(site.svc, OP, site.tenant_id)}
    assert page.locator("[data-testid=purchased-SPE_E5]").inner_text() == \
        str(seats["SPE_E5"].purchased)
    assert page.locator("[data-testid=available-MCOPSTN1]").inner_text() == \
        str(seats["MCOPSTN1"].available)
    shot(page, "marketplace")
