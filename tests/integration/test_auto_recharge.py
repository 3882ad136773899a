"""Auto-recharge to the cent (AR-1..AR-7, PAY-2, PAY-3, FUND-8, NOTE-1), on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.domain.errors import DomainError
from commcredits.domain.lots import LotSource
from commcredits.services import funds, queries, recharge
from commcredits.services.context import Services
from commcredits.services.jobs import run_due_work
from commcredits.services.notifications import list_notifications
from tests.support import OPERATOR, add_card, buy, make_tenant, usd, utc

DECLINED = "4000000000000002"


def count(engine: Engine, table: t.Table, **where: object) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def emails(svc: Services, tid: str, kind: str | None = None) -> list[object]:
    found = list_notifications(svc, OPERATOR, tid)
    return [n for n in found if kind is None or n.kind == kind]


def funded_tenant(svc: Services, card_number: str = "4242424242424242") -> tuple[str, str]:
    tid = make_tenant(svc)
    good = add_card(svc, tid)
    buy(svc, tid, "60.00", good)
    card = good if card_number == "4242424242424242" else add_card(svc, tid, card_number)
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="50.00",
                       payment_method_id=card)
    return tid, card


@pytest.mark.rule("AR-2")
@pytest.mark.rule("AR-6")
@pytest.mark.rule("FUND-8")
def test_a_charge_below_the_trigger_recharges_once_with_invoice_and_email(
    svc: Services, engine: Engine,
) -> None:
    tid, _ = funded_tenant(svc)
    result = funds.charge(svc, tid, usd("15.00"))
    assert result.balance == usd("45.00")  # what the charge left, before the recharge
    view = queries.credits(svc, OPERATOR, tid)
    assert view.balance == usd("145.00")
    recharged = [lot for lot in view.lots if lot.source is LotSource.AUTO_RECHARGE]
    assert [lot.amount for lot in recharged] == [usd("100.00")]
    assert len(queries.invoices(svc, OPERATOR, tid)) == 2  # the first purchase, the recharge
    sent = emails(svc, tid)
    assert [n.kind for n in sent] == ["recharge_succeeded"]  # type: ignore[attr-defined]
    assert sent[0].recipients == [  # type: ignore[attr-defined]
        "admin@contoso.com", "billing@contoso.com",
    ]
    assert "100.00 USD" in sent[0].subject  # type: ignore[attr-defined]


@pytest.mark.rule("AR-2")
def test_an_operator_adjustment_below_the_trigger_recharges_at_once(svc: Services) -> None:
    tid, _ = funded_tenant(svc)
    result = funds.adjust(svc, OPERATOR, tid, amount="-15.00", reason="correction")
    assert result.balance == usd("45.00")  # type: ignore[union-attr]
    assert queries.credits(svc, OPERATOR, tid).balance == usd("145.00")
    assert [n.kind for n in emails(svc, tid)] == ["recharge_succeeded"]  # type: ignore[attr-defined]


@pytest.mark.rule("AR-2")
def test_a_charge_that_stays_above_the_trigger_does_not_recharge(svc: Services) -> None:
    tid, _ = funded_tenant(svc)
    funds.charge(svc, tid, usd("10.00"))
    assert queries.credits(svc, OPERATOR, tid).balance == usd("50.00")  # not strictly below
    assert emails(svc, tid) == []


@pytest.mark.rule("AR-5")
@pytest.mark.rule("PAY-3")
@pytest.mark.rule("NOTE-1")
def test_a_declined_card_adds_nothing_emails_and_retries_after_1_6_and_24_hours(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    start = clock.now()
    tid, _ = funded_tenant(svc, DECLINED)
    funds.charge(svc, tid, usd("15.00"))
    assert queries.credits(svc, OPERATOR, tid).balance == usd("45.00")
    failed = emails(svc, tid, "recharge_failed")
    assert len(failed) == 1
    assert "card_declined" in failed[0].subject  # type: ignore[attr-defined]
    status = recharge.status(svc, OPERATOR, tid)
    assert status.settings is not None and status.settings.enabled  # stays enabled
    assert status.settings.last_failure_reason == "card_declined"
    assert status.active is not None
    assert status.active.next_attempt_at == start + timedelta(hours=1)

    # Not due yet: nothing happens a minute early.
    clock.set(start + timedelta(minutes=59))
    assert run_due_work(svc).recharges == 0
    expected_next = [start + timedelta(hours=7), start + timedelta(hours=31)]
    for elapsed, next_at in zip([1, 7], expected_next, strict=True):
        clock.set(start + timedelta(hours=elapsed))
        assert run_due_work(svc).recharges == 1
        active = recharge.status(svc, OPERATOR, tid).active
        assert active is not None and active.next_attempt_at == next_at
    clock.set(start + timedelta(hours=31))
    assert run_due_work(svc).recharges == 1
    status = recharge.status(svc, OPERATOR, tid)
    assert status.active is None
    assert status.settings is not None and status.settings.waiting_for_payment_method
    clock.set(start + timedelta(days=30))
    assert run_due_work(svc).recharges == 0  # waits for a new payment method
    assert len(emails(svc, tid, "recharge_failed")) == 4
    assert queries.credits(svc, OPERATOR, tid).balance == usd("45.00")
    assert count(engine, t.lots, tenant_id=tid) == 1


@pytest.mark.rule("AR-5")
def test_after_the_card_is_replaced_the_next_due_retry_succeeds(
    svc: Services, clock: FixedClock,
) -> None:
    start = clock.now()
    tid, _ = funded_tenant(svc, DECLINED)
    funds.charge(svc, tid, usd("15.00"))
    good = add_card(svc, tid, "4242424242424242", 11, 2031)
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="50.00",
                       payment_method_id=good)
    assert queries.credits(svc, OPERATOR, tid).balance == usd("45.00")  # not before it is due
    clock.set(start + timedelta(hours=1))
    assert run_due_work(svc).recharges == 1
    assert queries.credits(svc, OPERATOR, tid).balance == usd("145.00")
    assert len(emails(svc, tid, "recharge_succeeded")) == 1


@pytest.mark.rule("AR-5")
def test_a_new_payment_method_restarts_recharging_after_the_retries_ran_out(
    svc: Services, clock: FixedClock,
) -> None:
    start = clock.now()
    tid, _ = funded_tenant(svc, DECLINED)
    funds.charge(svc, tid, usd("15.00"))
    for hours in (1, 7, 31):
        clock.set(start + timedelta(hours=hours))
        run_due_work(svc)
    good = add_card(svc, tid)
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="50.00",
                       payment_method_id=good)
    assert queries.credits(svc, OPERATOR, tid).balance == usd("145.00")


@pytest.mark.rule("PAY-2")
def test_a_card_past_its_expiry_month_fails_with_card_expired(
    svc: Services, clock: FixedClock,
) -> None:
    clock.set(utc(2026, 1, 15, 9))
    tid = make_tenant(svc)
    card = add_card(svc, tid, exp_month=1, exp_year=2026)
    buy(svc, tid, "60.00", card)  # valid through the end of January
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="50.00",
                       payment_method_id=card)
    clock.set(utc(2026, 2, 1, 0, 0))
    funds.charge(svc, tid, usd("15.00"))
    status = recharge.status(svc, OPERATOR, tid)
    assert status.settings is not None
    assert status.settings.last_failure_reason == "card_expired"
    assert queries.credits(svc, OPERATOR, tid).balance == usd("45.00")
    with pytest.raises(DomainError) as refused:
        buy(svc, tid, "50.00", card)
    assert refused.value.code == "card_expired"


@pytest.mark.rule("AR-2")
def test_at_most_five_recharges_follow_one_charge(svc: Services) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "50.00", card)
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="50.00", trigger="1000.00",
                       payment_method_id=card)
    funds.charge(svc, tid, usd("10.00"))
    view = queries.credits(svc, OPERATOR, tid)
    assert view.balance == usd("290.00")  # 40.00 + 5 × 50.00, still below the trigger
    assert len([x for x in view.lots if x.source is LotSource.AUTO_RECHARGE]) == 5
    assert len(emails(svc, tid, "recharge_succeeded")) == 5


@pytest.mark.rule("AR-2")
@pytest.mark.rule("AR-3")
def test_charges_made_while_a_recharge_is_in_flight_get_their_own_five(
    svc: Services, engine: Engine, clock: FixedClock,
) -> None:
    """13 charges of 40.00 land while the first recharge waits (as other processes' charges
    do): none queues a recharge of its own (AR-3). When the first one is paid, the balance
    (120.00) is still below the trigger, and the chain that follows counts from the newest
    charge, not from the first: 5 more, to 620.00, where 5 in all would stop at 520.00."""
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "600.00", card)
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="550.00",
                       payment_method_id=card)
    for amount in ["60.00"] + ["40.00"] * 13:  # queued in the charges' own transactions
        with svc.uow() as uow:
            funds.charge_in(uow, tid, usd(amount), clock.now())
            uow.commit()
    assert queries.credits(svc, OPERATOR, tid).balance == usd("20.00")
    assert count(engine, t.recharge_requests, tenant_id=tid) == 1  # one in flight (AR-3)
    assert recharge.process_due(svc) == 1
    view = queries.credits(svc, OPERATOR, tid)
    assert view.balance == usd("620.00")  # 20.00 + 6 × 100.00, at or above the trigger
    with engine.connect() as conn:
        chains = conn.execute(
            select(t.recharge_requests.c.chain, t.recharge_requests.c.status)
            .where(t.recharge_requests.c.tenant_id == tid)
            .order_by(t.recharge_requests.c.created_at, t.recharge_requests.c.chain)).all()
    assert sorted(chains) == sorted([(1, "succeeded"), (1, "succeeded"), (2, "succeeded"),
                                     (3, "succeeded"), (4, "succeeded"), (5, "succeeded")])
    assert len(emails(svc, tid, "recharge_succeeded")) == 6
    assert recharge.process_due(svc) == 0  # nothing left active


@pytest.mark.rule("AR-7")
def test_turning_auto_recharge_off_takes_effect_at_once(
    svc: Services, clock: FixedClock,
) -> None:
    start = clock.now()
    tid, _ = funded_tenant(svc, DECLINED)
    funds.charge(svc, tid, usd("15.00"))  # fails; a retry is pending
    recharge.configure(svc, OPERATOR, tid, enabled=False, amount="100.00", trigger="50.00",
                       payment_method_id=None)
    assert recharge.status(svc, OPERATOR, tid).active is None
    clock.set(start + timedelta(hours=2))
    assert run_due_work(svc).recharges == 0
    funds.charge(svc, tid, usd("5.00"))
    assert queries.credits(svc, OPERATOR, tid).balance == usd("40.00")


@pytest.mark.rule("AR-7")
def test_a_recharge_already_charged_completes_after_auto_recharge_is_turned_off(
    svc: Services,
) -> None:
    tid, card = funded_tenant(svc)
    real = svc.gateway

    class TurnsOffDuringPayment:
        def tokenize_card(self, *args: object) -> object:
            return real.tokenize_card(*args)  # type: ignore[arg-type]

        def charge(self, *args: object) -> object:
            answer = real.charge(*args)  # type: ignore[arg-type]
            recharge.configure(svc, OPERATOR, tid, enabled=False, amount="100.00",
                               trigger="50.00", payment_method_id=card)
            return answer

    svc.gateway = TurnsOffDuringPayment()  # type: ignore[assignment]
    try:
        funds.charge(svc, tid, usd("15.00"))
    finally:
        svc.gateway = real
    assert queries.credits(svc, OPERATOR, tid).balance == usd("145.00")
    assert not recharge.status(svc, OPERATOR, tid).settings.enabled  # type: ignore[union-attr]


@pytest.mark.rule("AR-1")
@pytest.mark.parametrize(("changes", "code"), [
    ({"payment_method_id": None}, "PAYMENT_METHOD_REQUIRED"),
    ({"amount": "49.99"}, "AMOUNT_BELOW_MINIMUM"),
    ({"trigger": "-1.00"}, "INVALID_TRIGGER"),
    ({"amount": "abc"}, "INVALID_AMOUNT"),
    ({"payment_method_id": "nope"}, "PAYMENT_METHOD_NOT_FOUND"),
    ({"enabled": "yes"}, "INVALID_AUTO_RECHARGE"),
])
def test_invalid_auto_recharge_settings_are_refused_and_change_nothing(
    svc: Services, changes: dict[str, object], code: str,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    settings: dict[str, object] = {"enabled": True, "amount": "100.00", "trigger": "50.00",
                                   "payment_method_id": card}
    settings.update(changes)
    with pytest.raises(DomainError) as refused:
        recharge.configure(svc, OPERATOR, tid, **settings)  # type: ignore[arg-type]
    assert refused.value.code == code
    assert recharge.status(svc, OPERATOR, tid).settings is None


@pytest.mark.rule("NOTE-1")
def test_the_balance_reaching_zero_is_emailed_once(svc: Services) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "50.00", card)
    funds.charge(svc, tid, usd("20.00"))
    funds.charge(svc, tid, usd("30.00"))  # 30.00 → 0.00
    funds.charge(svc, tid, usd("5.00"))  # already at zero: no second email
    depleted = emails(svc, tid, "balance_depleted")
    assert len(depleted) == 1
    assert "0.00 USD" in depleted[0].subject  # type: ignore[attr-defined]


@pytest.mark.rule("NOTE-1")
@pytest.mark.rule("FUND-4")
def test_expiring_funds_are_announced_once_and_expired_funds_are_emailed(
    svc: Services, clock: FixedClock,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    clock.set(utc(2026, 1, 15, 9))
    buy(svc, tid, "80.00", card)
    clock.set(utc(2026, 12, 15, 9))  # 31 days before expiry: not yet
    run_due_work(svc)
    assert emails(svc, tid, "funds_expiring") == []
    clock.set(utc(2026, 12, 17, 9))
    run_due_work(svc)
    run_due_work(svc)
    warning = emails(svc, tid, "funds_expiring")
    assert len(warning) == 1
    assert "80.00 USD" in warning[0].subject  # type: ignore[attr-defined]
    assert "2027-01-15" in warning[0].subject  # type: ignore[attr-defined]
    clock.set(utc(2027, 1, 15, 9))
    run_due_work(svc)
    expired = emails(svc, tid, "funds_expired")
    assert len(expired) == 1
    assert "80.00 USD" in expired[0].subject  # type: ignore[attr-defined]


@pytest.mark.rule("NOTE-1")
def test_only_global_and_billing_admins_are_emailed(svc: Services) -> None:
    from commcredits.services import tenants

    tenant = tenants.create_tenant(
        svc, OPERATOR, name="Fabrikam", country="US", billing_account_type="MOSA",
        contacts=[{"email": "teams@fabrikam.com", "role": "teams_admin"},
                  {"email": "reader@fabrikam.com", "role": "reader"},
                  {"email": "boss@fabrikam.com", "role": "global_admin"}],
    )
    card = add_card(svc, tenant.id)
    buy(svc, tenant.id, "50.00", card)
    funds.charge(svc, tenant.id, usd("50.00"))
    assert [n.recipients for n in emails(svc, tenant.id)] == [  # type: ignore[attr-defined]
        ["boss@fabrikam.com"]
    ]


def sandbox_attempts(engine: Engine) -> int:
    """Every charge the sandbox processor was asked to make, succeeded or not."""
    return count(engine, t.sandbox_charges)


@pytest.mark.rule("AR-8")
@pytest.mark.rule("AR-5")
def test_a_due_retry_is_closed_as_not_needed_once_the_balance_is_back_above_the_trigger(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    start = clock.now()
    tid, _ = funded_tenant(svc, DECLINED)  # 60.00 bought; add 100.00 below 50.00 (declined)
    funds.charge(svc, tid, usd("15.00"))  # 45.00 < 50.00: the recharge is declined
    assert len(emails(svc, tid, "recharge_failed")) == 1
    good = add_card(svc, tid, "4242424242424242", 11, 2031)
    buy(svc, tid, "60.00", good)  # the admin adds 60.00 by hand: 105.00 >= 50.00
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="50.00",
                       payment_method_id=good)
    active = recharge.status(svc, OPERATOR, tid).active
    assert active is not None and active.attempt == 2
    assert active.next_attempt_at == start + timedelta(hours=1)
    attempts = sandbox_attempts(engine)

    clock.set(start + timedelta(hours=1))
    assert run_due_work(svc).recharges == 1
    status = recharge.status(svc, OPERATOR, tid)
    assert status.active is None
    assert [(r.status, r.attempt, r.amount) for r in status.recent] == [
        ("not_needed", 2, usd("100.00")),
    ]
    assert status.recent[0].lot_id is None and status.recent[0].payment_id is not None
    assert status.settings is not None and status.settings.enabled
    assert not status.settings.waiting_for_payment_method
    assert sandbox_attempts(engine) == attempts  # no payment was attempted
    view = queries.credits(svc, OPERATOR, tid)
    assert view.balance == usd("105.00")
    assert [(lot.source, lot.remaining) for lot in view.lots] == [
        (LotSource.MANUAL, usd("45.00")), (LotSource.MANUAL, usd("60.00")),
    ]
    assert [n.kind for n in emails(svc, tid)] == ["recharge_failed"]  # type: ignore[attr-defined]

    # Nothing is left to retry: later due work finds nothing, and a later charge that crosses
    # the trigger recharges afresh with the new card.
    clock.set(start + timedelta(hours=8))
    assert run_due_work(svc).recharges == 0
    funds.charge(svc, tid, usd("60.00"))  # 45.00 < 50.00
    assert queries.credits(svc, OPERATOR, tid).balance == usd("145.00")
    assert len(emails(svc, tid, "recharge_succeeded")) == 1


@pytest.mark.rule("AR-8")
def test_a_due_retry_is_closed_as_not_needed_when_auto_recharge_was_turned_off(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    start = clock.now()
    tid, declined = funded_tenant(svc, DECLINED)
    real = svc.gateway

    class TurnsOffDuringPayment:
        """The admin turns auto-recharge off while the declined payment is in flight, so the
        pending cancel (AR-7) misses it and the failure schedules a retry."""

        def tokenize_card(self, *args: object) -> object:
            return real.tokenize_card(*args)  # type: ignore[arg-type]

        def charge(self, *args: object) -> object:
            answer = real.charge(*args)  # type: ignore[arg-type]
            recharge.configure(svc, OPERATOR, tid, enabled=False, amount="100.00",
                               trigger="50.00", payment_method_id=declined)
            return answer

    svc.gateway = TurnsOffDuringPayment()  # type: ignore[assignment]
    try:
        funds.charge(svc, tid, usd("15.00"))  # 45.00 < 50.00: declined, retry at +1 h
    finally:
        svc.gateway = real
    active = recharge.status(svc, OPERATOR, tid).active
    assert active is not None and active.attempt == 2
    attempts = sandbox_attempts(engine)

    clock.set(start + timedelta(hours=1))
    assert run_due_work(svc).recharges == 1
    status = recharge.status(svc, OPERATOR, tid)
    assert status.active is None
    assert [r.status for r in status.recent] == ["not_needed"]
    assert sandbox_attempts(engine) == attempts
    assert queries.credits(svc, OPERATOR, tid).balance == usd("45.00")  # still below: off
    assert [n.kind for n in emails(svc, tid)] == ["recharge_failed"]  # type: ignore[attr-defined]
    clock.set(start + timedelta(hours=7))
    assert run_due_work(svc).recharges == 0
