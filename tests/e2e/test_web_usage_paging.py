"""The admin center's usage report walked page by page (REP-1): the range is counted once,
with the first page, and every next page (HTMX or not) shows that count without counting
again (decision 106)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from commcredits.adapters.clock import FixedClock
from commcredits.entrypoints.web.pages_reports import PAGE_ROWS
from commcredits.services import cdrs
from commcredits.services.context import Services
from tests.e2e.test_web_credits import _sign_in
from tests.integration.test_calls import US_FIXED, setup
from tests.integration.test_reports import HEADER
from tests.support import OPERATOR, utc

CALLS = 2 * PAGE_ROWS + 7  # three pages: 50, 50 and 7


@contextmanager
def counts(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements that count rows (``count(``), run while the block runs."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "count(" in statement.lower():
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _shown(page: str) -> tuple[str, str | None, list[str]]:
    """(the pager's "Showing calls …" text, the next page's link, the Start Time cells)."""
    shown = re.search(r'data-testid="usage-shown">([^<]+)<', page)
    assert shown, page
    following = re.search(r'href="([^"]+)" hx-get="[^"]+"[^>]*data-testid="next-page"', page)
    ids = re.findall(r"<td[^>]*>2026-02-19 (\d\d:\d\d):00</td>", page)
    return shown[1], html.unescape(following[1]) if following else None, ids


@pytest.mark.rule("REP-1")
def test_next_pages_show_the_first_pages_count_without_counting_again(
    client: TestClient, svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    tid = setup(svc)
    clock.set(utc(2026, 2, 20, 9, 0))
    body = HEADER + "".join(
        f",c{i:03d},bob0@contoso.com,user_out,+12065550101,{US_FIXED},"
        f"2026-02-19T{i // 60:02d}:{i % 60:02d}:00Z,30\n" for i in range(CALLS))
    assert cdrs.import_cdrs(svc, OPERATOR, tid, body).accepted == CALLS
    _sign_in(client, svc, tid, "reader")

    with counts(engine) as counted:
        first = client.get(f"/t/{tid}/reports/usage?range=7d")
    assert first.status_code == 200, first.text
    assert len(counted) == 1  # the range, counted once with the first page
    text, following, ids = _shown(first.text)
    assert text == f"Showing calls 1–{PAGE_ROWS} of {CALLS}."
    assert following is not None and f"total={CALLS}" in following
    walked = list(ids)

    htmx = {"HX-Request": "true", "HX-Target": "usage-rows"}
    pages = [f"Showing calls 1–{PAGE_ROWS} of {CALLS}."]
    while following is not None:
        with counts(engine) as counted:
            more = client.get(following, headers=htmx)
        assert more.status_code == 200, more.text
        assert counted == []
        text, following, ids = _shown(more.text)
        pages.append(text)
        walked += ids
    assert pages == [f"Showing calls 1–{PAGE_ROWS} of {CALLS}.",
                     f"Showing calls 1–{2 * PAGE_ROWS} of {CALLS}.",
                     f"Showing calls 1–{CALLS} of {CALLS}."]
    assert sorted(walked) == [f"{i // 60:02d}:{i % 60:02d}" for i in range(CALLS)]  # once each

    # Without HTMX (no script) the next page is a whole page, with the same count.
    _, second, _ = _shown(first.text)
    assert second is not None
    with counts(engine) as counted:
        plain = client.get(second)
    assert counted == []
    assert f'data-count="{CALLS}"' in plain.text
    assert _shown(plain.text)[0] == f"Showing calls {PAGE_ROWS + 1}–{2 * PAGE_ROWS} of {CALLS}."

    # A link without the count (an old bookmark) counts the range again.
    with counts(engine) as counted:
        old = client.get(re.sub(r"&?total=\d+", "", second))
    assert len(counted) == 1
    assert _shown(old.text)[0] == f"Showing calls {PAGE_ROWS + 1}–{2 * PAGE_ROWS} of {CALLS}."
