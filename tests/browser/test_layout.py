"""Layout at 1280 px and 390 px (issue #11): nothing wider than its container on any page of
the menu, tables that stack on a phone, a padded side menu, a payment-method select that
shows its whole label, readable chart labels, and a favicon (no 404 in the console).
"""

from __future__ import annotations

from typing import Any

import pytest

from commcredits.services import web_access
from commcredits.services.auth import OPERATOR_CLI
from tests.browser.conftest import Site

pytestmark = [pytest.mark.browser, pytest.mark.rule("AUTH-1")]

WIDTHS = [1280, 390]

# Every element whose right edge passes its parent's client box (padding box), except inside
# a wrapper that scrolls on purpose (overflow-x auto or scroll), inside positioned elements
# (the skip link, visually hidden text) and inside an SVG (the SVG itself is checked).
# It measures the page at rest: after its fonts load and its transitions end. On a phone
# app.js folds the menu on load, and Pico turns the summary's chevron over 0.2 s; half-turned,
# the chevron's box is 1.4 times as wide, so a check made mid-turn saw "Menu" overflow.
TOO_WIDE = """async () => {
  await document.fonts.ready;
  await Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)));
  const scrolls = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const st = getComputedStyle(a);
      if (st.overflowX === 'auto' || st.overflowX === 'scroll') return true;
      if (st.position === 'absolute' || st.position === 'fixed') return true;
    }
    return false;
  };
  const bad = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
    const st = getComputedStyle(el);
    if (st.display === 'none' || st.position === 'absolute' || st.position === 'fixed') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || scrolls(el)) continue;
    const p = el.parentElement;
    const pr = p.getBoundingClientRect();
    const right = p.clientWidth ? pr.left + p.clientLeft + p.clientWidth : pr.right;
    const overflowsItself = st.overflowX === 'visible' && el.scrollWidth > el.clientWidth + 1
      && el.clientWidth > 0 && !['TABLE', 'THEAD', 'TBODY', 'TR'].includes(el.tagName);
    if (r.right > right + 1 || (overflowsItself && el.children.length === 0)) {
      const cls = typeof el.className === 'string' ? el.className.trim() : '';
      const text = (el.textContent || '').trim().slice(0, 40);
      bad.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${cls ? '.' + cls : ''}` +
        ` right ${Math.round(r.right)} > ${Math.round(right)}: ${text}`);
    }
  }
  return bad.slice(0, 10);
}"""

# Table wrappers that still scroll sideways: only the wide data tables that are marked to
# (the usage report, spend by user) may.
SCROLLING_TABLES = """() => [...document.querySelectorAll('.table-wrap')]
  .filter(w => w.scrollWidth > w.clientWidth + 1 && !w.querySelector('table.report')
               && !w.classList.contains('scrolls'))
  .map(w => (w.querySelector('table') || w).getAttribute('data-testid')
             || w.innerHTML.slice(0, 60))"""


def _nav_links(page: Any) -> list[str]:
    hrefs = page.eval_on_selector_all("nav.sidenav a",
                                      "els => els.map(e => e.getAttribute('href'))")
    return [h for h in hrefs if h]


@pytest.mark.parametrize("width", WIDTHS)
def test_no_element_is_wider_than_its_container_on_any_page(
    site: Site, signed_in: Any, width: int,
) -> None:
    page = signed_in("global_admin", width=width, height=900)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 else None)
    links = _nav_links(page)
    assert len(links) >= 9, links  # … Notifications, Audit log, Admins
    base = f"/t/{site.tenant_id}"
    sub_pages = [f"{base}/reports/pools", f"{base}/reports/spend?group_by=user",
                 f"{base}/users/bulk", f"{base}/users/megan.bowen@contoso.com"]
    for href in links + sub_pages:
        page.goto(site.url + href)
        page.wait_for_load_state("networkidle")
        assert page.evaluate(TOO_WIDE) == [], f"{href} at {width}px"
        assert page.evaluate(SCROLLING_TABLES) == [], f"{href} at {width}px"
        assert page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"), href
    assert problems == []  # no missing favicon, no failed asset


