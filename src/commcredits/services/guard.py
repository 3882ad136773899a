"""The spend guard's use cases (GUARD-1..3): its settings, the hook call authorization runs,
and the anomaly emails of the due work.

- `get_settings` / `put_settings`: read and replace a tenant's guard (audited). A change bumps
  the tenant's directory version, which call control already reads with every request, so
  the per-process cache of settings (`SETTINGS`) is never stale and a tenant without a
  guard costs call control no read at all.
- `check_in`: inside `calls.authorize`, under the tenant lock, after the decision: a
  blocked destination is denied, and an allowed call is shortened to (or denied at) the
  first limit it would cross (`domain.guard.restrict`), with one read of the spend so far.
  A refusal by a limit emails the admins once per limit and period.
- `guard_seconds`: the cap that call's later grants (`calls.update`) keep to.
- `notify_anomalies`: GUARD-2, from `jobs.run_due_work`.

CDRs (calls that already happened) never pass through `check_in`: they are rated as ever,
and count toward the limits because the spend is read from the calls table.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from commcredits.domain.authorization import CallKind, Decision, Denied
from commcredits.domain.calls import Call
from commcredits.domain.guard import (
    ANOMALY_DAYS,
    ANOMALY_FLOOR,
    GuardedCall,
    GuardSettings,
    Limit,
    Verdict,
    blocked_texts,
    day_start,
    hour_start,
    is_anomaly,
    limit_event,
    median_hourly,
    parse_settings,
    period_end,
    restrict,
)
from commcredits.domain.money import Money
from commcredits.domain.notifications import NotificationKind
from commcredits.domain.reference import countries
from commcredits.domain.tenants import Tenant
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.notifications import notify
from commcredits.services.ports import UnitOfWork

_OUTBOUND = (CallKind.USER_OUTBOUND, CallKind.CONFERENCE_DIAL_OUT)
_SPENDING = (*_OUTBOUND, CallKind.TOLL_FREE_INBOUND)


class _Settings:
    """Guards cached per (tenant, directory version); a tenant with no directory version
    has never had a guard (setting one bumps it), so it needs no read."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str], GuardSettings | None] = OrderedDict()

    def get(self, uow: UnitOfWork, tenant_id: str, version: str | None) -> GuardSettings | None:
        if version is None:
            return None
        key = (tenant_id, version)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        found = uow.guard.get(tenant_id)
        with self._lock:
            self._items[key] = found
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return found


SETTINGS = _Settings()


# --- Settings ------------------------------------------------------------------------------


def get_settings(svc: Services, principal: Principal, tenant_id: str) -> GuardSettings:
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.READ_TENANT)
        return uow.guard.get(tenant_id) or GuardSettings()


def currency_of(svc: Services, principal: Principal, tenant_id: str) -> str:
    with svc.uow(readonly=True) as uow:
        return authorize(uow, principal, tenant_id, Action.READ_TENANT).currency


def put_settings(svc: Services, principal: Principal, tenant_id: str, *, limits: Any,
                 blocked: Any) -> GuardSettings:
    """Replace the guard: every limit optional (null or absent: none), blocked destinations
    as country codes or prefixes. Audited as `spend_guard.changed`."""
    settings = parse_settings(limits, blocked, countries())
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_SPEND_GUARD)
        uow.credits.account(tenant_id, lock=True)
        before = uow.guard.get(tenant_id) or GuardSettings()
        uow.guard.put(tenant_id, settings, now)
        uow.directory.bump_version(tenant_id, now)  # call control's caches notice at once
        uow.audit.add(tenant_id, now, principal.actor, "spend_guard.changed", {
            "before": as_json(before), "after": as_json(settings),
        })
        uow.commit()
    return settings


def as_json(settings: GuardSettings) -> dict[str, Any]:
    """The API's shape: limits (amounts as 2-decimal strings, minutes as integers)."""
    def amount(value: Decimal | None) -> str | None:
        return None if value is None else f"{value:.2f}"

    return {
        "limits": {
            Limit.USER_HOUR.value: amount(settings.user_hour),
            Limit.USER_DAY.value: amount(settings.user_day),
            Limit.TENANT_DAY.value: amount(settings.tenant_day),
            Limit.INTL_MINUTES_USER_DAY.value: settings.intl_minutes_user_day,
        },
        "blocked": blocked_texts(settings),
    }


# --- The authorization hook ----------------------------------------------------------------


