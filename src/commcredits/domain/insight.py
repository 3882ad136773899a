"""Insight (REP-5): balance history, and the funding recommendation with its runway.

Pure calculations on days (UTC dates) and `Decimal` amounts in one currency:

- `balance_history`: the running balance at the end of each day that had ledger entries;
- `recommend`: with under 30 days of usage history, the trigger and the amount start at the
  purchase minimum; otherwise the trigger is the spend of the busiest 7 consecutive days of
  the last 60, and the amount 30 days of spend at the recent rate (the last 30 days), each
  rounded up to a multiple of 10 (the amount never below the minimum; both at the minimum
  again when nothing was spent in the last 60 days). The runway is the whole days
  until the balance reaches zero at the recent daily rate (None when nothing was spent).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

HISTORY_DAYS = 30
"""Days of usage history needed before the recommendation follows the usage."""
BUSIEST_WINDOW_DAYS = 7
LOOKBACK_DAYS = 60
RECENT_DAYS = 30
STEP = Decimal(10)
CENTS = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class BalancePoint:
    day: date
    balance: Decimal
    spend: Decimal


@dataclass(frozen=True, slots=True)
class Recommendation:
    trigger: Decimal
    amount: Decimal
    runway_days: int | None
    currency: str
    explanation: str
    daily_rate: Decimal
    """The recent daily spend rate (the last 30 days, or fewer when there is less history)."""


def round_up_to_step(value: Decimal, step: Decimal = STEP) -> Decimal:
    """The smallest multiple of ``step`` at or above ``value`` (0 stays 0)."""
    multiples = (value / step).to_integral_value(rounding=ROUND_CEILING)
    return (multiples * step).quantize(CENTS)


def balance_history(
    days: Iterable[tuple[date, Decimal, Decimal]], opening: Decimal = Decimal(0),
) -> list[BalancePoint]:
    """Running balance per day from ``(day, net ledger amount, spend)``, in day order.

    Days may repeat (they are merged); ``opening`` is the balance before the first day.
    """
    net: dict[date, Decimal] = {}
    spend: dict[date, Decimal] = {}
    for day, amount, spent in days:
        net[day] = net.get(day, Decimal(0)) + amount
        spend[day] = spend.get(day, Decimal(0)) + spent
    balance = opening
    points = []
    for day in sorted(net):
        balance += net[day]
        points.append(BalancePoint(day, balance, spend[day]))
    return points


def busiest_window(
    spend: Mapping[date, Decimal], today: date,
    window: int = BUSIEST_WINDOW_DAYS, lookback: int = LOOKBACK_DAYS,
) -> Decimal:
    """The largest spend of ``window`` consecutive days inside the ``lookback`` days ending
    ``today`` (inclusive)."""
    first = today - timedelta(days=lookback - 1)
    daily = [spend.get(first + timedelta(days=i), Decimal(0)) for i in range(lookback)]
    best = Decimal(0)
    for start in range(max(1, lookback - window + 1)):
        best = max(best, sum(daily[start:start + window], Decimal(0)))
    return best


def recommend(
    spend: Mapping[date, Decimal], balance: Decimal, today: date, currency: str,
    minimum: Decimal,
) -> Recommendation:
    """The auto-recharge trigger and amount, and the runway, from spend per day (REP-5).

    ``spend`` holds what was charged each day (days without spend may be left out); usage
    history starts on the first day with spend up to ``today``.
    """
    used = sorted(d for d, v in spend.items() if v > 0 and d <= today)
    history = (today - used[0]).days + 1 if used else 0
    recent_days = max(1, min(RECENT_DAYS, history))
    recent_first = today - timedelta(days=RECENT_DAYS - 1)
    recent = sum((v for d, v in spend.items() if recent_first <= d <= today), Decimal(0))
    rate = recent / recent_days
    runway = _runway(balance, rate)
    if history < HISTORY_DAYS:
        return Recommendation(
            trigger=minimum.quantize(CENTS), amount=minimum.quantize(CENTS),
            runway_days=runway, currency=currency, daily_rate=rate.quantize(CENTS),
            explanation=(
                f"Only {history} day(s) of usage history (under {HISTORY_DAYS}): start at the "
                f"minimum purchase of {minimum.quantize(CENTS)} {currency} for both, and "
                f"adjust after a month or two of usage."
            ),
        )
    busiest = busiest_window(spend, today)
    if busiest <= 0:
        return Recommendation(
            trigger=minimum.quantize(CENTS), amount=minimum.quantize(CENTS),
            runway_days=runway, currency=currency, daily_rate=rate.quantize(CENTS),
            explanation=(
                f"No spend in the last {LOOKBACK_DAYS} days: start again at the minimum "
                f"purchase of {minimum.quantize(CENTS)} {currency} for both."
            ),
        )
    trigger = round_up_to_step(busiest)
    thirty = rate * RECENT_DAYS
    amount = max(round_up_to_step(thirty), minimum.quantize(CENTS))
    return Recommendation(
        trigger=trigger, amount=amount, runway_days=runway, currency=currency,
        daily_rate=rate.quantize(CENTS),
        explanation=(
            f"Trigger: the busiest {BUSIEST_WINDOW_DAYS} consecutive days of the last "
            f"{LOOKBACK_DAYS} spent {busiest.quantize(CENTS)} {currency}, rounded up to "
            f"{trigger}. Amount: 30 days at the recent rate of {rate.quantize(CENTS)} "
            f"{currency}/day is {thirty.quantize(CENTS)}, rounded up to {amount}."
        ),
    )


def _runway(balance: Decimal, rate: Decimal) -> int | None:
    if rate <= 0:
        return None
    if balance <= 0:
        return 0
    return int((balance / rate).to_integral_value(rounding=ROUND_FLOOR))
