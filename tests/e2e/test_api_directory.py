"""Users, seats, licenses, numbers and minute pools through the REST API (LIC-1..LIC-5,
NUM-1, POOL-1..POOL-6, AUTH-1, AUTH-2), and every refusal with its code and nothing changed
(ERR-1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import Engine

from commcredits.adapters.clock import FixedClock
from tests.e2e.conftest import Api, assert_envelope, snapshot
from tests.support import utc

Send = Callable[[], Response]
CSV = {"Content-Type": "text/csv"}


def user(api: Api, tid: str, upn: str, location: str | None = "US", **extra: Any) -> Any:
    r = api.post(f"/tenants/{tid}/users", {"upn": upn, "display_name": upn.split("@")[0],
                                           "usage_location": location, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def seats(api: Api, tid: str, **counts: int) -> None:
    for sku, quantity in counts.items():
        r = api.post(f"/tenants/{tid}/subscriptions", {"sku": sku, "quantity": quantity})
        assert r.status_code == 201, r.text


def assign(api: Api, tid: str, upn: str, *skus: str) -> Any:
    r = api.post(f"/tenants/{tid}/users/{upn}/licenses", {"add": list(skus)})
    assert r.status_code == 200, r.text
    return r.json()


def directory_snapshot(api: Api, engine: Engine, tid: str) -> dict[str, Any]:
    """What admins see of the tenant and its directory, and every table's row count."""
    return {
        **snapshot(api, engine, tid),
        "users": api.ok(f"/tenants/{tid}/users"),
        "numbers": api.ok(f"/tenants/{tid}/numbers"),
        "resource_accounts": api.ok(f"/tenants/{tid}/resource-accounts"),
        "pools": api.ok(f"/tenants/{tid}/reports/minute-pools"),
        "notifications": api.ok(f"/tenants/{tid}/notifications"),
    }


@pytest.fixture
def office(api: Api) -> dict[str, str]:
    """A US tenant with seats, licensed users in US, GB and DE, and a conference bridge."""
    tid = api.tenant()
    seats(api, tid, MCOEV=3, MCOPSTN1=2, MCOPSTN2=1, MCOPSTN_PAYG_1=1, MCOMEETADV=1)
    user(api, tid, "megan@contoso.com", phone_number="+14255550101")
    assign(api, tid, "megan@contoso.com", "MCOEV", "MCOPSTN1")
    user(api, tid, "lynne@contoso.com", "GB")
    assign(api, tid, "lynne@contoso.com", "MCOEV", "MCOPSTN_PAYG_1")
    user(api, tid, "johanna@contoso.com", "DE")
    user(api, tid, "miriam@contoso.com", None)
    r = api.post(f"/tenants/{tid}/resource-accounts", {
        "upn": "conference@contoso.com", "display_name": "Bridge", "kind": "conference_bridge"})
    assert r.status_code == 201, r.text
    r = api.post(f"/tenants/{tid}/resource-accounts", {
        "upn": "reception@contoso.com", "display_name": "Main line", "kind": "auto_attendant"})
    assert r.status_code == 201, r.text
    for number, kind, to in (("+18005550100", "toll_free", "conference@contoso.com"),
                             ("+14255550100", "service", "reception@contoso.com"),
                             ("+14255550199", "service", None),
                             ("+14255550150", "user", None)):
        r = api.post(f"/tenants/{tid}/numbers", {"number": number, "type": kind,
                                                 "assigned_to": to})
        assert r.status_code == 201, r.text
    return {"tid": tid}


