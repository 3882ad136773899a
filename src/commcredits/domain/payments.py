"""Payment methods (PAY-1, PAY-2): card checks that need no processor.

Full card numbers and CVCs never leave the call that adds a card: only brand, last 4 digits,
expiry and the processor's token are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from commcredits.domain.errors import InvalidInput, PaymentFailed


class PaymentMethodType(StrEnum):
    CARD = "card"
    INVOICE = "invoice"


class PaymentFailure(StrEnum):
    """Stable failure codes a processor answers with (PAY-2, PAY-3)."""

    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    PROCESSING_ERROR = "processing_error"
    CARD_EXPIRED = "card_expired"


FAILURE_MESSAGES = {
    PaymentFailure.CARD_DECLINED: "The card was declined. Use another card or ask the bank why.",
    PaymentFailure.INSUFFICIENT_FUNDS: "The card has insufficient funds. Use another card.",
    PaymentFailure.PROCESSING_ERROR:
        "The payment processor had an error. Nothing was charged; try again shortly.",
    PaymentFailure.CARD_EXPIRED: "The card has expired. Add a card that is still valid.",
}


def payment_failed(failure: PaymentFailure) -> PaymentFailed:
    return PaymentFailed(
        failure.value, FAILURE_MESSAGES[failure], {"reason": failure.value},
        retryable=failure is PaymentFailure.PROCESSING_ERROR,
    )


def digits_only(number: object) -> str:
    """Strip spaces and dashes from a card number, or refuse it: ASCII digits only (a
    fullwidth or Arabic-Indic "4242…" is not a card number)."""
    if not isinstance(number, str):
        raise invalid_card()
    digits = number.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit()) or not 12 <= len(digits) <= 19:
        raise invalid_card()
    return digits


def invalid_card() -> InvalidInput:
    return InvalidInput(
        "INVALID_CARD_NUMBER",
        "The card number is not valid (it fails the Luhn check or has the wrong length). "
        "Check the digits and try again.",
    )


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(digits[:4]) <= 2720:
        return "mastercard"
    if digits[:2] in {"34", "37"}:
        return "amex"
    if digits.startswith("6011") or digits.startswith("65"):
        return "discover"
    return "unknown"


def check_card_number(number: object) -> str:
    """Validate a card number (PAY-3: a Luhn failure is refused when added)."""
    digits = digits_only(number)
    if not luhn_valid(digits):
        raise invalid_card()
    return digits


def check_expiry_fields(exp_month: object, exp_year: object) -> tuple[int, int]:
    if isinstance(exp_month, bool) or not isinstance(exp_month, int) \
            or not 1 <= exp_month <= 12:
        raise InvalidInput("INVALID_EXPIRY", "exp_month must be a whole number from 1 to 12.")
    if isinstance(exp_year, bool) or not isinstance(exp_year, int) \
            or not 2000 <= exp_year <= 2100:
        raise InvalidInput("INVALID_EXPIRY", "exp_year must be a four-digit year.")
    return exp_month, exp_year


def card_expired(exp_month: int, exp_year: int, at: datetime) -> bool:
    """A card is valid through the end of its expiry month (PAY-2)."""
    return (at.year, at.month) > (exp_year, exp_month)


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    id: str
    tenant_id: str
    type: PaymentMethodType
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    token: str
    fingerprint: str | None = None  # the processor's keyed hash of the number (PAY-1)
    last_paid_at: datetime | None = None
    last_failed_at: datetime | None = None

    def usable(self, at: datetime) -> bool:
        """Not a card past its expiry month (PAY-2)."""
        return not (self.type is PaymentMethodType.CARD and self.exp_month and self.exp_year
                    and card_expired(self.exp_month, self.exp_year, at))


def default_payment_method(methods: list[PaymentMethod], at: datetime) -> PaymentMethod | None:
    """The method to offer first for a payment: the one that last worked.

    Among methods that are not expired: the one with the latest successful payment that has
    not failed since; else the newest that has never failed; else the first one left.
    """
    usable = [m for m in methods if m.usable(at)]
    worked = [m for m in usable if m.last_paid_at is not None
              and (m.last_failed_at is None or m.last_failed_at <= m.last_paid_at)]
    if worked:
        return max(worked, key=lambda m: m.last_paid_at or at)
    never_failed = [m for m in usable if m.last_failed_at is None]
    if never_failed:
        return never_failed[-1]
    return min(usable, key=lambda m: m.last_failed_at or at) if usable else None


def parse_method_type(value: object) -> PaymentMethodType:
    try:
        return PaymentMethodType(str(value))
    except ValueError:
        raise InvalidInput(
            "INVALID_PAYMENT_METHOD_TYPE", "type must be \"card\" or \"invoice\" (EA only).",
        ) from None
