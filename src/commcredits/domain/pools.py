"""Minute pools (POOL-1 to POOL-6): which pool covers a call, how big it is, how a call uses it.

- A pool is a tenant's minutes for one calendar month (UTC), one SKU, one kind (domestic,
  international, dial-out) and one region: a domestic set of countries (POOL-3; US and PR
  are one), or the whole tenant for Audio Conferencing dial-out (POOL-4). MCOPSTN8's pools
  are per user (``…:<user id>``).
- Its capacity is the minutes per user (`data/minute_plans.csv`) times the users holding the
  SKU in that region *at the time of the call* (POOL-1, LIC-5). `LicenseIndex` answers that
  for any moment from the license assignment intervals, in O(log n).
- A call uses whole minutes, rounded up; what the pool cannot cover is returned as seconds
  for credits (POOL-5, `split`).

The domestic sets, the minute tables and the Zone A list are data files, read once.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from importlib import resources

from commcredits.domain.errors import InvalidInput
from commcredits.domain.licensing import (
    sku_table,
)
from commcredits.domain.reference import countries

TENANT_WIDE = "*"
DIALOUT_ALERTS = (80, 100)
DIALOUT_CAPABILITY = "MCOMEETADD"


class PoolKind(StrEnum):
    DOMESTIC = "domestic"
    INTERNATIONAL = "international"
    DIALOUT = "dialout"


class Coverage(StrEnum):
    """Why a call is, or is not, covered by a pool."""

    DOMESTIC = "domestic"
    INTERNATIONAL = "international"
    DIAL_OUT = "dial_out"
    NO_CALLING_PLAN = "no_calling_plan"
    PAY_AS_YOU_GO = "pay_as_you_go"
    INTERNATIONAL_NOT_INCLUDED = "international_not_included"
    NO_AUDIO_CONFERENCING = "no_audio_conferencing"
    OUTSIDE_ZONE_A = "outside_zone_a"


# --- Data --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MinutePlan:
    sku: str
    kind: PoolKind
    region: str
    minutes: int
    per_user: bool
    description: str


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("commcredits.data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@cache
def minute_plans() -> dict[tuple[str, PoolKind], dict[str, MinutePlan]]:
    table: dict[tuple[str, PoolKind], dict[str, MinutePlan]] = {}
    for r in _rows("minute_plans.csv"):
        plan = MinutePlan(r["sku"], PoolKind(r["pool"]), r["region"], int(r["minutes"]),
                          r["per_user"] == "true", r["description"])
        table.setdefault((plan.sku, plan.kind), {})[plan.region] = plan
    return table


def plan_for(sku: str, kind: PoolKind, region: str) -> MinutePlan | None:
    """The minutes per user of a SKU's pool in a region (the ``*`` row is the default)."""
    regions = minute_plans().get((sku, kind))
    if regions is None:
        return None
    return regions.get(region) or regions.get(TENANT_WIDE)


@cache
def pooled_skus() -> frozenset[str]:
    return frozenset(sku for sku, _ in minute_plans())


@cache
def _domestic_sets() -> dict[str, str]:
    return {r["country"]: r["set"] for r in _rows("domestic_sets.csv")}


def region_of(country_code: str) -> str:
    """The domestic set a country belongs to (POOL-3): by default itself; PR is in US's."""
    return _domestic_sets().get(country_code, country_code)


def region_countries(region: str) -> list[str]:
    members = sorted(c for c, s in _domestic_sets().items() if s == region)
    return members or [region]


def region_name(region: str) -> str:
    if region == TENANT_WIDE:
        return "All countries and regions (tenant-wide)"
    names = countries()
    members = region_countries(region)
    members.sort(key=lambda c: (c != region, c))
    return " and ".join(names[c].name if c in names else c for c in members)


def is_domestic(usage_location: str, destination_country: str) -> bool:
    return region_of(usage_location) == region_of(destination_country)


@cache
def zone_a() -> dict[str, str]:
    """POOL-4's Zone A: the countries whose non-premium numbers dial-out minutes cover."""
    return {r["code"]: r["name"] for r in _rows("zone_a.csv")}


# --- Months ------------------------------------------------------------------------------


def month_of(at: datetime) -> str:
    """The pool month of a moment: its calendar month in UTC, as YYYY-MM."""
    moment = at.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a YYYY-MM month in UTC."""
    year, mon = int(month[:4]), int(month[5:7])
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def parse_month(value: object) -> str:
    """A month ``YYYY-MM`` in ASCII digits, from 2000-01 to 9998-12 (the month after it must
    still be a date, `month_bounds`), or INVALID_MONTH."""
    if isinstance(value, str) and _MONTH_RE.fullmatch(value) \
            and 2000 <= int(value[:4]) <= 9998 and 1 <= int(value[5:]) <= 12:
        return value
    raise InvalidInput(
        "INVALID_MONTH", f"{value!r} is not a month; write it as YYYY-MM, e.g. 2026-01.",
        {"value": str(value)[:50]},
    )


_MONTH_RE = re.compile(r"[0-9]{4}-[0-9]{2}")


# --- Pool identity -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolRef:
    """One pool within a month. Its key is stable text: ``SKU:kind:region[:user id]``."""

    sku: str
    kind: PoolKind
    region: str
    user_id: str | None = None

    @property
    def key(self) -> str:
        base = f"{self.sku}:{self.kind.value}:{self.region}"
        return f"{base}:{self.user_id}" if self.user_id else base

    @property
    def capability(self) -> str:
        if self.kind is PoolKind.DIALOUT:
            return DIALOUT_CAPABILITY
        return sku_table()[self.sku].capability or self.sku

    @property
    def plan(self) -> MinutePlan:
        found = plan_for(self.sku, self.kind, self.region)
        assert found is not None
        return found


def parse_pool_key(value: object) -> PoolRef:
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) in (3, 4) and parts[1] in set(PoolKind):
            ref = PoolRef(parts[0], PoolKind(parts[1]), parts[2],
                          parts[3] if len(parts) == 4 else None)
            plan = plan_for(ref.sku, ref.kind, ref.region)
            if plan is not None and plan.per_user == (ref.user_id is not None) \
                    and ref.key == value:
                return ref
    raise InvalidInput(
        "INVALID_POOL_KEY",
        f"{value!r} is not a pool key; use the pool_key a pool quote returned.",
        {"value": str(value)[:200]},
    )


# --- Whole minutes (POOL-5) --------------------------------------------------------------


def check_seconds(seconds: object) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise InvalidInput(
            "INVALID_DURATION", "A duration is a whole number of seconds, 0 or more.",
            {"value": str(seconds)[:50]},
        )
    return seconds


def minutes_for(seconds: int) -> int:
    """Whole minutes, rounded up: a 61-second call uses 2 minutes (POOL-5)."""
    return math.ceil(check_seconds(seconds) / 60)


def split(seconds: int, minutes_left: int) -> tuple[int, int]:
    """(minutes the pool covers, seconds left for credits) for one call (POOL-5).

    When the pool has enough, it covers the call's whole rounded-up minutes. Otherwise it
    covers what is left, and the call's seconds beyond those minutes go to credits, so
    credits never pay for a minute the pool covered.
    """
    needed = minutes_for(seconds)
    left = max(0, minutes_left)
    if needed <= left:
        return needed, 0
    return left, seconds - left * 60


def alerts_reached(used: int, capacity: int) -> list[int]:
    """The dial-out alert thresholds (NOTE-1) that ``used`` has reached, in percent."""
    if capacity <= 0:
        return []
    return [pct for pct in DIALOUT_ALERTS if used * 100 >= pct * capacity]
