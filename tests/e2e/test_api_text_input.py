"""NUL characters and lone surrogates in any text the API reads (ERR-1).

PostgreSQL cannot store a NUL character in text, and no database or JSON encoder takes a
lone UTF-16 surrogate: such input used to reach the database and answer 500. It is now
refused at the edge, once, with 422 ``INVALID_INPUT`` naming where it was: ``param`` for a
path or query parameter, ``field`` for a JSON field, ``line`` for an uploaded file.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from commcredits.services.context import Services
from tests.e2e.conftest import Api, assert_envelope, row_counts
from tests.integration.test_calls import GB_MOBILE, setup
from tests.support import OPERATOR_KEY

CALL = {"call_id": "api-1", "call_type": "user_out", "user": "alice0@contoso.com",
        "caller": "+12065550100", "callee": GB_MOBILE}
RATES = ("prefix,destination,number_type,direction,rate_per_minute,connection_fee,"
         "effective_from\n44,United Kingdom,mobile,outbound,0.12,0,2025-01-01T00:00:00Z\n")
CDRS = ("Call ID,Call Type,UPN,Caller ID,Destination Number,Start Time,Duration Seconds\n"
        f"c-1,user_out,alice0@contoso.com,+12065550100,{GB_MOBILE},2026-01-10T10:00:00Z,60\n")


def _cases(tid: str) -> list[tuple[str, str, str, dict[str, Any], dict[str, Any]]]:
    """(who, method, path, request kwargs, the details expected)."""
    nul, sur = "\x00", "\ud800"
    users = f"/tenants/{tid}/users"
    return [
        ("op", "GET", f"{users}?after=%00", {}, {"param": "after"}),
        ("op", "GET", f"{users}?q=a%00b", {}, {"param": "q"}),
        ("op", "GET", f"/tenants/{tid}/reports/pstn-usage?user=%00", {}, {"param": "user"}),
        ("op", "GET", f"/tenants/{tid}/reports/pstn-usage?call_type=x%00", {},
         {"param": "call_type"}),
        ("op", "GET", f"/tenants/{tid}/reports/pstn-usage?capability=%00", {},
         {"param": "capability"}),
        ("op", "GET", "/tenants/%00/credits", {}, {"param": "tid"}),
        ("op", "GET", f"/tenants/{tid}/invoices/%00", {}, {"param": "iid"}),
        ("op", "GET", f"{users}/a%00b", {}, {"param": "user"}),
        ("platform", "POST", f"/tenants/{tid}/calls/%00/end",
         {"json": {"duration_seconds": 5}}, {"param": "call_id"}),
        ("op", "POST", users, {"json": {"upn": "bob@contoso.com", "display_name": f"B{nul}b",
                                        "usage_location": "US"}}, {"field": "display_name"}),
        ("op", "POST", users, {"json": {"upn": "bob@contoso.com", "display_name": f"B{sur}b",
                                        "usage_location": "US"}}, {"field": "display_name"}),
        ("op", "POST", "/tenants", {"json": {"name": f"N{nul}", "country": "US",
                                             "billing_account_type": "MOSA"}},
         {"field": "name"}),
        ("op", "POST", "/tenants", {"json": {
            "name": "N", "country": "US", "billing_account_type": "MOSA",
            "contacts": [{"email": f"a{sur}@b.example", "role": "global_admin"}]}},
         {"field": "contacts.0.email"}),
        ("op", "POST", "/partners", {"json": {"name": sur}}, {"field": "name"}),
        ("platform", "POST", f"/tenants/{tid}/calls/authorize",
         {"json": {**CALL, "call_id": f"x{nul}"}}, {"field": "call_id"}),
        ("platform", "POST", f"/tenants/{tid}/calls/authorize",
         {"json": {**CALL, "callee": f"{GB_MOBILE}{nul}"}}, {"field": "callee"}),
        ("op", "POST", f"/tenants/{tid}/credits/adjustments",
         {"json": {"amount": "1.00", "reason": f"why{nul}"}}, {"field": "reason"}),
        ("op", "POST", f"/tenants/{tid}/credits/adjustments",
         {"json": {"amount": "1.00", "reason": "ok", f"k{nul}": 1}}, {"field": f"k{nul}"}),
        ("op", "PUT", "/rate-tables/USD",
         {"content": RATES.replace("United Kingdom", "United\x00Kingdom").encode()},
         {"line": 2}),
        ("platform", "POST", f"/tenants/{tid}/cdrs",
         {"content": CDRS.replace("c-1", "c\x00-1").encode()}, {"line": 2}),
        ("platform", "POST", f"/tenants/{tid}/cdrs",
         {"content": (b'{"Call ID": "c\\u0000"}\n')}, {"line": 1, "field": "Call ID"}),
        ("platform", "POST", f"/tenants/{tid}/cdrs",
         {"content": (b'{"Call ID": "ok"}\n{"UPN": "\\ud800"}\n')},
         {"line": 2, "field": "UPN"}),
    ]


@pytest.mark.rule("ERR-1")
def test_nul_and_lone_surrogates_anywhere_are_refused_by_name_and_change_nothing(
    api: Api, svc: Services, engine: Engine, subtests: pytest.Subtests,
) -> None:
    tid = setup(svc)
    platform = api.key(tid, "platform")
    before = row_counts(engine)
    for who, method, path, kwargs, details in _cases(tid):
        with subtests.test(path=path, details=details):
            if "json" in kwargs:  # escaped, as a JSON client sends a lone surrogate
                kwargs = {"content": json.dumps(kwargs["json"]).encode(),
                          "headers": {"Content-Type": "application/json"}}
            r = api.call(method, path, key=platform if who == "platform" else OPERATOR_KEY,
                         **kwargs)
            error = assert_envelope(r, 422, "INVALID_INPUT")
            for name, value in details.items():
                assert error["details"][name] == value, error
    assert row_counts(engine) == before


@pytest.mark.rule("ERR-1")
@pytest.mark.rule("AUTH-1")
def test_bad_text_without_a_key_is_still_unauthenticated(api: Api, svc: Services) -> None:
    tid = setup(svc)
    r = api.get("/tenants/%00/credits", key=None)
    assert_envelope(r, 401, "UNAUTHENTICATED")
    r = api.post("/tenants", {"name": "\x00"}, key="not-a-key")
    assert_envelope(r, 401, "UNAUTHENTICATED")
    r = api.get(f"/tenants/{tid}/users?after=%00", key=None)
    assert_envelope(r, 401, "UNAUTHENTICATED")


@pytest.mark.rule("ERR-1")
def test_admin_center_and_static_paths_refuse_nul_without_a_5xx(api: Api) -> None:
    for path in ("/static/%00", "/t/%00", "/signin?next=%00", "/t/x%00/credits"):
        r = api.client.get(path, follow_redirects=False)
        assert 400 <= r.status_code < 500 or r.status_code in (302, 303), (path, r.status_code)
    r = api.client.post("/signin", data={"email": "a\x00@b.example", "password": "x"},
                        follow_redirects=False)
    assert r.status_code < 500, r.text
