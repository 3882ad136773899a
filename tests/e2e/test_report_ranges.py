"""What a new user saw in the reports (issue #11): one meaning of a range through the API,
the CLI and the admin center (whole UTC days, `to` included, `from` = `to` is one day, the
last 7 days are today and the 6 before), the report commands' help, and the pool cards'
capability (REP-1, REP-5, POOL-6)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from commcredits.adapters.clock import FixedClock
from commcredits.entrypoints.cli.main import app
from commcredits.services import cdrs
from commcredits.services.context import Services
from commcredits.services.demo import seed_demo
from tests.e2e.conftest import Api
from tests.e2e.test_web_credits import _sign_in
from tests.integration.test_calls import US_FIXED
from tests.integration.test_reports import HEADER, seed
from tests.support import OPERATOR

runner = CliRunner(env={"COLUMNS": "250"})
ONE_DAY = "from 2026-02-19 to 2026-02-19 (UTC days, both included)"


def seed_day_edges(svc: Services, clock: FixedClock) -> str:
    """`seed`'s calls (gb1 on 2026-02-19 08:00) and one call each side of that day's end."""
    tid = seed(svc, clock)
    body = HEADER + (
        f",late1,bob0@contoso.com,user_out,+12065550101,{US_FIXED},2026-02-19T23:59:59Z,30\n"
        f",next1,bob0@contoso.com,user_out,+12065550101,{US_FIXED},2026-02-20T00:00:00Z,30\n"
    )
    assert cdrs.import_cdrs(svc, OPERATOR, tid, body).accepted == 2
    return tid


def web_summary(html: str) -> tuple[str, str, str, list[str]]:
    """(data-from, data-to, the range in words, the Start Time cells) of the usage page."""
    summary = re.search(r'data-count="\d+" data-from="([^"]+)" data-to="([^"]+)"', html)
    words = re.search(r'data-testid="usage-range">([^<]+)<', html)
    assert summary and words, html
    starts = re.findall(r"<td[^>]*>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)</td>", html)
    return summary[1], summary[2], words[1], starts


def date_inputs(html: str) -> tuple[str, str]:
    found = [re.search(rf'id="f-{name}" name="{name}"[^>]* value="([^"]*)"', html)
             for name in ("from", "to")]
    assert found[0] and found[1]
    return found[0][1], found[1][1]


@pytest.mark.rule("REP-1", "REP-5")
def test_from_equal_to_is_that_whole_utc_day_through_the_api_the_cli_and_the_web(
    api: Api, client: TestClient, svc: Services, clock: FixedClock, db_url: str,
    tmp_path: Path,
) -> None:
    tid = seed_day_edges(svc, clock)
    day = "from=2026-02-19&to=2026-02-19"

    body = api.get(f"/tenants/{tid}/reports/pstn-usage?{day}").json()
    assert [row["Call ID"] for row in body["rows"]] == ["gb1", "late1"]  # 23:59:59 is in
    assert {k: body["parameters"][k] for k in ("from", "to", "first_day", "last_day")} == {
        "from": "2026-02-19T00:00:00Z", "to": "2026-02-20T00:00:00Z",
        "first_day": "2026-02-19", "last_day": "2026-02-19"}

    target = tmp_path / "day.csv"
    out = runner.invoke(app, ["report", "pstn-usage", tid, "--from", "2026-02-19", "--to",
                              "2026-02-19", "--output", str(target), "--db", db_url])
    assert out.exit_code == 0, out.output
    assert f"calls started {ONE_DAY}" in out.output.replace("\n", "")
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert [r[1] for r in rows[1:]] == ["gb1", "late1"]

    _sign_in(client, svc, tid, "reader")
    page = client.get(f"/t/{tid}/reports/usage?range=custom&{day}")
    assert page.status_code == 200, page.text
    assert web_summary(page.text) == ("2026-02-19T00:00:00Z", "2026-02-20T00:00:00Z", ONE_DAY,
                                      ["2026-02-19 08:00:00", "2026-02-19 23:59:59"])
    assert date_inputs(page.text) == ("2026-02-19", "2026-02-19")

    spend = api.get(f"/tenants/{tid}/reports/spend?group_by=day&{day}").json()
    assert [(r["key"], r["calls"]) for r in spend["rows"]] == [("2026-02-19", 2)]
    assert (spend["first_day"], spend["last_day"]) == ("2026-02-19", "2026-02-19")
    spend_page = client.get(f"/t/{tid}/reports/spend?group_by=day&{day}")
    assert f'data-testid="spend-range">{ONE_DAY}<' in spend_page.text
    out = runner.invoke(app, ["report", "spend", tid, "--from", "2026-02-19", "--to",
                              "2026-02-19", "--db", db_url])
    assert out.exit_code == 0, out.output
    assert f"Calls started {ONE_DAY}" in out.output.splitlines()  # one line, not wrapped


@pytest.mark.rule("REP-1")
def test_the_last_7_days_are_today_and_the_6_before_and_the_page_shows_those_dates(
    api: Api, client: TestClient, svc: Services, clock: FixedClock, db_url: str,
    tmp_path: Path,
) -> None:
    tid = seed_day_edges(svc, clock)  # today is 2026-02-20
    week = "from 2026-02-14 to 2026-02-20 (UTC days, both included)"
    params = api.get(f"/tenants/{tid}/reports/pstn-usage?period=7d").json()["parameters"]
    assert (params["from"], params["to"], params["first_day"], params["last_day"]) == \
        ("2026-02-14T00:00:00Z", "2026-02-21T00:00:00Z", "2026-02-14", "2026-02-20")
    _sign_in(client, svc, tid, "reader")
    page = client.get(f"/t/{tid}/reports/usage?range=7d").text
    assert web_summary(page)[:3] == ("2026-02-14T00:00:00Z", "2026-02-21T00:00:00Z", week)
    assert date_inputs(page) == ("2026-02-14", "2026-02-20")  # not the 28-day default
    assert date_inputs(client.get(f"/t/{tid}/reports/usage?range=28d").text) == \
        ("2026-01-24", "2026-02-20")
    # The CLI runs on the real clock: its last 7 days end on today's UTC date.
    today = datetime.now(UTC).date()
    out = runner.invoke(app, ["report", "pstn-usage", tid, "--period", "7d", "--output",
                              str(tmp_path / "week.csv"), "--db", db_url])
    assert out.exit_code == 0, out.output
    assert f"from {today - timedelta(days=6)} to {today} (UTC days, both included)" in \
        out.output.replace("\n", "")


@pytest.mark.rule("REP-1", "REP-5", "POOL-6")
def test_the_report_commands_help_names_every_report_and_the_tenant_argument() -> None:
    group = runner.invoke(app, ["report", "--help"])
    assert group.exit_code == 0, group.output
    words = " ".join(group.output.split())
    assert "Reports: the PSTN usage export, spend and the minute pools of a month. " \
        "Ranges are UTC days, both included." in words
    usage = runner.invoke(app, ["report", "pstn-usage", "--help"])
    assert "Export the PSTN usage report to a CSV, ZIP or XLSX file." in usage.output
    assert "Tenant id." in usage.output


@pytest.mark.rule("POOL-6")
def test_each_pool_card_shows_the_capability_the_usage_report_shows(
    client: TestClient, svc: Services,
) -> None:
    demo = seed_demo(svc)
    _sign_in(client, svc, demo.tenant_id, "reader")
    page = client.get(f"/t/{demo.tenant_id}/reports/pools?month=2026-01").text
    cards = re.findall(r'data-sku="([^"]+)" data-capability="([^"]+)"', page)
    assert ("MCOMEETADV", "MCOMEETADD") in cards  # the dial-out pool, by its capability
    assert all(sku == capability for sku, capability in cards if sku.startswith("MCOPSTN"))
    assert re.search(r'title="Capability, as in the usage report">MCOMEETADD</span> '
                     r'<span class="pill">dialout</span> · 9 users with MCOMEETADV', page)
