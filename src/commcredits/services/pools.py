"""Minute pools for calls (POOL-1 to POOL-5) and the minute pools report (POOL-6).

The API the rating and call-control code uses:

- ``minutes_left(svc_or_uow, tenant_id, user, destination_country, at, dial_out=False)``
  → `PoolQuote`: which pool covers an outgoing call of this user (UPN or object id) to this
  country at this moment, and how many whole minutes it has left (``None`` when no pool
  covers the call; ``reason`` says why).
- ``consume_in(uow, tenant_id, pool_key, seconds, at, reference=None)`` → `PoolConsumption`:
  use a finished call's minutes, rounded up, under the tenant lock, inside the caller's
  transaction; the seconds the pool cannot cover come back for credits. With a reference
  (the call id), a repeat returns the first answer and uses nothing.
- ``consume(svc, …)``: the same in its own transaction.

Hot path: a tenant's `LicenseIndex` (users and license intervals) is cached per process and
keyed by the tenant's directory version, a token every directory write changes. A quote
reads the version and the pool's usage in one statement; only when the version moved is the
index rebuilt.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from commcredits.domain.errors import InvalidInput, NotFound
from commcredits.domain.money import Money
from commcredits.domain.notifications import NotificationKind
from commcredits.domain.pool_index import LicenseIndex, PoolReportRow, locate, report_rows
from commcredits.domain.pools import (
    Coverage,
    PoolKind,
    PoolRef,
    alerts_reached,
    check_seconds,
    minutes_for,
    month_bounds,
    month_of,
    parse_month,
    parse_pool_key,
    split,
)
from commcredits.domain.reference import country
from commcredits.domain.tenants import Tenant
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.notifications import notify
from commcredits.services.ports import PoolConsumptionRecord, UnitOfWork

ALERT_KINDS = {80: NotificationKind.DIALOUT_POOL_80, 100: NotificationKind.DIALOUT_POOL_100}


@dataclass(frozen=True, slots=True)
class PoolQuote:
    """What a pool can do for one outgoing call (POOL-1..POOL-4).

    ``pool_key`` and ``minutes_left`` are None when no pool covers the call; ``reason`` then
    says why (no calling plan, pay-as-you-go, international on a domestic plan, outside
    Zone A, no Audio Conferencing license).
    """

    pool_key: str | None
    capability: str | None
    minutes_left: int | None
    capacity: int
    used: int
    month: str
    domestic: bool
    reason: Coverage
    calling_plan: str | None
    user_id: str

    @property
    def covered(self) -> bool:
        return self.pool_key is not None


@dataclass(frozen=True, slots=True)
class PoolConsumption:
    """One call's use of a pool (POOL-5): whole minutes covered, and seconds left for
    credits. ``minutes_needed`` is the call's duration in minutes, rounded up."""

    pool_key: str
    capability: str
    month: str
    seconds: int
    minutes_needed: int
    minutes_covered: int
    uncovered_seconds: int
    minutes_left: int
    capacity: int
    replayed: bool = False


# --- The per-process license index cache -------------------------------------------------


