"""Reports, notifications and the audit log in headless Chromium, checked against the services
(REP-1, REP-2, REP-4, REP-5, POOL-6, NOTE-3, AUTH-1, AUTH-2).

Every number the pages show is compared with what the service answers for the same range:
the PSTN usage count, the Excel and ZIP downloads (opened with openpyxl and zipfile), the
minute pools, and spend by country.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import expect

from commcredits.services import insight, notifications, pools, queries, reports
from commcredits.services.auth import OPERATOR_CLI
from tests.browser.conftest import Site, shot

pytestmark = pytest.mark.browser

REP1_COLUMNS = [
    "UsageId", "Call ID", "Conference ID", "User Location", "Microsoft Entra ObjectId", "UPN",
    "User Display Name", "Caller ID", "Call Type",
    "Call Direction", "Number Type", "Domestic/International", "Destination Dialed",
    "Destination Number", "External Country",
    "Start Time", "End Time", "Duration Seconds", "Connection Fee", "Charge", "Currency",
    "Capability", "Operator", "Source of Call Duration", "Administrative Units",
]
CHARGE = REP1_COLUMNS.index("Charge")


def _open_usage(page: Any, site: Site, period_label: str = "Last 28 days") -> dict[str, str]:
    page.goto(f"{site.url}/t/{site.tenant_id}/reports/usage")
    page.get_by_label(period_label, exact=True).check()
    page.get_by_role("button", name="Show report").click()
    page.wait_for_url(re.compile(r".*range=28d.*"))
    summary = page.get_by_test_id("usage-count")
    return {k: summary.get_attribute(f"data-{k}") or "" for k in ("count", "from", "to")}


def _service_rows(site: Site, **kw: Any) -> list[tuple[Any, ...]]:
    return list(reports.pstn_usage(site.svc, OPERATOR_CLI, site.tenant_id, **kw))


@pytest.mark.rule("REP-1")
@pytest.mark.rule("REP-2")
@pytest.mark.rule("REP-4")
def test_usage_report_for_28_days_and_its_excel_download(site: Site, signed_in: Any,
                                                          tmp_path: Path) -> None:
    page = signed_in("global_admin")
    shown = _open_usage(page, site)
    # The count shown is the service's count for exactly that range.
    exact = reports.pstn_usage(site.svc, OPERATOR_CLI, site.tenant_id, start=shown["from"],
                               end=shown["to"])
    assert int(shown["count"]) == exact.count() > 50  # the demo has more than one page
    headers = page.locator("table.report thead th").all_inner_texts()
    assert headers == [c for c in REP1_COLUMNS if c in headers]  # REP-1 names and order
    assert {"Start Time", "UPN", "Destination Number", "Charge"} <= set(headers)
    assert page.locator("#usage-rows tr").count() == 50
    first_page, _ = exact.page(50)
    cells = page.locator("#usage-rows tr").first.locator("td").all_inner_texts()
    row = dict(zip(REP1_COLUMNS, first_page[0], strict=True))
    assert cells[headers.index("UPN")] == row["UPN"]
    assert cells[headers.index("Destination Number")] == row["Destination Number"]  # masked
    assert cells[headers.index("Charge")] == f"{row['Charge']:.2f}"
    shot(page, "pstn-usage")

    with page.expect_download() as info:
        page.get_by_role("button", name="Export to Excel").click()
    download = info.value
    assert re.fullmatch(r"Export\.callingplans\.[0-9a-f]{32}\.xlsx", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    book = openpyxl.load_workbook(saved, read_only=True)
    sheet = book.worksheets[0]
    table = list(sheet.iter_rows(values_only=True))
    book.close()
    assert list(table[0]) == REP1_COLUMNS
    expected = _service_rows(site, period="28d")
    assert len(table) - 1 == len(expected)
    got_total = sum((Decimal(str(r[CHARGE] or 0)) for r in table[1:]), Decimal(0))
    assert got_total.quantize(Decimal("0.01")) == sum((r[CHARGE] for r in expected), Decimal(0))


@pytest.mark.rule("REP-2")
def test_zip_export_holds_the_csv_and_parameters(site: Site, signed_in: Any) -> None:
    page = signed_in("reader")  # readers may read and export the report
    _open_usage(page, site)
    with page.expect_download() as info:
        page.get_by_role("button", name="Export to ZIP").click()
    download = info.value
    assert re.fullmatch(r"Export\.callingplans\.[0-9a-f]{32}\.zip", download.suggested_filename)
    with zipfile.ZipFile(download.path()) as archive:
        names = archive.namelist()
        member = next(n for n in names if n.endswith(".csv"))
        assert member == download.suggested_filename.replace(".zip", ".csv")
        assert "parameters.json" in names
        text = archive.read(member).decode("utf-8")
        params = json.loads(archive.read("parameters.json"))
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == REP1_COLUMNS
    assert params["period"] == "28d" and params["tenant_id"] == site.tenant_id
    expected = _service_rows(site, start=params["from"], end=params["to"])
    assert len(rows) - 1 == params["rows"] == len(expected)
    assert sum((Decimal(r[CHARGE]) for r in rows[1:]), Decimal(0)) == \
        sum((r[CHARGE] for r in expected), Decimal(0))
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", r[15]) for r in rows[1:])


@pytest.mark.rule("REP-1")
def test_next_page_with_htmx_and_without_javascript(site: Site, signed_in: Any,
                                                     browser: Any) -> None:
    page = signed_in("global_admin")
    shown = _open_usage(page, site)
    url = page.url
    page.get_by_role("button", name="Next page").click()
    total = int(shown["count"])
    # expect() polls from the test, not with eval in the page (the CSP allows no eval).
    expect(page.locator("#usage-rows tr")).to_have_count(min(100, total))
    assert page.locator("#usage-rows tr").count() == min(100, total)
    assert page.url == url  # appended in place
    assert page.get_by_test_id("usage-shown").inner_text() == \
        f"Showing calls 1–{min(100, total):,} of {total:,}."
    # The same link without JavaScript opens the next page as a page of its own.
    context = browser.new_context(java_script_enabled=False)
    cookie = next(c for c in page.context.cookies() if c["name"] == "cc_session")
    context.add_cookies([cookie])
    plain = context.new_page()
    plain.goto(url)
    plain.get_by_role("button", name="Next page").click()
    assert "cursor=" in plain.url
    assert plain.locator("#usage-rows tr").count() == min(50, total - 50)
    assert plain.get_by_test_id("usage-shown").inner_text().startswith("Showing calls 51–")
    rows = page.locator("#usage-rows tr").all_inner_texts()
    assert plain.locator("#usage-rows tr").all_inner_texts() == rows[50:100]
    context.close()


@pytest.mark.rule("REP-1")
def test_custom_range_and_a_refused_range(site: Site, signed_in: Any) -> None:
    page = signed_in("billing_admin")
    page.goto(f"{site.url}/t/{site.tenant_id}/reports/usage")
    now = site.svc.clock.now().date()
    lo, hi = now.replace(day=1), now
    page.get_by_label("Custom range", exact=True).check()
    page.get_by_label("From (custom range)").fill(lo.isoformat())
    page.get_by_label("To (custom range, included)").fill(hi.isoformat())
    page.get_by_role("button", name="Show report").click()
    count = int(page.get_by_test_id("usage-count").get_attribute("data-count") or "-1")
    expected = reports.pstn_usage(site.svc, OPERATOR_CLI, site.tenant_id,
                                  start=f"{lo}T00:00:00Z",
                                  end=f"{hi + timedelta(days=1)}T00:00:00Z")
    assert count == expected.count()
    # More than a year is refused inline, with the stable code (ERR-1).
    page.get_by_label("From (custom range)").fill((hi - timedelta(days=800)).isoformat())
    page.get_by_role("button", name="Show report").click()
    alert = page.get_by_role("alert")
    assert "at most 1 year" in alert.inner_text() and "RANGE_TOO_LONG" in alert.inner_text()
    assert page.get_by_test_id("usage-count").count() == 0


@pytest.mark.rule("POOL-6")
def test_minute_pools_page_shows_a_bar_per_pool(site: Site, signed_in: Any) -> None:
    teams = signed_in("teams_admin")  # may read pools but not credits: Reports opens on pools
    teams.get_by_role("link", name="Reports", exact=True).click()
    teams.wait_for_url(re.compile(r".*/reports/pools$"))
    assert teams.get_by_role("link", name="Spend", exact=True).count() == 0
    page = signed_in("global_admin")
    page.goto(f"{site.url}/t/{site.tenant_id}/reports/usage")
    page.get_by_role("link", name="Minute pools", exact=True).click()
    page.wait_for_url(re.compile(r".*/reports/pools$"))
    report = pools.minute_pools_report(site.svc, OPERATOR_CLI, site.tenant_id)
    cards = page.get_by_test_id("pool")
    assert cards.count() == len(report.rows) > 0
    for i, row in enumerate(report.rows):
        card = cards.nth(i)
        assert card.get_attribute("data-sku") == row.sku
        assert int(card.get_attribute("data-total") or -1) == row.total_minutes
        assert int(card.get_attribute("data-used") or -1) == row.minutes_used
        assert int(card.get_attribute("data-available") or -1) == row.minutes_available
        bar = card.locator("progress")
        assert float(bar.get_attribute("max") or 0) == max(row.total_minutes, 1)
        assert float(bar.get_attribute("value") or -1) == min(row.minutes_used,
                                                              row.total_minutes)
        assert f"{row.minutes_used:,} of {row.total_minutes:,} minutes used" in \
            card.inner_text()
    shot(page, "reports-pools")


@pytest.mark.rule("REP-5")
def test_spend_by_country_totals_equal_the_service(site: Site, signed_in: Any) -> None:
    page = signed_in("reader")
    page.goto(f"{site.url}/t/{site.tenant_id}/reports/spend")
    page.get_by_role("link", name="By destination country").click()
    page.wait_for_url(re.compile(r".*group_by=country.*"))
    report = insight.spend(site.svc, OPERATOR_CLI, site.tenant_id, "country")
    assert Decimal(page.get_by_test_id("spend-total").get_attribute("data-total") or "x") == \
        report.total > 0
    rows = page.locator("[data-testid=spend-table] tbody tr")
    assert rows.count() == len(report.rows)
    shown = {rows.nth(i).get_attribute("data-key"): Decimal(
        rows.nth(i).get_attribute("data-amount") or "x") for i in range(rows.count())}
    assert shown == {r.key: r.amount for r in report.rows}
    assert page.locator(".bar span").count() == len(report.rows)
    # The group-by select does the same without the tabs.
    page.get_by_label("Group by").select_option("capability")
    page.get_by_role("button", name="Show spend").click()
    by_cap = insight.spend(site.svc, OPERATOR_CLI, site.tenant_id, "capability")
    assert Decimal(page.get_by_test_id("spend-total").get_attribute("data-total") or "x") == \
        by_cap.total == report.total


@pytest.mark.rule("NOTE-3")
@pytest.mark.rule("AUTH-2")
def test_notifications_and_audit_pages_list_entries(site: Site, signed_in: Any) -> None:
    page = signed_in("reader")
    page.get_by_role("link", name="Notifications", exact=True).click()
    emails = notifications.list_notifications(site.svc, OPERATOR_CLI, site.tenant_id)
    assert emails
    table = page.get_by_test_id("notifications")
    expect(table.locator("tbody tr")).to_have_count(len(emails))  # waits for the page
    first = table.locator("tbody tr").first.inner_text()
    assert emails[0].subject in first and emails[0].status in first
    assert emails[0].recipients[0] in first
    page.get_by_role("link", name="Audit log", exact=True).click()
    entries = queries.audit_log(site.svc, OPERATOR_CLI, site.tenant_id)
    assert entries
    rows = page.get_by_test_id("audit").locator("tbody tr")
    expect(rows).to_have_count(len(entries))
    assert rows.first.get_attribute("data-action") == entries[0].action
    assert entries[0].actor in rows.first.inner_text()


@pytest.mark.rule("AUTH-1")
def test_report_pages_fit_a_phone(site: Site, signed_in: Any) -> None:
    page = signed_in("global_admin", width=390, height=844)
    for path in ("reports/usage?range=28d", "reports/pools", "reports/spend?group_by=user",
                 "notifications", "audit"):
        page.goto(f"{site.url}/t/{site.tenant_id}/{path}")
        assert page.locator("h1").count() == 1
        assert page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        unlabelled = page.evaluate("""() => [...document.querySelectorAll(
            'main input:not([type=hidden]), main select')].filter(e => !e.labels.length)
            .map(e => e.name)""")
        assert unlabelled == [], path
