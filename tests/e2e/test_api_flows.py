"""The happy paths through HTTP: who may buy and how, what a purchase leaves behind (lot,
ledger entry, invoice, seats), idempotent retries, money formats, secrets, and the service's
own pages (health, docs, OpenAPI, clock).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, inspect, select

from commcredits.adapters.db import tables as t
from commcredits.bootstrap import Runtime
from commcredits.domain.tenants import WEB_DIRECT_OFFERS, Cloud
from tests.e2e.conftest import DECLINED_CARD, Api, assert_envelope, row_counts
from tests.support import GOOD_CARD

NOW = "2026-01-15T09:00:00Z"
A_YEAR_LATER = "2027-01-15T09:00:00Z"
MONEY_RE = re.compile(r"^-?\d+\.\d{2}$")


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def every_text_in_the_database(engine: Engine) -> str:
    """Every value of every row of every table, as one string to search."""
    parts: list[str] = []
    present = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            if table.name not in present:
                continue
            for row in conn.execute(select(table)):
                parts.extend(repr(value) for value in row)
    return "\n".join(parts)


# ACCT: who buys, and how.


@pytest.mark.rule("ACCT-2")
@pytest.mark.rule("FUND-1")
@pytest.mark.rule("AUTH-1")
def test_mosa_billing_admin_buys_credits_with_a_card(api: Api) -> None:
    tid = api.tenant()
    admin = api.key(tid, "billing_admin")
    card = api.card(tid, key=admin)
    r = api.buy(tid, "150.00", card, key=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["replayed"] is False
    lot = body["lot"]
    assert lot == {
        "id": lot["id"], "amount": "150.00", "remaining": "150.00", "currency": "USD",
        "purchased_at": NOW, "expires_at": A_YEAR_LATER, "source": "manual",
        "invoice_id": body["invoice"]["id"],
    }
    credits = api.ok(f"/tenants/{tid}/credits")
    assert (credits["balance"], credits["available"], credits["debt"], credits["currency"]) \
        == ("150.00", "150.00", "0.00", "USD")
    assert [x["id"] for x in credits["lots"]] == [lot["id"]]
    ledger = api.ok(f"/tenants/{tid}/credits/ledger")
    assert [(e["kind"], e["amount"], e["currency"], e["lot_id"], e["at"])
            for e in ledger["entries"]] == [("purchase", "150.00", "USD", lot["id"], NOW)]
    assert ledger["entries"][0]["reference"] == body["invoice"]["number"]


@pytest.mark.rule("ACCT-3")
@pytest.mark.rule("FUND-1")
@pytest.mark.rule("FUND-8")
def test_bound_partner_funds_a_csp_tenant_and_the_lot_source_is_partner(api: Api) -> None:
    tid = api.tenant(kind="CSP")
    pid, partner_key = api.partner("Fabrikam CSP")
    api.bind(pid, tid)
    body = api.bought(tid, "200.00", None, key=partner_key)
    assert body["lot"]["source"] == "partner"
    assert body["lot"]["amount"] == "200.00"
    document = body["invoice"]["document"]
    assert document["payment"] == {"method": "partner", "partner": "Fabrikam CSP",
                                   "status": "succeeded"}
    assert document["source"] == "partner"
    # The partner reads what it funded, and the tenant's own admins see it too.
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "200.00"
    r = api.get(f"/tenants/{tid}/credits", key=partner_key)
    assert r.status_code == 200 and r.json()["balance"] == "200.00"
    funded = [e for e in api.ok(f"/tenants/{tid}/audit-log")["entries"]
              if e["action"] == "credits.funded"]
    assert [e["actor"] for e in funded] == ["partner:Fabrikam CSP key"]
    assert funded[0]["details"]["source"] == "partner"


@pytest.mark.rule("ACCT-3")
@pytest.mark.rule("FUND-8")
def test_csp_tenant_buys_through_the_web_direct_offer_of_its_cloud(api: Api) -> None:
    lines = {}
    for cloud in ("commercial", "gcc"):
        tid = api.tenant(kind="CSP", cloud=cloud)
        admin = api.key(tid, "billing_admin")
        card = api.card(tid, key=admin)
        refused = assert_envelope(api.buy(tid, "100.00", card, key=admin), 403,
                                  "CSP_PARTNER_MUST_FUND")
        body = api.bought(tid, "100.00", card, key=admin, channel="web_direct_offer")
        assert body["lot"]["source"] == "manual"
        [line] = body["invoice"]["document"]["lines"]
        assert line["description"] == refused["details"]["web_direct_offer"]
        assert line["description"] == WEB_DIRECT_OFFERS[Cloud(cloud)]
        lines[cloud] = line["description"]
        html = api.get(f"/tenants/{tid}/invoices/{body['invoice']['id']}.html")
        assert line["description"] in html.text
    assert lines["commercial"] != lines["gcc"]


@pytest.mark.rule("ACCT-4")
@pytest.mark.rule("AUTH-2")
def test_ea_region_mismatch_is_lifted_by_an_audited_operator_exception(api: Api) -> None:
    tid = api.tenant(kind="EA", country="US", billing_country="GB")
    card = api.card(tid)
    assert_envelope(api.buy(tid, "100.00", card), 403, "EA_REGION_MISMATCH")
    r = api.put(f"/tenants/{tid}/ea-exception", {"enabled": True})
    assert r.status_code == 200, r.text
    assert r.json()["ea_region_exception"] is True
    assert api.ok(f"/tenants/{tid}")["ea_region_exception"] is True
    body = api.bought(tid, "100.00", card)
    assert body["lot"]["amount"] == "100.00"
    [entry] = [e for e in api.ok(f"/tenants/{tid}/audit-log")["entries"]
               if e["action"] == "tenant.ea_exception"]
    assert entry["actor"] == "operator:operator-key"
    assert entry["at"] == NOW
    assert entry["details"] == {"ea_region_exception": True}
    # Withdrawn, the exception stops covering new purchases.
    assert api.put(f"/tenants/{tid}/ea-exception", {"enabled": False}).status_code == 200
    assert_envelope(api.buy(tid, "100.00", card), 403, "EA_REGION_MISMATCH")
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "100.00"


@pytest.mark.rule("ACCT-4")
def test_ea_tenant_billed_in_its_own_country_buys_without_an_exception(api: Api) -> None:
    tid = api.tenant(kind="EA", country="DE", billing_country="DE")
    body = api.bought(tid, "100.00", api.card(tid))
    assert (body["lot"]["amount"], body["lot"]["currency"]) == ("100.00", "EUR")


@pytest.mark.rule("ACCT-1")
def test_tenant_currency_defaults_to_its_countrys(api: Api) -> None:
    for country, currency in (("US", "USD"), ("GB", "GBP"), ("DE", "EUR"), ("FR", "EUR")):
        r = api.post("/tenants", {"name": f"Tenant {country}", "country": country,
                                  "billing_account_type": "MOSA"})
        assert r.status_code == 201, r.text
        tenant = r.json()
        assert (tenant["currency"], tenant["billing_country"], tenant["cloud"]) \
            == (currency, country, "commercial")
        tid = tenant["id"]
        body = api.bought(tid, "75.00", api.card(tid))
        assert body["lot"]["currency"] == currency
        assert body["invoice"]["currency"] == currency
        assert api.ok(f"/tenants/{tid}/credits")["currency"] == currency


@pytest.mark.rule("ACCT-1")
def test_tenant_keeps_its_name_contacts_account_type_and_cloud(api: Api) -> None:
    r = api.post("/tenants", {
        "name": "Northwind", "country": "GB", "currency": "USD", "billing_country": "IE",
        "billing_account_type": "EA", "cloud": "gcc",
        "contacts": [{"email": "Admin@Northwind.example", "role": "global_admin"},
                     {"email": "reader@northwind.example", "role": "reader"}],
    })
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    assert api.ok(f"/tenants/{tid}") == {
        "id": tid, "name": "Northwind", "country": "GB", "currency": "USD",
        "billing_account_type": "EA", "billing_country": "IE", "cloud": "gcc",
        "ea_region_exception": False,
        "contacts": [{"email": "admin@northwind.example", "role": "global_admin"},
                     {"email": "reader@northwind.example", "role": "reader"}],
    }


# FUND: amounts, invoices, seats, idempotency, money.


@pytest.mark.rule("FUND-2")
def test_the_minimum_and_the_maximum_are_accepted(api: Api) -> None:
    tid = api.tenant()
    card = api.card(tid)
    assert api.bought(tid, "50.00", card)["lot"]["amount"] == "50.00"
    assert api.bought(tid, "1000000.00", card)["lot"]["amount"] == "1000000.00"
    assert api.bought(tid, 1000000, card)["lot"]["amount"] == "1000000.00"
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "2000050.00"


@pytest.mark.rule("FUND-8")
def test_invoice_numbers_are_sequential_per_tenant_and_unique_across_tenants(api: Api) -> None:
    a = api.tenant(name="Contoso")
    b = api.tenant(name="Woodgrove")
    card_a, card_b = api.card(a), api.card(b)
    numbers_a = [api.bought(a, amount, card_a)["invoice"]["number"]
                 for amount in ("50.00", "60.00", "70.00")]
    numbers_b = [api.bought(b, amount, card_b)["invoice"]["number"]
                 for amount in ("80.00", "90.00")]
    assert numbers_a == [f"CC-{a[:16].upper()}-{n:06d}" for n in (1, 2, 3)]
    assert numbers_b == [f"CC-{b[:16].upper()}-{n:06d}" for n in (1, 2)]
    assert len(set(numbers_a + numbers_b)) == 5
    listed = api.ok(f"/tenants/{a}/invoices")["invoices"]
    assert sorted((i["number"], i["total"]) for i in listed) == [
        (numbers_a[0], "50.00"), (numbers_a[1], "60.00"), (numbers_a[2], "70.00"),
    ]
    assert sorted(i["document"]["sequence"] for i in listed) == [1, 2, 3]


@pytest.mark.rule("FUND-8")
def test_invoice_json_has_seller_buyer_lines_total_and_payment(
    api: Api, runtime: Runtime,
) -> None:
    tid = api.tenant(name="Contoso")
    card = api.card(tid)
    bought = api.bought(tid, "75.50", card)
    invoice = api.ok(f"/tenants/{tid}/invoices/{bought['invoice']['id']}")
    assert invoice == bought["invoice"]
    assert (invoice["total"], invoice["currency"], invoice["issued_at"]) == ("75.50", "USD", NOW)
    assert invoice["lot_id"] == bought["lot"]["id"]
    document = invoice["document"]
    settings = runtime.settings
    assert document["seller"] == {"name": settings.seller_name,
                                  "country": settings.seller_country,
                                  "address": settings.seller_address,
                                  "tax_id": settings.seller_tax_id}
    assert document["buyer"] == {"name": "Contoso", "country": "United States",
                                 "address": "", "tax_id": ""}
    assert document["lines"] == [{"description": "Communications Credits", "quantity": "1",
                                  "unit_price": "75.50", "amount": "75.50"}]
    assert (document["number"], document["currency"], document["subtotal"], document["tax"],
            document["total"], document["status"]) \
        == (invoice["number"], "USD", "75.50", "0.00", "75.50", "paid")
    assert document["payment"]["method"] == "card"
    assert (document["payment"]["brand"], document["payment"]["last4"],
            document["payment"]["status"]) == ("visa", "4242", "succeeded")


@pytest.mark.rule("FUND-8")
def test_invoice_html_page_renders_the_number_and_total(api: Api, client: TestClient) -> None:
    tid = api.tenant()
    invoice = api.bought(tid, "75.50", api.card(tid))["invoice"]
    for path in (f"/tenants/{tid}/invoices/{invoice['id']}?format=html",
                 f"/tenants/{tid}/invoices/{invoice['id']}.html"):
        r = api.get(path)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/html")
        assert f"Invoice {invoice['number']}" in r.text
        assert "75.50 USD" in r.text
        assert "Contoso" in r.text
    r = api.get(f"/tenants/{tid}/invoices/{invoice['id']}?format=json")
    assert r.json()["number"] == invoice["number"]


@pytest.mark.rule("FUND-8")
def test_an_issued_invoice_never_changes(api: Api) -> None:
    tid = api.tenant()
    card = api.card(tid)
    first = api.bought(tid, "50.00", card)["invoice"]
    api.bought(tid, "60.00", card)
    assert api.ok(f"/tenants/{tid}/invoices/{first['id']}") == first


@pytest.mark.rule("FUND-7")
def test_first_funding_adds_ten_million_credits_seats_and_later_fundings_add_none(
    api: Api,
) -> None:
    tid = api.tenant()
    card = api.card(tid)
    assert api.ok(f"/tenants/{tid}/subscriptions")["subscriptions"] == []
    expected = [{"sku": "MCOPSTNC", "purchased": 10_000_000, "assigned": 0,
                 "available": 10_000_000}]
    api.bought(tid, "50.00", card)
    assert api.ok(f"/tenants/{tid}/subscriptions")["subscriptions"] == expected
    api.bought(tid, "60.00", card)
    assert api.ok(f"/tenants/{tid}/subscriptions")["subscriptions"] == expected


@pytest.mark.rule("FUND-7")
@pytest.mark.rule("ACCT-3")
def test_a_partners_first_funding_adds_the_seats_too(api: Api) -> None:
    tid = api.tenant(kind="CSP")
    pid, partner_key = api.partner()
    api.bind(pid, tid)
    api.bought(tid, "50.00", None, key=partner_key)
    [seats] = api.ok(f"/tenants/{tid}/subscriptions")["subscriptions"]
    assert (seats["sku"], seats["purchased"]) == ("MCOPSTNC", 10_000_000)


@pytest.mark.rule("FUND-8")
@pytest.mark.rule("AR-4")
def test_the_same_idempotency_key_twice_makes_one_lot_one_invoice_and_one_charge(
    api: Api, engine: Engine,
) -> None:
    tid = api.tenant()
    card = api.card(tid)
    before = row_counts(engine)
    first = api.buy(tid, "100.00", card, idempotency_key="order-42")
    second = api.buy(tid, "100.00", card, idempotency_key="order-42")
    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text  # a replay creates nothing
    assert first.json()["replayed"] is False
    assert second.json()["replayed"] is True
    assert {**second.json(), "replayed": False} == first.json()
    after = row_counts(engine)
    for table in ("lots", "invoices", "sandbox_charges", "ledger_entries"):
        assert after[table] == before[table] + 1, table
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "100.00"
    assert len(api.ok(f"/tenants/{tid}/invoices")["invoices"]) == 1


@pytest.mark.rule("FUND-8")
def test_idempotency_keys_are_scoped_to_the_tenant(api: Api, engine: Engine) -> None:
    a, b = api.tenant(name="Contoso"), api.tenant(name="Woodgrove")
    lot_a = api.bought(a, "100.00", api.card(a), idempotency_key="order-1")["lot"]
    lot_b = api.bought(b, "100.00", api.card(b), idempotency_key="order-1")["lot"]
    assert lot_a["id"] != lot_b["id"]
    assert count(engine, t.sandbox_charges) == 2
    assert api.ok(f"/tenants/{b}/credits")["balance"] == "100.00"


@pytest.mark.rule("FUND-8")
@pytest.mark.rule("ERR-1")
def test_an_idempotency_key_of_the_largest_accepted_length_works(
    api: Api, db_url: str, request: pytest.FixtureRequest,
) -> None:
    tid = api.tenant()
    card = api.card(tid)
    key = "k" * 200  # the header accepts up to 200 characters
    first = api.buy(tid, "100.00", card, idempotency_key=key)
    assert first.status_code == 201, first.text
    second = api.buy(tid, "100.00", card, idempotency_key=key)
    assert second.status_code == 200, second.text
    assert second.json()["lot"] == first.json()["lot"]


def _money_fields(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every field that holds money in a response: amount, remaining, balance, total…"""
    names = {"amount", "remaining", "balance", "available", "debt", "total", "subtotal",
             "tax", "unit_price", "debt_delta"}
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k in names and not isinstance(v, dict | list):
                found.append((f"{path}.{k}", v))
            found.extend(_money_fields(v, f"{path}.{k}"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(_money_fields(v, f"{path}[{i}]"))
    return found


@pytest.mark.rule("FUND-9")
def test_money_in_responses_is_a_two_decimal_string_with_its_currency(api: Api) -> None:
    tid = api.tenant(country="GB")
    card = api.card(tid)
    bodies = [
        api.bought(tid, 123.4, card),  # a JSON number is taken at its decimal value
        api.bought(tid, "50", card),
        api.ok(f"/tenants/{tid}/credits"),
        api.ok(f"/tenants/{tid}/credits/ledger"),
        api.ok(f"/tenants/{tid}/invoices"),
    ]
    assert bodies[0]["lot"]["amount"] == "123.40"
    assert bodies[1]["lot"]["amount"] == "50.00"
    assert bodies[2]["balance"] == "173.40"
    for body in bodies:
        fields = _money_fields(body)
        assert fields
        for where, value in fields:
            if value is None:  # a setting not chosen yet, e.g. auto_recharge.amount
                continue
            assert isinstance(value, str) and MONEY_RE.match(value), (where, value)
    assert bodies[0]["lot"]["currency"] == bodies[0]["invoice"]["currency"] == "GBP"
    assert bodies[2]["currency"] == "GBP"
    assert {lot["currency"] for lot in bodies[2]["lots"]} == {"GBP"}
    assert {e["currency"] for e in bodies[3]["entries"]} == {"GBP"}
    assert {i["currency"] for i in bodies[4]["invoices"]} == {"GBP"}


# AUTH, PAY: secrets and card numbers.


@pytest.mark.rule("AUTH-2")
def test_api_keys_are_stored_hashed_and_shown_once(api: Api, engine: Engine) -> None:
    tid = api.tenant()
    r = api.post(f"/tenants/{tid}/api-keys", {"role": "billing_admin", "name": "finance bot"})
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert (created["role"], created["name"]) == ("billing_admin", "finance bot")
    _, partner_key = api.partner()
    stored = every_text_in_the_database(engine)
    for secret in (key, partner_key):
        assert secret not in stored
        assert hashlib.sha256(secret.encode()).hexdigest() in stored
    assert "finance bot" in stored
    # The key works, and nothing the API lists shows it again.
    assert api.get(f"/tenants/{tid}/credits", key=key).status_code == 200
    assert key not in api.get(f"/tenants/{tid}/audit-log").text
    assert key not in api.get(f"/tenants/{tid}").text


@pytest.mark.rule("PAY-1")
def test_full_card_numbers_are_never_answered_or_stored(api: Api, engine: Engine) -> None:
    tid = api.tenant()
    added = []
    for number, spaced in ((GOOD_CARD, "4242 4242 4242 4242"),
                           (DECLINED_CARD, "4000-0000-0000-0002")):
        r = api.post(f"/tenants/{tid}/payment-methods", {
            "type": "card", "number": spaced, "exp_month": 8, "exp_year": 2030,
        })
        assert r.status_code == 201, r.text
        body = r.json()
        assert body == {"id": body["id"], "type": "card", "brand": "visa",
                        "last4": number[-4:], "exp_month": 8, "exp_year": 2030}
        added.append(body)
    api.bought(tid, "50.00", added[0]["id"])
    listed = api.get(f"/tenants/{tid}/payment-methods")
    assert sorted(listed.json()["payment_methods"], key=lambda m: m["id"]) \
        == sorted(added, key=lambda m: m["id"])
    stored = every_text_in_the_database(engine)
    for number in (GOOD_CARD, DECLINED_CARD):
        seen = [listed.text, stored, api.get(f"/tenants/{tid}/audit-log").text,
                api.get(f"/tenants/{tid}/invoices").text]
        for text in seen:
            assert number not in text
            assert number[:12] not in text  # not even the leading digits


# Access: roles that may act.


@pytest.mark.rule("AUTH-1")
def test_each_role_does_what_its_table_allows(api: Api) -> None:
    tid = api.tenant()
    card = api.card(tid)
    keys = {role: api.key(tid, role) for role in ("global_admin", "reader", "teams_admin")}
    assert api.buy(tid, "50.00", card, key=keys["global_admin"]).status_code == 201
    assert api.post(f"/tenants/{tid}/api-keys", {"role": "reader"},
                    key=keys["global_admin"]).status_code == 201
    for path in ("/credits", "/credits/ledger", "/invoices", "/audit-log"):
        assert api.get(f"/tenants/{tid}{path}", key=keys["reader"]).status_code == 200, path
    assert api.get(f"/tenants/{tid}", key=keys["teams_admin"]).status_code == 200


# The service's own pages.


@pytest.mark.rule("ERR-1")
def test_healthz_answers_200(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


IMPLEMENTED_SPEC_PATHS = {
    ("post", "/api/v1/tenants"),
    ("post", "/api/v1/tenants/{tid}/api-keys"),
    ("post", "/api/v1/tenants/{tid}/payment-methods"),
    ("get", "/api/v1/tenants/{tid}/credits"),
    ("post", "/api/v1/tenants/{tid}/credits/purchases"),
    ("get", "/api/v1/tenants/{tid}/credits/ledger"),
    ("get", "/api/v1/tenants/{tid}/invoices"),
    ("get", "/api/v1/tenants/{tid}/invoices/{iid}"),
    ("get", "/api/v1/tenants/{tid}/subscriptions"),
    ("post", "/api/v1/clock"),
}


def test_docs_and_openapi_list_the_spec_paths_implemented_so_far(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    listed = {(method, path) for path, ops in paths.items() for method in ops}
    assert listed >= IMPLEMENTED_SPEC_PATHS, IMPLEMENTED_SPEC_PATHS - listed
    assert "/healthz" in paths


@pytest.mark.rule("SIM-1")
def test_the_real_clock_cannot_be_moved(api: Api, engine: Engine) -> None:
    clock = api.ok("/clock")
    assert clock == {"now": NOW, "simulated": False}
    before = row_counts(engine)
    for body in ({"advance_seconds": 3600}, {"now": "2027-01-01T00:00:00Z"}):
        error = assert_envelope(api.post("/clock", body), 409, "CLOCK_NOT_SIMULATED")
        assert "--simulated-clock" in error["message"]
    assert row_counts(engine) == before
    assert api.ok("/clock") == clock


@pytest.mark.rule("FUND-8")
@pytest.mark.rule("ERR-1")
def test_invoice_numbers_stay_unique_when_tenant_ids_share_a_prefix(
    api: Api, engine: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uuid as real_uuid

    from commcredits.services import tenants as tenant_service

    ids = iter(["abcdef01" + "0" * 24, "abcdef01" + "1" * 24])

    class FakeUuid:
        @staticmethod
        def uuid4() -> Any:
            return real_uuid.UUID(next(ids))

    monkeypatch.setattr(tenant_service, "uuid", FakeUuid)
    a = api.tenant(name="Contoso")
    b = api.tenant(name="Woodgrove")
    monkeypatch.undo()
    assert a[:8] == b[:8] and a != b
    number_a = api.bought(a, "50.00", api.card(a))["invoice"]["number"]
    r = api.buy(b, "50.00", api.card(b))
    assert r.status_code == 201, r.text
    assert r.json()["invoice"]["number"] != number_a
