"""A junk sweep over every API operation (ERR-1).

The operations come from the app's own OpenAPI document, which FastAPI builds from every
included route, so a new route is swept without editing this file. Each request carries
one piece of junk where the operation reads input: a path parameter, a query parameter, one
field of an otherwise valid JSON body, or an uploaded file: NUL characters, lone
surrogates, huge strings, wrong types, integer overflow, floats, non-ASCII digits, and the
years 0001 and 9999. Every answer must be a 4xx in the error envelope (the Graph endpoint
answers in Graph's own error shape, REP-3), and a fingerprint of the database (row counts
and a hash of every table's rows) must read the same after the sweep as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select

from commcredits.services.context import Services
from tests.e2e.conftest import Api, _tables, row_counts
from tests.integration.test_calls import GB_MOBILE, setup
from tests.support import GOOD_CARD, OPERATOR_KEY

HUGE = "x" * 100_000
TEXT_JUNK: list[Any] = ["\x00", "a\x00b", "\ud800", HUGE, [], {"$gt": 0}, 10**400]
NUMBER_JUNK: list[Any] = ["\u0661\u0662\u0663", "\uff11\uff12", 10**400, 2**63, -(2**63) - 1,
                          1e308, 0.30000000000000004, "1e400", "NaN", "Infinity", "\x00", [],
                          "9" * 5000]
DATE_JUNK: list[Any] = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "\u0661\u0662\u0663",
                        "\x00", 10**400, [], "2026-13-45T99:99:99Z"]
BOOL_JUNK: list[Any] = ["maybe", 10**400, [], "\x00", 2]
LIST_JUNK: list[Any] = ["\x00", 10**400, [{"email": "\x00", "role": "\ud800"}], [HUGE], {"a": 1}]
PATH_JUNK = ["%00", "x" * 5000, "\u0661\u0662\u0663", "%ED%A0%80", "9" * 400, "a%00b"]
# Free-text filters (a search for "١٢٣" finds nothing, rightly): only what text may not hold.
QUERY_TEXT_JUNK = ["%00", "a%00b", "x" * 20_000]
QUERY_NUMBER_JUNK = ["\u0661\u0662", "9" * 400, "-1", "1e400", "1.5", "%00", "NaN"]
QUERY_DATE_JUNK = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01",
                   "\u0661\u0662\u0663", "%00", "9" * 400]

NUMBER_FIELDS = {"amount", "trigger", "exp_month", "exp_year", "quantity", "advance_seconds",
                 "used_seconds", "duration_seconds"}
DATE_FIELDS = {"now", "start"}
BOOL_FIELDS = {"enabled", "blocked"}
LIST_FIELDS = {"contacts", "add", "remove"}
NUMBER_PARAMS = {"limit", "before", "$top"}
DATE_PARAMS = {"from", "to", "month"}

BAD_TEXT = ("\x00", "a\x00b", "\ud800", "%00", "a%00b")


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    kind: str  # path, query, body, upload
    where: str
    junk: Any
    body: bytes | None = None
    content_type: str | None = "application/json"

    def label(self) -> str:
        shown = repr(self.junk)
        return f"{self.method} {self.path[:90]} {self.kind}:{self.where}={shown[:40]}"


@dataclass
class World:
    tid: str
    card: str
    pid: str
    iid: str
    user: str = "alice0@contoso.com"
    call_id: str = "sweep-1"
    number: str = "+12065550177"


def _world(api: Api, svc: Services) -> World:
    tid = setup(svc)
    card = api.card(tid, GOOD_CARD)
    pid, _ = api.partner()
    iid = api.ok(f"/tenants/{tid}/invoices")["invoices"][0]["id"]
    r = api.post(f"/tenants/{tid}/calls/authorize", {
        "call_id": "sweep-1", "call_type": "user_out", "user": "alice0@contoso.com",
        "caller": "+12065550100", "callee": GB_MOBILE})
    assert r.status_code == 200, r.text
    return World(tid, card, pid, str(iid))


def _bases(w: World) -> dict[tuple[str, str], dict[str, Any]]:
    """A valid body for every JSON operation; the sweep spoils one field at a time."""
    return {
        ("POST", "/api/v1/tenants"): {"name": "Junk Ltd", "country": "US",
                                      "billing_account_type": "MOSA", "contacts": []},
        ("PUT", "/api/v1/tenants/{tid}/ea-exception"): {"enabled": True},
        ("POST", "/api/v1/tenants/{tid}/api-keys"): {"role": "reader", "name": "k"},
        ("POST", "/api/v1/tenants/{tid}/payment-methods"): {
            "type": "card", "number": GOOD_CARD, "exp_month": 12, "exp_year": 2030},
        ("POST", "/api/v1/tenants/{tid}/credits/purchases"): {
            "amount": "60.00", "payment_method_id": w.card},
        ("PUT", "/api/v1/tenants/{tid}/credits/auto-recharge"): {
            "enabled": True, "amount": "50.00", "trigger": "10.00", "payment_method_id": w.card},
        ("POST", "/api/v1/tenants/{tid}/credits/adjustments"): {"amount": "1.00",
                                                                 "reason": "sweep"},
        ("POST", "/api/v1/partners"): {"name": "Junk CSP"},
        ("POST", "/api/v1/partners/{pid}/api-keys"): {"name": "k"},
        ("POST", "/api/v1/partners/{pid}/tenants"): {"tenant_id": w.tid},
        ("POST", "/api/v1/clock"): {"advance_seconds": 60},
        ("POST", "/api/v1/tenants/{tid}/users"): {
            "upn": "junk@contoso.com", "display_name": "Junk", "usage_location": "US"},
        ("PATCH", "/api/v1/tenants/{tid}/users/{user}"): {"display_name": "Alice"},
        ("POST", "/api/v1/tenants/{tid}/users/{user}/licenses"): {"add": ["MCOEV"]},
        ("POST", "/api/v1/tenants/{tid}/subscriptions"): {"sku": "MCOEV", "quantity": 1},
        ("POST", "/api/v1/tenants/{tid}/numbers"): {"number": w.number, "type": "user"},
        ("PATCH", "/api/v1/tenants/{tid}/numbers/{number}"): {"assigned_to": w.user},
        ("POST", "/api/v1/tenants/{tid}/resource-accounts"): {
            "upn": "ra@contoso.com", "display_name": "RA", "kind": "auto_attendant"},
        ("PUT", "/api/v1/tenants/{tid}/billing-account"): {"billing_account_type": "MOSA"},
        ("PUT", "/api/v1/tenants/{tid}/overage"): {"enabled": True},
        ("POST", "/api/v1/tenants/{tid}/calls/authorize"): {
            "call_id": "sweep-2", "call_type": "user_out", "user": w.user,
            "caller": "+12065550100", "callee": GB_MOBILE},
        ("POST", "/api/v1/tenants/{tid}/calls/{call_id}/update"): {"used_seconds": 30},
        ("POST", "/api/v1/tenants/{tid}/calls/{call_id}/end"): {"duration_seconds": 30},
        ("PUT", "/api/v1/tenants/{tid}/spend-guard"): {"limits": {"user_hour": "5.00"}},
        ("POST", "/api/v1/tenants/{tid}/insight/what-if"): {
            "from": "2026-01-01", "to": "2026-01-31", "rate_table_version": 1},
        ("POST", "/api/v1/tenants/{tid}/insight/plan-advice/apply"): {"days": 30},
    }


UPLOADS: dict[str, list[bytes]] = {
    "cdrs": [
        b"\x00\x00\x00", b"\xff\xfe\x00", b"Call ID\n" + b"x" * 200_000,
        b'{"Call ID": "\\ud800"}\n', b'{"Call ID": "a\\u0000"}\n', b"[1, 2]\n", b"{" * 5000,
    ],
    "rates": [
        b"\x00", b"\xff\xfe", b"prefix,destination\n1,\x00\n",
        b"prefix,destination,number_type,direction,rate_per_minute,connection_fee,"
        b"effective_from\n44,UK,mobile,outbound," + b"9" * 400 + b",0,0001-01-01T00:00:00Z\n",
        b"prefix,destination,number_type,direction,rate_per_minute,connection_fee,"
        b"effective_from\n\xd9\xa1\xd9\xa2,UK,mobile,outbound,1e400,NaN,9999-12-31T23:59:59Z\n",
    ],
    "bulk": [b"\x00", b"\xff\xfe", b"upn,sku,action\n\x00,MCOEV,add\n",
             b"upn,sku\n" + HUGE.encode()],
}


def _fill(template: str, w: World, junk_param: str | None = None, junk: str = "") -> str:
    values = {"tid": w.tid, "pid": w.pid, "iid": w.iid, "user": quote(w.user),
              "number": quote(w.number), "call_id": w.call_id, "currency": "USD",
              "function": "getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-01-10)"}
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", junk if name == junk_param else value)
    return out


def _field_junk(field: str) -> list[Any]:
    if field in NUMBER_FIELDS:
        return NUMBER_JUNK
    if field in DATE_FIELDS:
        return DATE_JUNK
    if field in BOOL_FIELDS:
        return BOOL_JUNK
    if field in LIST_FIELDS:
        return LIST_JUNK
    return TEXT_JUNK


def _query_junk(name: str) -> list[str]:
    if name in NUMBER_PARAMS:
        return QUERY_NUMBER_JUNK
    if name in DATE_PARAMS:
        return QUERY_DATE_JUNK
    return QUERY_TEXT_JUNK


def _dumps(body: Any) -> bytes:
    return json.dumps(body).encode()  # lone surrogates go out escaped, as JSON clients send


def cases(spec: dict[str, Any], w: World) -> Iterator[Case]:
    """Every operation of the OpenAPI document, with its junk."""
    bases = _bases(w)
    for template, operations in spec["paths"].items():
        if template == "/healthz":
            continue
        for method, op in operations.items():
            method = method.upper()
            params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
            base = bases.get((method, template))
            takes_json = "application/json" in op.get("requestBody", {}).get("content", {})
            assert base is not None or not takes_json, f"no base body for {method} {template}"
            body = _dumps(base) if base is not None else None
            for p in params:
                name = p["name"]
                if p["in"] == "path":
                    for junk in PATH_JUNK:
                        yield Case(method, _fill(template, w, name, junk), "path", name, junk,
                                   body)
                else:
                    for junk in _query_junk(name):
                        q = junk if "%" in junk else quote(junk, safe="")
                        yield Case(method, f"{_fill(template, w)}?{quote(name)}={q}", "query",
                                   name, junk, body)
            if base is not None:
                for field in base or {"-": None}:
                    for junk in _field_junk(field):
                        yield Case(method, _fill(template, w), "body", field, junk,
                                   _dumps({**base, field: junk}))
                for junk in ("\x00", "\ud800"):  # junk in a field name
                    yield Case(method, _fill(template, w), "body", "key", junk,
                               _dumps({**base, f"k{junk}": 1}))
            upload = {"/cdrs": "cdrs", "/rate-tables/": "rates", "/licenses/bulk": "bulk"}
            kind = next((v for k, v in upload.items() if k in template), None)
            if kind and method in ("POST", "PUT"):
                for content in UPLOADS[kind]:
                    yield Case(method, _fill(template, w), "upload", kind, content[:40],
                               content, None)


def fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    """Every table's row count and a hash of its rows in primary-key order."""
    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for table in _tables(engine):
            order = list(table.primary_key.columns) or list(table.columns)
            digest = hashlib.sha256()
            count = 0
            for row in conn.execute(select(table).order_by(*order)):
                digest.update(repr(tuple(row)).encode())
                count += 1
            out[table.name] = (count, digest.hexdigest())
    return out


