"""Issue #12: inputs that used to be accepted, or answered 500, are refused with the error
envelope and a stable code, and change nothing (ERR-1, FUND-2, FUND-9, AR-1, CALL-1, CDR-1,
RATE-3, NUM-1, PAY-1, SIM-1); a refused caller hears 401, then 404/403, before anything
about its body (AUTH-1); and /openapi.json types every request body.

Each test pins exact amounts and codes, and compares what the tenant's admins can read and
every table's row count before and after the refused request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import Engine
from typer.testing import CliRunner

from commcredits.entrypoints.cli.main import app as cli
from commcredits.services.context import Services
from tests.e2e.conftest import Api, assert_envelope, row_counts, snapshot, successful_charges
from tests.integration.test_calls import GB_MOBILE, setup
from tests.support import OPERATOR_KEY

Send = Callable[[], Response]
CSV = {"Content-Type": "text/csv"}
JSON = {"Content-Type": "application/json"}
HUGE = "1" + "0" * 28  # 1e28: more digits than the default decimal context keeps


@contextmanager
def unchanged(api: Api, engine: Engine, tid: str) -> Iterator[None]:
    """Whatever runs inside changes nothing the tenant's admins can read, and no row count."""
    before = snapshot(api, engine, tid)
    charged = successful_charges(engine)
    yield
    assert snapshot(api, engine, tid) == before
    assert successful_charges(engine) == charged


def refused(api: Api, engine: Engine, tid: str, send: Send, status: int, code: str,
            ) -> dict[str, Any]:
    """`send` is refused with the envelope, ``status`` and ``code``, and changes nothing."""
    with unchanged(api, engine, tid):
        error = assert_envelope(send(), status, code)
    return error


@pytest.fixture
def shop(api: Api) -> dict[str, str]:
    """A MOSA tenant in the US with a good card and 100.00 USD of credits."""
    tid = api.tenant()
    card = api.card(tid)
    api.bought(tid, "100.00", card)
    return {"tid": tid, "card": card}


def auto_recharge(api: Api, tid: str, body: dict[str, Any]) -> Send:
    return lambda: api.put(f"/tenants/{tid}/credits/auto-recharge", body)


def raw_post(api: Api, path: str, content: bytes) -> Send:
    return lambda: api.post(path, content=content, headers=JSON)


# Item 1: auto-recharge and adjustments take FUND-2's upper limit.


