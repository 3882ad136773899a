"""Auto-recharge rules (AR-1, AR-2, AR-5, AR-8): valid settings, when a recharge is due,
when a failed one is retried, and when a due retry is no longer needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from commcredits.domain.errors import CurrencyMismatch, InvalidInput
from commcredits.domain.money import Money, check_limit, parse_amount, to_micros
from commcredits.domain.reference import minimum_purchase

MAX_RECHARGES_PER_CHARGE = 5
# After the first failure, retry after 1 h, then 6 h, then 24 h; then wait for a new method.
RETRY_DELAYS = (timedelta(hours=1), timedelta(hours=6), timedelta(hours=24))


class RequestStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    NOT_NEEDED = "not_needed"  # AR-8: closed at a due retry, nothing charged


ACTIVE = (RequestStatus.PENDING.value, RequestStatus.PROCESSING.value)


@dataclass(frozen=True, slots=True)
class AutoRecharge:
    enabled: bool
    amount: Money | None
    trigger: Money | None
    payment_method_id: str | None
    # The trigger in micro-units while a recharge can be due (enabled, with an amount and a
    # trigger), else None: what `due_micros` compares a CDR chunk's running balance with.
    trigger_micros: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        armed = self.enabled and self.trigger is not None and self.amount is not None
        object.__setattr__(self, "trigger_micros",
                           to_micros(self.trigger.amount) if armed and self.trigger else None)

    def due(self, balance: Money) -> bool:
        """AR-2: the balance is strictly below the trigger while enabled."""
        if self.trigger is not None and balance.currency != self.trigger.currency:
            raise CurrencyMismatch(self.trigger.currency, balance.currency)
        return self.due_micros(to_micros(balance.amount))

    def due_micros(self, balance: int) -> bool:
        """`due` for a balance in micro-units."""
        return self.trigger_micros is not None and balance < self.trigger_micros


def retry_needed(rule: AutoRecharge, balance: Money) -> bool:
    """AR-8: a due retry still goes ahead only while auto-recharge is on and the balance is
    still strictly below the trigger; otherwise it is closed as `not_needed`."""
    return rule.due(balance)


def check_settings(
    *, enabled: Any, amount: Any, trigger: Any, payment_method_id: Any, currency: str,
) -> AutoRecharge:
    """AR-1: enabling needs a payment method and an amount at or above the purchase minimum;
    the trigger must be 0 or more. Both take FUND-2's maximum of 1,000,000.00."""
    if not isinstance(enabled, bool):
        raise InvalidInput("INVALID_AUTO_RECHARGE", "enabled must be true or false.")
    if not enabled and amount is None and trigger is None:
        return AutoRecharge(False, None, None,
                            str(payment_method_id) if payment_method_id else None)
    value = check_limit(parse_amount(amount), amount, "\"Add this amount\"")
    minimum = minimum_purchase(currency)
    if value < minimum:
        raise InvalidInput(
            "AMOUNT_BELOW_MINIMUM",
            f"\"Add this amount\" must be at least the purchase minimum, {minimum} {currency}.",
            {"minimum": f"{minimum}", "currency": currency},
        )
    limit = parse_amount(trigger)
    if limit < 0:
        raise InvalidInput(
            "INVALID_TRIGGER", "\"When balance is below\" must be 0 or more.",
        )
    check_limit(limit, trigger, "\"When balance is below\"")
    if enabled and not payment_method_id:
        raise InvalidInput(
            "PAYMENT_METHOD_REQUIRED",
            "Choose a valid payment method for auto-recharge; add a card first.",
        )
    return AutoRecharge(
        enabled, Money(value, currency), Money(limit, currency),
        str(payment_method_id) if payment_method_id else None,
    )


def retry_at(failed_attempt: int, at: datetime) -> datetime | None:
    """When to retry after the ``failed_attempt``-th failure (1-based), or None: wait for a
    new payment method (AR-5)."""
    if 1 <= failed_attempt <= len(RETRY_DELAYS):
        return at + RETRY_DELAYS[failed_attempt - 1]
    return None