@pytest.mark.rule("LIC-1")
def test_users_are_created_listed_a_page_at_a_time_shown_and_updated(
    api: Api, office: dict[str, str],
) -> None:
    tid = office["tid"]
    megan = api.ok(f"/tenants/{tid}/users/megan@contoso.com")
    assert megan == {
        "id": megan["id"], "upn": "megan@contoso.com", "display_name": "megan",
        "usage_location": "US", "phone_number": "+14255550101", "blocked": False,
        "licenses": ["MCOEV", "MCOPSTN1"],
    }
    assert api.ok(f"/tenants/{tid}/users/{megan['id']}") == megan
    page = api.ok(f"/tenants/{tid}/users?limit=2")
    assert [u["upn"] for u in page["users"]] == ["johanna@contoso.com", "lynne@contoso.com"]
    assert page["next"] == f"/api/v1/tenants/{tid}/users?limit=2&after=lynne@contoso.com"
    rest = api.ok(f"/tenants/{tid}/users?limit=2&after=lynne@contoso.com")
    found = api.ok(f"/tenants/{tid}/users?q=MEG&sku=MCOPSTN1&location=US")
    assert [u["upn"] for u in found["users"]] == ["megan@contoso.com"]
    assert api.ok(f"/tenants/{tid}/users?q=meg&location=none")["users"] == []
    assert [u["upn"] for u in rest["users"]] == ["megan@contoso.com", "miriam@contoso.com"]
    r = api.call("PATCH", f"/tenants/{tid}/users/miriam@contoso.com",
                 json={"usage_location": "DE", "blocked": True, "display_name": "Miriam G"})
    assert r.status_code == 200, r.text
    assert (r.json()["usage_location"], r.json()["blocked"], r.json()["display_name"]) == (
        "DE", True, "Miriam G")


@pytest.mark.rule("LIC-2")
@pytest.mark.rule("LIC-3")
@pytest.mark.rule("AUTH-1")
def test_billing_admins_buy_seats_and_teams_admins_assign_licenses(
    api: Api, office: dict[str, str],
) -> None:
    tid = office["tid"]
    billing, teams = api.key(tid, "billing_admin"), api.key(tid, "teams_admin")
    r = api.post(f"/tenants/{tid}/subscriptions", {"sku": "spe_e5", "quantity": 2}, key=billing)
    assert (r.status_code, r.json()) == (201, {"sku": "SPE_E5", "purchased": 2,
                                               "assigned": 0, "available": 2})
    r = api.post(f"/tenants/{tid}/users/johanna@contoso.com/licenses",
                 {"add": ["SPE_E5", "MCOPSTN2"]}, key=teams)
    assert r.status_code == 200, r.text
    assert (r.json()["licenses"], r.json()["added"], r.json()["removed"]) == (
        ["MCOPSTN2", "SPE_E5"], ["MCOPSTN2", "SPE_E5"], [])
    r = api.post(f"/tenants/{tid}/users/megan@contoso.com/licenses",
                 {"remove": ["MCOPSTN1"], "add": ["MCOMEETADV"]}, key=teams)
    assert (r.json()["added"], r.json()["removed"]) == (["MCOMEETADV"], ["MCOPSTN1"])
    subs = api.ok(f"/tenants/{tid}/subscriptions")["subscriptions"]
    assert subs == [
        {"sku": "MCOEV", "purchased": 3, "assigned": 2, "available": 1},
        {"sku": "MCOPSTN1", "purchased": 2, "assigned": 0, "available": 2},
        {"sku": "MCOPSTN2", "purchased": 1, "assigned": 1, "available": 0},
        {"sku": "MCOPSTN_PAYG_1", "purchased": 1, "assigned": 1, "available": 0},
        {"sku": "MCOMEETADV", "purchased": 1, "assigned": 1, "available": 0},
        {"sku": "SPE_E5", "purchased": 2, "assigned": 1, "available": 1},
    ]
    actions = [e["action"] for e in api.ok(f"/tenants/{tid}/audit-log")["entries"][:5]]
    assert actions == ["license.assigned", "license.removed", "license.assigned",
                       "license.assigned", "subscription.purchased"]


