"""The Graph-compatible PSTN call log (REP-3) read by the real msgraph-sdk models, and the
insight routes and CLI commands (REP-5), through HTTP and CliRunner."""

from __future__ import annotations

import base64
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.communications.call_records.microsoft_graph_call_records_get_pstn_calls_with_from_date_time_with_to_date_time.get_pstn_calls_with_from_date_time_with_to_date_time_get_response import (  # noqa: E501
    GetPstnCallsWithFromDateTimeWithToDateTimeGetResponse as PstnPage,
)
from msgraph.generated.communications.call_records.microsoft_graph_call_records_get_pstn_calls_with_from_date_time_with_to_date_time.microsoft_graph_call_records_get_pstn_calls_with_from_date_time_with_to_date_time_request_builder import (  # noqa: E501
    MicrosoftGraphCallRecordsGetPstnCallsWithFromDateTimeWithToDateTimeRequestBuilder as Builder,
)
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from commcredits.adapters.db import tables as t
from commcredits.entrypoints.cli.main import app
from commcredits.services import cdrs
from commcredits.services.context import Services
from tests.e2e.conftest import Api, bearer
from tests.integration.test_calls import GB_MOBILE, US_FIXED, setup
from tests.support import OPERATOR, OPERATOR_KEY, add_card, buy

GRAPH = "/graph/v1.0/communications/callRecords"
HEADER = "UsageId,Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time," \
         "Duration Seconds\n"
FROM = datetime(2026, 1, 15, tzinfo=UTC)
TO = datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)
runner = CliRunner(env={"COLUMNS": "250"})


def sdk_url(start: datetime, end: datetime) -> str:
    """The URL the msgraph-sdk's own request builder sends (dates URL-encoded; version
    1.65.0 also drops the comma between the two parameters)."""
    builder = Builder(object(), {"baseurl": "http://testserver/graph/v1.0"}, start, end)  # type: ignore[arg-type]
    return str(builder.to_get_request_information().url)


def parse(content: bytes) -> PstnPage:
    node = JsonParseNodeFactory().get_root_parse_node("application/json", content)
    page = node.get_object_value(PstnPage)
    assert isinstance(page, PstnPage)
    return page


def import_calls(svc: Services, n: int) -> str:
    """``n`` calls in one CDR import: alternately GB mobile (credits) and US fixed (plan),
    1 to 300 s, one a minute from 2026-01-15T10:00Z."""
    tid = setup(svc)
    buy(svc, tid, "900.00", add_card(svc, tid))
    lines = [HEADER]
    for i in range(n):
        callee = GB_MOBILE if i % 2 == 0 else US_FIXED
        start = datetime(2026, 1, 15, 10, tzinfo=UTC).timestamp() + 60 * i
        iso = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f",g{i},alice0@contoso.com,user_out,+12065550100,{callee},{iso},"
                     f"{i % 300 + 1}\n")
    assert cdrs.import_cdrs(svc, OPERATOR, tid, "".join(lines)).accepted == n
    return tid


def graph_get(api: Api, path: str, key: str = OPERATOR_KEY) -> Any:
    return api.client.get(path, headers=bearer(key))


