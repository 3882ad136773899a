"""Calling-plan options and their prices (PLAN-2), and the what-if's range (PLAN-1).

The four options the plan advisor weighs, each user's licenses under an option, the monthly
license prices (`data/license_prices.csv`, with each price's source in the file), and the
choice of the cheapest. Costs come from `domain.rerating`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cache
from importlib import resources

from commcredits.domain.errors import InvalidInput
from commcredits.domain.licensing import (
    CREDITS_SKU,
    PHONE_SKU,
    calling_plan_code,
    payg_zones,
    sku_table,
)

MAX_WHAT_IF_DAYS = 90
ADVICE_DAYS = (30, 90)  # the advisor looks back 30 to 90 days
MONTH_DAYS = Decimal(30)  # a month, for the monthly saving


class PlanOption(StrEnum):
    NONE = "none"  # no calling plan: credits only
    PAYG = "payg"
    DOMESTIC = "domestic"
    DOMESTIC_INTERNATIONAL = "domestic_international"

    @property
    def label(self) -> str:
        return {PlanOption.NONE: "None (credits only)", PlanOption.PAYG: "Pay-As-You-Go",
                PlanOption.DOMESTIC: "Domestic",
                PlanOption.DOMESTIC_INTERNATIONAL: "Domestic and International"}[self]


_OPTION_SKUS = {PlanOption.DOMESTIC: "MCOPSTN1", PlanOption.DOMESTIC_INTERNATIONAL: "MCOPSTN2"}


@dataclass(frozen=True, slots=True)
class Price:
    option: PlanOption
    currency: str
    per_month: Decimal
    source: str


@cache
def _prices() -> dict[tuple[str, PlanOption], Price]:
    text = resources.files("commcredits.data").joinpath("license_prices.csv") \
        .read_text(encoding="utf-8")
    out = {}
    for r in csv.DictReader(io.StringIO(text)):
        option = PlanOption(r["option"])
        out[(r["currency"], option)] = Price(option, r["currency"],
                                             Decimal(r["price_per_month"]), r["source"])
    return out


def prices(currency: str) -> dict[PlanOption, Price]:
    found = {option: p for (cur, option), p in _prices().items() if cur == currency}
    if len(found) != len(PlanOption):
        raise InvalidInput("NO_LICENSE_PRICES",
                           f"No calling-plan prices for {currency} in license_prices.csv.",
                           {"currency": currency})
    return found


def option_of(skus: Iterable[str]) -> PlanOption:
    """The option a user's licenses are on (another plan, such as MCOPSTN5, counts as
    Domestic: its calls are domestic-only pools)."""
    code = calling_plan_code(skus)
    if code is None:
        return PlanOption.NONE
    plan = sku_table()[code]
    if plan.is_payg:
        return PlanOption.PAYG
    if code == _OPTION_SKUS[PlanOption.DOMESTIC_INTERNATIONAL]:
        return PlanOption.DOMESTIC_INTERNATIONAL
    return PlanOption.DOMESTIC


def plan_sku(option: PlanOption, location: str | None) -> str | None:
    """The SKU of an option for a user in ``location``; None for no plan, and for PAYG where
    no PAYG zone has the location."""
    if option is PlanOption.NONE:
        return None
    if option is PlanOption.PAYG:
        for zone, codes in sorted(payg_zones().items()):
            if location in codes:
                for code, sku in sku_table().items():
                    if sku.payg_zone == zone:
                        return code
        return None
    return _OPTION_SKUS[option]


def available(option: PlanOption, location: str | None) -> bool:
    return option is PlanOption.NONE or plan_sku(option, location) is not None


def licenses_with(skus: Iterable[str], option: PlanOption, location: str | None) -> list[str]:
    """The user's licenses with their calling plan replaced by ``option``'s (Teams Phone
    and Communications Credits kept or added, so every call can still be made and paid)."""
    table = sku_table()
    kept = {s for s in skus if s in table and not table[s].is_calling_plan}
    kept |= {PHONE_SKU, CREDITS_SKU}
    sku = plan_sku(option, location)
    if sku is not None:
        kept.add(sku)
    return sorted(kept)


def cheapest(costs: Mapping[PlanOption, Decimal], current: PlanOption) -> PlanOption:
    """The option with the lowest cost; a tie keeps the current plan, then the simpler."""
    order = list(PlanOption)
    return min(costs, key=lambda o: (costs[o], o is not current, order.index(o)))


def monthly(amount: Decimal, days: int) -> Decimal:
    """An amount over ``days`` days as per 30 days, to the cent."""
    return (amount * MONTH_DAYS / days).quantize(Decimal("0.01"))


def check_days(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) \
            or not ADVICE_DAYS[0] <= days <= ADVICE_DAYS[1]:
        raise InvalidInput("INVALID_DAYS", "days must be a whole number from 30 to 90.",
                           {"value": str(days)[:20]})
    return days
