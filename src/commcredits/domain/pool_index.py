"""Who holds which license when, and which pool covers a call (POOL-1 to POOL-4, POOL-6, LIC-5).

`LicenseIndex` answers, for any moment, a user's licenses and a pool's capacity from the
license assignment intervals, in O(log n); `locate` picks the pool a call uses; `report_rows`
builds the minute pools report. The pools' data, months, identity and whole-minute arithmetic
are `domain/pools.py`.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from commcredits.domain.errors import InvalidInput
from commcredits.domain.licensing import CONFERENCING_SKU, calling_plan_code, effective, sku_table
from commcredits.domain.pools import (
    TENANT_WIDE,
    Coverage,
    PoolKind,
    PoolRef,
    is_domestic,
    parse_pool_key,
    plan_for,
    pooled_skus,
    region_name,
    region_of,
    zone_a,
)

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
