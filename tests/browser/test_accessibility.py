"""Every admin-center page, as a global admin: a title, a label on every input, keyboard
reachable, and usable at 1280 px and 390 px wide (issue #7, accessible and responsive)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Site

pytestmark = [pytest.mark.browser, pytest.mark.rule("AUTH-1")]

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 120))"""

OVERFLOW = """() => document.documentElement.scrollWidth - document.documentElement.clientWidth"""


def _nav_links(page: object) -> list[str]:
    hrefs = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "nav.sidenav a", "els => els.map(e => e.getAttribute('href'))")
    return [h for h in hrefs if h]


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_is_labelled_titled_and_fits(site: Site, signed_in: object,
                                                width: int) -> None:
    page = signed_in("global_admin", width=width, height=900)  # type: ignore[operator]
    links = _nav_links(page)
    assert len(links) >= 8, links  # Home, Credits, Marketplace, Users, Numbers, Reports, …
    titles = set()
    for href in links:
        response = page.goto(site.url + href)
        assert response is not None and response.status == 200, href
        title = page.title()
        assert title.endswith("· Contoso · commcredits"), (href, title)
        titles.add(title)
        assert page.locator("h1").count() == 1, href
        assert page.evaluate(UNLABELLED) == [], href
        assert page.evaluate(OVERFLOW) <= 1, f"{href} scrolls sideways at {width}px"
    assert len(titles) == len(links)  # each page says what it is


def test_keyboard_reaches_the_skip_link_and_the_menu(site: Site, signed_in: object) -> None:
    page = signed_in("global_admin")  # type: ignore[operator]
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    page.goto(page.url.split("#")[0])
    # Tab from the top until the menu's "Communications Credits" link has focus, then follow it.
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Communications Credits":
            break
    else:
        pytest.fail("the menu is not reachable with the keyboard")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/t/{site.tenant_id}/credits")


def test_no_page_breaks_the_content_security_policy(site: Site, signed_in: object) -> None:
    """Every page of the nav, and the funds form's inline refusal (HTMX), load and work
    under the CSP with no violation reported by the browser."""
    page = signed_in("global_admin")  # type: ignore[operator]
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text)  # type: ignore[attr-defined]
            if "Content Security Policy" in m.text else None)
    for href in _nav_links(page):
        page.goto(site.url + href)  # type: ignore[attr-defined]
    page.goto(f"{site.url}/t/{site.tenant_id}/credits")  # type: ignore[attr-defined]
    page.locator("#funds-amount").fill("1.00")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Add funds").click()  # type: ignore[attr-defined]
    page.locator("#funds-error").wait_for()  # type: ignore[attr-defined]
    assert violations == []