@pytest.mark.rule("LIC-4")
def test_bulk_assignment_through_the_api_reports_every_row(
    api: Api, office: dict[str, str],
) -> None:
    tid = office["tid"]
    body = ("upn,sku,action\n"
            "johanna@contoso.com,MCOEV,add\n"
            "johanna@contoso.com,MCOPSTN2,add\n"
            "megan@contoso.com,MCOPSTN2,add\n"
            "miriam@contoso.com,MCOEV,add\n"
            "megan@contoso.com,MCOPSTN1,remove\n")
    r = api.post(f"/tenants/{tid}/licenses/bulk", content=body.encode(), headers=CSV,
                 key=api.key(tid, "teams_admin"))
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["rows"], report["applied"], report["failed"]) == (5, 3, 2)
    assert [(x["line"], x["upn"], x["sku"], x["status"], x["code"])
            for x in report["results"]] == [
        (2, "johanna@contoso.com", "MCOEV", "ok", None),
        (3, "johanna@contoso.com", "MCOPSTN2", "ok", None),
        (4, "megan@contoso.com", "MCOPSTN2", "error", "CALLING_PLAN_LIMIT"),
        (5, "miriam@contoso.com", "MCOEV", "error", "USAGE_LOCATION_REQUIRED"),
        (6, "megan@contoso.com", "MCOPSTN1", "ok", None),
    ]
    assert all(x["message"] for x in report["results"] if x["status"] == "error")
    assert api.ok(f"/tenants/{tid}/users/johanna@contoso.com")["licenses"] == [
        "MCOEV", "MCOPSTN2"]


@pytest.mark.rule("NUM-1")
def test_numbers_go_to_users_and_resource_accounts_with_a_toll_free_number_on_a_bridge(
    api: Api, office: dict[str, str],
) -> None:
    tid = office["tid"]
    r = api.call("PATCH", f"/tenants/{tid}/numbers/%2B14255550150",
                 json={"assigned_to": "lynne@contoso.com"})
    assert r.status_code == 200, r.text
    assert r.json() == {"number": "+14255550150", "type": "user",
                        "assigned_to": "lynne@contoso.com", "assignee_type": "user"}
    r = api.call("PATCH", f"/tenants/{tid}/numbers/14255550199",
                 json={"assigned_to": "conference@contoso.com"})
    assert r.status_code == 200, r.text
    accounts = api.ok(f"/tenants/{tid}/resource-accounts")["resource_accounts"]
    assert [{k: v for k, v in a.items() if k != "id"} for a in accounts] == [
        {"upn": "conference@contoso.com", "display_name": "Bridge", "kind": "conference_bridge",
         "phone_numbers": ["+14255550199", "+18005550100"]},
        {"upn": "reception@contoso.com", "display_name": "Main line", "kind": "auto_attendant",
         "phone_numbers": ["+14255550100"]},
    ]
    r = api.call("PATCH", f"/tenants/{tid}/numbers/14255550150", json={"assigned_to": None})
    assert r.json()["assigned_to"] is None
    assert api.call("DELETE", f"/tenants/{tid}/numbers/14255550150").status_code == 204
    numbers = api.ok(f"/tenants/{tid}/numbers")["numbers"]
    assert [(n["number"], n["type"], n["assigned_to"]) for n in numbers] == [
        ("+14255550100", "service", "reception@contoso.com"),
        ("+14255550101", "user", "megan@contoso.com"),
        ("+14255550199", "service", "conference@contoso.com"),
        ("+18005550100", "toll_free", "conference@contoso.com"),
    ]


@pytest.mark.rule("POOL-6")
@pytest.mark.rule("POOL-2")
def test_the_minute_pools_report_and_a_pool_quote_through_the_api(
    api: Api, office: dict[str, str], clock: FixedClock,
) -> None:
    tid = office["tid"]
    quote = api.ok(f"/tenants/{tid}/minute-pools/quote?user=megan@contoso.com&destination=PR")
    assert quote == {
        "covered": True, "pool_key": "MCOPSTN1:domestic:US", "capability": "MCOPSTN1",
        "minutes_left": 3000, "total_minutes": 3000, "minutes_used": 0, "month": "2026-01",
        "domestic": True, "reason": "domestic", "calling_plan": "MCOPSTN1",
        "user_id": quote["user_id"],
    }
    payg = api.ok(f"/tenants/{tid}/minute-pools/quote?user=lynne@contoso.com&destination=GB")
    assert (payg["covered"], payg["minutes_left"], payg["reason"]) == (
        False, None, "pay_as_you_go")
    report = api.ok(f"/tenants/{tid}/reports/minute-pools?month=2026-01")
    assert report["month"] == "2026-01"
    assert report["as_of"] == "2026-01-15T09:00:00Z"
    assert report["pools"] == [{
        "country_or_region": "United States and Puerto Rico", "region": "US",
        "capability_description": "Domestic calling plan (3000 domestic minutes)",
        "total_minutes": 3000, "minutes_used": 0, "minutes_available": 3000,
        "capability": "MCOPSTN1", "sku": "MCOPSTN1", "pool": "domestic", "users": 1,
    }]
    clock.set(utc(2026, 2, 2, 9))
    assert api.ok(f"/tenants/{tid}/reports/minute-pools")["month"] == "2026-02"
    reader = api.key(tid, "reader")
    r = api.get(f"/tenants/{tid}/reports/minute-pools?month=2026-01", key=reader)
    assert r.status_code == 200


