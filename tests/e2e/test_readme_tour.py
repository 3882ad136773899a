"""The README's tour against the real `commcredits serve --simulated-clock` (SIM-1, SIM-2).

One server per database, started as a subprocess on a free port in a temporary folder: on
SQLite it runs on the default file (`./commcredits.db` in that folder, no `--db`), on
PostgreSQL (when COMMCREDITS_TEST_POSTGRES_URL is set) on that database. The steps below run
in order against it, through HTTP (httpx) and through the CLI as separate processes on the
same database while the server is serving, as the README does: the demo's balance, a card
and a purchase, the CLI, auto-recharge, minute pools, users and licenses, a rate table
import, call control, a CDR import, the usage exports, and the clock moved by 30 days (CLI)
and then by 13 months (`POST /api/v1/clock`) so that every lot expires. At the end the
server's log holds no traceback and no 5xx.

Before serving, the simulated clock is set to a fixed time (`clock set`), so the demo is
seeded the same way on every run. Before SIM-2 was fixed, the first write request on SQLite
waited on the write lock its own transaction held and failed.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from commcredits.domain.reports import COLUMNS
from tests.conftest import PG_URL, _reset_postgres, database_params
from tests.serving import COMMCREDITS, free_port, serve_subprocess

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_USD = ROOT / "src" / "commcredits" / "data" / "rates" / "sample_usd.csv"
OPERATOR_KEY = "op-tour-" + os.urandom(6).hex()
START = "2026-03-10T09:00:00Z"
GB_MOBILE = "+447400123456"
ALEX = "alex.wilber@contoso.com"
ALEX_NUMBER = "+14255550102"  # the demo's own number for Alex (services/demo_directory.py)
CARD = {"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2030}


def add_months(at: datetime, months: int) -> datetime:
    month = at.month - 1 + months
    year, month = at.year + month // 12, month % 12 + 1
    return at.replace(year=year, month=month,
                      day=min(at.day, calendar.monthrange(year, month)[1]))


def money(text: str) -> Decimal:
    return Decimal(text)


@dataclass
class Tour:
    """The serving process and what the steps learn along the way."""

    url: str
    work: Path
    env: dict[str, str]
    log: Path
    tid: str = ""
    key: str = ""
    seen: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def request(self, method: str, path: str, *, key: str | None = None,
                **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.api}{path}", headers=headers, timeout=60,
                             **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        r = self.request(method, path, **kwargs)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    def operator(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        return self.ok(method, path, status, key=OPERATOR_KEY, **kwargs)

    def cli(self, *args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
        """`commcredits ARGS` as its own process in the server's folder, on its database."""
        done = subprocess.run(
            [COMMCREDITS, *args], cwd=self.work, env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=180,
        )
        output = done.stdout + done.stderr
        assert done.returncode == code, f"commcredits {' '.join(args)} -> " \
            f"{done.returncode}\n{output}"
        assert "Traceback" not in output, output
        return output

    def credits(self, tid: str | None = None) -> dict[str, Any]:
        """The demo tenant's credits with its admin key, another's as the operator."""
        body: dict[str, Any] = self.ok("GET", f"/tenants/{tid or self.tid}/credits",
                                       key=OPERATOR_KEY if tid else None)
        return body

    def clock(self) -> datetime:
        now = self.operator("GET", "/clock")
        assert now["simulated"] is True
        return datetime.fromisoformat(now["now"].replace("Z", "+00:00"))


