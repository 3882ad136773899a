"""Post-usage billing through the REST API (ACCT-5, ACCT-6, POST-1, POST-2, ERR-1)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from commcredits.adapters.clock import FixedClock
from commcredits.services import funds, postpaid
from commcredits.services.context import Services
from commcredits.services.jobs import run_due_work
from tests.e2e.conftest import Api, assert_envelope, snapshot
from tests.support import usd, utc


def auto_recharging_tenant(api: Api) -> tuple[str, str]:
    tid = api.tenant()
    card = api.card(tid)
    api.bought(tid, "60.00", card)
    r = api.put(f"/tenants/{tid}/credits/auto-recharge",
                {"enabled": True, "amount": "100.00", "trigger": "50.00",
                 "payment_method_id": card})
    assert r.status_code == 200, r.text
    return tid, card


def use(svc: Services, tid: str, amount: str, reference: str, country: str = "US") -> None:
    with svc.uow() as uow:
        uow.credits.account(tid, lock=True)
        postpaid.charge_postpaid_in(uow, tid, usd(amount), capability="domestic",
                                    country=country, reference=reference,
                                    at=svc.clock.now())
        uow.commit()


@pytest.mark.rule("ACCT-6")
def test_the_switch_is_refused_with_the_envelope_while_auto_recharge_is_on_then_succeeds(
    api: Api, engine: Engine,
) -> None:
    tid, card = auto_recharging_tenant(api)
    before = snapshot(api, engine, tid)
    r = api.put(f"/tenants/{tid}/billing-account", {"billing_account_type": "MCA"})
    error = assert_envelope(r, 409, "AUTO_RECHARGE_ENABLED")
    assert "auto-recharge off first" in error["message"]
    assert snapshot(api, engine, tid) == before
    assert api.ok(f"/tenants/{tid}")["billing_account_type"] == "MOSA"
    r = api.put(f"/tenants/{tid}/credits/auto-recharge",
                {"enabled": False, "amount": "100.00", "trigger": "50.00",
                 "payment_method_id": card})
    assert r.status_code == 200, r.text
    r = api.put(f"/tenants/{tid}/billing-account", {"billing_account_type": "MCA"})
    assert r.status_code == 200, r.text
    assert r.json()["billing_account_type"] == "MCA"
    assert_envelope(api.buy(tid, "50.00", card), 403, "POSTPAID_ACCOUNT")


@pytest.mark.rule("ACCT-6")
def test_only_the_operator_may_switch_and_bad_types_are_refused_changing_nothing(
    api: Api, engine: Engine,
) -> None:
    tid = api.tenant()
    admin = api.key(tid, "global_admin")
    before = snapshot(api, engine, tid)
    r = api.put(f"/tenants/{tid}/billing-account", {"billing_account_type": "MCA"}, key=admin)
    assert_envelope(r, 403, "FORBIDDEN")
    r = api.put(f"/tenants/{tid}/billing-account", {"billing_account_type": "PREPAID"})
    assert_envelope(r, 422, "INVALID_BILLING_ACCOUNT_TYPE")
    r = api.put(f"/tenants/{tid}/billing-account", {"billing_account_type": 7})
    assert_envelope(r, 422, "INVALID_BILLING_ACCOUNT_TYPE")
    r = api.put("/tenants/nope/billing-account", {"billing_account_type": "MCA"})
    assert_envelope(r, 404, "TENANT_NOT_FOUND")
    assert snapshot(api, engine, tid) == before


@pytest.mark.rule("POST-2")
def test_a_billing_admin_turns_overage_off_until_the_first_of_next_month(
    api: Api, engine: Engine, clock: FixedClock,
) -> None:
    tid = api.tenant(kind="MCA")
    billing = api.key(tid, "billing_admin")
    reader = api.key(tid, "reader")
    before = snapshot(api, engine, tid)
    assert_envelope(api.put(f"/tenants/{tid}/overage", {"enabled": False}, key=reader),
                    403, "FORBIDDEN")
    assert_envelope(api.put(f"/tenants/{tid}/overage", {"enabled": "no"}, key=billing),
                    422, "INVALID_VALUE")
    assert snapshot(api, engine, tid) == before
    r = api.put(f"/tenants/{tid}/overage", {"enabled": False}, key=billing)
    assert r.status_code == 200, r.text
    assert r.json() == {"tenant_id": tid, "overage_enabled": False, "resumes_on": "2026-02-01"}
    assert api.ok(f"/tenants/{tid}/overage")["overage_enabled"] is False
    clock.set(utc(2026, 2, 1, 0, 0))
    assert api.ok(f"/tenants/{tid}/overage")["overage_enabled"] is True


@pytest.mark.rule("POST-1")
def test_the_overage_statement_shows_lines_total_and_the_invoice_once_issued(
    api: Api, svc: Services, clock: FixedClock,
) -> None:
    tid = api.tenant()
    api.bought(tid, "60.00", api.card(tid))
    funds.charge(svc, tid, usd("40.00"))
    assert api.put(f"/tenants/{tid}/billing-account",
                   {"billing_account_type": "MCA"}).status_code == 200
    use(svc, tid, "30.00", "call-1")
    use(svc, tid, "1.15", "call-2", country="CA")
    body = api.ok(f"/tenants/{tid}/overage?month=2026-01")
    assert body["lines"] == [
        {"capability": "domestic", "country": "CA", "description":
         "PSTN usage: domestic, Canada (CA)", "amount": "1.15"},
        {"capability": "domestic", "country": "US", "description":
         "PSTN usage: domestic, United States (US)", "amount": "10.00"},
    ]
    assert (body["total"], body["currency"], body["invoice_id"]) == ("11.15", "USD", None)
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "0.00"
    clock.set(utc(2026, 2, 1, 0, 0))
    assert run_due_work(svc).statements == 1
    body = api.ok(f"/tenants/{tid}/overage?month=2026-01")
    assert body["total"] == "11.15" and body["invoice_id"] is not None
    invoice = api.ok(f"/tenants/{tid}/invoices/{body['invoice_id']}")
    assert invoice["number"] == body["invoice_number"]
    assert api.ok(f"/tenants/{tid}/overage")["month"] == "2026-02"
    r = api.get(f"/tenants/{tid}/overage?month=2026-13")
    assert_envelope(r, 422, "INVALID_MONTH")
