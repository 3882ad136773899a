"""Call control and CDR upload through the REST API and the CLI (CALL-1, CALL-7, CALL-9,
CDR-1, AUTH-1, ERR-1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from commcredits.entrypoints.cli.main import app
from commcredits.services.context import Services
from tests.e2e.conftest import Api, assert_envelope, snapshot
from tests.e2e.test_web_credits import _sign_in
from tests.integration.test_calls import GB_MOBILE, setup

CALL = {"call_id": "api-1", "call_type": "user_out", "user": "alice0@contoso.com",
        "caller": "+12065550100", "callee": GB_MOBILE}


@pytest.mark.rule("CALL-1")
@pytest.mark.rule("CALL-7")
@pytest.mark.rule("CALL-9")
def test_the_platform_authorizes_updates_and_ends_a_call(api: Api, svc: Services) -> None:
    tid = setup(svc)
    platform = api.key(tid, "platform")
    r = api.post(f"/tenants/{tid}/calls/authorize", CALL, key=platform)
    assert r.status_code == 200, r.text
    reply = r.json()
    assert {k: reply[k] for k in ("decision", "reason", "funding", "capability",
                                  "max_seconds", "grant_seconds")} == {
        "decision": "allow", "reason": "OK", "funding": "credits", "capability": "MCOPSTNPP",
        "max_seconds": 14400, "grant_seconds": 300}
    assert api.post(f"/tenants/{tid}/calls/authorize", CALL, key=platform).json() == reply
    r = api.post(f"/tenants/{tid}/calls/api-1/update", {"used_seconds": 300}, key=platform)
    assert r.json() == {"grant_seconds": 300, "final": False, "status": "active"}
    r = api.post(f"/tenants/{tid}/calls/api-1/end", {"duration_seconds": 361}, key=platform)
    assert r.status_code == 200, r.text
    ended = r.json()
    assert (ended["charge"], ended["connection_fee"], ended["currency"],
            ended["capability"], ended["pool_minutes"]) == ("0.84", "0.00", "USD",
                                                            "MCOPSTNPP", 0)
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "99.16"


@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("ERR-1")
def test_call_control_refusals_use_the_envelope_and_change_nothing(
    api: Api, svc: Services, engine: Engine,
) -> None:
    tid = setup(svc)
    reader = api.key(tid, "reader")
    before = snapshot(api, engine, tid)
    assert_envelope(api.post(f"/tenants/{tid}/calls/authorize", CALL, key=reader),
                    403, "FORBIDDEN")
    assert_envelope(api.post(f"/tenants/{tid}/calls/nope/end", {"duration_seconds": 5}),
                    404, "CALL_NOT_FOUND")
    assert_envelope(api.post(f"/tenants/{tid}/calls/authorize", {**CALL, "call_type": "x"}),
                    422, "INVALID_CALL_TYPE")
    assert_envelope(api.post(f"/tenants/{tid}/calls/authorize", {**CALL, "start": "soon"}),
                    422, "INVALID_CALL")
    assert_envelope(api.post(f"/tenants/{tid}/calls/authorize", {"call_id": "x"}),
                    422, "VALIDATION_ERROR")
    assert_envelope(api.post(f"/tenants/{tid}/cdrs", content=b"\xff\xfe"), 422,
                    "INVALID_CDR_FILE")
    assert snapshot(api, engine, tid) == before


@pytest.mark.rule("CDR-1")
def test_cdrs_upload_over_http_and_import_from_the_cli(
    api: Api, svc: Services, db_url: str, tmp_path: Path,
) -> None:
    tid = setup(svc)
    header = "Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time,Duration Seconds\n"
    body = header + f"h1,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE}," \
                    "2026-01-15T10:00:00Z,60\n"
    r = api.post(f"/tenants/{tid}/cdrs", content=body.encode(),
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "duplicates": 0, "rejected": [],
                        "rejected_total": 0}
    path = tmp_path / "cdrs.csv"
    path.write_text(body + f"h2,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},"
                           "2026-01-15T10:05:00Z,120\nh3,x@contoso.com,user_out,"
                           "+12065550100,+12065550101,2026-01-15T10:06:00Z,5\n")
    result = CliRunner().invoke(app, ["cdr", "import", tid, str(path), "--db", db_url])
    assert result.exit_code == 1, result.output  # some rows were rejected
    assert "accepted 1, duplicates 1, rejected 1" in result.output
    assert "USER_NOT_FOUND" in result.output
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "99.64"


@pytest.mark.rule("CALL-8")
def test_credits_available_is_the_balance_minus_open_reservations(
    api: Api, svc: Services,
) -> None:
    tid = setup(svc)
    platform = api.key(tid, "platform")
    r = api.post(f"/tenants/{tid}/calls/authorize", CALL, key=platform)
    assert r.status_code == 200, r.text
    credits = api.ok(f"/tenants/{tid}/credits")
    assert (credits["balance"], credits["available"]) == ("100.00", "99.40")
    _sign_in(api.client, svc, tid, "reader")
    home = api.client.get(f"/t/{tid}")
    assert 'data-testid="available">99.40 <small>USD</small>' in home.text
    r = api.post(f"/tenants/{tid}/calls/api-1/end", {"duration_seconds": 361}, key=platform)
    assert r.status_code == 200, r.text
    credits = api.ok(f"/tenants/{tid}/credits")
    assert (credits["balance"], credits["available"]) == ("99.16", "99.16")