@pytest.mark.parametrize("width", WIDTHS)
def test_operator_pages_fit_too(site: Site, browser: Any, width: int) -> None:
    account = web_access.create_admin(
        site.svc, OPERATOR_CLI, email=f"op-layout-{width}@example.com",
        password="correct horse battery", role="operator", tenant_id=None)
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto(site.link(account.id))
        for path in ("/operator", "/operator/clock"):
            page.goto(site.url + path)
            assert page.evaluate(TOO_WIDE) == [], f"{path} at {width}px"
            assert page.evaluate(SCROLLING_TABLES) == [], f"{path} at {width}px"
    finally:
        context.close()


def test_the_favicon_is_served_and_linked(site: Site, signed_in: Any) -> None:
    page = signed_in("reader")
    href = page.locator("link[rel=icon]").get_attribute("href")
    r = page.request.get(site.url + str(href))
    assert r.status == 200 and r.headers["content-type"].startswith("image/svg+xml")
    r = page.request.get(f"{site.url}/favicon.ico")  # follows the redirect to the SVG
    assert r.status == 200 and b"<svg" in r.body()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_side_menu_has_room_around_its_links(
    site: Site, signed_in: Any, width: int,
) -> None:
    page = signed_in("reader", width=width)
    if width < 768:
        page.locator("nav.sidenav summary").click()
    boxes = page.eval_on_selector_all("nav.sidenav a", """els => els.map(e => {
        const r = e.getBoundingClientRect(), p = e.closest('nav').getBoundingClientRect();
        return [r.left, r.right, p.left, p.right, parseFloat(getComputedStyle(e).paddingLeft)];
    })""")
    assert boxes
    for left, right, nav_left, nav_right, pad in boxes:
        assert left >= 12 and left >= nav_left + 8, (left, nav_left)  # not at the edge
        assert right <= nav_right - 4, (right, nav_right)
        assert pad >= 8


@pytest.mark.parametrize("width", WIDTHS)
def test_payment_method_selects_show_the_whole_card(
    site: Site, signed_in: Any, width: int,
) -> None:
    page = signed_in("billing_admin", width=width)
    page.goto(f"{site.url}/t/{site.tenant_id}/credits")
    for select in ("#ar-method", "#funds-method"):
        text_width, room = page.eval_on_selector(select, """s => {
            const st = getComputedStyle(s), c = document.createElement('canvas').getContext('2d');
            c.font = `${st.fontWeight} ${st.fontSize} ${st.fontFamily}`;
            const text = s.options[s.selectedIndex].text;
            return [c.measureText(text).width,
                    s.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight)];
        }""")
        assert page.eval_on_selector(select, "s => s.options[s.selectedIndex].text") \
            .startswith("Visa ending 4242"), select
        assert text_width <= room, (select, width, text_width, room)


def test_amounts_and_number_actions_are_on_screen_on_a_phone(
    site: Site, signed_in: Any,
) -> None:
    page = signed_in("global_admin", width=390, height=844)
    page.goto(f"{site.url}/t/{site.tenant_id}/credits")
    for table in ("lots", "ledger", "invoices", "payment-methods"):
        cells = page.get_by_test_id(table).locator("tbody td.num, tbody td.actions")
        assert cells.count() > 0, table
        for i in range(min(cells.count(), 6)):
            box = cells.nth(i).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, table
        # Each stacked cell says which column it is.
        first = page.get_by_test_id(table).locator("tbody td.num").first
        if first.count():
            label = first.evaluate("td => getComputedStyle(td, '::before').content")
            assert label.strip('"').startswith(("Amount", "Remaining", "Total")), label

    page.goto(f"{site.url}/t/{site.tenant_id}/numbers")
    buttons = page.locator("#numbers-table button")
    assert buttons.count() > 0
    for i in range(buttons.count()):
        box = buttons.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390


def test_the_chart_labels_are_readable_on_a_phone(site: Site, signed_in: Any) -> None:
    for width in WIDTHS:
        page = signed_in("reader", width=width, height=844)
        heights = page.eval_on_selector_all(
            "figure.chart svg text.label",
            "els => els.filter(e => e.getBoundingClientRect().width > 0)"
            ".map(e => e.getBoundingClientRect().height)")
        assert len(heights) >= 8, width  # axis values, dates, axis names
        assert min(heights) >= 10, (width, heights)  # about the body text's size
        shown = page.eval_on_selector_all(
            "figure.chart svg", "els => els.filter(e => e.getBoundingClientRect().width > 0)"
            ".map(e => e.getAttribute('class'))")
        assert len(shown) == 1, shown  # one drawing at a time