class _IndexCache:
    """The most recently used tenants' license indexes, each tagged with its version."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[str, LicenseIndex] = OrderedDict()

    def get(self, tenant_id: str) -> LicenseIndex | None:
        with self._lock:
            found = self._items.get(tenant_id)
            if found is not None:
                self._items.move_to_end(tenant_id)
            return found

    def put(self, tenant_id: str, index: LicenseIndex) -> None:
        with self._lock:
            self._items[tenant_id] = index
            self._items.move_to_end(tenant_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


INDEX_CACHE = _IndexCache()


def license_index(uow: UnitOfWork, tenant_id: str, version: str | None = None,
                  *, known: bool = False) -> LicenseIndex:
    """The tenant's license index as this transaction sees it (cached by version).

    ``known`` means ``version`` was just read in this transaction.
    """
    if not known:
        version = uow.directory.version(tenant_id)
    cached = INDEX_CACHE.get(tenant_id)
    if cached is not None and cached.version == version:
        return cached
    users, holdings = uow.directory.snapshot(tenant_id)
    index = LicenseIndex(version, users, holdings)
    INDEX_CACHE.put(tenant_id, index)
    return index


# --- Quotes ------------------------------------------------------------------------------


def minutes_left(
    svc_or_uow: Services | UnitOfWork, tenant_id: str, user: str, destination_country: str,
    at: datetime, *, dial_out: bool = False,
) -> PoolQuote:
    """How many minutes are left in the pool for this user and destination, at this time.

    ``user`` is a UPN or an object id (for a meeting's dial-out, the organizer's).
    Refuses an unknown user with USER_NOT_FOUND and a bad country with INVALID_COUNTRY.
    """
    if isinstance(svc_or_uow, Services):
        with svc_or_uow.uow(readonly=True) as uow:
            return _quote(uow, tenant_id, user, destination_country, at, dial_out)
    return _quote(svc_or_uow, tenant_id, user, destination_country, at, dial_out)


def _quote(
    uow: UnitOfWork, tenant_id: str, user_key: str, destination: str, at: datetime,
    dial_out: bool,
) -> PoolQuote:
    if not isinstance(user_key, str) or not user_key:
        raise user_not_found(str(user_key))
    dest = country(destination).code
    month = month_of(at)
    index = INDEX_CACHE.get(tenant_id)
    fresh = False
    if index is None:
        index, fresh = license_index(uow, tenant_id), True
    for _ in range(3):
        found = index.user(user_key)
        if found is None and not fresh:
            index, fresh = license_index(uow, tenant_id), True
            continue
        if found is None:
            raise user_not_found(user_key)
        target = locate(index, found, dest, at, dial_out=dial_out)
        key = target.ref.key if target.ref else ""
        version, used = uow.pools.check(tenant_id, month, key)  # one read, pool or not
        if version != index.version:  # the directory changed: rebuild and ask again
            index, fresh = license_index(uow, tenant_id, version, known=True), True
            continue
        ref = target.ref
        return PoolQuote(
            pool_key=ref.key if ref else None, capability=ref.capability if ref else None,
            minutes_left=max(0, target.capacity - used) if ref else None,
            capacity=target.capacity, used=used, month=month, domestic=target.domestic,
            reason=target.reason, calling_plan=target.calling_plan, user_id=found.id,
        )
    raise AssertionError("the directory kept changing")  # pragma: no cover


def user_not_found(key: str) -> NotFound:
    return NotFound(
        "USER_NOT_FOUND", f"No user {key!r} in this tenant; check the UPN or object id.",
        {"user": key[:200]},
    )


# --- Consumption -------------------------------------------------------------------------


def dialout_alerts(uow: UnitOfWork, tenant_id: str, ref: PoolRef, month: str, after: int,
                   capacity: int, balance: Money, at: datetime) -> None:
    """A dial-out pool's 80% and 100% emails (NOTE-1), once per month each, after a call
    took minutes from it: ``after`` minutes used of ``capacity``; ``balance`` as the
    admins are told it."""
    if ref.kind is not PoolKind.DIALOUT:
        return
    for pct in alerts_reached(after, capacity):
        notify(uow, tenant_id, ALERT_KINDS[pct], f"dialout-{pct}:{tenant_id}:{month}", {
            "month": month, "used": after, "capacity": capacity,
            "percent": after * 100 // capacity, "threshold": pct, "balance": balance.format(),
        }, at)


def consume_in(
    uow: UnitOfWork, tenant_id: str, pool_key: str, seconds: int, at: datetime,
    *, reference: str | None = None, call_start: datetime | None = None,
) -> PoolConsumption:
    """Use one call's minutes from a pool (POOL-5), inside the caller's transaction.

    The minutes come from the pool of the month the call started in, with the capacity of
    that moment (POOL-1; ``call_start``, default ``at``), whenever the call is settled: a
    January CDR imported in February uses January's pool.

    Takes the tenant lock, so concurrent calls of one tenant never use the same minute
    twice. The call uses ``ceil(seconds / 60)`` minutes; when the pool has fewer left, it
    uses what is left and ``uncovered_seconds`` (the seconds beyond the covered minutes) go
    to credits. Dial-out pools email the admins at 80% and 100%, once per month each.
    """
    ref = parse_pool_key(pool_key)
    seconds = check_seconds(seconds)
    if reference is not None and (not isinstance(reference, str) or not reference
                                  or len(reference) > 200):
        raise InvalidInput("INVALID_REFERENCE", "A reference is 1 to 200 characters.")
    account = uow.credits.account(tenant_id, lock=True)  # the tenant lock
    if reference is not None:
        previous = uow.pools.consumption(tenant_id, reference)
        if previous is not None:
            return _replay(uow, tenant_id, previous)
    when = call_start or at
    month = month_of(when)
    index = license_index(uow, tenant_id)
    capacity = index.capacity(ref, when)
    used = uow.pools.used(tenant_id, month, ref.key)
    covered, uncovered = split(seconds, capacity - used)
    if covered:
        uow.pools.add_usage(tenant_id, month, ref.key, covered, at)
    uow.pools.record(tenant_id, PoolConsumptionRecord(
        ref.key, month, reference, seconds, covered, uncovered, at,
    ))
    if covered:
        dialout_alerts(uow, tenant_id, ref, month, used + covered, capacity, account.balance,
                       at)
    return PoolConsumption(
        pool_key=ref.key, capability=ref.capability, month=month, seconds=seconds,
        minutes_needed=minutes_for(seconds), minutes_covered=covered,
        uncovered_seconds=uncovered, minutes_left=max(0, capacity - used - covered),
        capacity=capacity,
    )


def _replay(uow: UnitOfWork, tenant_id: str, previous: PoolConsumptionRecord) -> PoolConsumption:
    ref = parse_pool_key(previous.pool_key)
    index = license_index(uow, tenant_id)
    capacity = index.capacity(ref, previous.at)
    used = uow.pools.used(tenant_id, previous.month, ref.key)
    return PoolConsumption(
        pool_key=ref.key, capability=ref.capability, month=previous.month,
        seconds=previous.seconds, minutes_needed=minutes_for(previous.seconds),
        minutes_covered=previous.minutes_covered,
        uncovered_seconds=previous.uncovered_seconds,
        minutes_left=max(0, capacity - used), capacity=capacity, replayed=True,
    )


def consume(
    svc: Services, tenant_id: str, pool_key: str, seconds: int, at: datetime | None = None,
    *, reference: str | None = None,
) -> PoolConsumption:
    """`consume_in` in its own transaction (at defaults to now)."""
    with svc.uow() as uow:
        result = consume_in(uow, tenant_id, pool_key, seconds, at or svc.clock.now(),
                            reference=reference)
        uow.commit()
    return result


# --- The report (POOL-6) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MinutePoolsReport:
    tenant: Tenant
    month: str
    as_of: datetime
    rows: list[PoolReportRow]


def minute_pools_report(
    svc: Services, principal: Principal, tenant_id: str, month: object = None,
) -> MinutePoolsReport:
    """Every pool of a month: total, used and available minutes (POOL-6). Capacities are as
    of the end of a past month, or now for the current month."""
    now = svc.clock.now()
    chosen = parse_month(month) if month is not None else month_of(now)
    start, end = month_bounds(chosen)
    if start > now:
        raise InvalidInput(
            "INVALID_MONTH", f"{chosen} has not started yet; choose {month_of(now)} or earlier.",
            {"value": chosen},
        )
    as_of = min(now, end - timedelta(microseconds=1))
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_DIRECTORY)
        index = license_index(uow, tenant_id)
        used = uow.pools.usage(tenant_id, chosen)
    return MinutePoolsReport(tenant, chosen, as_of, report_rows(index, as_of, used))