@pytest.mark.rule("AR-1")
@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_auto_recharge_amount_or_trigger_above_the_purchase_maximum_is_invalid(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid, card = shop["tid"], shop["card"]
    for field in ("amount", "trigger"):
        for value in ("1000000.01", "5000000.00", "9000000000000.00", "9223372036854.78",
                      HUGE):
            with subtests.test(field=field, value=value):
                body = {"enabled": True, "amount": "100.00", "trigger": "50.00",
                        "payment_method_id": card, field: value}
                error = refused(api, engine, tid, auto_recharge(api, tid, body),
                                422, "INVALID_AMOUNT")
                assert error["details"]["maximum"] == "1000000.00"
    r = auto_recharge(api, tid, {"enabled": True, "amount": "1000000.00",
                                 "trigger": "1000000.00", "payment_method_id": card})()
    assert r.status_code == 200, r.text
    assert api.ok(f"/tenants/{tid}/credits")["auto_recharge"]["amount"] == "1000000.00"


@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_an_operator_adjustment_beyond_the_purchase_maximum_is_invalid(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    for amount in ("1000000.01", "-1000000.01", "9223372036854.78", "-9223372036854.78",
                   HUGE, "-" + HUGE):
        with subtests.test(amount=amount):
            error = refused(api, engine, tid, lambda amount=amount: api.post(
                f"/tenants/{tid}/credits/adjustments", {"amount": amount, "reason": "typo"},
            ), 422, "INVALID_AMOUNT")
            assert error["details"]["maximum"] == "1000000.00"
    r = api.post(f"/tenants/{tid}/credits/adjustments",
                 {"amount": "-1000000.00", "reason": "largest correction"})
    assert r.status_code == 201, r.text
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "-999900.00"


@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_the_cli_adjustment_is_capped_as_the_api_one(
    api: Api, engine: Engine, shop: dict[str, str], db_url: str,
) -> None:
    tid = shop["tid"]
    runner = CliRunner()
    with unchanged(api, engine, tid):
        for amount in ("1000000.01", "-5000000.00", HUGE):
            result = runner.invoke(cli, ["credits", "adjust", "--reason", "typo",
                                         "--db", db_url, "--", tid, amount])
            assert result.exit_code == 2, result.output
            assert "INVALID_AMOUNT" in result.output


# Item 7: JSON numbers are decimals, never binary floats.


@pytest.mark.rule("FUND-9")
@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_json_number_amounts_with_more_than_two_decimals_are_invalid(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid, card = shop["tid"], shop["card"]
    for token in ("50.009999999999999999", "50.0000000000000001", "100.001", "1e28",
                  "1E+400", HUGE + ".00"):
        with subtests.test(token=token):
            body = f'{{"amount": {token}, "payment_method_id": "{card}"}}'.encode()
            refused(api, engine, tid, raw_post(api, f"/tenants/{tid}/credits/purchases", body),
                    422, "INVALID_AMOUNT")
            body = (f'{{"enabled": true, "amount": {token}, "trigger": "0", '
                    f'"payment_method_id": "{card}"}}').encode()
            refused(api, engine, tid, lambda body=body: api.put(
                f"/tenants/{tid}/credits/auto-recharge", content=body, headers=JSON,
            ), 422, "INVALID_AMOUNT")


@pytest.mark.rule("FUND-9")
def test_a_json_number_amount_is_taken_to_the_cent(
    api: Api, shop: dict[str, str],
) -> None:
    tid, card = shop["tid"], shop["card"]
    body = f'{{"amount": 60.10, "payment_method_id": "{card}"}}'.encode()
    r = raw_post(api, f"/tenants/{tid}/credits/purchases", body)()
    assert r.status_code == 201, r.text
    assert r.json()["lot"]["amount"] == "60.10"
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "160.10"


# Item 6: more inputs that answered 500.


@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_amounts_of_1e28_or_more_are_invalid_not_a_5xx(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid, card = shop["tid"], shop["card"]
    for amount in (HUGE, HUGE + ".00", "9" * 40, "-" + HUGE):
        with subtests.test(amount=amount):
            refused(api, engine, tid, lambda amount=amount: api.buy(tid, amount, card),
                    422, "INVALID_AMOUNT")


@pytest.mark.rule("RATE-3")
@pytest.mark.rule("ERR-1")
def test_a_rate_of_1e28_is_reported_on_its_line(api: Api, engine: Engine) -> None:
    before = row_counts(engine)
    table = (b"prefix,destination,number_type,direction,rate_per_minute,connection_fee,"
             b"first_increment,next_increment,effective_from\n"
             b"44,United Kingdom,fixed,outbound," + HUGE.encode() + b",0,60,60,"
             b"2026-01-01T00:00:00Z\n")
    error = assert_envelope(api.call("PUT", "/rate-tables/GBP", content=table, headers=CSV),
                            422, "INVALID_RATE_TABLE")
    assert [e["line"] for e in error["details"]["errors"]] == [2]
    assert row_counts(engine) == before


CALL = {"call_id": "h-1", "call_type": "user_out", "user": "alice0@contoso.com",
        "caller": "+12065550100", "callee": GB_MOBILE}


@pytest.mark.rule("CALL-7")
@pytest.mark.rule("ERR-1")
def test_used_seconds_beyond_any_call_are_invalid_usage(
    api: Api, svc: Services, engine: Engine, subtests: pytest.Subtests,
) -> None:
    tid = setup(svc)
    platform = api.key(tid, "platform")
    r = api.post(f"/tenants/{tid}/calls/authorize", CALL, key=platform)
    assert r.status_code == 200, r.text
    path = f"/tenants/{tid}/calls/h-1/update"
    for token in ("9223372036854775808", "1e30", "86401", "-1", "30.5"):
        with subtests.test(used_seconds=token):
            body = f'{{"used_seconds": {token}}}'.encode()
            refused(api, engine, tid, lambda body=body: api.post(
                path, content=body, headers={**JSON, "Authorization": f"Bearer {platform}"},
                key=None,
            ), 422, "INVALID_USAGE")
    r = api.post(path, {"used_seconds": 300}, key=platform)
    assert r.json() == {"grant_seconds": 300, "final": False, "status": "active"}


@pytest.mark.rule("POOL-6")
@pytest.mark.rule("POST-2")
@pytest.mark.rule("ERR-1")
def test_a_month_at_the_end_of_the_calendar_is_invalid_not_a_5xx(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    mca = api.tenant(kind="MCA", name="Postpaid")
    for path in (f"/tenants/{tid}/reports/minute-pools", f"/tenants/{mca}/overage"):
        for month in ("9999-12", "9999-13", "0000-01", "\u0662\u0660\u0662\u0666-01"):
            with subtests.test(path=path, month=month):
                refused(api, engine, tid, lambda path=path, month=month: api.get(
                    path, params={"month": month}), 422, "INVALID_MONTH")


@pytest.mark.rule("SIM-1")
@pytest.mark.rule("ERR-1")
def test_advancing_the_clock_beyond_the_calendar_is_invalid_not_a_5xx(
    api: Api, svc: Services, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    assert svc.clock_store is not None
    svc.clock_store.write(True, svc.clock.now())
    tid = shop["tid"]
    for token in ("1e30", "1e15", "9223372036854775808", "315360000000"):
        with subtests.test(advance_seconds=token):
            body = f'{{"advance_seconds": {token}}}'.encode()
            refused(api, engine, tid, raw_post(api, "/clock", body), 422, "INVALID_CLOCK")
    assert api.ok("/clock") == {"now": "2026-01-15T09:00:00Z", "simulated": True}


def long_field_table() -> bytes:
    return (b"prefix,destination,number_type,direction,rate_per_minute,connection_fee,"
            b"first_increment,next_increment,effective_from\n"
            b"44,United Kingdom,fixed,outbound,0.02,0,60,60,2026-01-01T00:00:00Z\n"
            b"33," + b"x" * 140_000 + b",fixed,outbound,0.02,0,60,60,2026-01-01T00:00:00Z\n")


@pytest.mark.rule("RATE-3")
@pytest.mark.rule("ERR-1")
def test_a_rate_table_field_over_the_csv_limit_is_refused_with_its_line(
    api: Api, engine: Engine,
) -> None:
    before = row_counts(engine)
    r = api.call("PUT", "/rate-tables/GBP", content=long_field_table(), headers=CSV)
    error = assert_envelope(r, 422, "INVALID_RATE_TABLE")
    assert error["details"]["line"] == 3
    assert "line 3" in error["message"]
    assert row_counts(engine) == before


CDR_HEADER = "Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time,Duration Seconds\n"


def cdr(call_id: str, start: str, upn: str = "alice0@contoso.com") -> str:
    return f"{call_id},{upn},user_out,+12065550100,{GB_MOBILE},{start},60\n"


@pytest.mark.rule("CDR-1")
@pytest.mark.rule("ERR-1")
def test_a_cdr_field_over_the_csv_limit_refuses_the_file_with_its_line(
    api: Api, svc: Services, engine: Engine,
) -> None:
    tid = setup(svc)
    body = CDR_HEADER + cdr("c1", "2026-01-15T08:00:00Z") + cdr("c2", "2026-01-15T08:05:00Z",
                                                                 upn="a" * 140_000)
    error = refused(api, engine, tid, lambda: api.post(
        f"/tenants/{tid}/cdrs", content=body.encode(), headers=CSV,
    ), 422, "INVALID_CDR_FILE")
    assert error["details"]["line"] == 3
    assert "line 3" in error["message"]
    with unchanged(api, engine, tid):  # JSON lines have no field limit: one rejected row
        jsonl = '{"Call ID": "j1", "UPN": "' + "a" * 140_000 + '"}\n'
        r = api.post(f"/tenants/{tid}/cdrs", content=jsonl.encode())
        assert r.status_code == 200, r.text
        assert [x["line"] for x in r.json()["rejected"]] == [1]


@pytest.mark.rule("CDR-1")
@pytest.mark.rule("ERR-1")
def test_cdr_start_times_outside_the_window_are_rejected_rows(
    api: Api, svc: Services, engine: Engine,
) -> None:
    """Now is 2026-01-15T09:00Z: a CDR may start up to 7 days ahead and 730 days back."""
    tid = setup(svc)
    rows = [cdr("far-future", "9999-12-31T23:59:59Z"), cdr("next-week+", "2026-01-22T09:00:01Z"),
            cdr("too-old", "2024-01-15T08:59:59Z"), cdr("year-one", "0001-01-01T00:00:00Z")]
    with unchanged(api, engine, tid):
        r = api.post(f"/tenants/{tid}/cdrs", content=(CDR_HEADER + "".join(rows)).encode(),
                     headers=CSV)
        assert r.status_code == 200, r.text
        report = r.json()
    assert (report["accepted"], report["duplicates"]) == (0, 0)
    assert [(x["line"], x["reason"]) for x in report["rejected"]] == [
        (2, "INVALID_CDR"), (3, "INVALID_CDR"), (4, "INVALID_CDR"), (5, "INVALID_CDR")]
    edge = CDR_HEADER + cdr("edge", "2026-01-22T09:00:00Z") + cdr("old", "2024-01-16T09:00:00Z")
    r = api.post(f"/tenants/{tid}/cdrs", content=edge.encode(), headers=CSV)
    report = r.json()
    assert (report["accepted"], report["duplicates"]) == (1, 0)
    # Inside the window, the old call is rated: alice had no licenses in 2024 (LIC-5).
    assert [(x["line"], x["reason"]) for x in report["rejected"]] == [(3, "NO_CALLING_PLAN")]


@pytest.mark.rule("CALL-1")
@pytest.mark.rule("CALL-7")
@pytest.mark.rule("ERR-1")
def test_authorize_with_a_start_more_than_a_day_from_now_is_invalid_and_reserves_nothing(
    api: Api, svc: Services, engine: Engine, subtests: pytest.Subtests,
) -> None:
    tid = setup(svc)
    platform = api.key(tid, "platform")
    for start in ("9999-12-31T23:59:59Z", "2026-01-16T09:00:01Z", "2026-01-14T08:59:59Z",
                  "0001-01-01T00:00:00+00:00"):
        with subtests.test(start=start):
            refused(api, engine, tid, lambda start=start: api.post(
                f"/tenants/{tid}/calls/authorize", {**CALL, "start": start}, key=platform,
            ), 422, "INVALID_CALL")
    r = api.post(f"/tenants/{tid}/calls/authorize",
                 {**CALL, "start": "2026-01-16T09:00:00Z"}, key=platform)
    assert (r.status_code, r.json()["decision"]) == (200, "allow")


# Item 8: card numbers are ASCII digits; phone numbers are valid per libphonenumber.


@pytest.mark.rule("PAY-1")
@pytest.mark.rule("ERR-1")
def test_card_numbers_in_non_ascii_digits_are_invalid(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in "4242424242424242")
    arabic = "".join(chr(0x0660 + int(d)) for d in "4242424242424242")
    mixed = "4242424242424" + "\u0662\u0664\u0662"
    for number in (fullwidth, arabic, mixed, "\u00b2" * 16):
        with subtests.test(number=number):
            error = refused(api, engine, tid, lambda number=number: api.post(
                f"/tenants/{tid}/payment-methods",
                {"type": "card", "number": number, "exp_month": 12, "exp_year": 2099},
            ), 422, "INVALID_CARD_NUMBER")
            assert number not in str(error)


@pytest.mark.rule("NUM-1")
@pytest.mark.rule("ERR-1")
def test_numbers_must_be_valid_e164_per_libphonenumber(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    fullwidth = "+" + "".join(chr(0xFF10 + int(d)) for d in "18005550100")
    for number in ("+999999999999999", "+10000000000", fullwidth, "+4420794600"):
        with subtests.test(number=number):
            refused(api, engine, tid, lambda number=number: api.post(
                f"/tenants/{tid}/numbers", {"number": number, "type": "toll_free"},
            ), 422, "INVALID_PHONE_NUMBER")
            refused(api, engine, tid, lambda number=number: api.post(
                f"/tenants/{tid}/users", {"upn": "x@contoso.com", "display_name": "X",
                                          "phone_number": number},
            ), 422, "INVALID_PHONE_NUMBER")
    r = api.post(f"/tenants/{tid}/numbers", {"number": "+18005550100", "type": "toll_free"})
    assert r.status_code == 201, r.text


# Item 11: authentication, then access, then the body.


def order_of(api: Api, method: str, path: str, content: bytes,
             keys: dict[str, str | None]) -> dict[str, tuple[int, str]]:
    """The status and code each key gets for the same (bad) body."""
    answers = {}
    for name, key in keys.items():
        r = api.call(method, path, key=key, content=content, headers=JSON)
        answers[name] = (r.status_code, assert_envelope(r, r.status_code, r.json()["error"][
            "code"])["code"])
    return answers


@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("AUTH-2")
@pytest.mark.rule("ERR-1")
def test_a_bad_body_is_judged_only_after_the_key_and_the_access(
    api: Api, svc: Services, engine: Engine, subtests: pytest.Subtests,
) -> None:
    tid = setup(svc)
    other = api.tenant(name="Woodgrove")
    keys = {role: api.key(tid, role) for role in
            ("global_admin", "billing_admin", "teams_admin", "reader", "platform")}
    stranger = api.key(other, "global_admin")
    unauthenticated = {"no key": None, "bad key": "cck_forged"}
    cases: list[tuple[str, str, bytes, dict[str, str | None], dict[str, tuple[int, str]]]] = [
        ("POST", "/tenants", b'{"name": "Incomplete"}',
         {**unauthenticated, "billing admin": keys["billing_admin"], "operator": OPERATOR_KEY},
         {"billing admin": (403, "FORBIDDEN"), "operator": (422, "VALIDATION_ERROR")}),
        ("POST", f"/tenants/{tid}/credits/purchases", b'{"amount": ',
         {**unauthenticated, "stranger": stranger, "reader": keys["reader"],
          "billing admin": keys["billing_admin"]},
         {"stranger": (404, "TENANT_NOT_FOUND"), "reader": (403, "FORBIDDEN"),
          "billing admin": (422, "VALIDATION_ERROR")}),
        ("PUT", f"/tenants/{tid}/credits/auto-recharge", b'{"enabled": true, "tip": 1}',
         {**unauthenticated, "teams admin": keys["teams_admin"],
          "global admin": keys["global_admin"]},
         {"teams admin": (403, "FORBIDDEN"), "global admin": (422, "VALIDATION_ERROR")}),
        ("POST", f"/tenants/{tid}/users", b'{"upn": []}',
         {**unauthenticated, "stranger": stranger, "billing admin": keys["billing_admin"],
          "teams admin": keys["teams_admin"]},
         {"stranger": (404, "TENANT_NOT_FOUND"), "billing admin": (403, "FORBIDDEN"),
          "teams admin": (422, "VALIDATION_ERROR")}),
        ("POST", f"/tenants/{tid}/credits/adjustments", b"[]",
         {**unauthenticated, "global admin": keys["global_admin"], "operator": OPERATOR_KEY},
         {"global admin": (403, "FORBIDDEN"), "operator": (422, "VALIDATION_ERROR")}),
        ("POST", "/clock", b'{"advance_seconds": 60, "extra": true}',
         {**unauthenticated, "global admin": keys["global_admin"], "operator": OPERATOR_KEY},
         {"global admin": (403, "FORBIDDEN"), "operator": (422, "VALIDATION_ERROR")}),
        ("PUT", f"/tenants/{tid}/overage", b"not json",
         {**unauthenticated, "reader": keys["reader"], "billing admin": keys["billing_admin"]},
         {"reader": (403, "FORBIDDEN"), "billing admin": (422, "VALIDATION_ERROR")}),
        ("POST", f"/tenants/{tid}/calls/authorize", b'{"call_id": "x"}',
         {**unauthenticated, "stranger": stranger, "platform": keys["platform"]},
         {"stranger": (404, "TENANT_NOT_FOUND"), "platform": (422, "VALIDATION_ERROR")}),
        ("POST", f"/tenants/{tid}/calls/c-1/end", b'{"duration_seconds": 1, "x": 1}',
         {**unauthenticated, "stranger": stranger, "platform": keys["platform"]},
         {"stranger": (404, "TENANT_NOT_FOUND"), "platform": (422, "VALIDATION_ERROR")}),
        # A bad query parameter, too, is judged after the key and the tenant.
        ("GET", f"/tenants/{tid}/credits/ledger?limit=many", b"",
         {**unauthenticated, "stranger": stranger, "reader": keys["reader"]},
         {"stranger": (404, "TENANT_NOT_FOUND"), "reader": (422, "VALIDATION_ERROR")}),
        ("GET", f"/tenants/{tid}/audit-log?limit=0", b"",
         {**unauthenticated, "stranger": stranger, "global admin": keys["global_admin"]},
         {"stranger": (404, "TENANT_NOT_FOUND"), "global admin": (422, "VALIDATION_ERROR")}),
    ]
    with unchanged(api, engine, tid), unchanged(api, engine, other):
        for method, path, content, sent, expected in cases:
            with subtests.test(method=method, path=path):
                assert order_of(api, method, path, content, sent) == {
                    **{k: (401, "UNAUTHENTICATED") for k in unauthenticated if k in sent},
                    **expected}


# Item 10: every request body is typed in /openapi.json.


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _untyped(spec: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    """The places in ``schema`` that accept anything (an empty schema, i.e. `Any`)."""
    schema = _resolve(spec, schema)
    if not any(k in schema for k in ("type", "enum", "anyOf", "oneOf", "allOf")):
        return [where]
    found = []
    for name, sub in schema.get("properties", {}).items():
        found += _untyped(spec, sub, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        found += _untyped(spec, schema["items"], f"{where}[]")
    return found


@pytest.mark.rule("ERR-1")
def test_every_request_body_is_documented_with_its_shape_and_bounds(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    json_bodies, csv_bodies, untyped = {}, set(), []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                schema = _resolve(spec, content["application/json"]["schema"])
                json_bodies[(method, path)] = schema
                assert schema.get("additionalProperties") is False, (method, path)
                untyped += _untyped(spec, schema, f"{method} {path}")
            if "text/csv" in content:
                csv_bodies.add((method, path))
    assert untyped == []
    assert len(json_bodies) == 26  # 23 + spend-guard, what-if, plan-advice/apply (#18)
    assert csv_bodies == {("put", "/api/v1/rate-tables/{currency}"),
                          ("post", "/api/v1/tenants/{tid}/cdrs"),
                          ("post", "/api/v1/tenants/{tid}/licenses/bulk")}

    def prop(method: str, path: str, name: str) -> dict[str, Any]:
        return _resolve(spec, json_bodies[(method, f"/api/v1{path}")]["properties"][name])

    amount = prop("post", "/tenants/{tid}/credits/purchases", "amount")
    guard = prop("put", "/tenants/{tid}/spend-guard", "blocked")
    assert (guard["type"], guard["maxItems"]) == ("array", 500)
    assert (amount["type"], amount["pattern"]) == ("string", r"^[0-9]{1,7}(\.[0-9]{1,2})?$")
    assert prop("put", "/tenants/{tid}/credits/auto-recharge", "trigger")["pattern"] == \
        amount["pattern"]
    assert prop("post", "/tenants/{tid}/credits/adjustments", "amount")["pattern"] == \
        r"^-?[0-9]{1,7}(\.[0-9]{1,2})?$"
    assert prop("post", "/tenants/{tid}/api-keys", "role")["enum"] == [
        "global_admin", "billing_admin", "teams_admin", "reader", "platform"]
    assert prop("post", "/tenants", "name")["maxLength"] == 200
    assert prop("post", "/tenants", "billing_account_type")["enum"] == [
        "MOSA", "CSP", "EA", "MCA"]
    assert "user_out" in prop("post", "/tenants/{tid}/calls/authorize", "call_type")["enum"]
    used = prop("post", "/tenants/{tid}/calls/{call_id}/update", "used_seconds")
    assert (used["type"], used["minimum"], used["maximum"]) == ("integer", 0, 86_400)
    month = prop("post", "/tenants/{tid}/payment-methods", "exp_month")
    assert (month["minimum"], month["maximum"]) == (1, 12)
    assert prop("post", "/tenants/{tid}/numbers", "type")["enum"] == [
        "user", "service", "toll_free"]
    seats = prop("post", "/tenants/{tid}/subscriptions", "quantity")
    assert (seats["minimum"], seats["maximum"]) == (1, 1_000_000)


@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_an_adjustment_reason_longer_than_500_characters_is_refused(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    tid = shop["tid"]
    refused(api, engine, tid, lambda: api.post(
        f"/tenants/{tid}/credits/adjustments", {"amount": "10.00", "reason": "x" * 501},
    ), 422, "REASON_REQUIRED")


@pytest.mark.rule("DIST-1")
@pytest.mark.rule("AUTH-1")
def test_a_tenant_id_wider_than_any_is_not_found_before_any_statement(
    api: Api, svc: Services, engine: Engine, subtests: pytest.Subtests,
) -> None:
    """A tenant segment longer than a tenant id is 404 TENANT_NOT_FOUND on every API route,
    call control included (on Citus it could not even be routed to a shard); without a key
    it is still 401 first."""
    tid = setup(svc)
    wide = tid + "0"
    for method, path, body in (
        ("POST", f"/tenants/{wide}/calls/authorize", CALL),
        ("POST", f"/tenants/{wide}/calls/h-1/end", {"duration_seconds": 5}),
        ("GET", f"/tenants/{wide}/credits", None),
        ("GET", f"/tenants/{wide}/reports/pstn-usage", None),
    ):
        with subtests.test(path=path):
            def send(m: str = method, p: str = path, b: Any = body) -> Response:
                return api.call(m, p, json=b)

            error = refused(api, engine, tid, send, 404, "TENANT_NOT_FOUND")
            assert error["details"] == {"tenant_id": wide}
            assert_envelope(api.call(method, path, json=body, key=None), 401,
                            "UNAUTHENTICATED")
