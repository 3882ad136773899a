"""Which payment method Add funds offers first (issue #11): the one that last worked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commcredits.domain.payments import PaymentMethod, PaymentMethodType, default_payment_method

NOW = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


def card(mid: str, *, paid: int | None = None, failed: int | None = None,
         exp_year: int = 2030) -> PaymentMethod:
    """A card that last paid / failed on day `paid` / `failed` of November 2026."""
    def day(d: int | None) -> datetime | None:
        return datetime(2026, 11, d, tzinfo=UTC) if d else None
    return PaymentMethod(mid, "t1", PaymentMethodType.CARD, "visa", "4242", 12, exp_year,
                         f"tok_{mid}", None, day(paid), day(failed))


@pytest.mark.rule("PAY-2")
@pytest.mark.parametrize(("methods", "chosen"), [
    ([], None),
    ([card("a")], "a"),
    # The auto-recharge card was declined; the other card paid last week.
    ([card("recharge", failed=30), card("good", paid=20)], "good"),
    # Both paid; the later success wins, whatever the order they were added in.
    ([card("old", paid=10), card("new", paid=25)], "new"),
    ([card("new", paid=25), card("old", paid=10)], "new"),
    # A card that paid, then failed, is behind one that never failed.
    ([card("flaky", paid=10, failed=12), card("fresh")], "fresh"),
    # Nothing ever paid: the newest card that never failed.
    ([card("declined", failed=5), card("first"), card("second")], "second"),
    # All failed: the one that failed longest ago.
    ([card("x", failed=20), card("y", failed=3)], "y"),
    # An expired card is never offered, even if it paid last.
    ([card("expired", paid=29, exp_year=2025), card("valid", failed=2)], "valid"),
    ([card("expired", paid=29, exp_year=2025)], None),
])
def test_add_funds_offers_the_card_that_last_worked(
    methods: list[PaymentMethod], chosen: str | None,
) -> None:
    found = default_payment_method(methods, NOW)
    assert (found.id if found else None) == chosen
