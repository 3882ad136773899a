"""Operations against the real `commcredits serve` (OPS-1, OPS-3, OPS-4), as subprocesses on
free loopback ports, with email through a real SMTP server (aiosmtpd):

- metrics: `serve --workers 2` answers calls, CDR imports, an auto-recharge and its email;
  `/metrics` (operator key) and `--metrics-port` then hold exactly what was done, parsed
  with prometheus-client's own parser;
- one leader: two `serve` processes on one database for 60 s of simulated time run each
  piece of due work once, in one process; after a SIGKILL of the leader the other leads
  within 30 s;
- logs: a tour with `COMMCREDITS_LOG_FORMAT=json` (keys, a sign-in, a card purchase, calls)
  writes one JSON line per request, and no key, token, card number or callee number.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.engine import make_engine
from commcredits.adapters.db.migrate import upgrade
from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from tests.conftest import PG_URL, _reset_postgres, database_params
from tests.integration.test_calls import GB_MOBILE, setup
from tests.integration.test_email_delivery import Inbox
from tests.serving import COMMCREDITS, free_port, serve_subprocess, stop_group
from tests.support import GOOD_CARD

OPERATOR_KEY = "op-ops-" + os.urandom(6).hex()
OP = {"Authorization": f"Bearer {OPERATOR_KEY}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): float(s.value)
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    with contextlib.suppress(Exception):
        controller.stop()


@pytest.fixture(params=database_params())
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("COMMCREDITS_TEST_POSTGRES_URL is not set")
        _reset_postgres(PG_URL)
        return PG_URL
    url = f"sqlite:///{tmp_path / 'commcredits.db'}"
    engine = make_engine(url, pool=False)
    upgrade(engine)
    engine.dispose()
    return url


def server_env(tmp_path: Path, url: str, smtp_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COMMCREDITS_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({
        "COMMCREDITS_DATABASE_URL": url, "COMMCREDITS_OPERATOR_KEY": OPERATOR_KEY,
        "COMMCREDITS_SMTP_HOST": "127.0.0.1", "COMMCREDITS_SMTP_PORT": str(smtp_port),
        "COMMCREDITS_SMTP_SECURITY": "none", "COMMCREDITS_OUTBOX_DIR": str(tmp_path / "eml"),
        "COMMCREDITS_JOBS_INTERVAL_SECONDS": "1", "COMMCREDITS_LEADER_POLL_SECONDS": "0.5",
        "COMMCREDITS_LEADER_LEASE_SECONDS": "3", "COLUMNS": "250",
    })
    env.update(extra)
    return env


def runtime_on(url: str, tmp_path: Path, *, simulated: bool = False) -> Runtime:
    return build(Settings(database_url=url, outbox_dir=str(tmp_path / "eml-tests"),
                          smtp_host=None, simulated_clock=simulated))


def rows(rt: Runtime, table: Any, after: int = 0) -> list[Any]:
    with rt.engine.connect() as conn:
        return list(conn.execute(select(table).where(table.c.id > after)))


def max_id(rt: Runtime, table: Any) -> int:
    with rt.engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())


CDR_HEADER = "Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time,Duration Seconds\n"


@pytest.mark.rule("OPS-1")
def test_metrics_of_two_workers_equal_what_was_done(
    database: str, tmp_path: Path, smtp: tuple[Inbox, int],
) -> None:
    inbox, smtp_port = smtp
    rt = runtime_on(database, tmp_path)
    tid = setup(rt.services)
    ledger_before, outbox_before = max_id(rt, t.ledger_entries), max_id(rt, t.email_outbox)
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    (multiproc / "counter_999999.db").write_bytes(b"stale")  # a previous run's: removed
    env = server_env(tmp_path, database, smtp_port, PROMETHEUS_MULTIPROC_DIR=str(multiproc))
    metrics_port = free_port()
    args = ["--workers", "2", "--no-demo", "--metrics-port", str(metrics_port)]
    with serve_subprocess(args, cwd=tmp_path, env=env, log=tmp_path / "serve.log") as url:
        assert not (multiproc / "counter_999999.db").exists()
        api = f"{url}/api/v1/tenants/{tid}"
        requests: collections.Counter[tuple[str, int]] = collections.Counter()

        def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            route = re.sub(r"/calls/[^/]+/", "/calls/{call_id}/", path)
            with httpx.Client(headers=kwargs.pop("headers", OP), timeout=30) as client:
                r = client.request(method, f"{api}{path}", **kwargs)
            requests[("/api/v1/tenants/{tid}" + route, r.status_code)] += 1
            return r

        platform = call("POST", "/api-keys", json={"role": "platform", "name": "sbc"}).json()[
            "key"]
        pk = {"Authorization": f"Bearer {platform}"}
        card = call("POST", "/payment-methods", json={
            "type": "card", "number": GOOD_CARD, "exp_month": 12, "exp_year": 2099}).json()["id"]
        assert call("PUT", "/credits/auto-recharge", json={
            "enabled": True, "amount": "100.00", "trigger": "99.50",
            "payment_method_id": card}).status_code == 200
        decisions: collections.Counter[tuple[str, str]] = collections.Counter()
        for call_id, user in (("ops-1", "alice0"), ("ops-2", "alice0"), ("ops-3", "bob0"),
                              ("ops-1", "alice0")):  # the last one repeats ops-1 (a replay)
            r = call("POST", "/calls/authorize", headers=pk, json={
                "call_id": call_id, "call_type": "user_out", "user": f"{user}@contoso.com",
                "caller": "+12065550100", "callee": GB_MOBILE})
            assert r.status_code == 200, r.text
            decisions[(r.json()["decision"], r.json()["reason"])] += 1
        for call_id in ("ops-1", "ops-2"):
            r = call("POST", f"/calls/{call_id}/end", headers=pk,
                     json={"duration_seconds": 61})
            assert r.status_code == 200, r.text
        at = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        cdrs = (CDR_HEADER
                + f"cdr-1,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},{at},120\n"
                + f"cdr-2,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},{at},30\n"
                + f"cdr-3,alice0@contoso.com,user_out,+12065550100,nope,{at},30\n")
        reports = [call("POST", "/cdrs", headers={**pk, "Content-Type": "text/csv"},
                        content=cdrs.encode()).json() for _ in range(2)]
        assert [(x["accepted"], x["duplicates"], len(x["rejected"])) for x in reports] == [
            (2, 0, 1), (0, 2, 1)], reports

        def scrape(port_url: str, headers: dict[str, str] | None = None) -> Samples:
            r = httpx.get(f"{port_url}/metrics", headers=headers, timeout=30)
            assert r.status_code == 200, r.text
            return parse(r.text)

        def settled() -> bool:
            s = scrape(url, OP)
            return (value(s, "commcredits_recharges_total", outcome="succeeded") >= 1
                    and value(s, "commcredits_email_outbox_pending") == 0
                    and value(s, "commcredits_emails_total", event="sent") >= 1)

        wait_for(settled, 60, "the recharge and its email")
        time.sleep(1.5)  # one more due-work round: nothing else is left to do
        samples = scrape(url, OP)
        loopback = scrape(f"http://127.0.0.1:{metrics_port}")
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 401
        pids = {f.stem.rsplit("_", 1)[1] for f in multiproc.glob("*.db")}
        assert len(pids) >= 2, pids  # both workers write their values to the folder
    assert value(samples, "commcredits_due_work_leader") == 1  # one of the two leads (OPS-3)

    for (decision, reason), n in decisions.items():
        assert value(samples, "commcredits_call_decisions_total", decision=decision,
                     reason=reason) == n
    assert value(samples, "commcredits_call_decisions_total") == 4
    assert value(samples, "commcredits_cdrs_total", outcome="rated") == 2
    assert value(samples, "commcredits_cdrs_total", outcome="duplicate") == 2
    assert value(samples, "commcredits_cdrs_total", outcome="rejected") == 2
    with rt.engine.connect() as conn:
        succeeded = conn.execute(select(func.count()).select_from(t.recharge_requests).where(
            t.recharge_requests.c.status == "succeeded")).scalar_one()
    assert succeeded == 1
    assert value(samples, "commcredits_recharges_total", outcome="succeeded") == 1
    assert value(samples, "commcredits_recharges_total") == 1
    queued = rows(rt, t.email_outbox, outbox_before)
    assert len(queued) >= 1
    assert value(samples, "commcredits_emails_total", event="queued") == len(queued)
    assert value(samples, "commcredits_emails_total", event="sent") == len(inbox.messages)
    assert value(samples, "commcredits_emails_total", event="failed") == 0
    assert value(samples, "commcredits_email_outbox_pending") == 0
    by_kind = collections.Counter(r.kind for r in rows(rt, t.ledger_entries, ledger_before))
    assert by_kind["charge"] >= 3 and by_kind["purchase"] == 1  # two calls, CDRs; a recharge
    for kind in ("purchase", "charge", "expired", "debt_settlement", "adjustment"):
        assert value(samples, "commcredits_ledger_entries_total", kind=kind) == by_kind[kind]
    for (route, status), n in requests.items():
        assert value(samples, "commcredits_http_requests_total", route=route,
                     status=str(status)) == n, (route, status)
    assert value(samples, "commcredits_http_request_duration_seconds_count",
                 route="/api/v1/tenants/{tid}/calls/authorize") == 4
    assert tid not in json.dumps([sorted(ls) for _, ls in samples])  # templates, not paths
    for name in ("commcredits_call_decisions_total", "commcredits_cdrs_total",
                 "commcredits_ledger_entries_total", "commcredits_emails_total"):
        assert value(loopback, name) == value(samples, name)
    rt.close()


class Server:
    """One `commcredits serve` process that the test may kill."""

    def __init__(self, tmp_path: Path, name: str, env: dict[str, str]) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        self.log = tmp_path / f"{name}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [COMMCREDITS, "serve", "--simulated-clock", "--no-demo", "--port",
                 str(self.port), "--metrics-port", str(self.metrics_port)],
                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_for(self.healthy, 120, f"{name} to serve")

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"serve exited:\n{self.log.read_text()}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).is_success
        except httpx.HTTPError:
            return False

    def metrics(self) -> Samples:
        r = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10)
        return parse(r.text)

    def leading(self) -> bool:
        return value(self.metrics(), "commcredits_due_work_leader") == 1

    def runs(self) -> float:
        return value(self.metrics(), "commcredits_due_work_runs_total")

    def stop(self) -> None:
        stop_group(self.proc)


@pytest.mark.rule("OPS-3")
def test_two_servers_run_due_work_once_and_the_survivor_takes_over_within_30_s(
    database: str, tmp_path: Path, smtp: tuple[Inbox, int],
) -> None:
    inbox, smtp_port = smtp
    rt = runtime_on(database, tmp_path, simulated=True)
    tid = setup(rt.services)  # one lot of 100.00, bought now
    store = rt.services.clock_store
    assert store is not None
    with rt.engine.connect() as conn:
        expires_at = conn.execute(select(t.lots.c.expires_at).where(
            t.lots.c.tenant_id == tid)).scalar_one()
    start = expires_at - timedelta(seconds=30)
    store.write(True, start)  # 30 s before the lot expires
    env = server_env(tmp_path, database, smtp_port)
    servers = [Server(tmp_path, "a", env), Server(tmp_path, "b", env)]
    try:
        wait_for(lambda: sum(s.leading() for s in servers) == 1, 30, "one leader")
        # 60 s of simulated time, in steps of 10 s, each given time for a due-work round.
        for step in range(1, 7):
            store.write(True, start + timedelta(seconds=10 * step))
            time.sleep(1.5)
        wait_for(lambda: rows(rt, t.email_outbox) != [] and all(
            r.status == "sent" for r in rows(rt, t.email_outbox)), 30, "the emails")
        leader, follower = sorted(servers, key=lambda s: not s.leading())
        assert leader.leading() and not follower.leading()
        assert leader.runs() >= 3 and follower.runs() == 0
        expired = [r for r in rows(rt, t.ledger_entries) if r.kind == "expired"]
        assert len(expired) == 1  # the lot expired once
        outbox = rows(rt, t.email_outbox)
        kinds = sorted(r.kind for r in outbox)
        assert "funds_expiring" in kinds
        assert len(inbox.messages) == len(outbox)  # each email delivered once
        assert all(r.attempts == 1 for r in outbox)

        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait()
        killed = time.monotonic()
        wait_for(follower.leading, 30, "the survivor to lead")
        took_over = time.monotonic() - killed
        assert took_over < 30
        wait_for(lambda: follower.runs() >= 1, 10, "the survivor's due work")
        assert len(inbox.messages) == len(rows(rt, t.email_outbox))  # nothing sent twice
    finally:
        for s in servers:
            s.stop()
        rt.close()


@pytest.mark.rule("OPS-4")
def test_json_logs_of_a_tour_hold_no_key_token_card_or_callee_number(
    database: str, tmp_path: Path, smtp: tuple[Inbox, int],
) -> None:
    _, smtp_port = smtp
    rt = runtime_on(database, tmp_path)
    tid = setup(rt.services)
    env = server_env(tmp_path, database, smtp_port, COMMCREDITS_LOG_FORMAT="json")
    log = tmp_path / "serve.log"
    secrets: list[str] = [OPERATOR_KEY, GB_MOBILE, GB_MOBILE.lstrip("+"), GOOD_CARD]
    made = 0
    with serve_subprocess([], cwd=tmp_path, env=env, log=log) as url:
        with httpx.Client(base_url=url, headers=OP, timeout=30) as client:
            admin = client.post(f"/api/v1/tenants/{tid}/api-keys",
                                json={"role": "global_admin", "name": "a"}).json()["key"]
            platform = client.post(f"/api/v1/tenants/{tid}/api-keys",
                                   json={"role": "platform", "name": "p"}).json()["key"]
            secrets += [admin, platform]
            card = client.post(f"/api/v1/tenants/{tid}/payment-methods", json={
                "type": "card", "number": GOOD_CARD, "exp_month": 12, "exp_year": 2099},
                headers={"Authorization": f"Bearer {admin}"}).json()["id"]
            bought = client.post(f"/api/v1/tenants/{tid}/credits/purchases",
                                 json={"amount": "50.00", "payment_method_id": card},
                                 headers={"Authorization": f"Bearer {admin}"})
            assert bought.status_code == 201, bought.text
            pk = {"Authorization": f"Bearer {platform}"}
            for n in range(3):
                r = client.post(f"/api/v1/tenants/{tid}/calls/authorize", headers=pk, json={
                    "call_id": f"log-{n}", "call_type": "user_out",
                    "user": "alice0@contoso.com", "caller": "+12065550100",
                    "callee": GB_MOBILE})
                assert r.status_code == 200, r.text
                client.post(f"/api/v1/tenants/{tid}/calls/log-{n}/end", headers=pk,
                            json={"duration_seconds": 30})
            made = 4 + 6
        out = subprocess.run(
            [COMMCREDITS, "admin", "create", "--tenant", tid, "--email", "ops@contoso.com",
             "--role", "global_admin", "--password", "Ops-pass-phrase-2026!"],
            cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
        link_out = subprocess.run(
            [COMMCREDITS, "admin", "link", "--email", "ops@contoso.com", "--base-url", url],
            cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
        found = re.search(r"/signin/link/(\S+)", link_out.stdout)
        assert found, (out.stdout, out.stderr, link_out.stdout, link_out.stderr)
        token = found.group(1)
        secrets.append(token)
        with httpx.Client(base_url=url, timeout=30) as browser:
            signed_in = browser.get(f"/signin/link/{token}", follow_redirects=False)
            assert signed_in.status_code in (302, 303), signed_in.text
            session = browser.cookies.get("cc_session")
            assert session
            secrets.append(session)
            assert browser.get("/").status_code in (200, 302, 303)
            made += 2
        time.sleep(0.5)
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [x for x in lines if x["logger"] == "commcredits.access"]
    assert len(access) >= made
    for entry in access:
        assert {"time", "level", "request_id", "method", "route", "status", "duration_ms",
                "tenant"} <= entry.keys()
    assert any(x["tenant"] == tid for x in access)
    for secret in secrets:
        assert secret not in text, f"{secret[:6]}… is in the log"
    rt.close()