def _problem(case: Case, r: Response) -> str | None:
    """What is wrong with the answer, or None."""
    if not 400 <= r.status_code < 500:
        return f"status {r.status_code}: {r.text[:200]}"
    try:
        body = r.json()
    except ValueError:
        return f"not JSON: {r.text[:120]}"
    error = body.get("error") if isinstance(body, dict) else None
    if case.path.startswith("/graph/"):
        ok = isinstance(error, dict) and {"code", "message"} <= set(error)
        return None if ok else f"not a Graph error: {r.text[:120]}"
    if not (isinstance(body, dict) and set(body) == {"error"} and isinstance(error, dict)
            and set(error) == {"code", "message", "details"}
            and isinstance(error["details"], dict) and error["code"] and error["message"]):
        return f"not the envelope: {r.text[:160]}"
    return None


def sweep(client: TestClient, engine: Engine, all_cases: list[Case]) -> list[str]:
    """Send every case; what is wrong with each answer, one line per failing case."""
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    for case in all_cases:
        before = row_counts(engine)
        sent = dict(headers)
        if case.content_type and case.body is not None:
            sent["Content-Type"] = case.content_type
        r = client.request(case.method, case.path, content=case.body, headers=sent)
        problem = _problem(case, r)
        if problem is None and row_counts(engine) != before:
            problem = "changed the database"
        if problem is not None:
            failures.append(f"{case.label()}: {problem}")
    return failures


@pytest.fixture
def world(api: Api, svc: Services) -> World:
    return _world(api, svc)


def _spec(api: Api) -> dict[str, Any]:
    app: Any = api.client.app
    spec: dict[str, Any] = app.openapi()
    return spec


@pytest.mark.rule("ERR-1")
def test_junk_in_every_input_of_every_operation_is_refused_in_the_envelope_and_changes_nothing(
    api: Api, engine: Engine, world: World,
) -> None:
    all_cases = list(cases(_spec(api), world))
    assert len(all_cases) >= 300
    operations = {(c.method, c.path.split("?")[0]) for c in all_cases if c.kind == "body"}
    assert len(operations) >= 20  # every JSON operation
    before = fingerprint(engine)
    failures = sweep(api.client, engine, all_cases)
    assert not failures, f"{len(failures)} of {len(all_cases)} requests:\n" + "\n".join(failures)
    assert fingerprint(engine) == before