# --- Every refusal (ERR-1) ---------------------------------------------------------------


def refusals(api: Api, tid: str) -> list[tuple[str, Send, int, str]]:
    base = f"/tenants/{tid}"

    def post(path: str, body: Any, key: str | None = None) -> Send:
        return lambda: api.post(base + path, body, **({"key": key} if key else {}))

    def patch(path: str, body: Any) -> Send:
        return lambda: api.call("PATCH", base + path, json=body)

    def bulk(text: bytes) -> Send:
        return lambda: api.post(base + "/licenses/bulk", content=text, headers=CSV)

    lic = "/users/johanna@contoso.com/licenses"
    return [
        ("bad upn", post("/users", {"upn": "not-an-email", "display_name": "X"}),
         422, "INVALID_UPN"),
        ("no display name", post("/users", {"upn": "x@contoso.com", "display_name": " "}),
         422, "INVALID_DISPLAY_NAME"),
        ("bad location", post("/users", {"upn": "x@contoso.com", "display_name": "X",
                                         "usage_location": "XX"}), 422,
         "INVALID_USAGE_LOCATION"),
        ("bad phone", post("/users", {"upn": "x@contoso.com", "display_name": "X",
                                      "phone_number": "555-0100"}), 422,
         "INVALID_PHONE_NUMBER"),
        ("bad blocked", post("/users", {"upn": "x@contoso.com", "display_name": "X",
                                        "blocked": "yes"}), 422, "INVALID_VALUE"),
        ("upn taken", post("/users", {"upn": "MEGAN@contoso.com", "display_name": "M"}),
         409, "UPN_TAKEN"),
        ("upn taken by a resource account",
         post("/users", {"upn": "conference@contoso.com", "display_name": "C"}),
         409, "UPN_TAKEN"),
        ("phone of another", post("/users", {"upn": "x@contoso.com", "display_name": "X",
                                             "phone_number": "+14255550101"}), 409,
         "NUMBER_ASSIGNED"),
        ("phone is a service number",
         post("/users", {"upn": "x@contoso.com", "display_name": "X",
                         "phone_number": "+14255550199"}), 409, "NUMBER_TYPE_MISMATCH"),
        ("unknown field", patch("/users/megan@contoso.com", {"department": "Sales"}),
         422, "VALIDATION_ERROR"),
        ("unknown user", lambda: api.get(base + "/users/ghost@contoso.com"),
         404, "USER_NOT_FOUND"),
        ("patch unknown user", patch("/users/ghost@contoso.com", {"blocked": True}),
         404, "USER_NOT_FOUND"),
        ("clear location with licenses", patch("/users/megan@contoso.com",
                                               {"usage_location": None}),
         409, "USAGE_LOCATION_REQUIRED"),
        ("move payg user out of zone", patch("/users/lynne@contoso.com",
                                             {"usage_location": "DE"}),
         409, "PAYG_ZONE_MISMATCH"),
        ("unknown sku seats", post("/subscriptions", {"sku": "MCOXYZ", "quantity": 1}),
         422, "UNKNOWN_SKU"),
        ("credits seats", post("/subscriptions", {"sku": "MCOPSTNC", "quantity": 1}),
         422, "SKU_NOT_SOLD"),
        *[(f"quantity {q!r}", post("/subscriptions", {"sku": "MCOEV", "quantity": q}),
           422, "INVALID_QUANTITY") for q in (0, -1, "5", 1.5, True, 1_000_001, None)],
        ("unknown sku assign", post(lic, {"add": ["MCOXYZ"]}), 422, "UNKNOWN_SKU"),
        ("nothing to change", post(lic, {}), 422, "INVALID_LICENSE_CHANGE"),
        ("add not a list", post(lic, {"add": "MCOEV"}), 422, "INVALID_LICENSE_CHANGE"),
        ("add and remove", post(lic, {"add": ["MCOEV"], "remove": ["MCOEV"]}), 422,
         "INVALID_LICENSE_CHANGE"),
        ("assign unknown user", post("/users/ghost@contoso.com/licenses",
                                     {"add": ["MCOEV"]}), 404, "USER_NOT_FOUND"),
        ("no seat", post(lic, {"add": ["MCOEV", "MCOPSTN2", "MCOMEETADV", "SPE_E5"]}),
         409, "NO_FREE_SEATS"),
        ("plan without phone", post(lic, {"add": ["MCOPSTN1"]}), 409,
         "PHONE_LICENSE_REQUIRED"),
        ("removing phone under a plan", post("/users/megan@contoso.com/licenses",
                                             {"remove": ["MCOEV"]}), 409,
         "PHONE_LICENSE_REQUIRED"),
        ("second plan", post("/users/megan@contoso.com/licenses", {"add": ["MCOPSTN2"]}),
         409, "CALLING_PLAN_LIMIT"),
        ("no usage location", post("/users/miriam@contoso.com/licenses",
                                   {"add": ["MCOMEETADV"]}), 409, "USAGE_LOCATION_REQUIRED"),
        ("payg outside its zone", post(lic, {"add": ["MCOEV", "MCOPSTN_PAYG_1"]}), 409,
         "PAYG_ZONE_MISMATCH"),
        ("bulk bad header", bulk(b"user,license,action\nmegan@contoso.com,MCOEV,add\n"),
         422, "MALFORMED_FILE"),
        ("bulk bad encoding", bulk(b"upn,sku,action\n\xff\xfe,MCOEV,add\n"), 422,
         "MALFORMED_FILE"),
        ("bad number", post("/numbers", {"number": "12345", "type": "user"}), 422,
         "INVALID_PHONE_NUMBER"),
        ("bad number type", post("/numbers", {"number": "+14255550111", "type": "mobile"}),
         422, "INVALID_NUMBER_TYPE"),
        ("number exists", post("/numbers", {"number": "+18005550100", "type": "toll_free"}),
         409, "NUMBER_EXISTS"),
        ("assign to nobody", post("/numbers", {"number": "+14255550111", "type": "user",
                                               "assigned_to": "ghost@contoso.com"}),
         404, "ASSIGNEE_NOT_FOUND"),
        ("assignee not a upn", post("/numbers", {"number": "+14255550111", "type": "user",
                                                 "assigned_to": 42}),
         422, "INVALID_ASSIGNEE"),
        ("unknown number", patch("/numbers/+14255550000", {"assigned_to": None}),
         404, "NUMBER_NOT_FOUND"),
        ("number taken", patch("/numbers/+18005550100", {"assigned_to": "megan@contoso.com"}),
         409, "NUMBER_ASSIGNED"),
        ("toll-free to a user", patch("/numbers/+14255550199",
                                      {"assigned_to": "johanna@contoso.com"}),
         409, "NUMBER_TYPE_MISMATCH"),
        ("user number to an auto attendant",
         patch("/numbers/+14255550150", {"assigned_to": "reception@contoso.com"}),
         409, "NUMBER_TYPE_MISMATCH"),
        ("auto attendant has its number",
         patch("/numbers/+14255550199", {"assigned_to": "reception@contoso.com"}),
         409, "ASSIGNEE_HAS_NUMBER"),
        ("user has a number", patch("/numbers/+14255550150",
                                    {"assigned_to": "megan@contoso.com"}),
         409, "ASSIGNEE_HAS_NUMBER"),
        ("release assigned", lambda: api.call("DELETE", base + "/numbers/+18005550100"),
         409, "NUMBER_ASSIGNED"),
        ("release unknown", lambda: api.call("DELETE", base + "/numbers/+14255550000"),
         404, "NUMBER_NOT_FOUND"),
        ("bad resource kind", post("/resource-accounts", {
            "upn": "queue@contoso.com", "display_name": "Q", "kind": "voicemail"}),
         422, "INVALID_RESOURCE_KIND"),
        ("resource upn taken", post("/resource-accounts", {
            "upn": "megan@contoso.com", "display_name": "Q", "kind": "call_queue"}),
         409, "UPN_TAKEN"),
        ("bad month", lambda: api.get(base + "/reports/minute-pools?month=2026-13"),
         422, "INVALID_MONTH"),
        ("future month", lambda: api.get(base + "/reports/minute-pools?month=2026-02"),
         422, "INVALID_MONTH"),
        ("quote bad country", lambda: api.get(
            base + "/minute-pools/quote?user=megan@contoso.com&destination=ZZ"),
         422, "INVALID_COUNTRY"),
        ("quote unknown user", lambda: api.get(
            base + "/minute-pools/quote?user=ghost@contoso.com&destination=US"),
         404, "USER_NOT_FOUND"),
        ("no key", lambda: api.post(base + "/users", {"upn": "x@contoso.com",
                                                      "display_name": "X"}, key=None),
         401, "UNAUTHENTICATED"),
    ]


