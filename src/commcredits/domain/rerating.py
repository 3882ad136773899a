"""Re-rating finished calls in memory (PLAN-1, PLAN-2): what a period of calls costs under
another rate-table version or other calling-plan licenses, writing nothing.

It is the one engine's settlement over a list of calls, not a third engine: the pool a
call uses comes from `pool_index.locate` on a `LicenseIndex` (the alternative licenses are just
another index) and its capacity from `LicenseIndex.capacity`, and each call's cost from
`settlement.settle_call`, the function that settles live calls and CDR batches (POOL-5's
split, RATE-2's charge in micro-units):

- a pool with minutes left covers the call's rounded-up minutes, and the seconds beyond
  them are charged at the rate without its connection fee;
- a call no pool covers (or whose pool is used up when it starts) is charged in full;
- free calls (emergency, inbound on a calling plan) cost nothing.

Calls are applied in start order, and pool use is counted per (month, pool key) from the
first call given, so a caller passes the month's earlier calls too and counts only the
period it asks about (``counted_from``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from commcredits.domain.authorization import Funding
from commcredits.domain.money import from_micros
from commcredits.domain.pool_index import LicenseIndex, locate
from commcredits.domain.pools import month_of
from commcredits.domain.rating import Rate
from commcredits.domain.settlement import settle_call


class RerateKind(StrEnum):
    FREE = "free"
    USER_OUTBOUND = "user_outbound"
    DIAL_OUT = "dial_out"
    PER_MINUTE = "per_minute"  # toll-free inbound: the rate, no pool


@dataclass(frozen=True, slots=True)
class PastCall:
    """A finished call as re-rating needs it. ``rate`` is the row that rates it under the
    alternative (the stored snapshot when only licenses change)."""

    call_id: str
    kind: RerateKind
    start: datetime
    duration: int
    user_id: str | None
    upn: str | None
    country: str | None  # the destination's ISO code (None: outside the country tables)
    rate: Rate | None
    actual: Decimal  # what it was charged


@dataclass(frozen=True, slots=True)
class Priced:
    call_id: str
    upn: str | None
    actual: Decimal
    cost: Decimal
    pool_minutes: int


@dataclass
class Rerated:
    """The counted calls' costs, per user (UPN, or "" for calls without one) and in total."""

    currency: str
    calls: list[Priced] = field(default_factory=list)

    @property
    def actual(self) -> Decimal:
        return sum((c.actual for c in self.calls), Decimal(0))

    @property
    def cost(self) -> Decimal:
        return sum((c.cost for c in self.calls), Decimal(0))

    def per_user(self) -> dict[str, tuple[Decimal, Decimal]]:
        """UPN → (actual, cost)."""
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for c in self.calls:
            a, w = out.get(c.upn or "", (Decimal(0), Decimal(0)))
            out[c.upn or ""] = (a + c.actual, w + c.cost)
        return out


def rerate(calls: Iterable[PastCall], index: LicenseIndex, currency: str,
           counted_from: datetime) -> Rerated:
    """What ``calls`` cost with the licenses of ``index``; only calls that started at or
    after ``counted_from`` are counted (the earlier ones only use pool minutes)."""
    used: dict[tuple[str, str], int] = {}
    out = Rerated(currency)
    for call in sorted(calls, key=lambda c: (c.start, c.call_id)):
        cost, minutes = _price(call, index, used)
        if call.start >= counted_from:
            out.calls.append(Priced(call.call_id, call.upn, call.actual, cost, minutes))
    return out


def _settled(call: PastCall, funding: Funding, pool_left: int | None) -> tuple[Decimal, int]:
    terms = call.rate.terms if call.rate is not None else None
    cost = settle_call(funding.value, None, terms, call.duration, pool_left)
    return from_micros(cost.amount), cost.pool_minutes


def _price(call: PastCall, index: LicenseIndex,
           used: dict[tuple[str, str], int]) -> tuple[Decimal, int]:
    if call.kind is RerateKind.FREE:
        return Decimal(0), 0
    if call.kind is RerateKind.PER_MINUTE or call.country is None or call.user_id is None:
        return _settled(call, Funding.CREDITS, None)
    user = index.user(call.user_id)
    if user is None:
        return _settled(call, Funding.CREDITS, None)
    target = locate(index, user, call.country, call.start,
                    dial_out=call.kind is RerateKind.DIAL_OUT)
    if target.ref is None:
        return _settled(call, Funding.CREDITS, None)
    key = (month_of(call.start), target.ref.key)
    left = target.capacity - used.get(key, 0)
    if left <= 0:
        return _settled(call, Funding.CREDITS, None)
    cost, covered = _settled(call, Funding.POOL, left)
    used[key] = used.get(key, 0) + covered
    return cost, covered
