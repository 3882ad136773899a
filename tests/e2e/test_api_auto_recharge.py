"""Auto-recharge and notifications through the REST API (AR-1, AR-2, AR-5, AR-7, AR-8, NOTE-3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from commcredits.adapters.clock import FixedClock
from commcredits.services import funds
from commcredits.services.context import Services
from tests.e2e.conftest import Api, assert_envelope, snapshot
from tests.support import usd

DECLINED = "4000000000000002"


def setup_tenant(api: Api, amount: str = "60.00") -> tuple[str, str]:
    tid = api.tenant()
    card = api.card(tid)
    api.bought(tid, amount, card)
    return tid, card


@pytest.mark.rule("AR-1")
@pytest.mark.rule("AR-2")
@pytest.mark.rule("AR-6")
def test_auto_recharge_is_set_shown_in_credits_and_recharges_with_an_email(
    api: Api, svc: Services,
) -> None:
    tid, card = setup_tenant(api)
    billing = api.key(tid, "billing_admin")
    r = api.put(f"/tenants/{tid}/credits/auto-recharge",
                {"enabled": True, "amount": "100.00", "trigger": "50.00",
                 "payment_method_id": card}, key=billing)
    assert r.status_code == 200, r.text
    assert api.ok(f"/tenants/{tid}/credits")["auto_recharge"] == {
        "enabled": True, "amount": "100.00", "trigger": "50.00", "payment_method_id": card,
    }
    funds.charge(svc, tid, usd("15.00"))
    credits = api.ok(f"/tenants/{tid}/credits")
    assert credits["balance"] == "145.00"
    assert [x["source"] for x in credits["lots"]] == ["manual", "auto_recharge"]
    status = api.ok(f"/tenants/{tid}/credits/auto-recharge")["status"]
    assert status["last_recharge"]["amount"] == "100.00"
    assert status["last_failure_reason"] is None
    notes = api.ok(f"/tenants/{tid}/notifications")["notifications"]
    assert [(n["kind"], n["status"], n["to"]) for n in notes] == [
        ("recharge_succeeded", "queued", ["admin@contoso.com", "billing@contoso.com"]),
    ]
    audit = api.ok(f"/tenants/{tid}/audit-log")["entries"]
    changed = [a for a in audit if a["action"] == "auto_recharge.updated"]
    assert [a["actor"] for a in changed] == ["billing_admin:billing_admin"]
    assert changed[0]["details"]["amount"] == "100.00"


@pytest.mark.rule("AR-5")
def test_the_status_shows_the_last_failure_and_the_next_retry(
    api: Api, svc: Services, clock: FixedClock,
) -> None:
    tid, _ = setup_tenant(api)
    declined = api.card(tid, DECLINED)
    api.put(f"/tenants/{tid}/credits/auto-recharge",
            {"enabled": True, "amount": "100.00", "trigger": "50.00",
             "payment_method_id": declined})
    funds.charge(svc, tid, usd("15.00"))
    status = api.ok(f"/tenants/{tid}/credits/auto-recharge")["status"]
    assert status["last_failure_reason"] == "card_declined"
    assert status["next_retry_at"] == "2026-01-15T10:00:00Z"
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "45.00"


@pytest.mark.rule("AR-1")
@pytest.mark.rule("ERR-1")
@pytest.mark.parametrize(("body", "status", "code"), [
    ({"enabled": True, "amount": "100.00", "trigger": "50.00"}, 422,
     "PAYMENT_METHOD_REQUIRED"),
    ({"enabled": True, "amount": "10.00", "trigger": "50.00", "payment_method_id": "CARD"},
     422, "AMOUNT_BELOW_MINIMUM"),
    ({"enabled": True, "amount": "100.00", "trigger": "-5", "payment_method_id": "CARD"},
     422, "INVALID_TRIGGER"),
    ({"enabled": True, "amount": "100.00", "trigger": "50.00", "payment_method_id": "x"},
     404, "PAYMENT_METHOD_NOT_FOUND"),
    ({"enabled": True, "amount": "100.00", "trigger": "50.00", "payment_method_id": "CARD",
      "extra": 1}, 422, "VALIDATION_ERROR"),
])
def test_bad_auto_recharge_settings_are_refused_and_change_nothing(
    api: Api, engine: Engine, body: dict[str, object], status: int, code: str,
) -> None:
    tid, card = setup_tenant(api)
    sent = {k: (card if v == "CARD" else v) for k, v in body.items()}
    before = snapshot(api, engine, tid)
    assert_envelope(api.put(f"/tenants/{tid}/credits/auto-recharge", sent), status, code)
    assert snapshot(api, engine, tid) == before


@pytest.mark.rule("AUTH-1")
def test_a_reader_may_see_but_not_change_auto_recharge(api: Api, engine: Engine) -> None:
    tid, card = setup_tenant(api)
    reader = api.key(tid, "reader")
    before = snapshot(api, engine, tid)
    r = api.put(f"/tenants/{tid}/credits/auto-recharge",
                {"enabled": True, "amount": "100.00", "trigger": "50.00",
                 "payment_method_id": card}, key=reader)
    assert_envelope(r, 403, "FORBIDDEN")
    assert snapshot(api, engine, tid) == before
    assert api.get(f"/tenants/{tid}/credits/auto-recharge", key=reader).status_code == 200


@pytest.mark.rule("ACCT-5")
def test_an_mca_tenant_cannot_turn_on_auto_recharge(api: Api) -> None:
    tid = api.tenant(kind="MCA")
    card = api.card(tid)
    r = api.put(f"/tenants/{tid}/credits/auto-recharge",
                {"enabled": True, "amount": "100.00", "trigger": "50.00",
                 "payment_method_id": card})
    assert_envelope(r, 403, "POSTPAID_ACCOUNT")


@pytest.mark.rule("NOTE-3")
def test_notifications_list_delivered_emails_after_jobs_run(
    api: Api, svc: Services,
) -> None:
    tid, _ = setup_tenant(api, "50.00")
    funds.charge(svc, tid, usd("50.00"))
    r = api.post("/jobs/run")
    assert r.status_code == 200, r.text
    assert r.json()["emails_sent"] == 1
    [note] = api.ok(f"/tenants/{tid}/notifications")["notifications"]
    assert (note["kind"], note["status"]) == ("balance_depleted", "sent")


@pytest.mark.rule("AR-8")
def test_the_status_shows_a_due_retry_closed_as_not_needed(
    api: Api, svc: Services, clock: FixedClock,
) -> None:
    tid, card = setup_tenant(api)
    declined = api.card(tid, DECLINED)
    api.put(f"/tenants/{tid}/credits/auto-recharge",
            {"enabled": True, "amount": "100.00", "trigger": "50.00",
             "payment_method_id": declined})
    funds.charge(svc, tid, usd("15.00"))  # 45.00: declined, retry at 10:00
    api.bought(tid, "60.00", card)  # 105.00
    r = api.put(f"/tenants/{tid}/credits/auto-recharge",
                {"enabled": True, "amount": "100.00", "trigger": "50.00",
                 "payment_method_id": card})
    assert r.status_code == 200, r.text
    assert r.json()["status"]["next_retry_at"] == "2026-01-15T10:00:00Z"
    clock.set(clock.now() + timedelta(hours=1))
    r = api.post("/jobs/run")
    assert r.status_code == 200, r.text
    body = api.ok(f"/tenants/{tid}/credits/auto-recharge")
    status = body["status"]
    assert status["in_flight"] is None and status["next_retry_at"] is None
    assert status["waiting_for_payment_method"] is False
    assert status["last_recharge"] is None
    closed = status["last_closed"]
    assert (closed["status"], closed["amount"], closed["attempt"], closed["lot_id"]) == (
        "not_needed", "100.00", 2, None,
    )
    assert [x["status"] for x in body["recent"]] == ["not_needed"]
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "105.00"
    notes = api.ok(f"/tenants/{tid}/notifications")["notifications"]
    assert [n["kind"] for n in notes] == ["recharge_failed"]