@pytest.mark.slow
@pytest.mark.rule("REP-3")
def test_the_msgraph_sdk_reads_every_page_of_2500_calls_as_they_were_rated(
    api: Api, svc: Services, engine: Engine,
) -> None:
    began = time.monotonic()
    tid = import_calls(svc, 2500)
    with engine.connect() as conn:
        rated = {r.id: r for r in conn.execute(select(t.calls).where(t.calls.c.tenant_id == tid))}
    url = f"{sdk_url(FROM, TO)}?tenant={tid}"
    assert url.startswith(
        f"http://testserver{GRAPH}/microsoft.graph.callRecords.getPstnCalls(fromDateTime=2026")
    assert "%3A" in url
    seen: list[Any] = []
    sizes = []
    while url:
        r = graph_get(api, url)
        assert r.status_code == 200, r.text
        assert r.json()["@odata.context"].endswith(
            "$metadata#Collection(microsoft.graph.callRecords.pstnCallLogRow)")
        page = parse(r.content)
        assert page.odata_count == 2500
        assert page.value is not None
        sizes.append(len(page.value))
        seen += page.value
        url = page.odata_next_link or ""
        if url:
            assert url.startswith(f"http://testserver{GRAPH}/microsoft.graph.callRecords.")
            assert "$skiptoken=" in url
    assert sizes == [1000, 1000, 500]
    assert len({row.id for row in seen}) == 2500 == len(rated)
    starts = [row.start_date_time for row in seen]
    assert starts == sorted(starts)
    for row in seen:
        want = rated[row.id]
        assert row.call_id == want.call_id
        assert row.user_id == want.user_object_id
        assert row.user_principal_name == "alice0@contoso.com" == want.upn
        assert row.user_display_name == want.display_name
        assert row.start_date_time == want.start_at
        assert row.end_date_time == want.end_at
        assert row.duration == want.duration
        assert Decimal(str(row.charge)) == want.charge
        assert Decimal(str(row.connection_charge)) == (want.connection_fee or 0)
        assert row.currency == "USD"
        assert row.call_type == "user_out"
        assert (row.caller_number, row.callee_number) == (want.caller, want.callee)
        assert row.license_capability == want.capability
        assert row.destination_context == ("International" if want.callee == GB_MOBILE
                                           else "Domestic")
        assert row.destination_name == want.destination_name
        assert row.call_duration_source == "operator"
        assert row.inventory_type == "Subscriber"
        assert (row.tenant_country_code, row.usage_country_code) == ("US", "US")
        expected = (int(row.duration + 59) // 60) * Decimal("0.12") \
            if want.callee == GB_MOBILE else Decimal(0)
        assert Decimal(str(row.charge)) == expected
    assert sum(Decimal(str(row.charge)) for row in seen) == sum(
        (r.charge for r in rated.values()), Decimal(0))
    assert time.monotonic() - began < 60


@pytest.mark.rule("REP-3")
def test_both_paths_page_with_top_and_count_every_property(api: Api, svc: Services) -> None:
    tid = import_calls(svc, 5)
    key = api.key(tid, "reader")
    short = f"{GRAPH}/getPstnCalls(fromDateTime=2026-01-15T10:00:00Z," \
            "toDateTime=2026-01-15T10:03:00Z)?$top=2"
    body = graph_get(api, short, key).json()
    assert body["@odata.count"] == 4  # both ends inclusive: 10:00, 10:01, 10:02, 10:03
    assert len(body["value"]) == 2
    assert set(body["value"][0]) == {
        "id", "callId", "userId", "userPrincipalName", "userDisplayName", "startDateTime",
        "endDateTime", "duration", "charge", "connectionCharge", "currency", "callType",
        "calleeNumber", "callerNumber", "destinationContext", "destinationName",
        "conferenceId", "licenseCapability", "inventoryType", "operator",
        "callDurationSource", "tenantCountryCode", "usageCountryCode",
    }
    assert body["value"][0]["charge"] == 0.12 and body["value"][0]["duration"] == 1
    nxt = graph_get(api, body["@odata.nextLink"], key).json()
    assert [v["callId"] for v in nxt["value"]] == ["g2", "g3"]
    assert "@odata.nextLink" not in nxt


def skiptoken(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.rule("REP-3")
def test_the_next_link_carries_the_count_and_a_token_without_one_is_counted_again(
    api: Api, svc: Services,
) -> None:
    tid = import_calls(svc, 5)
    key = api.key(tid, "reader")
    short = f"{GRAPH}/getPstnCalls(fromDateTime=2026-01-15T10:00:00Z," \
            "toDateTime=2026-01-15T10:03:00Z)?$top=2"
    first = graph_get(api, short, key).json()
    token = parse_qs(urlsplit(first["@odata.nextLink"]).query)["$skiptoken"][0]
    at, row_id, count = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)) \
        .decode().split("|")
    assert count == "4" == str(first["@odata.count"])
    # A token as they were before the count travelled in it: the range is counted again.
    old = graph_get(api, f"{short}&$skiptoken={skiptoken(f'{at}|{row_id}')}", key).json()
    new = graph_get(api, first["@odata.nextLink"], key).json()
    assert old["@odata.count"] == new["@odata.count"] == 4
    assert [v["callId"] for v in old["value"]] == [v["callId"] for v in new["value"]]
    assert len(new["value"]) == 2 and "@odata.nextLink" not in new


