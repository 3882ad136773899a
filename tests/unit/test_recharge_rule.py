"""When an auto-recharge is due (AR-2), for a balance as money and as micro-units."""

from __future__ import annotations

import pytest

from commcredits.domain.errors import CurrencyMismatch
from commcredits.domain.money import Money
from commcredits.domain.recharge import AutoRecharge

RULE = AutoRecharge(True, Money.of("100.00", "USD"), Money.of("300.00", "USD"), "pm_1")


@pytest.mark.rule("AR-2")
def test_a_recharge_is_due_only_strictly_below_the_trigger() -> None:
    assert RULE.due(Money.of("299.99", "USD"))
    assert not RULE.due(Money.of("300.00", "USD"))
    assert RULE.due(Money.of("-5.00", "USD"))
    # The same rule on a running balance in micro-units (a CDR chunk's, FUND-10).
    assert RULE.trigger_micros == 300_000_000
    assert RULE.due_micros(299_990_000)
    assert not RULE.due_micros(300_000_000)


@pytest.mark.rule("AR-2")
def test_no_recharge_is_due_when_off_or_without_an_amount_or_a_trigger() -> None:
    low = Money.of("0.01", "USD")
    for rule in (AutoRecharge(False, RULE.amount, RULE.trigger, "pm_1"),
                 AutoRecharge(True, None, RULE.trigger, "pm_1"),
                 AutoRecharge(True, RULE.amount, None, "pm_1")):
        assert not rule.due(low)
        assert not rule.due_micros(-1)
        assert rule.trigger_micros is None


@pytest.mark.rule("AR-2")
def test_a_balance_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        RULE.due(Money.of("1.00", "EUR"))
