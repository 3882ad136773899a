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
from bisect import bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from importlib import resources

from commcredits.domain.errors import InvalidInput
from commcredits.domain.licensing import (
    CONFERENCING_SKU,
    calling_plan_code,
    effective,
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


# --- Who holds what, when (POOL-1, LIC-5) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holding:
    """One license assignment interval: [start, end), end None while it lasts."""

    user_id: str
    sku: str
    location: str | None
    start: datetime
    end: datetime | None = None

    def active(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    id: str
    upn: str
    usage_location: str | None
    blocked: bool


@dataclass
class _Intervals:
    """Sorted starts and ends of holdings, to count the ones active at a moment."""

    starts: list[datetime] = field(default_factory=list)
    ends: list[datetime] = field(default_factory=list)

    def add(self, start: datetime, end: datetime | None) -> None:
        insort(self.starts, start)
        if end is not None:
            insort(self.ends, end)

    def active(self, at: datetime) -> int:
        return bisect_right(self.starts, at) - bisect_right(self.ends, at)


def _pool_region(sku: str, location: str | None) -> str | None:
    if sku == CONFERENCING_SKU:
        return TENANT_WIDE
    return region_of(location) if location else None


Span = tuple[datetime, datetime | None]


def _merged(spans: list[Span]) -> list[Span]:
    """Overlapping or touching intervals of one user and pool become one."""
    out: list[Span] = []
    for start, end in sorted(spans, key=lambda s: s[0]):
        if out:
            last_start, last_end = out[-1]
            if last_end is None or start <= last_end:
                new_end = None if last_end is None or end is None else max(last_end, end)
                out[-1] = (last_start, new_end)
                continue
        out.append((start, end))
    return out


class LicenseIndex:
    """A tenant's users and license history, indexed for pool questions at any moment.

    Built from every assignment interval; a user holding the same capability twice (E5 and
    MCOMEETADV) counts once.
    """

    def __init__(
        self, version: str | None, users: Iterable[DirectoryUser], holdings: Iterable[Holding],
    ) -> None:
        self.version = version
        self._users: dict[str, DirectoryUser] = {}
        for user in users:
            self._users[user.id] = user
            self._users[user.upn] = user
        self._holdings: dict[str, list[Holding]] = {}
        expanded: dict[str, frozenset[str]] = {}
        # Per user: (start, end, location, SKUs with what they include), for `held_at`.
        self._spans: dict[str, list[tuple[datetime, datetime | None, str | None,
                                          frozenset[str]]]] = {}
        for h in holdings:
            self._holdings.setdefault(h.user_id, []).append(h)
            skus = expanded.get(h.sku)
            if skus is None:
                skus = expanded[h.sku] = effective([h.sku])
            self._spans.setdefault(h.user_id, []).append((h.start, h.end, h.location, skus))
        self._counts: dict[tuple[str, str], _Intervals] = {}
        pooled = pooled_skus()
        for user_holdings in self._holdings.values():
            spans: dict[tuple[str, str], list[Span]] = {}
            for h in user_holdings:
                for sku in effective([h.sku]) & pooled:
                    region = _pool_region(sku, h.location)
                    if region is not None:
                        spans.setdefault((sku, region), []).append((h.start, h.end))
            for pool, pool_spans in spans.items():
                counter = self._counts.setdefault(pool, _Intervals())
                for start, end in _merged(pool_spans):
                    counter.add(start, end)

    def __len__(self) -> int:
        return len({u.id for u in self._users.values()})

    def user(self, key: str) -> DirectoryUser | None:
        """A user by object id or UPN (any case)."""
        return self._users.get(key) or self._users.get(key.lower())

    def held_at(self, user_id: str, at: datetime) -> dict[str, str | None]:
        """The SKUs (E5 expanded) a user held at a moment, with the usage location then."""
        held: dict[str, str | None] = {}
        for start, end, location, skus in self._spans.get(user_id, ()):
            if start <= at and (end is None or at < end):
                for sku in skus:
                    held[sku] = location
        return held

    def holders(self, sku: str, region: str, at: datetime) -> int:
        counter = self._counts.get((sku, region))
        return counter.active(at) if counter else 0

    def capacity(self, ref: PoolRef, at: datetime) -> int:
        """POOL-1: minutes per user times the users holding the SKU there at that moment."""
        plan = plan_for(ref.sku, ref.kind, ref.region)
        if plan is None:
            return 0
        if ref.user_id is not None:
            held = self.held_at(ref.user_id, at)
            location = held.get(ref.sku)
            holds = ref.sku in held and location is not None \
                and region_of(location) == ref.region
            return plan.minutes if holds else 0
        return plan.minutes * self.holders(ref.sku, ref.region, at)

    def pools_at(self, at: datetime) -> list[tuple[PoolRef, int]]:
        """Every shared pool with users at a moment, with its capacity (per-user pools are
        listed per user)."""
        found: list[tuple[PoolRef, int]] = []
        for (sku, region), counter in self._counts.items():
            count = counter.active(at)
            if count == 0:
                continue
            for kind in PoolKind:
                plan = plan_for(sku, kind, region)
                if plan is None:
                    continue
                if plan.per_user:
                    found.extend(
                        (PoolRef(sku, kind, region, uid), plan.minutes)
                        for uid in self._users_holding(sku, region, at)
                    )
                else:
                    found.append((PoolRef(sku, kind, region), plan.minutes * count))
        return found

    def _users_holding(self, sku: str, region: str, at: datetime) -> list[str]:
        out = []
        for uid in self._holdings:
            location = self.held_at(uid, at).get(sku)
            if location and region_of(location) == region:
                out.append(uid)
        return sorted(out)


# --- Which pool covers a call (POOL-2, POOL-3, POOL-4) -----------------------------------


@dataclass(frozen=True, slots=True)
class PoolTarget:
    """The pool a call would use (``ref`` None when none covers it) and why."""

    ref: PoolRef | None
    reason: Coverage
    domestic: bool
    calling_plan: str | None
    capacity: int


def locate(
    index: LicenseIndex, user: DirectoryUser, destination_country: str, at: datetime,
    *, dial_out: bool = False,
) -> PoolTarget:
    """Which pool covers an outgoing call of ``user`` (the organizer, for a meeting's
    dial-out) to a country, at a moment. Inbound calls on calling plans are free and never
    ask (POOL-2); premium numbers are refused before asking (CALL-3)."""
    held = index.held_at(user.id, at)
    location = user.usage_location
    plan_code = calling_plan_code(held)
    if plan_code is not None:
        location = held[plan_code] or location
    domestic = location is not None and is_domestic(location, destination_country)
    if dial_out:
        if CONFERENCING_SKU not in held:
            return PoolTarget(None, Coverage.NO_AUDIO_CONFERENCING, domestic, plan_code, 0)
        if destination_country not in zone_a():
            return PoolTarget(None, Coverage.OUTSIDE_ZONE_A, domestic, plan_code, 0)
        ref = PoolRef(CONFERENCING_SKU, PoolKind.DIALOUT, TENANT_WIDE)
        return PoolTarget(ref, Coverage.DIAL_OUT, domestic, plan_code, index.capacity(ref, at))
    if plan_code is None or location is None:
        return PoolTarget(None, Coverage.NO_CALLING_PLAN, domestic, None, 0)
    if sku_table()[plan_code].is_payg:
        return PoolTarget(None, Coverage.PAY_AS_YOU_GO, domestic, plan_code, 0)
    region = region_of(location)
    kind = PoolKind.DOMESTIC if domestic else PoolKind.INTERNATIONAL
    plan = plan_for(plan_code, kind, region)
    if plan is None:
        return PoolTarget(None, Coverage.INTERNATIONAL_NOT_INCLUDED, domestic, plan_code, 0)
    ref = PoolRef(plan_code, kind, region, user.id if plan.per_user else None)
    reason = Coverage.DOMESTIC if domestic else Coverage.INTERNATIONAL
    return PoolTarget(ref, reason, domestic, plan_code, index.capacity(ref, at))


# --- The minute pools report (POOL-6) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolReportRow:
    region: str
    country_or_region: str
    capability_description: str
    total_minutes: int
    minutes_used: int
    minutes_available: int
    capability: str
    sku: str
    pool: PoolKind
    users: int


def report_rows(
    index: LicenseIndex, at: datetime, used: Mapping[str, int],
) -> list[PoolReportRow]:
    """One row per pool, with capacities at ``at``; MCOPSTN8's per-user pools are summed per
    region (available is what each user has left, added up)."""
    groups: dict[tuple[str, PoolKind, str], list[tuple[int, int]]] = {}
    seen: set[str] = set()
    for ref, capacity in index.pools_at(at):
        seen.add(ref.key)
        groups.setdefault((ref.sku, ref.kind, ref.region), []).append(
            (capacity, used.get(ref.key, 0)))
    for key, minutes in used.items():  # used this month by users who no longer hold it
        if key in seen or minutes <= 0:
            continue
        try:
            ref = parse_pool_key(key)
        except InvalidInput:
            continue
        groups.setdefault((ref.sku, ref.kind, ref.region), []).append((0, minutes))
    rows = []
    for (sku, kind, region), pools in groups.items():
        plan = plan_for(sku, kind, region)
        assert plan is not None
        ref = PoolRef(sku, kind, region)
        rows.append(PoolReportRow(
            region=region, country_or_region=region_name(region),
            capability_description=plan.description,
            total_minutes=sum(c for c, _ in pools), minutes_used=sum(u for _, u in pools),
            minutes_available=sum(max(0, c - u) for c, u in pools),
            capability=ref.capability, sku=sku, pool=kind,
            users=index.holders(sku, region, at),
        ))
    order = list(PoolKind)
    rows.sort(key=lambda r: (r.region == TENANT_WIDE, r.country_or_region, r.sku,
                             order.index(r.pool)))
    return rows