@pytest.mark.rule("ERR-1")
@pytest.mark.rule("LIC-1")
@pytest.mark.rule("LIC-3")
@pytest.mark.rule("LIC-4")
@pytest.mark.rule("NUM-1")
@pytest.mark.rule("POOL-6")
def test_every_directory_refusal_has_its_code_and_changes_nothing(
    api: Api, engine: Engine, office: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = office["tid"]
    for name, send, status, code in refusals(api, tid):
        with subtests.test(name):
            before = directory_snapshot(api, engine, tid)
            error = assert_envelope(send(), status, code)
            assert directory_snapshot(api, engine, tid) == before, name
            assert len(error["message"]) > 20


@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("AUTH-2")
@pytest.mark.rule("ERR-1")
def test_roles_and_tenants_are_enforced_on_the_directory(
    api: Api, engine: Engine, office: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = office["tid"]
    other = api.tenant(name="Fabrikam")
    outsider = api.key(other, "global_admin")
    reader, billing = api.key(tid, "reader"), api.key(tid, "billing_admin")
    teams, platform = api.key(tid, "teams_admin"), api.key(tid, "platform")
    base = f"/tenants/{tid}"
    new_user = {"upn": "x@contoso.com", "display_name": "X", "usage_location": "US"}
    cases: list[tuple[str, Send, int, str]] = [
        ("reader adds a user", lambda: api.post(base + "/users", new_user, key=reader),
         403, "FORBIDDEN"),
        ("billing admin assigns", lambda: api.post(
            base + "/users/johanna@contoso.com/licenses", {"add": ["MCOEV"]}, key=billing),
         403, "FORBIDDEN"),
        ("teams admin buys seats", lambda: api.post(
            base + "/subscriptions", {"sku": "MCOEV", "quantity": 1}, key=teams),
         403, "FORBIDDEN"),
        ("platform lists users", lambda: api.get(base + "/users", key=platform),
         403, "FORBIDDEN"),
        ("reader bulk", lambda: api.post(base + "/licenses/bulk", content=b"upn,sku,action\n",
                                         headers=CSV, key=reader), 403, "FORBIDDEN"),
        *[(f"outsider {path}", (lambda p=path: api.get(base + p, key=outsider)), 404,
           "TENANT_NOT_FOUND")
          for path in ("/users", "/users/megan@contoso.com", "/subscriptions", "/numbers",
                       "/resource-accounts", "/reports/minute-pools",
                       "/minute-pools/quote?user=megan@contoso.com&destination=US")],
        ("outsider adds a user", lambda: api.post(base + "/users", new_user, key=outsider),
         404, "TENANT_NOT_FOUND"),
        ("outsider takes a number", lambda: api.call(
            "PATCH", base + "/numbers/+14255550150", json={"assigned_to": None},
            headers={"Authorization": f"Bearer {outsider}"}, key=None),
         404, "TENANT_NOT_FOUND"),
    ]
    for name, send, status, code in cases:
        with subtests.test(name):
            before = directory_snapshot(api, engine, tid)
            assert_envelope(send(), status, code)
            assert directory_snapshot(api, engine, tid) == before
    for key in (teams, reader, billing):
        assert api.get(base + "/users", key=key).status_code == 200
    r = api.post(base + "/users", new_user, key=teams)
    assert r.status_code == 201, r.text
