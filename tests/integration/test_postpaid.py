"""Post-usage billing for MCA tenants to the cent (ACCT-5, ACCT-6, POST-1, POST-2, FUND-8,
SIM-1), on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.domain.errors import Conflict, Forbidden, PolicyRefusal
from commcredits.domain.tenants import BillingAccountType, Role
from commcredits.services import funds, postpaid, queries, recharge
from commcredits.services.auth import Principal
from commcredits.services.context import Services
from commcredits.services.jobs import run_due_work
from tests.support import OPERATOR, add_card, buy, make_tenant, usd, utc


def count(engine: Engine, table: t.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def mca_tenant_with_20_prepaid(svc: Services) -> str:
    """A MOSA tenant that bought 60.00 and used 40.00, then switched to MCA."""
    tid = make_tenant(svc)
    buy(svc, tid, "60.00", add_card(svc, tid))
    funds.charge(svc, tid, usd("40.00"))
    postpaid.switch_billing_account(svc, OPERATOR, tid, "MCA")
    return tid


def use(svc: Services, tid: str, amount: str, reference: str, *, capability: str = "domestic",
        country: str = "US") -> postpaid.PostpaidCharge:
    """What call control does at call end: lock the tenant, charge, commit."""
    with svc.uow() as uow:
        uow.credits.account(tid, lock=True)
        result = postpaid.charge_postpaid_in(
            uow, tid, usd(amount), capability=capability, country=country,
            reference=reference, at=svc.clock.now(),
        )
        uow.commit()
    return result


@pytest.mark.rule("ACCT-6")
def test_switching_to_mca_is_refused_while_auto_recharge_is_on_and_changes_nothing(
    svc: Services, engine: Engine,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "60.00", card)
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="50.00",
                       payment_method_id=card)
    audit_before = count(engine, t.audit_log)
    with pytest.raises(Conflict) as refused:
        postpaid.switch_billing_account(svc, OPERATOR, tid, "MCA")
    assert refused.value.code == "AUTO_RECHARGE_ENABLED"
    assert "auto-recharge off first" in refused.value.message
    tenant, _ = queries.tenant(svc, OPERATOR, tid)
    assert tenant.billing_account_type is BillingAccountType.MOSA
    assert count(engine, t.audit_log) == audit_before
    assert count(engine, t.tenant_billing) == 0


@pytest.mark.rule("ACCT-6")
def test_switching_to_mca_succeeds_once_auto_recharge_is_off(
    svc: Services, engine: Engine, clock: FixedClock,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "60.00", card)
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="50.00",
                       payment_method_id=card)
    recharge.configure(svc, OPERATOR, tid, enabled=False, amount="100.00", trigger="50.00",
                       payment_method_id=card)
    switched = postpaid.switch_billing_account(svc, OPERATOR, tid, "MCA")
    assert switched.billing_account_type is BillingAccountType.MCA
    assert postpaid.is_postpaid(switched)
    with svc.uow(readonly=True) as uow:
        billing = uow.postpaid.billing(tid)
        actions = [a.action for a in uow.audit.list(tid, 10)]
    assert billing is not None and billing.postpaid_since == clock.now()
    assert billing.overage_enabled
    assert "tenant.billing_account_changed" in actions


@pytest.mark.rule("ACCT-6")
def test_only_the_operator_may_switch_the_billing_account(svc: Services) -> None:
    tid = make_tenant(svc)
    with pytest.raises(Forbidden):
        postpaid.switch_billing_account(
            svc, Principal(Role.GLOBAL_ADMIN, tenant_id=tid), tid, "MCA")


@pytest.mark.rule("ACCT-6")
@pytest.mark.rule("POST-1")
def test_a_charge_uses_the_remaining_prepaid_balance_first_and_the_rest_goes_to_overage(
    svc: Services,
) -> None:
    tid = mca_tenant_with_20_prepaid(svc)
    result = use(svc, tid, "30.00", "call-1")
    assert (result.prepaid, result.overage) == (usd("20.00"), usd("10.00"))
    assert result.entry_id is not None
    view = queries.credits(svc, OPERATOR, tid)
    assert view.balance == usd("0.00")
    assert view.debt == usd("0.00")
    s = postpaid.statement(svc, OPERATOR, tid, "2026-01")
    assert [(x.capability, x.country, x.amount) for x in s.lines] == \
        [("domestic", "US", usd("10.00"))]
    assert s.total == usd("10.00")
    assert s.invoice_id is None
    later = use(svc, tid, "4.50", "call-2")
    assert (later.prepaid, later.overage, later.entry_id) == (usd("0"), usd("4.50"), None)
    assert queries.credits(svc, OPERATOR, tid).balance == usd("0.00")


@pytest.mark.rule("POST-1")
def test_a_repeated_charge_with_the_same_reference_adds_nothing_and_returns_the_first_split(
    svc: Services, engine: Engine,
) -> None:
    tid = mca_tenant_with_20_prepaid(svc)
    first = use(svc, tid, "30.00", "call-1")
    entries = count(engine, t.ledger_entries)
    again = use(svc, tid, "30.00", "call-1")
    assert (again.prepaid, again.overage, again.entry_id) == \
        (first.prepaid, first.overage, first.entry_id)
    assert again.replayed
    assert count(engine, t.ledger_entries) == entries
    assert count(engine, t.overage_lines) == 1
    assert postpaid.statement(svc, OPERATOR, tid, "2026-01").total == usd("10.00")


@pytest.mark.rule("POST-1")
@pytest.mark.rule("FUND-8")
@pytest.mark.rule("SIM-1")
def test_month_end_issues_one_invoice_per_capability_and_country_to_the_cent_once(
    svc: Services, engine: Engine, clock: FixedClock,
) -> None:
    tid = mca_tenant_with_20_prepaid(svc)
    use(svc, tid, "30.00", "call-1")                                      # 10.00 overage
    use(svc, tid, "5.25", "call-2")
    use(svc, tid, "7.10", "call-3", capability="international", country="GB")
    use(svc, tid, "0.01", "call-4", capability="international", country="GB")
    assert run_due_work(svc).statements == 0  # January has not ended
    clock.set(utc(2026, 2, 1, 0, 0))
    use(svc, tid, "3.00", "call-5")  # February's
    report = run_due_work(svc)
    assert report.statements == 1
    assert "1 overage statement(s) issued" in report.summary()
    invoices = queries.invoices(svc, OPERATOR, tid)
    assert [i.seq for i in invoices] == [2, 1]  # the purchase, then the statement
    invoice = invoices[0]
    assert invoice.total == usd("22.36")
    assert invoice.number.endswith("-000002")
    doc = invoice.document
    assert doc["month"] == "2026-01" and doc["source"] == "overage"
    assert [(x["description"], x["quantity"], x["amount"]) for x in doc["lines"]] == [
        ("PSTN usage: domestic, United States (US), 2026-01", "1", "15.25"),
        ("PSTN usage: international, United Kingdom (GB), 2026-01", "1", "7.11"),
    ]
    assert doc["total"] == "22.36"
    s = postpaid.statement(svc, OPERATOR, tid, "2026-01")
    assert (s.invoice_id, s.invoice_number, s.total) == (invoice.id, invoice.number,
                                                         usd("22.36"))
    assert run_due_work(svc).statements == 0
    clock.set(utc(2026, 2, 2, 0, 0))
    assert run_due_work(svc).statements == 0
    assert count(engine, t.overage_statements) == 1
    assert len(queries.invoices(svc, OPERATOR, tid)) == 2


@pytest.mark.rule("POST-1")
@pytest.mark.rule("FUND-8")
def test_a_late_charge_for_an_invoiced_month_goes_to_the_next_month_and_the_invoice_stays(
    svc: Services, clock: FixedClock,
) -> None:
    tid = mca_tenant_with_20_prepaid(svc)
    use(svc, tid, "30.00", "call-1")
    clock.set(utc(2026, 2, 1, 0, 5))
    run_due_work(svc)
    with svc.uow() as uow:
        uow.credits.account(tid, lock=True)
        late = postpaid.charge_postpaid_in(
            uow, tid, usd("2.00"), capability="domestic", country="US", reference="call-late",
            at=utc(2026, 1, 31, 23, 59),
        )
        uow.commit()
    assert late.overage == usd("2.00")
    assert postpaid.statement(svc, OPERATOR, tid, "2026-01").total == usd("10.00")
    assert postpaid.statement(svc, OPERATOR, tid, "2026-02").total == usd("2.00")
    assert queries.invoices(svc, OPERATOR, tid)[0].total == usd("10.00")


@pytest.mark.rule("POST-2")
def test_overage_turned_off_stays_off_until_the_first_of_the_next_month(
    svc: Services, clock: FixedClock,
) -> None:
    tid = mca_tenant_with_20_prepaid(svc)
    admin = Principal(Role.BILLING_ADMIN, tenant_id=tid, name="billing")
    setting = postpaid.set_overage(svc, admin, tid, False)
    assert not setting.enabled
    assert setting.resumes_on == utc(2026, 2, 1)
    with svc.uow(readonly=True) as uow:
        assert not postpaid.overage_enabled_in(uow, tid, utc(2026, 1, 31, 23, 59, 59))
        assert postpaid.overage_enabled_in(uow, tid, utc(2026, 2, 1))
        actions = [a.action for a in uow.audit.list(tid, 5)]
    assert "overage.changed" in actions
    assert not postpaid.statement(svc, OPERATOR, tid, "2026-01").overage_enabled
    clock.set(utc(2026, 2, 1, 0, 0))
    assert postpaid.statement(svc, OPERATOR, tid, "2026-02").overage_enabled
    assert postpaid.set_overage(svc, OPERATOR, tid, True).enabled


@pytest.mark.rule("POST-2")
def test_readers_may_not_turn_overage_off(svc: Services) -> None:
    tid = mca_tenant_with_20_prepaid(svc)
    with pytest.raises(Forbidden):
        postpaid.set_overage(svc, Principal(Role.READER, tenant_id=tid), tid, False)
    with svc.uow(readonly=True) as uow:
        assert postpaid.overage_enabled_in(uow, tid, svc.clock.now())


@pytest.mark.rule("ACCT-5")
def test_an_mca_tenant_still_cannot_buy_credits(svc: Services) -> None:
    tid = mca_tenant_with_20_prepaid(svc)
    card = add_card(svc, tid)
    with pytest.raises(PolicyRefusal) as refused:
        buy(svc, tid, "50.00", card)
    assert refused.value.code == "POSTPAID_ACCOUNT"
    assert queries.credits(svc, OPERATOR, tid).balance == usd("20.00")