@pytest.mark.rule("REP-3")
@pytest.mark.parametrize(("path", "status", "code"), [
    ("/getPstnCalls(fromDateTime=2026-01-01T00:00:00Z,toDateTime=2026-04-02T00:00:00Z)",
     400, "RANGE_TOO_LARGE"),
    ("/getPstnCalls(fromDateTime=yesterday,toDateTime=2026-01-02T00:00:00Z)", 400,
     "INVALID_DATE"),
    ("/getPstnCalls(fromDateTime=2026-01-01T00:00:00Z,toDateTime=2026-01-02T00:00:00Z)"
     "?$skiptoken=!!", 400, "INVALID_SKIPTOKEN"),
    ("/getPstnCalls(fromDateTime=2026-01-01T00:00:00Z,toDateTime=2026-01-02T00:00:00Z)"
     f"?$skiptoken={skiptoken('2026-01-01T10:00:00+00:00|x|many')}", 400,
     "INVALID_SKIPTOKEN"),
    ("/getPstnCalls(fromDateTime=2026-01-01T00:00:00Z,toDateTime=2026-01-02T00:00:00Z)"
     f"?$skiptoken={skiptoken('2026-01-01T10:00:00+00:00|x|4|5')}", 400,
     "INVALID_SKIPTOKEN"),
    ("/getDirectRoutingCalls(fromDateTime=2026-01-01T00:00:00Z,toDateTime=2026-01-02)", 404,
     "UNKNOWN_FUNCTION"),
])
def test_refusals_use_the_graph_error_shape(
    api: Api, svc: Services, path: str, status: int, code: str,
) -> None:
    tid = import_calls(svc, 1)
    key = api.key(tid, "reader")
    r = graph_get(api, GRAPH + path, key)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert error["innerError"]["code"] == code
    assert error["code"] == ("BadRequest" if status == 400 else "NotFound")


@pytest.mark.rule("REP-3")
def test_the_operator_must_name_the_tenant_and_a_key_is_refused_without_bearer(
    api: Api, svc: Services,
) -> None:
    import_calls(svc, 1)
    path = f"{GRAPH}/getPstnCalls(fromDateTime=2026-01-15T00:00:00Z," \
           "toDateTime=2026-01-16T00:00:00Z)"
    r = graph_get(api, path)
    assert (r.status_code, r.json()["error"]["innerError"]["code"]) == (400, "TENANT_REQUIRED")
    r = api.client.get(path)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")
    other = api.tenant(name="Fabrikam")
    r = graph_get(api, path, api.key(other, "reader"))
    assert r.json() | {"@odata.context": ""} == {"@odata.context": "", "@odata.count": 0,
                                                 "value": []}


@pytest.mark.rule("REP-5")
def test_spend_recommendation_and_chart_over_http_and_the_cli(
    api: Api, svc: Services, db_url: str,
) -> None:
    tid = import_calls(svc, 4)  # 1 s GB 0.12, 2 s US, 3 s GB 0.12, 4 s US
    body = api.ok(f"/tenants/{tid}/reports/spend?group_by=capability&from=2026-01-15"
                  "&to=2026-01-15")
    assert (body["total"], body["rows"]) == ("0.24", [
        {"key": "MCOPSTN1", "calls": 2, "seconds": 6, "amount": "0.00"},
        {"key": "MCOPSTNPP", "calls": 2, "seconds": 4, "amount": "0.24"},
    ])
    r = api.get(f"/tenants/{tid}/reports/spend?group_by=week")
    assert (r.status_code, r.json()["error"]["code"]) == (422, "INVALID_GROUP_BY")
    rec = api.ok(f"/tenants/{tid}/credits/recommendation")
    # 999.76 left at 0.24 a day (one day of history) = 4165.7 days
    assert {k: rec[k] for k in ("trigger", "amount", "runway_days", "currency")} == {
        "trigger": "50.00", "amount": "50.00", "runway_days": 4165, "currency": "USD"}
    assert rec["explanation"]
    svg = api.get(f"/tenants/{tid}/reports/charts/balance.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    bars = [e for e in ET.fromstring(svg.text).iter("{http://www.w3.org/2000/svg}rect")
            if e.get("class") == "spend"]
    assert len(bars) == 1
    history = api.ok(f"/tenants/{tid}/reports/balance-history")
    assert history["days"] == [{"day": "2026-01-15", "balance": "999.76", "spend": "0.24"}]
    out = runner.invoke(app, ["report", "spend", tid, "--group-by", "day", "--from",
                              "2026-01-15", "--to", "2026-01-15", "--db", db_url])
    assert out.exit_code == 0, out.output
    assert "2026-01-15" in out.output and "0.24" in out.output
    out = runner.invoke(app, ["credits", "recommendation", tid, "--db", db_url])
    assert out.exit_code == 0, out.output
    assert "Trigger: 50.00 USD" in out.output and "Amount: 50.00 USD" in out.output
    # the CLI runs on the real clock, long after these calls of 2026-01-15: no recent spend
    assert "Runway: no recent spend" in out.output