@pytest.fixture(scope="module", params=database_params())
def tour(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[Tour]:
    work = tmp_path_factory.mktemp(f"tour-{request.param}")
    env = {**os.environ, "COMMCREDITS_OPERATOR_KEY": OPERATOR_KEY,
           "COMMCREDITS_OUTBOX_DIR": str(work / "outbox"), "COLUMNS": "250",
           "COMMCREDITS_JOBS_INTERVAL_SECONDS": "2"}
    for name in ("COMMCREDITS_SMTP_HOST", "COMMCREDITS_DATABASE_URL",
                 "COMMCREDITS_SIMULATED_CLOCK"):
        env.pop(name, None)
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("COMMCREDITS_TEST_POSTGRES_URL is not set")
        _reset_postgres(PG_URL)
        env["COMMCREDITS_DATABASE_URL"] = PG_URL
    # else: the default SQLite file, ./commcredits.db in the server's folder.
    port = free_port()
    log = work / "serve.log"
    tour = Tour(f"http://127.0.0.1:{port}", work, env, log)
    # The clock is real until a process turns it simulated; this one sets the start time
    # (on a database `db upgrade` creates: other commands refuse a file that is not there).
    tour.cli("db", "upgrade")
    tour.cli("clock", "set", START, env={"COMMCREDITS_SIMULATED_CLOCK": "true"})
    # `serve` as the README runs it: one worker per core (OPS-3: one of them leads the
    # due-work loop).
    with serve_subprocess(["--simulated-clock"], cwd=work, env=env, log=log, port=port):
        text = log.read_text()
        tenant = re.search(r"Demo tenant Contoso: ([0-9a-f]{32}) \(created\)", text)
        key = re.search(r"Demo global admin key \(shown once\): (cck_\S+)", text)
        assert tenant and key, text
        tour.tid, tour.key = tenant.group(1), key.group(1)
        yield tour


# The steps, in the README's order. Each one needs the ones before it.


@pytest.mark.rule("SIM-1")
@pytest.mark.rule("SIM-2")
@pytest.mark.rule("FUND-4")
def test_the_demo_balance_lots_and_ledger(tour: Tour) -> None:
    assert tour.clock() == datetime(2026, 3, 10, 9, tzinfo=UTC)
    view = tour.credits()
    lots = view["lots"]
    assert view["currency"] == "USD" and view["debt"] == "0.00"
    assert money(view["balance"]) == sum(money(x["remaining"]) for x in lots)
    oldest = lots[0]
    expires = datetime.fromisoformat(oldest["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=13) < expires - tour.clock() < timedelta(days=16)  # about 2 weeks
    assert money(oldest["remaining"]) > 0
    ledger = tour.ok("GET", f"/tenants/{tour.tid}/credits/ledger", params={"limit": 5})
    assert len(ledger["entries"]) == 5
    tour.seen["balance"] = money(view["balance"])


@pytest.mark.rule("SIM-2")
@pytest.mark.rule("FUND-1")
@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_a_card_and_a_purchase_with_an_idempotency_key(tour: Tour) -> None:
    pm = tour.ok("POST", f"/tenants/{tour.tid}/payment-methods", 201, json=CARD)["id"]
    tour.seen["pm"] = pm
    body = {"amount": "100.00", "payment_method_id": pm}
    first = tour.ok("POST", f"/tenants/{tour.tid}/credits/purchases", 201, json=body,
                    headers={"Idempotency-Key": "tour-1"})
    lot = first["lot"]
    assert (lot["amount"], lot["remaining"], lot["source"]) == ("100.00", "100.00", "manual")
    assert (lot["purchased_at"], lot["expires_at"]) == (START, "2027-03-10T09:00:00Z")
    assert first["invoice"]["total"] == "100.00" and first["replayed"] is False
    again = tour.request("POST", f"/tenants/{tour.tid}/credits/purchases", json=body,
                         headers={"Idempotency-Key": "tour-1"})
    assert again.status_code in (200, 201), again.text
    assert again.json()["lot"]["id"] == lot["id"] and again.json()["replayed"] is True
    refused = tour.request("POST", f"/tenants/{tour.tid}/credits/purchases",
                           json={"amount": "20.00", "payment_method_id": pm})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "AMOUNT_BELOW_MINIMUM"
    assert error["message"].startswith("The smallest purchase is 50.00 USD;")
    assert money(tour.credits()["balance"]) == tour.seen["balance"] + 100
    tour.seen["balance"] += 100
    page = tour.request("GET", f"/tenants/{tour.tid}/invoices/{first['invoice']['id']}.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert first["invoice"]["number"] in page.text


@pytest.mark.rule("SIM-2")
def test_the_cli_reads_the_same_database_while_the_server_serves(tour: Tour) -> None:
    assert tour.tid in tour.cli("tenant", "list")
    shown = tour.cli("credits", "show", tour.tid)
    assert f"balance {tour.seen['balance']:.2f} USD" in shown
    assert "purchase" in tour.cli("credits", "ledger", tour.tid, "--limit", "10")
    assert "100.00" in tour.cli("credits", "invoices", tour.tid)


@pytest.mark.rule("AR-1")
@pytest.mark.rule("SIM-2")
def test_auto_recharge_status_settings_and_notifications(tour: Tour) -> None:
    path = f"/tenants/{tour.tid}/credits/auto-recharge"
    shown = tour.ok("GET", path)
    assert (shown["enabled"], shown["amount"], shown["trigger"]) == (True, "100.00", "300.00")
    assert shown["status"]["last_recharge"]["amount"] == "100.00"  # the demo's year
    body = {"enabled": True, "amount": "100.00", "trigger": "50.00",
            "payment_method_id": tour.seen["pm"]}
    saved = tour.ok("PUT", path, json=body)
    assert (saved["enabled"], saved["amount"], saved["trigger"], saved["payment_method_id"]) \
        == (True, "100.00", "50.00", tour.seen["pm"])
    assert "notifications" in tour.ok("GET", f"/tenants/{tour.tid}/notifications")
    assert "Auto-recharge is on: add 100.00 USD when the balance is below 50.00 USD" in \
        tour.cli("auto-recharge", "show", tour.tid)
    tour.cli("notifications", "list", tour.tid)


@pytest.mark.rule("AR-2")
@pytest.mark.rule("AR-6")
@pytest.mark.rule("FUND-3")
@pytest.mark.rule("FUND-7")
@pytest.mark.rule("SIM-2")
def test_a_new_tenant_funds_recharges_and_is_adjusted_from_the_cli(tour: Tour) -> None:
    tenant = tour.operator("POST", "/tenants", 201, json={
        "name": "Fabrikam", "country": "US", "billing_account_type": "MOSA",
        "contacts": [{"email": "admin@fabrikam.com", "role": "global_admin"},
                     {"email": "billing@fabrikam.com", "role": "billing_admin"}],
    })
    fid = tenant["id"]
    tour.seen["fid"] = fid
    pm = tour.operator("POST", f"/tenants/{fid}/payment-methods", 201, json=CARD)["id"]
    tour.operator("POST", f"/tenants/{fid}/credits/purchases", 201,
                  json={"amount": "100.00", "payment_method_id": pm})
    seats = {s["sku"]: s for s in tour.operator("GET", f"/tenants/{fid}/subscriptions")
             ["subscriptions"]}
    assert seats["MCOPSTNC"]["purchased"] == 10_000_000
    tour.operator("PUT", f"/tenants/{fid}/credits/auto-recharge", json={
        "enabled": True, "amount": "100.00", "trigger": "50.00", "payment_method_id": pm})
    # 100.00 - 60.00 = 40.00 < 50.00: one recharge of 100.00.
    out = tour.cli("credits", "adjust", fid, "-60.00", "--reason", "tour correction")
    assert "Charged 60.00 USD; balance 40.00 USD" in out
    view = tour.credits(fid)
    assert view["balance"] == "140.00"
    assert [(x["source"], x["remaining"]) for x in view["lots"]] == [
        ("manual", "40.00"), ("auto_recharge", "100.00")]
    status = tour.operator("GET", f"/tenants/{fid}/credits/auto-recharge")["status"]
    assert status["last_recharge"]["amount"] == "100.00" and status["in_flight"] is None
    kinds = [n["kind"] for n in tour.operator("GET", f"/tenants/{fid}/notifications")
             ["notifications"]]
    assert kinds == ["recharge_succeeded"]
    out = tour.cli("credits", "purchase", fid, "50.00", "--card", pm)
    assert "Bought 50.00 USD" in out and "expires 2027-03-10" in out
    out = tour.cli("credits", "adjust", fid, "25.00", "--reason", "goodwill")
    assert "Added 25.00 USD as lot" in out
    view = tour.credits(fid)
    assert view["balance"] == "215.00"
    assert [(x["source"], x["amount"], x["remaining"]) for x in view["lots"]] == [
        ("manual", "100.00", "40.00"), ("auto_recharge", "100.00", "100.00"),
        ("manual", "50.00", "50.00"), ("adjustment", "25.00", "25.00")]
    assert "balance 215.00 USD" in tour.cli("credits", "show", fid)


@pytest.mark.rule("POOL-6")
def test_minute_pools_and_which_pool_carries_a_call(tour: Tour) -> None:
    quote = tour.ok("GET", f"/tenants/{tour.tid}/minute-pools/quote",
                    params={"user": "joni.sherman@contoso.com", "destination": "US"})
    # 6 users x 3000 minutes; what is used depends on the day of the month (the demo's
    # calls this month so far): on 10 March, 17,625 minutes are left.
    assert (quote["covered"], quote["pool_key"], quote["total_minutes"],
            quote["minutes_left"]) == (True, "MCOPSTN1:domestic:US", 18000, 17625)
    quote = tour.ok("GET", f"/tenants/{tour.tid}/minute-pools/quote",
                    params={"user": ALEX, "destination": "FR"})
    assert (quote["covered"], quote["reason"]) == (False, "international_not_included")
    report = tour.ok("GET", f"/tenants/{tour.tid}/reports/minute-pools",
                     params={"month": "2026-03"})
    us = [p for p in report["pools"] if p["sku"] == "MCOPSTN1" and p["region"] == "US"]
    assert [(p["country_or_region"], p["total_minutes"], p["minutes_available"], p["users"])
            for p in us] == [("United States and Puerto Rico", 18000, 17625, 6)]
    numbers = tour.cli("numbers", "list", tour.tid)
    assert "+18005550100" in numbers and "conference@contoso.com" in numbers
    assert "United States and Puerto Rico" in tour.cli("report", "minute-pools", tour.tid)


@pytest.mark.rule("LIC-3")
@pytest.mark.rule("LIC-4")
def test_miriam_gets_a_location_and_a_plan_and_a_bulk_file_is_applied(tour: Tour) -> None:
    miriam = f"/tenants/{tour.tid}/users/miriam.graham@contoso.com"
    r = tour.request("POST", f"{miriam}/licenses", json={"add": ["MCOPSTN1"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "USAGE_LOCATION_REQUIRED", \
        r.text
    assert r.json()["error"]["message"].startswith("Set the user's usage location")
    assert tour.ok("PATCH", miriam, json={"usage_location": "DE"})["usage_location"] == "DE"
    r = tour.request("POST", f"{miriam}/licenses", json={"add": ["MCOPSTN1"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "PHONE_LICENSE_REQUIRED", \
        r.text
    assert r.json()["error"]["message"].startswith("A calling plan (MCOPSTN1) needs Teams Phone")
    done = tour.ok("POST", f"{miriam}/licenses", json={"add": ["MCOEV", "MCOPSTN1"]})
    assert {"MCOEV", "MCOPSTN1"} <= set(done["licenses"])
    csv_text = ("upn,sku,action\npatti.fernandez@contoso.com,MCOPSTN1,add\n"
                "nobody@contoso.com,MCOEV,add\n")
    (tour.work / "lic.csv").write_text(csv_text)
    out = tour.cli("licenses", "bulk", tour.tid, "lic.csv", "--report", "result.csv", code=1)
    assert "USER_NOT_FOUND" in out
    report = list(csv.DictReader((tour.work / "result.csv").open()))
    assert [(row["line"], row["result"], row["code"]) for row in report] == [
        ("2", "ok", ""), ("3", "error", "USER_NOT_FOUND")]
    again = tour.ok("POST", f"/tenants/{tour.tid}/licenses/bulk", content=csv_text.encode(),
                    headers={"Content-Type": "text/csv"})
    assert (again["rows"], again["failed"]) == (2, 1)
    assert again["results"][1]["code"] == "USER_NOT_FOUND"


@pytest.mark.rule("RATE-1")
@pytest.mark.rule("RATE-3")
def test_a_rate_table_is_imported_as_the_next_version(tour: Tour) -> None:
    assert "112" in tour.cli("rates", "list", "USD")  # version 1: the demo's sample table
    table = tour.operator("PUT", "/rate-tables/USD", 201, content=SAMPLE_USD.read_bytes(),
                          headers={"Content-Type": "text/csv"})
    assert (table["currency"], table["version"], table["rows"]) == ("USD", 2, 112)
    versions = tour.operator("GET", "/rate-tables/USD")["tables"]
    assert [(v["version"], v["rows"]) for v in versions][-2:] in (
        [(1, 112), (2, 112)], [(2, 112), (1, 112)])
    (tour.work / "bad.csv").write_text(
        "prefix,destination,number_type,direction,rate_per_minute,connection_fee,"
        "first_increment,next_increment,effective_from\n"
        "+x1,Nowhere,fixed,outbound,0.01,0,60,60,2026-01-01T00:00:00Z\n")
    out = tour.cli("rates", "import", "USD", "bad.csv", code=2)
    assert "error INVALID_RATE_TABLE: 1 row(s) are not valid; nothing was imported." in out
    assert "line 2: prefix must be E.164 digits without +" in out


@pytest.mark.rule("CALL-1")
@pytest.mark.rule("CALL-7")
@pytest.mark.rule("SIM-2")
def test_the_platform_authorizes_updates_and_ends_a_call(tour: Tour) -> None:
    out = tour.cli("tenant", "api-key", tour.tid, "--role", "platform")
    found = re.search(r"cck_\S+", out)
    assert found, out
    pk = found.group(0)
    tour.seen["pk"] = pk
    before = money(tour.credits()["balance"])
    call = {"call_id": "tour-1", "call_type": "user_out", "user": ALEX,
            "caller": ALEX_NUMBER, "callee": GB_MOBILE}
    reply = tour.ok("POST", f"/tenants/{tour.tid}/calls/authorize", json=call, key=pk)
    assert (reply["decision"], reply["funding"], reply["grant_seconds"]) == (
        "allow", "credits", 300)
    assert reply["max_seconds"] > 300
    # The call lasts 61 s on the simulated clock, which moves while the call is open.
    tour.operator("POST", "/clock", json={"advance_seconds": 60})
    updated = tour.ok("POST", f"/tenants/{tour.tid}/calls/tour-1/update",
                      json={"used_seconds": 60}, key=pk)
    assert (updated["grant_seconds"], updated["final"]) == (300, False)
    tour.operator("POST", "/clock", json={"advance_seconds": 1})
    ended = tour.ok("POST", f"/tenants/{tour.tid}/calls/tour-1/end",
                    json={"duration_seconds": 61}, key=pk)
    assert (ended["charge"], ended["connection_fee"], ended["currency"]) == (
        "0.24", "0.00", "USD")  # 0.12/min, billed per minute: 2 minutes
    assert money(tour.credits()["balance"]) == before - Decimal("0.24")


@pytest.mark.rule("CDR-1")
@pytest.mark.rule("SIM-2")
def test_a_cdr_batch_is_imported_once(tour: Tour) -> None:
    before = money(tour.credits()["balance"])
    body = ("Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time,Duration Seconds\n"
            f"tour-cdr-1,{ALEX},user_out,{ALEX_NUMBER},{GB_MOBILE},2026-03-10T08:00:00Z,"
            "120\n")
    (tour.work / "calls.csv").write_text(body)
    out = tour.cli("cdr", "import", tour.tid, "calls.csv")
    assert "accepted 1, duplicates 0, rejected 0" in out
    again = tour.ok("POST", f"/tenants/{tour.tid}/cdrs", content=body.encode(),
                    headers={"Content-Type": "text/csv"}, key=tour.seen["pk"])
    assert again == {"accepted": 0, "duplicates": 1, "rejected": [], "rejected_total": 0}
    assert money(tour.credits()["balance"]) == before - Decimal("0.24")
    tour.seen["balance"] = money(tour.credits()["balance"])


@pytest.mark.rule("REP-1")
@pytest.mark.rule("REP-2")
def test_the_usage_report_exports_as_zip_and_xlsx(tour: Tour) -> None:
    path = f"/tenants/{tour.tid}/reports/pstn-usage"
    r = tour.request("GET", path, params={"period": "28d", "format": "zip"})
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        names = z.namelist()
        member = next(n for n in names if n.startswith("Export.callingplans.")
                      and n.endswith(".csv"))
        assert "parameters.json" in names
        assert json.loads(z.read("parameters.json"))
        rows = list(csv.reader(io.StringIO(z.read(member).decode("utf-8-sig"))))
    assert tuple(rows[0]) == COLUMNS
    by_call = {row[1]: dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]}
    assert by_call["tour-1"]["Charge"] == "0.24"
    assert by_call["tour-1"]["Duration Seconds"] == "61"
    assert by_call["tour-cdr-1"]["Charge"] == "0.24"
    assert by_call["tour-1"]["Currency"] == "USD"
    r = tour.request("GET", path, params={"period": "28d", "format": "xlsx"})
    assert r.status_code == 200, r.text
    book = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)
    sheet = book.worksheets[0]
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert tuple(cells[0]) == COLUMNS
    assert len(cells) == len(rows)
    xlsx_by_call = {row[1]: dict(zip(COLUMNS, row, strict=True)) for row in cells[1:]}
    assert Decimal(str(xlsx_by_call["tour-1"]["Charge"])) == Decimal("0.24")
    assert xlsx_by_call.keys() == by_call.keys()
    out = tour.cli("report", "pstn-usage", tour.tid, "--period", "28d", "--format", "xlsx",
                   "--output", "usage.xlsx")
    assert out
    cli_book = openpyxl.load_workbook(tour.work / "usage.xlsx", read_only=True)
    assert sum(1 for _ in cli_book.worksheets[0].iter_rows()) == len(rows)


@pytest.mark.rule("REP-3")
@pytest.mark.rule("REP-5")
def test_spend_the_recommendation_the_chart_and_the_graph_call_log(tour: Tour) -> None:
    assert "total" in tour.cli("report", "spend", tour.tid, "--group-by", "capability")
    assert tour.cli("credits", "recommendation", tour.tid)
    svg = tour.request("GET", f"/tenants/{tour.tid}/reports/charts/balance.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text
    now = tour.clock()
    since = (now - timedelta(days=28)).strftime("%Y-%m-%dT00:00:00Z")
    until = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    r = httpx.get(f"{tour.url}/graph/v1.0/communications/callRecords/getPstnCalls("
                  f"fromDateTime={since},toDateTime={until})",
                  headers={"Authorization": f"Bearer {tour.key}"}, timeout=60)
    assert r.status_code == 200, r.text
    ids = {row["callId"] for row in r.json()["value"]}
    assert {"tour-1", "tour-cdr-1"} <= ids or r.json().get("@odata.nextLink"), ids


@pytest.mark.rule("SIM-1")
@pytest.mark.rule("SIM-2")
@pytest.mark.rule("FUND-4")
def test_clock_advance_30d_from_the_cli_expires_the_oldest_lot_while_serving(
    tour: Tour,
) -> None:
    before = tour.credits()
    oldest = before["lots"][0]
    held = money(oldest["remaining"])
    out = tour.cli("clock", "advance", "30d")
    assert "to 2026-04-09T09:01:01+00:00" in out and "expired 1 lot(s) in 1 tenant(s)" in out
    after = tour.credits()
    assert after["lots"][0]["id"] == oldest["id"] and after["lots"][0]["remaining"] == "0.00"
    assert money(after["balance"]) == money(before["balance"]) - held
    entries = tour.ok("GET", f"/tenants/{tour.tid}/credits/ledger",
                      params={"limit": 5})["entries"]
    expired = [e for e in entries if e["kind"] == "expired"]
    assert [(e["amount"], e["lot_id"] or e["allocations"][0]["lot_id"]) for e in expired] \
        == [(f"{-held:.2f}", oldest["id"])]
    assert f"balance {money(after['balance']):.2f} USD" in tour.cli("credits", "show", tour.tid)
    assert "expired 0 lot(s)" in tour.cli("jobs", "run")


@pytest.mark.rule("SIM-1")
@pytest.mark.rule("SIM-2")
@pytest.mark.rule("FUND-4")
@pytest.mark.rule("FUND-1")
def test_the_api_advances_13_months_and_every_lot_expires_to_the_cent(tour: Tour) -> None:
    fid = tour.seen["fid"]
    demo_before, fab_before = tour.credits(), tour.credits(fid)
    now = tour.clock()
    target = add_months(now, 13)
    moved = tour.operator("POST", "/clock",
                          json={"advance_seconds": int((target - now).total_seconds())})
    assert moved["now"] == "2027-05-09T09:01:01Z"
    assert tour.clock() == target
    for tid, before in ((tour.tid, demo_before), (fid, fab_before)):
        after = tour.credits(tid)
        assert after["balance"] == "0.00" and after["debt"] == "0.00"
        assert [x["remaining"] for x in after["lots"]] == ["0.00"] * len(before["lots"])
        held = {x["id"]: x["remaining"] for x in before["lots"] if money(x["remaining"]) > 0}
        entries = tour.operator("GET", f"/tenants/{tid}/credits/ledger",
                                params={"limit": 50})["entries"]
        expired = {e["allocations"][0]["lot_id"]: e["amount"] for e in entries
                   if e["kind"] == "expired" and e["at"] == "2027-05-09T09:01:01Z"}
        assert expired == {lot: f"-{amount}" for lot, amount in held.items()}
    assert [(x["source"], x["amount"]) for x in tour.credits(fid)["lots"]] == [
        ("manual", "100.00"), ("auto_recharge", "100.00"), ("manual", "50.00"),
        ("adjustment", "25.00")]
    # Funds bought now are good for 12 more months.
    pm = tour.operator("GET", f"/tenants/{fid}/payment-methods")["payment_methods"][0]["id"]
    out = tour.cli("credits", "purchase", fid, "50.00", "--card", pm)
    assert "Bought 50.00 USD" in out and "expires 2028-05-09" in out
    assert "balance 50.00 USD" in tour.cli("credits", "show", fid)
    assert "expired 0 lot(s)" in tour.cli("jobs", "run")
    assert tour.credits(fid)["balance"] == "50.00"


@pytest.mark.rule("SIM-2")
@pytest.mark.rule("ERR-1")
def test_the_server_log_holds_no_traceback_and_no_5xx(tour: Tour) -> None:
    assert httpx.get(f"{tour.url}/healthz", timeout=10).status_code == 200
    text = tour.log.read_text()
    assert "Traceback" not in text, text
    assert not re.search(r'" 5\d\d ', text), text
