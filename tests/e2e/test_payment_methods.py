"""Payment methods after issue #11: the same card is not added twice, a card can be removed
(except the one auto-recharge pays with), Add funds offers the card that last worked, and
the invoice HTML writes its time for people (PAY-1, PAY-2, AUTH-1, AUTH-2, ERR-1, FUND-8).
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from commcredits.adapters.db import tables as t
from commcredits.entrypoints.cli.main import app
from commcredits.services import funds, payments, recharge, web_access
from commcredits.services.context import Services
from tests.e2e.conftest import DECLINED_CARD, Api, assert_envelope, row_counts, snapshot
from tests.support import GOOD_CARD, OPERATOR, make_tenant, usd

OTHER_GOOD_CARD = "5555555555554444"  # a Mastercard the sandbox lets through


def _card(api: Api, tid: str, number: str = GOOD_CARD, *, exp_month: int = 12,
          exp_year: int = 2030, key: str | None = None) -> tuple[int, dict[str, object]]:
    kwargs = {"key": key} if key else {}
    r = api.post(f"/tenants/{tid}/payment-methods", {
        "type": "card", "number": number, "exp_month": exp_month, "exp_year": exp_year,
    }, **kwargs)
    return r.status_code, r.json()


@pytest.mark.rule("PAY-1")
def test_the_same_card_added_twice_is_the_one_payment_method(
    api: Api, engine: Engine,
) -> None:
    tid = api.tenant()
    status, first = _card(api, tid)
    assert status == 201
    status, again = _card(api, tid, "4242 4242 4242 4242")  # spaces: the same number
    assert status == 200 and again == first
    status, renewed = _card(api, tid, exp_year=2031)  # a new expiry is a new card
    assert status == 201 and renewed["id"] != first["id"]
    listed = api.ok(f"/tenants/{tid}/payment-methods")["payment_methods"]
    assert sorted(m["id"] for m in listed) == sorted([first["id"], renewed["id"]])
    # Another tenant adding the same card gets its own method.
    other = api.tenant(name="Fabrikam")
    status, theirs = _card(api, other)
    assert status == 201 and theirs["id"] != first["id"]
    # Only a keyed fingerprint is kept, never the number (PAY-1).
    with engine.connect() as conn:
        rows = conn.execute(select(t.payment_methods)).all()
        vault = conn.execute(select(t.sandbox_vault)).all()
    stored = " ".join(str(v) for r in [*rows, *vault] for v in r)
    assert GOOD_CARD not in stored and GOOD_CARD[:12] not in stored
    fingerprints = {r.fingerprint for r in rows}
    assert len(fingerprints) == 1 and len(next(iter(fingerprints))) == 64


@pytest.mark.rule("PAY-1", "AUTH-1", "AUTH-2", "ERR-1")
def test_a_removed_card_cannot_pay_and_past_invoices_still_work(
    api: Api, engine: Engine,
) -> None:
    tid = api.tenant()
    card = api.card(tid)
    bought = api.bought(tid, "75.00", card)
    billing = api.key(tid, "billing_admin")
    for role in ("reader", "teams_admin"):
        r = api.call("DELETE", f"/tenants/{tid}/payment-methods/{card}", key=api.key(tid, role))
        assert_envelope(r, 403, "FORBIDDEN")
    other = api.tenant(name="Fabrikam")
    r = api.call("DELETE", f"/tenants/{tid}/payment-methods/{card}",
                 key=api.key(other, "global_admin"))
    assert_envelope(r, 404, "TENANT_NOT_FOUND")
    r = api.call("DELETE", f"/tenants/{other}/payment-methods/{card}")
    assert_envelope(r, 404, "PAYMENT_METHOD_NOT_FOUND")

    r = api.call("DELETE", f"/tenants/{tid}/payment-methods/{card}", key=billing)
    assert r.status_code == 204 and r.content == b""
    assert api.ok(f"/tenants/{tid}/payment-methods")["payment_methods"] == []
    r = api.call("DELETE", f"/tenants/{tid}/payment-methods/{card}", key=billing)
    assert_envelope(r, 404, "PAYMENT_METHOD_NOT_FOUND")
    before = row_counts(engine)
    assert_envelope(api.buy(tid, "60.00", card), 404, "PAYMENT_METHOD_NOT_FOUND")
    r = api.put(f"/tenants/{tid}/credits/auto-recharge", {
        "enabled": True, "amount": "100.00", "trigger": "20.00", "payment_method_id": card})
    assert_envelope(r, 404, "PAYMENT_METHOD_NOT_FOUND")
    assert row_counts(engine) == before
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "75.00"

    invoice = api.ok(f"/tenants/{tid}/invoices/{bought['invoice']['id']}")
    assert invoice["total"] == "75.00" and invoice == bought["invoice"]
    html = api.get(f"/tenants/{tid}/invoices/{bought['invoice']['id']}.html")
    assert html.status_code == 200 and "Visa ending 4242, paid" in html.text
    audit = api.ok(f"/tenants/{tid}/audit-log")["entries"]
    removed = [a for a in audit if a["action"] == "payment_method.removed"]
    assert [(a["actor"], a["details"]["id"], a["details"]["last4"]) for a in removed] == [
        ("billing_admin:billing_admin", card, "4242")]
    # The same card added again after removal is a new method that pays.
    status, again = _card(api, tid)
    assert status == 201 and again["id"] != card
    assert api.bought(tid, "50.00", str(again["id"]))["lot"]["amount"] == "50.00"


@pytest.mark.rule("AR-1", "ERR-1")
def test_the_auto_recharge_card_cannot_be_removed_until_auto_recharge_moves(
    api: Api, engine: Engine,
) -> None:
    tid = api.tenant()
    card = api.card(tid)
    spare = api.card(tid, OTHER_GOOD_CARD)
    settings = {"enabled": True, "amount": "100.00", "trigger": "20.00",
                "payment_method_id": card}
    assert api.put(f"/tenants/{tid}/credits/auto-recharge", settings).status_code == 200
    before = snapshot(api, engine, tid)
    r = api.call("DELETE", f"/tenants/{tid}/payment-methods/{card}")
    error = assert_envelope(r, 409, "PAYMENT_METHOD_IN_USE")
    assert "Switch auto-recharge to another card" in error["message"]
    assert error["details"] == {"payment_method_id": card}
    assert snapshot(api, engine, tid) == before
    settings["payment_method_id"] = spare
    assert api.put(f"/tenants/{tid}/credits/auto-recharge", settings).status_code == 200
    assert api.call("DELETE", f"/tenants/{tid}/payment-methods/{card}").status_code == 204
    assert [m["id"] for m in api.ok(f"/tenants/{tid}/payment-methods")["payment_methods"]] \
        == [spare]


@pytest.mark.rule("FUND-8")
def test_the_invoice_html_writes_its_time_for_people(api: Api) -> None:
    tid = api.tenant()
    bought = api.bought(tid, "50.00", api.card(tid))
    issued = bought["invoice"]["issued_at"]
    assert issued == "2026-01-15T09:00:00Z"  # the JSON keeps ISO 8601
    html = api.get(f"/tenants/{tid}/invoices/{bought['invoice']['id']}.html").text
    assert "15 January 2026, 09:00 UTC" in html
    assert "2026-01-15T09:00:00" not in re.sub(r'datetime="[^"]*"', "", html)


def _sign_in(client: TestClient, svc: Services, tid: str, role: str) -> None:
    account = web_access.create_admin(
        svc, OPERATOR, email=f"{role}@cards.example", password="correct horse battery",
        role=role, tenant_id=tid)
    r = client.get(f"/signin/link/{web_access.create_sign_in_link(svc, account.id)}")
    assert r.status_code == 200, r.text


def _selected_pay_with(html: str) -> str:
    select_html = html.split('id="funds-method"', 1)[1].split("</select>", 1)[0]
    match = re.search(r'<option value="([^"]+)" selected>', select_html)
    assert match, select_html
    return match.group(1)


@pytest.mark.rule("PAY-3", "AR-5")
def test_pay_with_offers_the_card_that_last_worked_not_the_declined_recharge_card(
    api: Api, client: TestClient, svc: Services,
) -> None:
    tid = api.tenant()
    good = api.card(tid)
    declined = api.card(tid, DECLINED_CARD)
    api.bought(tid, "60.00", good)
    api.put(f"/tenants/{tid}/credits/auto-recharge", {
        "enabled": True, "amount": "100.00", "trigger": "50.00", "payment_method_id": declined})
    funds.charge(svc, tid, usd("15.00"))  # below the trigger: the recharge is declined
    assert api.ok(f"/tenants/{tid}/credits/auto-recharge")["status"][
        "last_failure_reason"] == "card_declined"
    _sign_in(client, svc, tid, "billing_admin")
    page = client.get(f"/t/{tid}/credits")
    assert _selected_pay_with(page.text) == good
    # Issue #11, wording: the failure reads as words, its code small beside it.
    assert 'Last failure: The card was declined <small class="muted code"><code>card_declined' \
        in page.text

    # A purchase with the declined card is refused; the form offers the good card again.
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    r = client.post(f"/t/{tid}/credits/funds", data={
        "csrf_token": csrf.group(1), "idempotency_key": "k1", "amount": "70.00",
        "payment_method_id": declined})
    assert r.status_code == 402 and "(card_declined)" in r.text
    assert _selected_pay_with(r.text) == good and 'value="70.00"' in r.text


@pytest.mark.rule("PAY-1", "AUTH-1", "ERR-1")
def test_cards_page_adds_once_removes_and_refuses_the_recharge_card_inline(
    api: Api, client: TestClient, svc: Services, engine: Engine,
) -> None:
    tid = api.tenant()
    card = api.card(tid)
    spare = api.card(tid, OTHER_GOOD_CARD)
    api.put(f"/tenants/{tid}/credits/auto-recharge", {
        "enabled": True, "amount": "100.00", "trigger": "20.00", "payment_method_id": card})
    _sign_in(client, svc, tid, "global_admin")
    page = client.get(f"/t/{tid}/credits")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    token = csrf.group(1)
    assert f"/credits/payment-methods/{spare}/remove" in page.text
    assert f"/credits/payment-methods/{card}/remove" not in page.text  # the recharge card
    assert "Switch auto-recharge to another card to remove this one." in page.text

    r = client.post(f"/t/{tid}/credits/payment-methods", follow_redirects=False, data={
        "csrf_token": token, "number": GOOD_CARD, "exp_month": "12", "exp_year": "2099"})
    assert r.status_code == 303 and "already%20saved" in r.headers["location"]
    # api.card uses 12/2099: the same card, so still two methods.
    assert len(api.ok(f"/tenants/{tid}/payment-methods")["payment_methods"]) == 2

    before = row_counts(engine)
    r = client.post(f"/t/{tid}/credits/payment-methods/{card}/remove",
                    data={"csrf_token": token})
    assert r.status_code == 409 and "(PAYMENT_METHOD_IN_USE)" in r.text
    assert 'id="methods-error"' in r.text and row_counts(engine) == before
    r = client.post(f"/t/{tid}/credits/payment-methods/{spare}/remove",
                    data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and "Removed%20Mastercard%20ending%204444" in \
        r.headers["location"]
    assert [m["id"] for m in api.ok(f"/tenants/{tid}/payment-methods")["payment_methods"]] \
        == [card]

    _sign_in(client, svc, tid, "reader")
    page = client.get(f"/t/{tid}/credits")
    assert "/remove" not in page.text
    r = client.post(f"/t/{tid}/credits/payment-methods/{card}/remove",
                    data={"csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"',
                                                   page.text)[0]})
    assert r.status_code == 403 and "<code>FORBIDDEN</code>" in r.text


@pytest.mark.rule("PAY-1", "ERR-1")
def test_the_cli_adds_a_card_once_and_removes_it(svc: Services, db_url: str) -> None:
    runner = CliRunner(env={"COLUMNS": "250"})
    tid = make_tenant(svc)
    ids = []
    for _ in range(2):
        result = runner.invoke(app, ["credits", "add-card", tid, "--db", db_url],
                               input=f"{GOOD_CARD}\n")
        assert result.exit_code == 0, result.output
        ids.append(result.output.split()[-1])
    assert ids[0] == ids[1]  # the same card: the method already there
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="10.00",
                       payment_method_id=ids[0])
    result = runner.invoke(app, ["credits", "remove-card", tid, ids[0], "--db", db_url])
    assert result.exit_code == 2 and "PAYMENT_METHOD_IN_USE" in result.output
    recharge.configure(svc, OPERATOR, tid, enabled=False, amount=None, trigger=None,
                       payment_method_id=None)
    result = runner.invoke(app, ["credits", "remove-card", tid, ids[0], "--db", db_url])
    assert result.exit_code == 0 and f"Removed visa ending 4242: {ids[0]}" in result.output
    assert payments.add_payment_method(svc, OPERATOR, tid, number=GOOD_CARD, exp_month=12,
                                       exp_year=2030).id != ids[0]
