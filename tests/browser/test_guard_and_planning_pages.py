"""Communications Credits > Spend guard and Reports > What-if in headless Chromium, at
1280 and 390 px, checked against the services (GUARD-1, GUARD-3, PLAN-1)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from commcredits.services import guard, planning
from commcredits.services.auth import OPERATOR_CLI
from tests.browser.conftest import Site, shot

pytestmark = pytest.mark.browser


def _no_sideways_scroll(page: Any) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


@pytest.mark.rule("GUARD-1")
@pytest.mark.rule("GUARD-3")
@pytest.mark.parametrize("width", [1280, 390])
def test_the_spend_guard_settings_page(site: Site, signed_in: Any, width: int) -> None:
    tid = site.fresh_tenant(name=f"Guarded{width}")
    page = signed_in("global_admin", tid, width=width)
    page.goto(f"{site.url}/t/{tid}/credits")
    page.get_by_test_id("spend-guard-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Spend guard")
    page.get_by_label("Credits per user per hour (USD)").fill("5.001")
    page.get_by_role("button", name="Save spend guard").click()
    expect(page.get_by_role("alert")).to_contain_text("INVALID_SPEND_LIMIT")
    expect(page.get_by_label("Credits per user per hour (USD)")).to_have_attribute(
        "aria-invalid", "true")
    page.get_by_label("Credits per user per hour (USD)").fill("5.00")
    page.get_by_label("Credits for the tenant per day (USD)").fill("100")
    page.get_by_label("International minutes per user per day").fill("120")
    page.get_by_label("Blocked destinations").fill("NG, +882")
    page.get_by_role("button", name="Save spend guard").click()
    expect(page.get_by_role("status")).to_have_text("Spend guard saved.")
    expect(page.get_by_test_id("guard-blocked")).to_have_text("NG, +882")
    expect(page.get_by_test_id("guard-limits")).to_contain_text("5.00 USD")
    expect(page.get_by_test_id("guard-limits")).to_contain_text("120 minutes")
    saved = guard.as_json(guard.get_settings(site.svc, OPERATOR_CLI, tid))
    assert saved == {"limits": {"user_hour": "5.00", "user_day": None,
                                "tenant_day": "100.00", "intl_minutes_user_day": 120},
                     "blocked": ["NG", "+882"]}
    _no_sideways_scroll(page)
    shot(page, "spend-guard" if width == 1280 else "spend-guard-phone")


@pytest.mark.rule("PLAN-1")
@pytest.mark.parametrize("width", [1280, 390])
def test_the_what_if_page(site: Site, signed_in: Any, width: int) -> None:
    now = site.svc.clock.now()
    start, end = (now - timedelta(days=29)).date(), now.date()
    callers = [a.upn for a in planning.plan_advice(site.svc, OPERATOR_CLI, site.tenant_id,
                                                   days=30).users][:2]
    assert callers, "the demo has outbound callers"
    licenses = {upn: ["MCOEV", "MCOPSTN2", "MCOPSTNC"] for upn in callers}
    page = signed_in("global_admin", width=width)
    page.goto(f"{site.url}/t/{site.tenant_id}/reports/what-if")
    page.get_by_label("From").fill(start.isoformat())
    page.get_by_label("To", exact=True).fill(end.isoformat())
    page.get_by_label("Other licenses").check()
    page.get_by_label("Licenses, one user a line").fill(
        "\n".join(f"{upn} = MCOEV, MCOPSTN2, MCOPSTNC" for upn in callers))
    page.get_by_role("button", name="Re-rate").click()
    total = page.get_by_test_id("whatif-total")
    expect(total).to_be_visible()
    expected = planning.what_if(site.svc, OPERATOR_CLI, site.tenant_id,
                                start=start.isoformat(), end=end.isoformat(),
                                licenses=licenses)
    expect(total).to_have_attribute("data-what-if", f"{expected.what_if:.2f}")
    expect(total).to_have_attribute("data-actual", f"{expected.actual:.2f}")
    expect(page.get_by_test_id("whatif-table").locator("tbody tr")).to_have_count(
        len(expected.per_user))
    _no_sideways_scroll(page)
    shot(page, "what-if" if width == 1280 else "what-if-phone")
