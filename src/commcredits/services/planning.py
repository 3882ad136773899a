"""What-if re-rating (PLAN-1) and the plan advisor (PLAN-2): read-only use cases over a
period of finished calls, re-rated in memory by `domain.rerating` with the stored rate
snapshot (or another version's rows from the `RateBook`) and a `LicenseIndex` built with
the alternative licenses. Nothing is written, except by `apply_advice`, which is the bulk
license change of LIC-4 (`licenses.bulk_licenses`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from commcredits.domain.calls import Call
from commcredits.domain.errors import InvalidInput, NotFound
from commcredits.domain.licensing import parse_sku
from commcredits.domain.planning import (
    MAX_WHAT_IF_DAYS,
    PlanOption,
    available,
    cheapest,
    check_days,
    licenses_with,
    monthly,
    option_of,
    plan_sku,
    prices,
)
from commcredits.domain.pool_index import DirectoryUser, Holding, LicenseIndex
from commcredits.domain.pools import month_bounds, month_of
from commcredits.domain.rating import Direction
from commcredits.domain.reference import countries
from commcredits.domain.reports import report_range
from commcredits.domain.rerating import PastCall, Rerated, RerateKind, rerate
from commcredits.domain.tenants import Tenant
from commcredits.services import licenses
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.pools import license_index
from commcredits.services.ports import RateTableRecord, UnitOfWork

Licenses = Mapping[str, list[str]]  # user id -> SKUs held for the whole period


@dataclass(frozen=True, slots=True)
class UserCost:
    upn: str
    actual: Decimal
    what_if: Decimal


@dataclass(frozen=True, slots=True)
class WhatIf:
    currency: str
    start: datetime
    end: datetime
    actual: Decimal
    what_if: Decimal
    per_user: list[UserCost]
    calls: int

    @property
    def difference(self) -> Decimal:
        return self.what_if - self.actual


@dataclass(frozen=True, slots=True)
class Advice:
    upn: str
    user_id: str
    current: PlanOption
    proposed: PlanOption
    monthly_cost: dict[PlanOption, Decimal]  # usage and license, per 30 days
    monthly_saving: Decimal


@dataclass(frozen=True, slots=True)
class PlanAdvice:
    currency: str
    days: int
    start: datetime
    end: datetime
    users: list[Advice]
    prices: dict[PlanOption, Decimal]


# --- Reading the period --------------------------------------------------------------------


def _kind(call: Call) -> RerateKind:
    if call.funding == "free" or call.call_type.is_emergency:
        return RerateKind.FREE
    if call.call_type.is_inbound:
        return RerateKind.PER_MINUTE if call.number_type == "toll_free" else RerateKind.FREE
    if call.call_type.is_dial_out:
        return RerateKind.DIAL_OUT
    return RerateKind.USER_OUTBOUND


def _past(svc: Services, uow: UnitOfWork, tenant: Tenant, calls: Iterable[Call],
          table: RateTableRecord | None) -> list[PastCall]:
    known = countries()
    out = []
    for call in calls:
        kind = _kind(call)
        rate = svc.rate_book.rate(uow, call.rate_id)
        if table is not None and kind is not RerateKind.FREE and svc.phone is not None:
            toll_free = kind is RerateKind.PER_MINUTE
            number = call.caller if toll_free else call.callee
            digits = svc.phone.classify(number, call.user_location or tenant.country).digits
            rate = svc.rate_book.lookup_in(
                uow, table, digits, call.start_at,
                Direction.TOLL_FREE_INBOUND if toll_free else Direction.OUTBOUND)
        country = call.external_country if call.external_country in known else None
        out.append(PastCall(call.id, kind, call.start_at, call.duration or 0,
                            call.user_object_id, call.upn, country, rate,
                            call.charge or Decimal(0)))
    return out


def _index_with(uow: UnitOfWork, tenant_id: str, changes: Licenses,
                since: datetime) -> LicenseIndex:
    """The tenant's license history with each changed user holding exactly these SKUs from
    ``since`` on (before that, as it was)."""
    users, holdings = uow.directory.snapshot(tenant_id)
    by_id = {u.id: u for u in users}
    kept: list[Holding] = []
    for h in holdings:
        if h.user_id not in changes:
            kept.append(h)
        elif h.start < since:
            kept.append(Holding(h.user_id, h.sku, h.location, h.start,
                                since if h.end is None or h.end > since else h.end))
    for user_id, skus in changes.items():
        location = by_id[user_id].usage_location
        kept.extend(Holding(user_id, sku, location, since) for sku in skus)
    return LicenseIndex(None, users, kept)


def _period_calls(svc: Services, uow: UnitOfWork, tenant: Tenant, start: datetime,
                  end: datetime, table: RateTableRecord | None) -> list[PastCall]:
    """The calls from the start of ``start``'s month (they use the same pools) to ``end``."""
    month_start = month_bounds(month_of(start))[0]
    return _past(svc, uow, tenant, uow.planning.finished_calls(tenant.id, month_start, end),
                 table)


