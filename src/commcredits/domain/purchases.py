"""What a valid purchase amount is (FUND-2): a decimal with at most 2 places, at least the
currency's minimum, and at most 1,000,000.00.
"""

from __future__ import annotations

from typing import Any

from commcredits.domain.errors import InvalidInput
from commcredits.domain.money import MAX_PURCHASE, Money, format_amount, parse_amount
from commcredits.domain.reference import minimum_purchase


def check_purchase_amount(value: Any, currency: str) -> Money:
    amount = parse_amount(value)
    if amount <= 0 or amount > MAX_PURCHASE:
        raise InvalidInput(
            "INVALID_AMOUNT",
            f"{format_amount(amount)} is not a purchase amount: send more than 0 and at most "
            f"{format_amount(MAX_PURCHASE)} {currency}.",
            {"value": str(value), "maximum": format_amount(MAX_PURCHASE)},
        )
    minimum = minimum_purchase(currency)
    if amount < minimum:
        raise InvalidInput(
            "AMOUNT_BELOW_MINIMUM",
            f"The smallest purchase is {format_amount(minimum)} {currency}; "
            f"add at least that much.",
            {"minimum": format_amount(minimum), "currency": currency},
        )
    return Money(amount, currency).round_cents()
