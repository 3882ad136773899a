"""Graph-compatible licensing through HTTP (in process): `$filter`, `$select`, `$top` and
paging on `GET /users`, assignLicense by UPN counting for the next call (LIC-5), and
malformed requests refused in Graph's error shape with our code, changing nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx import Response
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.models.user import User as GraphUser
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from sqlalchemy import Engine

from commcredits.domain.licensing import sku_table
from commcredits.services.context import Services
from tests.e2e.conftest import Api, bearer, snapshot
from tests.integration.test_calls import GB_MOBILE, setup
from tests.support import OPERATOR_KEY
from tests.support_directory import add_users

GRAPH = "/graph/v1.0"
SKU_IDS = {s.part_number: str(s.sku_id) for s in sku_table().values()}


def graph(api: Api, method: str, path: str, key: str = OPERATOR_KEY, **kwargs: Any,
          ) -> Response:
    return api.client.request(method, f"{GRAPH}{path}", headers=bearer(key), **kwargs)


def assign(api: Api, user: str, key: str, add: list[str] = (), remove: list[str] = (),
           ) -> Response:  # type: ignore[assignment]
    return graph(api, "POST", f"/users/{user}/assignLicense", key, json={
        "addLicenses": [{"skuId": SKU_IDS[s], "disabledPlans": []} for s in add],
        "removeLicenses": [SKU_IDS[s] for s in remove]})


def graph_error(r: Response, status: int, graph_code: str, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "innerError"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == graph_code, error
    assert error["message"].strip()
    inner = error["innerError"]
    assert inner["code"] == code and inner["request-id"] and inner["date"], inner
    assert isinstance(inner["details"], dict)
    return error


def users_page(r: Response) -> UserCollectionResponse:
    assert r.status_code == 200, r.text
    node = JsonParseNodeFactory().get_root_parse_node("application/json", r.content)
    page = node.get_object_value(UserCollectionResponse)
    assert isinstance(page, UserCollectionResponse)
    return page


@pytest.mark.rule("LIC-1")
@pytest.mark.rule("AUTH-1")
def test_users_filter_on_upn_and_location_select_properties_and_page_by_top(
    api: Api, svc: Services,
) -> None:
    tid = setup(svc)  # alice0 and bob0 (US) with MCOEV + MCOPSTN1; alice0 also MCOPSTNC
    add_users(svc, tid, 5, "GB", prefix="gb")
    add_users(svc, tid, 2, None, prefix="nowhere")
    reader = api.key(tid, "reader")

    def upns(query: str) -> list[str]:
        return [u.user_principal_name for u in users_page(graph(
            api, "GET", f"/users?{query}", reader)).value or []]

    assert upns("$filter=userPrincipalName eq 'BOB0@contoso.com'") == ["bob0@contoso.com"]
    assert upns("$filter=startswith(userPrincipalName,'gb')") == [
        f"gb{i}@contoso.com" for i in range(5)]
    assert upns("$filter=usageLocation eq 'US'") == ["alice0@contoso.com", "bob0@contoso.com"]
    assert upns("$filter=usageLocation eq null") == [
        "nowhere0@contoso.com", "nowhere1@contoso.com"]
    assert upns("$filter=startswith(userPrincipalName,'gb') and usageLocation eq 'GB' "
                "and userPrincipalName eq 'gb3@contoso.com'") == ["gb3@contoso.com"]
    credits = SKU_IDS["MCOPSTNC"]
    assert upns(f"$filter=assignedLicenses/any(x:x/skuId eq {credits})") == [
        "alice0@contoso.com"]

    r = graph(api, "GET", "/users?$select=id,userPrincipalName&$top=2", reader)
    body = r.json()
    assert body["@odata.context"].endswith("/graph/v1.0/$metadata#users(id,userPrincipalName)")
    assert [set(u) for u in body["value"]] == [{"id", "userPrincipalName"}] * 2
    seen: list[str] = []
    url: str | None = f"{GRAPH}/users?$select=userPrincipalName&$top=4"
    while url:
        page = users_page(api.client.get(url, headers=bearer(reader)))
        seen += [u.user_principal_name for u in page.value or []]
        url = page.odata_next_link
        assert url is None or url.startswith("http://testserver/graph/v1.0/users?$skiptoken=")
    assert len(seen) == 9 and seen == sorted(seen)

    full = graph(api, "GET", "/users/ALICE0@contoso.com", reader)
    node = JsonParseNodeFactory().get_root_parse_node("application/json", full.content)
    alice = node.get_object_value(GraphUser)
    assert (alice.usage_location, alice.account_enabled) == ("US", True)
    assert sorted(str(a.sku_id) for a in alice.assigned_licenses or []) == sorted(
        SKU_IDS[s] for s in ("MCOEV", "MCOPSTN1", "MCOPSTNC"))

    for query, status, graph_code, code in [
        ("$filter=displayName eq 'x'", 400, "Request_UnsupportedQuery", "INVALID_FILTER"),
        ("$filter=startswith(userPrincipalName,'a') or usageLocation eq 'US'", 400,
         "Request_UnsupportedQuery", "INVALID_FILTER"),
        ("$filter=assignedLicenses/any(x:x/skuId eq 00000000-0000-0000-0000-000000000000)",
         400, "Request_BadRequest", "UNKNOWN_SKU"),
        ("$select=id,jobTitle", 400, "Request_BadRequest", "INVALID_SELECT"),
        ("$top=0", 400, "Request_BadRequest", "INVALID_TOP"),
        ("$top=1000", 400, "Request_BadRequest", "INVALID_TOP"),
        ("$skiptoken=%%%", 400, "Request_BadRequest", "INVALID_SKIPTOKEN"),
        ("$orderby=displayName", 400, "Request_UnsupportedQuery", "UNSUPPORTED_QUERY"),
        ("$count=true", 400, "Request_UnsupportedQuery", "UNSUPPORTED_QUERY"),
    ]:
        graph_error(graph(api, "GET", f"/users?{query}", reader), status, graph_code, code)
    graph_error(graph(api, "GET", "/users", "nope"), 401, "InvalidAuthenticationToken",
                "UNAUTHENTICATED")
    graph_error(graph(api, "GET", "/users"), 400, "Request_BadRequest", "TENANT_REQUIRED")
    assert len(users_page(graph(api, "GET", f"/users?tenant={tid}")).value or []) == 9
    other = api.tenant(name="Fabrikam")
    graph_error(graph(api, "GET", f"/users?tenant={other}", reader), 400,
                "Request_BadRequest", "TENANT_MISMATCH")
    graph_error(graph(api, "GET", "/users/bob0@contoso.com/licenseDetails",
                      api.key(other, "reader")),
                404, "Request_ResourceNotFound", "USER_NOT_FOUND")


@pytest.mark.rule("LIC-3")
@pytest.mark.rule("LIC-5")
def test_a_license_assigned_through_graph_counts_for_the_next_call_and_removal_too(
    api: Api, svc: Services,
) -> None:
    tid = setup(svc)
    admin, platform = api.key(tid, "teams_admin"), api.key(tid, "platform")

    def call(n: int) -> dict[str, Any]:
        r = api.post(f"/tenants/{tid}/calls/authorize", {
            "call_id": f"g-{n}", "call_type": "user_out", "user": "bob0@contoso.com",
            "caller": "+12065550100", "callee": GB_MOBILE}, key=platform)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    refused = call(1)
    assert refused["decision"] == "deny", refused
    r = assign(api, "bob0@contoso.com", admin, add=["MCOPSTNC"])
    assert r.status_code == 200, r.text
    assert r.json()["@odata.context"].endswith("/$metadata#users/$entity")
    assert SKU_IDS["MCOPSTNC"] in {a["skuId"] for a in r.json()["assignedLicenses"]}
    allowed = call(2)
    assert (allowed["decision"], allowed["funding"]) == ("allow", "credits"), allowed
    assert api.post(f"/tenants/{tid}/calls/g-2/end", {"duration_seconds": 30},
                    key=platform).status_code == 200

    bob = api.ok(f"/tenants/{tid}/users/bob0@contoso.com")
    r = assign(api, bob["id"], admin, remove=["MCOPSTNC"])
    assert r.status_code == 200, r.text
    assert sorted(a["skuId"] for a in r.json()["assignedLicenses"]) == sorted(
        [SKU_IDS["MCOEV"], SKU_IDS["MCOPSTN1"]])
    assert call(3)["decision"] == "deny"
    details = graph(api, "GET", f"/users/{bob['id']}/licenseDetails", admin).json()
    assert [d["skuPartNumber"] for d in details["value"]] == ["MCOEV", "MCOPSTN1"]
    audit = [e["action"] for e in api.ok(f"/tenants/{tid}/audit-log")["entries"]]
    assert "license.assigned" in audit and "license.removed" in audit


@pytest.mark.rule("LIC-3")
@pytest.mark.rule("ERR-1")
def test_malformed_and_rule_breaking_assign_license_requests_are_refused_and_change_nothing(
    api: Api, svc: Services, engine: Engine,
) -> None:
    tid = setup(svc)
    admin = api.key(tid, "global_admin")
    path = "/users/bob0@contoso.com/assignLicense"
    before = snapshot(api, engine, tid)
    bad: list[tuple[Any, str]] = [
        (b"{not json", "INVALID_LICENSE_CHANGE"),
        (b"[]", "INVALID_LICENSE_CHANGE"),
        (b'{"addLicenses": [{"skuId": "\\ud800"}]}', "INVALID_LICENSE_CHANGE"),
        (b"\xff\xfe", "INVALID_LICENSE_CHANGE"),
        ({"addLicenses": "MCOPSTNC"}, "INVALID_LICENSE_CHANGE"),
        ({"addLicenses": ["MCOPSTNC"]}, "INVALID_LICENSE_CHANGE"),
        ({"addLicenses": [], "removeLicenses": [7]}, "INVALID_LICENSE_CHANGE"),
        ({"addLicenses": [], "removeLicenses": []}, "INVALID_LICENSE_CHANGE"),
        ({"addLicenses": [{"skuId": str(uuid.uuid4())}]}, "UNKNOWN_SKU"),
        ({"addLicenses": [{"skuId": SKU_IDS["MCOPSTNC"], "disabledPlans": [
            str(uuid.uuid4())]}]}, "DISABLED_PLANS_UNSUPPORTED"),
        ({"addLicenses": [{"skuId": SKU_IDS["MCOPSTNC"]}],
          "removeLicenses": [SKU_IDS["MCOPSTNC"]]}, "INVALID_LICENSE_CHANGE"),
        ({"addLicenses": [{"skuId": SKU_IDS["MCOPSTN2"]}]}, "CALLING_PLAN_LIMIT"),
        ({"addLicenses": [{"skuId": SKU_IDS["MCOPSTN_PAYG_2"]}],
          "removeLicenses": [SKU_IDS["MCOPSTN1"]]}, "PAYG_ZONE_MISMATCH"),
    ]
    for body, code in bad:
        sent = {"content": body} if isinstance(body, bytes) else {"json": body}
        graph_error(graph(api, "POST", path, admin, **sent), 400, "Request_BadRequest", code)
    for user in ("%00",):  # a NUL is refused at the edge (ERR-1), in Graph's shape
        graph_error(graph(api, "POST", f"/users/{user}/assignLicense", admin,
                          json={"addLicenses": [{"skuId": SKU_IDS["MCOPSTNC"]}]}),
                    400, "Request_BadRequest", "INVALID_INPUT")
        graph_error(graph(api, "GET", f"/users/{user}/licenseDetails", admin),
                    400, "Request_BadRequest", "INVALID_INPUT")
    for user in ("x" * 5000, "%F0%9F%93%9E@contoso.com", "%ED%A0%80"):
        graph_error(graph(api, "POST", f"/users/{user}/assignLicense", admin,
                          json={"addLicenses": [{"skuId": SKU_IDS["MCOPSTNC"]}]}),
                    404, "Request_ResourceNotFound", "USER_NOT_FOUND")
        graph_error(graph(api, "GET", f"/users/{user}/licenseDetails", admin),
                    404, "Request_ResourceNotFound", "USER_NOT_FOUND")
    for query, code in (("$filter=userPrincipalName eq '%00'", "INVALID_INPUT"),
                        ("$filter=" + "a" * 3000, "INVALID_FILTER"),
                        ("$select=%00", "INVALID_INPUT"), ("$top=%00", "INVALID_INPUT"),
                        ("$select=x", "INVALID_SELECT"), ("$top=x", "INVALID_TOP"),
                        ("$skiptoken=AA", None), ("$skiptoken=A", "INVALID_SKIPTOKEN"),
                        ("tenant=%00", "INVALID_INPUT"),
                        ("tenant=" + "t" * 100, "TENANT_NOT_FOUND")):
        r = graph(api, "GET", f"/users?{query}", admin)
        if code is None:
            assert r.status_code == 200 and r.json()["value"] == [], r.text
        else:
            assert r.json().get("error", {}).get("innerError", {}).get("code") == code, (
                query, r.text)
            assert r.status_code in (400, 404), r.text
    for method, path in (("GET", "/me"), ("GET", "/groups"), ("POST", "/users"),
                         ("DELETE", "/users/bob0@contoso.com"), ("PATCH", "/subscribedSkus")):
        graph_error(graph(api, method, path, admin), 404, "Request_ResourceNotFound",
                    "UNSUPPORTED_RESOURCE")
    assert snapshot(api, engine, tid) == before