# --- What-if (PLAN-1) ----------------------------------------------------------------------


def _parse_licenses(uow: UnitOfWork, tenant_id: str, value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict) or not value or len(value) > 1000:
        raise InvalidInput("INVALID_WHAT_IF", "licenses is an object {upn: [skus]} with 1 to "
                           "1,000 users.")
    out: dict[str, list[str]] = {}
    for upn, skus in value.items():
        user = uow.directory.user(tenant_id, upn) if isinstance(upn, str) and upn else None
        if user is None:
            raise NotFound("USER_NOT_FOUND", f"No user {upn!r} in this tenant.",
                           {"upn": str(upn)[:200]})
        if not isinstance(skus, list) or len(skus) > 50:
            raise InvalidInput("INVALID_WHAT_IF", f"licenses[{upn!r}] is a list of SKUs.")
        out[user.id] = sorted({parse_sku(s).part_number for s in skus})
    return out


def what_if(svc: Services, principal: Principal, tenant_id: str, *, start: Any, end: Any,
            rate_table_version: Any = None, licenses: Any = None) -> WhatIf:
    """PLAN-1: the period's calls as they were charged and as they would have been, under
    another rate-table version or other licenses (for the whole period), writing nothing."""
    now = svc.clock.now()
    period = report_range(now, None, start, end)
    if period.end - period.start > timedelta(days=MAX_WHAT_IF_DAYS):
        raise InvalidInput("RANGE_TOO_LONG", "A what-if covers at most 90 days.",
                           {"days": (period.end - period.start).days})
    if (rate_table_version is None) == (licenses is None):
        raise InvalidInput("INVALID_WHAT_IF",
                           "Give either rate_table_version or licenses, not both.")
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_CREDITS)
        table = None
        changes: dict[str, list[str]] = {}
        if rate_table_version is not None:
            table = _table(svc, uow, tenant.currency, rate_table_version)
            index = license_index(uow, tenant_id)
        else:
            changes = _parse_licenses(uow, tenant_id, licenses)
            index = _index_with(uow, tenant_id, changes, period.start)
        calls = _period_calls(svc, uow, tenant, period.start, period.end, table)
    result = rerate(calls, index, tenant.currency, period.start)
    return _answer(result, tenant.currency, period.start, period.end)


def _table(svc: Services, uow: UnitOfWork, currency: str, version: Any) -> RateTableRecord:
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInput("INVALID_WHAT_IF", "rate_table_version is a whole number.")
    for table in svc.rate_book.versions(uow, currency):
        if table.version == version:
            return table
    raise NotFound("RATE_TABLE_NOT_FOUND", f"No {currency} rate table version {version}.",
                   {"currency": currency, "version": version})