def check_in(svc: Services, uow: UnitOfWork, tenant: Tenant, *, decision: Decision,
             kind: CallKind, user_id: str | None, callee: str, location: str | None,
             country: str | None, domestic: bool | None, rate: Any, start: datetime,
             directory_version: str | None, now: datetime) -> Verdict:
    """GUARD-1, GUARD-3 for one live call, inside authorize's locked transaction."""
    if kind not in _SPENDING:
        return Verdict(decision)
    settings = SETTINGS.get(uow, tenant.id, directory_version)
    if settings is None:
        return Verdict(decision)
    digits = ""
    if kind in _OUTBOUND and settings.blocked and svc.phone is not None:
        digits = svc.phone.classify(callee, location or tenant.country).digits
    call = GuardedCall(digits=digits, country=country, international=domestic is False,
                       per_user=user_id is not None, rate=rate, outbound=kind in _OUTBOUND)
    spent = uow.guard.spent(tenant.id, user_id, hour_start(start), day_start(start),
                            day_start(start) + timedelta(days=1))
    verdict = restrict(decision, settings, spent, call, tenant.currency)
    if isinstance(verdict.decision, Denied) and verdict.reached is not None:
        _email_limit(uow, tenant, verdict.reached, settings, user_id, start, now)
    return verdict


def _email_limit(uow: UnitOfWork, tenant: Tenant, which: Limit, settings: GuardSettings,
                 user_id: str | None, start: datetime, now: datetime) -> None:
    """One email per limit, subject and period (the event id says which)."""
    subject_id = user_id if which.per_user and user_id else "tenant"
    user = uow.directory.user(tenant.id, user_id) if which.per_user and user_id else None
    subject = user.upn if user is not None else "the whole tenant"
    limit = settings.limit(which)
    shown = f"{limit:.0f} minutes" if which is Limit.INTL_MINUTES_USER_DAY \
        else f"{limit:.2f} {tenant.currency}"
    balance = uow.credits.account(tenant.id, lock=False).balance
    notify(uow, tenant.id, NotificationKind.SPEND_LIMIT_REACHED,
           limit_event(tenant.id, which, subject_id, start), {
               "limit": shown, "limit_label": which.label, "subject": subject,
               "until": period_end(which, start).isoformat(), "balance": balance.format(),
           }, now)


def mark(call: Call, verdict: Verdict) -> Call:
    """The call with the guard's cap kept (``calls.guard_seconds``), for later grants."""
    if verdict.guard_seconds is None:
        return call
    return replace(call, guard_seconds=verdict.guard_seconds)


def guard_seconds(call: Call, limit: int | None) -> int | None:
    """``limit`` (the next grant's bound) kept under the guard's cap, if the call has one."""
    cap = call.guard_seconds
    if cap is None:
        return limit
    return cap if limit is None else min(limit, cap)


# --- Anomalies (GUARD-2) -------------------------------------------------------------------


def notify_anomalies(svc: Services) -> int:
    """Email the admins about each user whose last hour's spend is more than 10 times their
    30-day median hourly spend and at least 10.00, at most once per user per UTC day.

    The candidates are read in one read-only transaction (one grouped query per tenant on
    its start-time index); only an anomaly opens a writing one, for its email."""
    now = svc.clock.now()
    since = now - timedelta(hours=1)
    history = since - timedelta(days=ANOMALY_DAYS)
    found: list[tuple[Tenant, str, Decimal, Decimal]] = []
    with svc.uow(readonly=True) as uow:
        for tenant in uow.tenants.list():
            for user_id, last_hour in uow.guard.heavy_users(tenant.id, since, now,
                                                            ANOMALY_FLOOR):
                hourly: dict[datetime, Decimal] = {}
                for at, amount in uow.guard.user_charges(tenant.id, user_id, history, since):
                    bucket = history + timedelta(
                        hours=int((at - history).total_seconds() // 3600))
                    hourly[bucket] = hourly.get(bucket, Decimal(0)) + amount
                median = median_hourly(hourly)
                if is_anomaly(last_hour, median):
                    found.append((tenant, user_id, last_hour, median))
    sent = 0
    for tenant, user_id, last_hour, median in found:
        with svc.uow() as uow:
            user = uow.directory.user(tenant.id, user_id)
            balance = uow.credits.account(tenant.id, lock=False).balance
            if notify(uow, tenant.id, NotificationKind.SPEND_ANOMALY,
                      f"spend-anomaly:{tenant.id}:{user_id}:{now.date().isoformat()}", {
                          "upn": user.upn if user else user_id,
                          "last_hour": Money(last_hour, tenant.currency).format(),
                          "median": Money(median, tenant.currency).format(),
                          "since": since.isoformat(), "balance": balance.format(),
                      }, now):
                sent += 1
            uow.commit()
    return sent
