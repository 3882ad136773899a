"""Operations in process (OPS-1, OPS-2, OPS-4): liveness without a database, readiness that
knows the schema, `/metrics` for the operator only with route templates as labels, and the
request id.

The real `serve` (several workers, two processes, JSON logs) is driven in
`test_operations_serve.py`."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from alembic import command
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from commcredits.adapters.clock import SystemClock
from commcredits.adapters.db.migrate import alembic_config, upgrade
from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from commcredits.entrypoints.api.app import create_app
from commcredits.entrypoints.api.observe import JsonFormatter, access_log, scrub
from tests.conftest import PG_URL
from tests.e2e.conftest import OPERATOR_HEADERS, Api, bearer
from tests.support import OPERATOR_KEY


def counter(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` with these labels, whatever their other labels (the
    method: earlier tests in the same process may have counted a POST under the same route
    and status)."""
    return sum(float(sample.value)
               for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == name
               and all(sample.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture
def missing_database() -> Iterator[Runtime]:
    """A runtime on a PostgreSQL database that does not exist (nothing asks it at build)."""
    if not PG_URL:
        pytest.skip("COMMCREDITS_TEST_POSTGRES_URL is not set")
    url = make_url(PG_URL).set(database="commcredits_no_such_database")
    settings = Settings(database_url=url.render_as_string(hide_password=False),
                        operator_key=OPERATOR_KEY)
    rt = build(settings, clock=SystemClock())
    yield rt
    rt.close()


@pytest.mark.rule("OPS-2")
@pytest.mark.postgres
def test_readyz_is_503_when_the_database_does_not_exist_while_healthz_is_200(
    missing_database: Runtime,
) -> None:
    with TestClient(create_app(missing_database)) as client:
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "DATABASE_UNAVAILABLE"


@pytest.mark.rule("OPS-2")
def test_readyz_is_200_at_the_newest_migration_and_503_when_the_schema_is_behind(
    client: TestClient, runtime: Runtime,
) -> None:
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")
    cfg = alembic_config()
    try:
        with runtime.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "-1")
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert behind.json()["error"]["code"] == "SCHEMA_BEHIND"
        assert client.get("/healthz").status_code == 200
    finally:
        upgrade(runtime.engine)
    assert client.get("/readyz").status_code == 200


@pytest.mark.rule("OPS-1")
def test_metrics_are_for_the_operator_key_only(api: Api, client: TestClient) -> None:
    tid = api.tenant()
    admin = api.key(tid, "global_admin")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer(admin)).status_code == 403
    r = client.get("/metrics", headers=OPERATOR_HEADERS)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")


@pytest.mark.rule("OPS-1")
def test_requests_are_counted_by_route_template_and_status(
    api: Api, client: TestClient,
) -> None:
    tid = api.tenant()
    route = "/api/v1/tenants/{tid}/credits"
    before = client.get("/metrics", headers=OPERATOR_HEADERS).text
    for _ in range(3):
        assert api.get(f"/tenants/{tid}/credits").status_code == 200
    assert api.get("/tenants/nope/credits").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    after = client.get("/metrics", headers=OPERATOR_HEADERS).text
    name = "commcredits_http_requests_total"
    assert counter(after, name, route=route, status="200") \
        - counter(before, name, route=route, status="200") == 3
    assert counter(after, name, route=route, status="404") \
        - counter(before, name, route=route, status="404") == 1
    assert counter(after, name, route="unmatched", status="404") \
        - counter(before, name, route="unmatched", status="404") == 1
    assert counter(after, "commcredits_http_request_duration_seconds_count", route=route) \
        - counter(before, "commcredits_http_request_duration_seconds_count", route=route) == 4
    assert tid not in after and "nope" not in after  # templates, never raw paths


@pytest.mark.rule("OPS-4")
def test_the_request_id_is_returned_honoured_or_made(client: TestClient) -> None:
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 32
    assert client.get("/healthz", headers={"X-Request-Id": "lb-42.a"}).headers[
        "x-request-id"] == "lb-42.a"
    odd = client.get("/healthz", headers={"X-Request-Id": "no spaces <b>"})
    assert odd.headers["x-request-id"] != "no spaces <b>"
    assert len(odd.headers["x-request-id"]) == 32


@pytest.mark.rule("OPS-4")
def test_a_json_access_line_per_request(api: Api, client: TestClient) -> None:
    tid = api.tenant()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access_log.addHandler(handler)
    level = access_log.level
    access_log.setLevel(logging.INFO)
    try:
        r = api.get(f"/tenants/{tid}/credits", headers={"X-Request-Id": "req-1"})
    finally:
        access_log.removeHandler(handler)
        access_log.setLevel(level)
    assert r.headers["x-request-id"] == "req-1"
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert {k: entry[k] for k in ("level", "request_id", "method", "route", "status",
                                  "tenant")} == {
        "level": "info", "request_id": "req-1", "method": "GET",
        "route": "/api/v1/tenants/{tid}/credits", "status": 200, "tenant": tid}
    assert entry["duration_ms"] >= 0 and entry["time"].endswith("+00:00")


@pytest.mark.rule("OPS-4")
def test_scrub_removes_keys_tokens_cards_and_full_numbers() -> None:
    text = ("key cck_AbC-123_xyz Authorization: Bearer sekrit /signin/link/tok3n?x=1 "
            "card 4242424242424242 callee +447400123456 session=abcdef")
    cleaned = scrub(text)
    for secret in ("cck_AbC-123_xyz", "sekrit", "tok3n", "4242424242424242",
                   "+447400123456", "abcdef"):
        assert secret not in cleaned
    assert "+4474" in cleaned  # the country and area stay readable


@pytest.mark.rule("OPS-1")
def test_the_grafana_dashboard_charts_only_metrics_that_exist() -> None:
    from pathlib import Path

    from commcredits.adapters import metrics

    names: set[str] = {"commcredits_email_outbox_pending"}
    for family in (metrics.HTTP_REQUESTS, metrics.HTTP_LATENCY, metrics.CALL_DECISIONS,
                   metrics.CDRS, metrics.RECHARGES, metrics.EMAILS, metrics.LEDGER_ENTRIES,
                   metrics.DUE_WORK_RUNS, metrics.LEADER):
        for described in family.describe():
            names.update(s for s in (described.name, f"{described.name}_total",
                                     f"{described.name}_bucket") if s)
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana"
                            / "commcredits.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"commcredits_[a-z_]+", target["expr"])}
    assert used and used <= names, used - names
    assert {"commcredits_call_decisions_total", "commcredits_cdrs_total",
            "commcredits_recharges_total", "commcredits_emails_total",
            "commcredits_email_outbox_pending", "commcredits_ledger_entries_total",
            "commcredits_http_request_duration_seconds_bucket"} <= used