def _answer(result: Rerated, currency: str, start: datetime, end: datetime) -> WhatIf:
    per_user = [UserCost(upn, a, w) for upn, (a, w) in sorted(result.per_user().items())]
    return WhatIf(currency, start, end, result.actual, result.cost, per_user,
                  len(result.calls))


# --- The plan advisor (PLAN-2) -------------------------------------------------------------


def plan_advice(svc: Services, principal: Principal, tenant_id: str, *,
                days: Any = 30) -> PlanAdvice:
    """For each user with outbound calls in the last ``days`` days: the option that would
    have cost the tenant least (its calls re-rated with that plan, the others' unchanged,
    plus the license), and the monthly saving against the current plan."""
    days = check_days(days)
    now = svc.clock.now()
    start, end = now - timedelta(days=days), now
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_CREDITS)
        price = {o: p.per_month for o, p in prices(tenant.currency).items()}
        index = license_index(uow, tenant_id)
        calls = _period_calls(svc, uow, tenant, start, end, None)
        callers = sorted({c.user_id for c in calls if c.user_id and c.start >= start
                          and c.kind in (RerateKind.USER_OUTBOUND, RerateKind.DIAL_OUT)})
        advice = []
        for user_id in callers:
            user = index.user(user_id)
            if user is None:
                continue
            advice.append(_advise(uow, tenant_id, index, user, calls, start, end, days,
                                  price, tenant.currency))
    return PlanAdvice(tenant.currency, days, start, end,
                      sorted(advice, key=lambda a: a.upn), price)


def _advise(uow: UnitOfWork, tenant_id: str, index: LicenseIndex, user: DirectoryUser,
            calls: list[PastCall], start: datetime, end: datetime, days: int,
            price: Mapping[PlanOption, Decimal], currency: str) -> Advice:
    held = index.held_at(user.id, end)
    current = option_of(held)
    costs: dict[PlanOption, Decimal] = {}
    for option in PlanOption:
        if not available(option, user.usage_location):
            continue
        # Every option as if held for the whole period (the current one too: the user's
        # licenses now, which may have changed during the period).
        skus = sorted(held) if option is current \
            else licenses_with(held, option, user.usage_location)
        usage = rerate(calls, _index_with(uow, tenant_id, {user.id: skus}, start),
                       currency, start).cost
        costs[option] = monthly(usage, days) + price[option]
    best = cheapest(costs, current)
    saving = costs.get(current, costs[best]) - costs[best]
    return Advice(user.upn, user.id, current, best, costs, saving)


def apply_advice(svc: Services, principal: Principal, tenant_id: str,
                 advice: Iterable[Advice]) -> licenses.BulkReport:
    """Apply the proposals as one bulk license change (LIC-4): each changed user's calling
    plan removed and the proposed one (with Communications Credits) added."""
    rows = ["upn,sku,action"]
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_DIRECTORY)
        index = license_index(uow, tenant_id)
        now = svc.clock.now()
        for a in advice:
            if a.proposed is a.current:
                continue
            user = index.user(a.user_id)
            if user is None:
                continue
            held = index.held_at(a.user_id, now)
            old = plan_sku(a.current, user.usage_location) if a.current is not PlanOption.PAYG \
                else next((s for s in held if s.startswith("MCOPSTN_PAYG")), None)
            if a.current is PlanOption.DOMESTIC:
                old = next((s for s in sorted(held) if option_of([s]) is PlanOption.DOMESTIC),
                           old)
            new = plan_sku(a.proposed, user.usage_location)
            for sku in ("MCOEV", "MCOPSTNC"):
                if sku not in held:
                    rows.append(f"{a.upn},{sku},add")
            if old and old in held:
                rows.append(f"{a.upn},{old},remove")
            if new:
                rows.append(f"{a.upn},{new},add")
    return licenses.bulk_licenses(svc, principal, tenant_id, "\n".join(rows) + "\n")
