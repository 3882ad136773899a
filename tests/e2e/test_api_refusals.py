"""Every refusal through HTTP (ERR-1): a 4xx status, the error envelope with a stable code and
a message saying what to do, and nothing changed: the tenant's credits, ledger, invoices,
audit log, payment methods and seats read the same afterwards, and every table holds the
same number of rows.

The one deliberate exception is the sandbox processor's own charge log: a card the processor
refuses leaves one failed attempt in `sandbox_charges` (a real processor logs declines too),
and never a successful charge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import Engine, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.domain.tenants import WEB_DIRECT_OFFERS, Cloud
from tests.e2e.conftest import (
    DECLINED_CARD,
    INSUFFICIENT_FUNDS_CARD,
    LUHN_FAILURE_CARD,
    PROCESSING_ERROR_CARD,
    Api,
    assert_envelope,
    row_counts,
    snapshot,
    successful_charges,
)
from tests.support import GOOD_CARD, utc

Send = Callable[[], Response]


def assert_refused(
    api: Api, engine: Engine, tid: str, send: Send, status: int, code: str,
    *, processor_attempt: bool = False, full: bool = True,
) -> dict[str, Any]:
    """Send a request that must be refused, and prove that it changed nothing.

    ``full`` compares everything the tenant's admins can read as well as the row counts;
    loops of many cases compare the row counts and the credits per case, and wrap the loop
    in `unchanged` for the full comparison.
    """
    look = snapshot if full else quick_look
    before = look(api, engine, tid)
    charged_before = successful_charges(engine)
    error = assert_envelope(send(), status, code)
    after = look(api, engine, tid)
    if processor_attempt:
        assert after["rows"]["sandbox_charges"] == before["rows"]["sandbox_charges"] + 1
        after["rows"]["sandbox_charges"] = before["rows"]["sandbox_charges"]
    assert after == before
    assert successful_charges(engine) == charged_before
    return error


def quick_look(api: Api, engine: Engine, tid: str) -> dict[str, Any]:
    return {"credits": api.ok(f"/tenants/{tid}/credits"), "rows": row_counts(engine)}


@contextmanager
def unchanged(api: Api, engine: Engine, tid: str, *, processor_attempts: int = 0,
              ) -> Iterator[None]:
    before = snapshot(api, engine, tid)
    charged_before = successful_charges(engine)
    yield
    after = snapshot(api, engine, tid)
    assert after["rows"]["sandbox_charges"] == \
        before["rows"]["sandbox_charges"] + processor_attempts
    after["rows"]["sandbox_charges"] = before["rows"]["sandbox_charges"]
    assert after == before
    assert successful_charges(engine) == charged_before


@pytest.fixture
def shop(api: Api) -> dict[str, str]:
    """A MOSA tenant in the US with a good card and one purchase of 100.00 USD already made."""
    tid = api.tenant()
    card = api.card(tid)
    api.bought(tid, "100.00", card)
    return {"tid": tid, "card": card}


def purchases(tid: str) -> str:
    return f"/tenants/{tid}/credits/purchases"


# ACCT: who may buy at all.


@pytest.mark.rule("ACCT-3")
@pytest.mark.rule("ERR-1")
def test_csp_tenant_buying_directly_is_told_to_use_its_partner_or_the_web_direct_offer(
    api: Api, engine: Engine, subtests: pytest.Subtests,
) -> None:
    for cloud in ("commercial", "gcc"):
        with subtests.test(cloud=cloud):
            tid = api.tenant(kind="CSP", cloud=cloud)
            card = api.card(tid)
            error = assert_refused(api, engine, tid, partial(api.buy, tid, "100.00", card),
                                   403, "CSP_PARTNER_MUST_FUND")
            assert "partner" in error["message"]
            assert "web_direct_offer" in error["message"]
            offer = WEB_DIRECT_OFFERS[Cloud(cloud)]
            assert offer in error["message"]
            assert error["details"] == {"web_direct_offer": offer, "channel": "web_direct_offer"}


@pytest.mark.rule("ACCT-4")
@pytest.mark.rule("ERR-1")
def test_ea_tenant_whose_billing_country_differs_is_told_to_open_a_support_request(
    api: Api, engine: Engine,
) -> None:
    tid = api.tenant(kind="EA", country="US", billing_country="GB")
    card = api.card(tid)
    error = assert_refused(api, engine, tid, lambda: api.buy(tid, "100.00", card),
                           403, "EA_REGION_MISMATCH")
    assert "support request" in error["message"]
    assert error["details"] == {"country": "US", "billing_country": "GB"}


@pytest.mark.rule("ACCT-5")
@pytest.mark.rule("ERR-1")
def test_mca_tenant_cannot_buy_credits(api: Api, engine: Engine) -> None:
    tid = api.tenant(kind="MCA")
    card = api.card(tid)
    error = assert_refused(api, engine, tid, lambda: api.buy(tid, "100.00", card),
                           403, "POSTPAID_ACCOUNT")
    assert "MCA" in error["message"]


@pytest.mark.rule("ACCT-5")
@pytest.mark.rule("ERR-1")
def test_mca_tenant_cannot_be_funded_through_a_partner(api: Api, engine: Engine) -> None:
    tid = api.tenant(kind="MCA")
    pid, partner_key = api.partner()
    assert_refused(api, engine, tid,
                   lambda: api.post(f"/partners/{pid}/tenants", {"tenant_id": tid}),
                   403, "PARTNER_REQUIRES_CSP")
    assert_refused(api, engine, tid, lambda: api.buy(tid, "100.00", None, key=partner_key),
                   404, "TENANT_NOT_FOUND")


# FUND-2: amounts.


@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_amount_below_the_minimum_is_refused_with_the_minimum_named(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    for amount in ("49.99", 49.99, "0.01"):
        with subtests.test(amount=amount):
            error = assert_refused(api, engine, tid, partial(api.buy, tid, amount, shop["card"]),
                                   422, "AMOUNT_BELOW_MINIMUM")
            assert "50.00 USD" in error["message"]
            assert error["details"] == {"minimum": "50.00", "currency": "USD"}
    with subtests.test("the minimum is set per currency"):
        jp = api.tenant(country="JP")
        card = api.card(jp)
        error = assert_refused(api, engine, jp, lambda: api.buy(jp, "7499.99", card),
                               422, "AMOUNT_BELOW_MINIMUM")
        assert error["details"] == {"minimum": "7500.00", "currency": "JPY"}


INVALID_AMOUNTS: list[Any] = [
    0, "0", "0.00", -50, "-50.00", "NaN", "Infinity", "-Infinity", "abc", "", " ",
    1000000.01, "1000000.01", "50.001", 50.001, "1e3", "0x32", "50,00", True, False, None,
    [], {}, ["50.00"],
]


@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_invalid_amount_is_refused(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid, card = shop["tid"], shop["card"]
    with unchanged(api, engine, tid):
        for amount in INVALID_AMOUNTS:
            with subtests.test(amount=amount):
                assert_refused(api, engine, tid, partial(api.buy, tid, amount, card),
                               422, "INVALID_AMOUNT", full=False)
        # JSON numbers that are not finite (Python's parser accepts these tokens).
        for token in ("NaN", "Infinity", "-Infinity", "1e400"):
            with subtests.test(token=token):
                body = f'{{"amount": {token}, "payment_method_id": "{card}"}}'.encode()
                assert_refused(api, engine, tid, partial(
                    api.post, purchases(tid), content=body,
                    headers={"Content-Type": "application/json"},
                ), 422, "INVALID_AMOUNT", full=False)


@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_amounts_in_non_ascii_digits_are_invalid(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    tid, card = shop["tid"], shop["card"]
    with unchanged(api, engine, tid):
        answers = [(amount, api.buy(tid, amount, card).status_code)
                   for amount in ("\u0661\u0660\u0660", "\uff15\uff10", "\u0967\u0966\u0966")]
    assert answers == [(amount, 422) for amount, _ in answers]


@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_purchase_without_a_payment_method_is_refused(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    tid = shop["tid"]
    assert_refused(api, engine, tid, lambda: api.buy(tid, "100.00", None),
                   422, "PAYMENT_METHOD_REQUIRED")


@pytest.mark.rule("ACCT-3")
@pytest.mark.rule("ERR-1")
def test_unknown_channel_is_refused(api: Api, engine: Engine, shop: dict[str, str]) -> None:
    tid = shop["tid"]
    error = assert_refused(
        api, engine, tid, lambda: api.buy(tid, "100.00", shop["card"], channel="reseller"),
        422, "INVALID_CHANNEL",
    )
    assert error["details"]["allowed"] == ["direct", "web_direct_offer"]


@pytest.mark.rule("FUND-8")
@pytest.mark.rule("ERR-1")
def test_idempotency_key_reused_for_another_amount_is_a_conflict(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    tid, card = shop["tid"], shop["card"]
    api.bought(tid, "60.00", card, idempotency_key="order-1")
    assert_refused(
        api, engine, tid, lambda: api.buy(tid, "70.00", card, idempotency_key="order-1"),
        409, "IDEMPOTENCY_KEY_REUSED",
    )


# PAY: the processor's answers.


@pytest.mark.rule("PAY-3")
@pytest.mark.rule("ERR-1")
def test_sandbox_card_failure_adds_no_funds(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    for number, code in ((DECLINED_CARD, "card_declined"),
                         (INSUFFICIENT_FUNDS_CARD, "insufficient_funds"),
                         (PROCESSING_ERROR_CARD, "processing_error")):
        with subtests.test(code=code):
            card = api.card(tid, number)
            error = assert_refused(api, engine, tid, partial(api.buy, tid, "100.00", card),
                                   402, code, processor_attempt=True)
            assert error["details"] == {"reason": code}
            with engine.connect() as conn:
                failures = conn.execute(
                    select(t.sandbox_charges.c.failure)
                    .where(t.sandbox_charges.c.succeeded.is_(False))
                ).scalars().all()
            assert code in failures


@pytest.mark.rule("PAY-2")
@pytest.mark.rule("ERR-1")
def test_card_past_its_expiry_month_fails_card_expired(
    api: Api, engine: Engine, clock: FixedClock,
) -> None:
    tid = api.tenant()
    card = api.card(tid, exp_month=1, exp_year=2026)  # valid through January 2026
    api.bought(tid, "50.00", card)  # still fine on 2026-01-15
    clock.set(utc(2026, 2, 1, 0, 0))
    error = assert_refused(api, engine, tid, lambda: api.buy(tid, "100.00", card),
                           402, "card_expired")
    assert error["details"] == {"reason": "card_expired"}


@pytest.mark.rule("PAY-2")
@pytest.mark.rule("ERR-1")
def test_expired_card_is_refused_when_added(api: Api, engine: Engine, shop: dict[str, str]) -> None:
    tid = shop["tid"]
    assert_refused(api, engine, tid, lambda: api.post(f"/tenants/{tid}/payment-methods", {
        "type": "card", "number": GOOD_CARD, "exp_month": 12, "exp_year": 2025,
    }), 402, "card_expired")


@pytest.mark.rule("PAY-3")
@pytest.mark.rule("ERR-1")
def test_card_number_failing_the_luhn_check_or_malformed_is_refused_when_added(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    with unchanged(api, engine, tid):
        for number in (LUHN_FAILURE_CARD, "4242 4242 4242 4241", "4242-4242-4242-424x", "42",
                       "4" * 25, "", 4242424242424242, None):
            with subtests.test(number=number):
                error = assert_refused(api, engine, tid, partial(
                    api.post, f"/tenants/{tid}/payment-methods",
                    {"type": "card", "number": number, "exp_month": 12, "exp_year": 2099},
                ), 422, "INVALID_CARD_NUMBER", full=False)
                assert "Luhn" in error["message"]
                if isinstance(number, str) and len(number) >= 12:
                    assert number not in str(error)  # PAY-1: a card number is never echoed


@pytest.mark.rule("PAY-1")
@pytest.mark.rule("ERR-1")
def test_invalid_card_expiry_is_refused(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    with unchanged(api, engine, tid):
        for month, year in ((0, 2030), (13, 2030), ("12", 2030), (12, 99), (True, 2030),
                            (12, None)):
            with subtests.test(month=month, year=year):
                assert_refused(api, engine, tid, partial(
                    api.post, f"/tenants/{tid}/payment-methods",
                    {"type": "card", "number": GOOD_CARD, "exp_month": month, "exp_year": year},
                ), 422, "INVALID_EXPIRY", full=False)


@pytest.mark.rule("PAY-1")
@pytest.mark.rule("ERR-1")
def test_invoice_account_is_for_ea_tenants_only(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    tid = shop["tid"]
    assert_refused(api, engine, tid, lambda: api.post(
        f"/tenants/{tid}/payment-methods", {"type": "invoice"},
    ), 422, "INVOICE_ACCOUNT_EA_ONLY")


@pytest.mark.rule("PAY-1")
@pytest.mark.rule("ERR-1")
def test_unknown_payment_method_is_not_found(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    tid = shop["tid"]
    assert_refused(api, engine, tid, lambda: api.buy(tid, "100.00", "pm-does-not-exist"),
                   404, "PAYMENT_METHOD_NOT_FOUND")


@pytest.mark.rule("AUTH-2")
@pytest.mark.rule("ERR-1")
def test_another_tenants_payment_method_is_not_found(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    other = api.tenant(name="Woodgrove")
    their_card = api.card(other)
    tid = shop["tid"]
    assert_refused(api, engine, tid, lambda: api.buy(tid, "100.00", their_card),
                   404, "PAYMENT_METHOD_NOT_FOUND")
    assert_refused(api, engine, other, lambda: api.buy(tid, "100.00", their_card),
                   404, "PAYMENT_METHOD_NOT_FOUND")


# Invoices.


@pytest.mark.rule("FUND-8")
@pytest.mark.rule("AUTH-2")
@pytest.mark.rule("ERR-1")
def test_unknown_or_another_tenants_invoice_is_not_found(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    other = api.tenant(name="Woodgrove")
    their_invoice = api.bought(other, "80.00", api.card(other))["invoice"]["id"]
    key = api.key(tid, "global_admin")
    with unchanged(api, engine, other), unchanged(api, engine, tid):
        for iid in ("nope", their_invoice):
            for suffix in ("", "?format=html", ".html"):
                with subtests.test(iid=iid, suffix=suffix):
                    assert_refused(api, engine, other, partial(
                        api.get, f"/tenants/{tid}/invoices/{iid}{suffix}", key=key,
                    ), 404, "INVOICE_NOT_FOUND", full=False)


# AUTH: tenants, keys and roles.


@pytest.mark.rule("AUTH-2")
@pytest.mark.rule("ERR-1")
def test_unknown_tenant_is_not_found(api: Api, engine: Engine, shop: dict[str, str]) -> None:
    error = assert_refused(api, engine, shop["tid"], lambda: api.buy(
        "no-such-tenant", "100.00", shop["card"],
    ), 404, "TENANT_NOT_FOUND")
    assert error["details"] == {"tenant_id": "no-such-tenant"}
    assert_envelope(api.get("/tenants/no-such-tenant/credits"), 404, "TENANT_NOT_FOUND")


def _cross_tenant_requests(a: Api, other: str, card: str, invoice: str, key: str) -> list[Send]:
    base = f"/tenants/{other}"
    return [
        lambda: a.get(base, key=key),
        lambda: a.get(f"{base}/credits", key=key),
        lambda: a.get(f"{base}/credits/ledger", key=key),
        lambda: a.get(f"{base}/invoices", key=key),
        lambda: a.get(f"{base}/invoices/{invoice}", key=key),
        lambda: a.get(f"{base}/invoices/{invoice}.html", key=key),
        lambda: a.get(f"{base}/payment-methods", key=key),
        lambda: a.get(f"{base}/audit-log", key=key),
        lambda: a.get(f"{base}/subscriptions", key=key),
        lambda: a.buy(other, "100.00", card, key=key),
        lambda: a.post(f"{base}/payment-methods", {
            "type": "card", "number": GOOD_CARD, "exp_month": 12, "exp_year": 2099,
        }, key=key),
        lambda: a.post(f"{base}/api-keys", {"role": "global_admin", "name": "sneaky"}, key=key),
    ]


@pytest.mark.rule("AUTH-2")
@pytest.mark.rule("ERR-1")
def test_a_principal_of_tenant_a_gets_404_for_every_resource_of_tenant_b(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    other = api.tenant(name="Woodgrove")
    card = api.card(other)
    invoice = api.bought(other, "80.00", card)["invoice"]["id"]
    keys = {role: api.key(shop["tid"], role) for role in ("global_admin", "reader")}
    with unchanged(api, engine, other):
        for role, key_a in keys.items():
            for i, send in enumerate(_cross_tenant_requests(api, other, card, invoice, key_a)):
                with subtests.test(role=role, request=i):
                    error = assert_refused(api, engine, other, send, 404, "TENANT_NOT_FOUND",
                                           full=False)
                    # The same answer as for a tenant that does not exist: nothing leaks.
                    assert error["details"] == {"tenant_id": other}
                    assert error["message"] == f"No tenant {other!r} exists for this key."


@pytest.mark.rule("AUTH-2")
@pytest.mark.rule("ACCT-3")
@pytest.mark.rule("ERR-1")
def test_partner_key_on_a_tenant_it_is_not_bound_to_is_not_found(
    api: Api, engine: Engine,
) -> None:
    bound = api.tenant(kind="CSP", name="Bound")
    unbound = api.tenant(kind="CSP", name="Unbound")
    pid, partner_key = api.partner()
    api.bind(pid, bound)
    assert_refused(api, engine, unbound, lambda: api.buy(unbound, "100.00", None,
                                                         key=partner_key),
                   404, "TENANT_NOT_FOUND")
    assert_refused(api, engine, unbound, lambda: api.get(f"/tenants/{unbound}/credits",
                                                         key=partner_key),
                   404, "TENANT_NOT_FOUND")


@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("ACCT-2")
def test_a_partner_funds_only_csp_tenants(api: Api, engine: Engine) -> None:
    tid = api.tenant(kind="MOSA")
    pid, partner_key = api.partner()
    before = row_counts(engine)
    # Either the binding or the partner's purchase must be refused (the code is open).
    r = api.post(f"/partners/{pid}/tenants", {"tenant_id": tid})
    if r.status_code == 201:
        r = api.buy(tid, "100.00", None, key=partner_key)
    assert r.status_code in (403, 409, 422), r.text
    assert_envelope(r, r.status_code, r.json()["error"]["code"])
    after = row_counts(engine)
    for table in ("lots", "invoices", "ledger_entries"):
        assert after[table] == before[table], table


@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("ERR-1")
def test_reader_may_not_purchase(api: Api, engine: Engine, shop: dict[str, str]) -> None:
    tid = shop["tid"]
    reader = api.key(tid, "reader")
    error = assert_refused(api, engine, tid, lambda: api.buy(tid, "100.00", shop["card"],
                                                             key=reader),
                           403, "FORBIDDEN")
    assert error["details"] == {"role": "reader", "action": "fund"}


@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("ERR-1")
def test_teams_admin_may_not_add_a_card(api: Api, engine: Engine, shop: dict[str, str]) -> None:
    tid = shop["tid"]
    teams = api.key(tid, "teams_admin")
    error = assert_refused(api, engine, tid, lambda: api.post(f"/tenants/{tid}/payment-methods", {
        "type": "card", "number": GOOD_CARD, "exp_month": 12, "exp_year": 2099,
    }, key=teams), 403, "FORBIDDEN")
    assert error["details"] == {"role": "teams_admin", "action": "manage_payment_methods"}


@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("ERR-1")
def test_roles_are_held_to_their_table(api: Api, engine: Engine, shop: dict[str, str]) -> None:
    tid = shop["tid"]
    keys = {role: api.key(tid, role) for role in
            ("global_admin", "billing_admin", "teams_admin", "platform")}
    refused: list[Send] = [
        lambda: api.get(f"/tenants/{tid}/credits", key=keys["teams_admin"]),
        lambda: api.buy(tid, "100.00", shop["card"], key=keys["platform"]),
        lambda: api.post(f"/tenants/{tid}/api-keys", {"role": "reader"},
                         key=keys["billing_admin"]),
        lambda: api.put(f"/tenants/{tid}/ea-exception", {"enabled": True},
                        key=keys["global_admin"]),
        lambda: api.post("/tenants", {"name": "X", "country": "US",
                                      "billing_account_type": "MOSA"},
                         key=keys["global_admin"]),
        lambda: api.post("/partners", {"name": "X"}, key=keys["global_admin"]),
        lambda: api.post("/clock", {"advance_seconds": 60}, key=keys["global_admin"]),
        lambda: api.post(f"/tenants/{tid}/credits/adjustments",
                         {"amount": "10.00", "reason": "goodwill"}, key=keys["global_admin"]),
    ]
    with unchanged(api, engine, tid):
        for send in refused:
            assert_refused(api, engine, tid, send, 403, "FORBIDDEN", full=False)


@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("ERR-1")
def test_request_without_a_valid_key_is_unauthenticated(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    before = snapshot(api, engine, tid)
    for authorization in (None, "", "Bearer", "Bearer ", "Bearer not-a-key",
                          "Bearer cck_forged", "Basic b3A6c2VjcmV0", "operator-secret-for-tests"):
        headers = {} if authorization is None else {"Authorization": authorization}
        for method, path, body in (
            ("POST", purchases(tid), {"amount": "100.00", "payment_method_id": shop["card"]}),
            ("GET", f"/tenants/{tid}/credits", None),
            ("POST", "/tenants", {"name": "X", "country": "US", "billing_account_type": "MOSA"}),
        ):
            with subtests.test(authorization=authorization, path=path):
                rows = row_counts(engine)
                r = api.call(method, path, key=None, headers=headers, json=body)
                assert_envelope(r, 401, "UNAUTHENTICATED")
                assert r.headers["WWW-Authenticate"] == "Bearer"
                assert row_counts(engine) == rows
    assert snapshot(api, engine, tid) == before


# Request shape.


MALFORMED_PURCHASES: list[tuple[bytes, str]] = [
    (b'{"amount": "100.00", "payment_method_id": "CARD", "tip": "5.00"}', "body.tip"),
    (b"amount=100.00", "body"),
    (b'{"amount": "100.00", "payment_method_id": ', "body"),
    (b'["100.00"]', "body"),
    (b'"100.00"', "body"),
    (b"{}", "body.amount"),
    (b'{"amount": "100.00", "payment_method_id": 7}', "body.payment_method_id"),
    (b'{"amount": "100.00", "payment_method_id": "CARD", "channel": ["direct"]}',
     "body.channel"),
]


@pytest.mark.rule("ERR-1")
def test_malformed_purchase_body_is_a_validation_error(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    with unchanged(api, engine, tid):
        for content, location in MALFORMED_PURCHASES:
            with subtests.test(body=content):
                body = content.replace(b"CARD", shop["card"].encode())
                error = assert_refused(api, engine, tid, partial(
                    api.post, purchases(tid), content=body,
                    headers={"Content-Type": "application/json"},
                ), 422, "VALIDATION_ERROR", full=False)
                assert error["details"]["errors"][0]["location"].startswith(location)


@pytest.mark.rule("ERR-1")
def test_extra_field_on_a_card_is_refused_without_echoing_the_number(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    tid = shop["tid"]
    error = assert_refused(api, engine, tid, lambda: api.post(f"/tenants/{tid}/payment-methods", {
        "type": "card", "number": GOOD_CARD, "exp_month": 12, "exp_year": 2099, "cvc": "123",
    }), 422, "VALIDATION_ERROR")
    assert error["details"]["errors"][0]["location"] == "body.cvc"
    assert GOOD_CARD not in str(error)
    assert "123" not in str(error)


@pytest.mark.rule("ERR-1")
def test_idempotency_key_longer_than_200_characters_is_a_validation_error(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    tid = shop["tid"]
    assert_refused(api, engine, tid, lambda: api.buy(tid, "100.00", shop["card"],
                                                     idempotency_key="k" * 201),
                   422, "VALIDATION_ERROR")


GARBAGE: list[bytes] = [
    b"", b"null", b"true", b"0", b"[]", b"[{}]", b'{"amount": {"$gt": 0}}',
    b'{"amount": "\\u0000"}', b"\xff\xfe\x00", b"{" * 5000, b"[" * 100_000 + b"]" * 100_000,
    b'{"amount": ' + b"9" * 5000 + b"}", b'{"a": 1, "a": 2}',
    b'{"name": "' + b"x" * 100_000 + b'"}',
    b'{"enabled": "maybe", "number": [], "role": {"x": 1}, "tenant_id": 5}',
]


@pytest.mark.rule("ERR-1")
def test_garbage_bodies_never_produce_a_5xx(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    tid = shop["tid"]
    pid, _ = api.partner()
    targets = [
        ("POST", purchases(tid)), ("POST", "/tenants"), ("POST", f"/tenants/{tid}/api-keys"),
        ("POST", f"/tenants/{tid}/payment-methods"), ("PUT", f"/tenants/{tid}/ea-exception"),
        ("POST", "/partners"), ("POST", f"/partners/{pid}/tenants"),
        ("POST", f"/partners/{pid}/api-keys"), ("POST", f"/tenants/{tid}/credits/adjustments"),
        ("POST", "/clock"),
    ]
    before = snapshot(api, engine, tid)
    for method, path in targets:
        for content in GARBAGE:
            r = api.call(method, path, content=content,
                         headers={"Content-Type": "application/json"})
            assert 400 <= r.status_code < 500, (method, path, content[:40], r.text[:300])
            error = r.json()["error"]
            assert error["code"] and error["message"] and isinstance(error["details"], dict)
    assert snapshot(api, engine, tid) == before


@pytest.mark.rule("ERR-1")
def test_bad_routes_and_queries_answer_in_the_envelope(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    with unchanged(api, engine, tid):
        for method, path, status, code in (
            ("GET", "/no/such/route", 404, "NOT_FOUND"),
            ("DELETE", f"/tenants/{tid}/credits", 405, "METHOD_NOT_ALLOWED"),
            ("GET", f"/tenants/{tid}/invoices/x?format=pdf", 422, "VALIDATION_ERROR"),
            ("GET", f"/tenants/{tid}/credits/ledger?limit=0", 422, "VALIDATION_ERROR"),
            ("GET", f"/tenants/{tid}/credits/ledger?limit=abc", 422, "VALIDATION_ERROR"),
            ("GET", f"/tenants/{tid}/credits/ledger?before=-1", 422, "VALIDATION_ERROR"),
            ("GET", f"/tenants/{tid}/audit-log?limit=-5", 422, "VALIDATION_ERROR"),
        ):
            with subtests.test(method=method, path=path):
                assert_refused(api, engine, tid, partial(api.call, method, path), status, code,
                               full=False)


@pytest.mark.rule("ERR-1")
def test_ledger_cursor_beyond_any_id_is_refused_not_a_5xx(
    api: Api, shop: dict[str, str],
) -> None:
    r = api.get(f"/tenants/{shop['tid']}/credits/ledger", params={"before": 10**30})
    assert r.status_code < 500, r.text
    assert r.status_code in (200, 422)


@pytest.mark.rule("ERR-1")
@pytest.mark.rule("PAY-3")
def test_a_declined_purchase_leaves_its_idempotency_key_free_for_a_retry_with_another_card(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    tid = shop["tid"]
    declined = api.card(tid, DECLINED_CARD)
    assert_refused(api, engine, tid, lambda: api.buy(tid, "60.00", declined,
                                                     idempotency_key="order-7"),
                   402, "card_declined", processor_attempt=True)
    retry = api.buy(tid, "60.00", shop["card"], idempotency_key="order-7")
    assert retry.status_code == 201, retry.text
    assert retry.json()["lot"]["amount"] == "60.00"


@pytest.mark.rule("ERR-1")
def test_a_name_with_a_lone_surrogate_is_refused_not_a_5xx(
    api: Api, engine: Engine, shop: dict[str, str],
) -> None:
    tid = shop["tid"]
    before = row_counts(engine)
    answers = []
    for path, content in (
        ("/partners", b'{"name": "\\ud800"}'),
        ("/tenants", b'{"name": "\\ud800", "country": "US", "billing_account_type": "MOSA"}'),
        (f"/tenants/{tid}/api-keys", b'{"role": "reader", "name": "\\udfff"}'),
        ("/tenants", b'{"name": "X", "country": "US", "billing_account_type": "MOSA", '
                     b'"contacts": [{"email": "a\\ud800@b.example", "role": "reader"}]}'),
    ):
        r = api.post(path, content=content, headers={"Content-Type": "application/json"})
        answers.append((path, r.status_code))
    assert all(400 <= status < 500 for _, status in answers), answers
    assert row_counts(engine) == before
