"""The spend guard against toll fraud (GUARD-1, GUARD-3) and the anomaly test (GUARD-2).

Pure: the settings (optional limits and blocked destinations) and their parsing, the
periods each limit counts over, and `restrict`, which takes call authorization's decision
and the spend so far and answers the decision the guard allows: the same one, one with a
shorter `max_seconds` (stopping at the first limit the call would cross), or a denial
(`SPEND_LIMIT_REACHED`, `DESTINATION_BLOCKED`).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from commcredits.domain.authorization import (
    GRANT_SECONDS,
    Allowed,
    Decision,
    Denied,
    Funding,
)
from commcredits.domain.errors import InvalidInput
from commcredits.domain.money import MAX_PURCHASE, Money, parse_amount
from commcredits.domain.rating import MAX_CALL_SECONDS, Rate, max_seconds

MAX_BLOCKED = 500  # destinations in one guard
MAX_INTL_MINUTES = 100_000
ANOMALY_FACTOR = Decimal(10)  # GUARD-2: more than 10 times the median hourly spend
ANOMALY_FLOOR = Decimal("10.00")  # GUARD-2: and at least 10.00
ANOMALY_DAYS = 30
_PREFIX = re.compile(r"^\+?[0-9]{1,15}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


class Limit(StrEnum):
    """The four limits (GUARD-1), by their API names."""

    USER_HOUR = "user_hour"
    USER_DAY = "user_day"
    TENANT_DAY = "tenant_day"
    INTL_MINUTES_USER_DAY = "intl_minutes_user_day"

    @property
    def per_user(self) -> bool:
        return self is not Limit.TENANT_DAY

    @property
    def hourly(self) -> bool:
        return self is Limit.USER_HOUR

    @property
    def label(self) -> str:
        return {
            Limit.USER_HOUR: "credits per user per hour",
            Limit.USER_DAY: "credits per user per day",
            Limit.TENANT_DAY: "credits for the tenant per day",
            Limit.INTL_MINUTES_USER_DAY: "international minutes per user per day",
        }[self]


MONEY_LIMITS = (Limit.USER_HOUR, Limit.USER_DAY, Limit.TENANT_DAY)


@dataclass(frozen=True, slots=True)
class Blocked:
    """A blocked destination: an ISO country code (``CU``) or dialled digits (``+53``)."""

    country: str | None = None
    prefix: str | None = None

    @property
    def text(self) -> str:
        return self.country if self.country else f"+{self.prefix}"

    def matches(self, digits: str, country: str | None) -> bool:
        if self.country is not None:
            return country is not None and country.upper() == self.country
        assert self.prefix is not None
        return digits.startswith(self.prefix)


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """A tenant's guard: each limit optional (None: no limit), and blocked destinations."""

    user_hour: Decimal | None = None
    user_day: Decimal | None = None
    tenant_day: Decimal | None = None
    intl_minutes_user_day: int | None = None
    blocked: tuple[Blocked, ...] = ()

    def limit(self, which: Limit) -> Decimal | None:
        value = getattr(self, which.value)
        return None if value is None else Decimal(value)

    @property
    def empty(self) -> bool:
        return not self.blocked and all(self.limit(x) is None for x in Limit)


@dataclass(frozen=True, slots=True)
class Spent:
    """What counts toward the limits in the periods of a call's start: credits charged (or
    held by open calls), and international seconds of the user."""

    user_hour: Decimal = Decimal(0)
    user_day: Decimal = Decimal(0)
    tenant_day: Decimal = Decimal(0)
    intl_seconds_user_day: int = 0

    def of(self, which: Limit) -> Decimal:
        if which is Limit.INTL_MINUTES_USER_DAY:
            return Decimal(self.intl_seconds_user_day)
        return Decimal(getattr(self, which.value))


@dataclass(frozen=True, slots=True)
class GuardedCall:
    """The facts about one outbound call the guard needs."""

    digits: str
    country: str | None
    international: bool
    per_user: bool  # a user's call (limits per user apply); False for toll-free inbound
    rate: Rate | None
    outbound: bool = True


@dataclass(frozen=True, slots=True)
class Verdict:
    """The guarded decision, and the limit that shortened or denied it (for the email)."""

    decision: Decision
    reached: Limit | None = None
    guard_seconds: int | None = None  # the cap the guard put on the call, if any


def hour_start(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def day_start(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def period_start(which: Limit, at: datetime) -> datetime:
    return hour_start(at) if which.hourly else day_start(at)


def period_end(which: Limit, at: datetime) -> datetime:
    return period_start(which, at) + (timedelta(hours=1) if which.hourly else timedelta(days=1))


# --- Parsing the settings ------------------------------------------------------------------


def _money_limit(name: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = parse_amount(value)
    except InvalidInput as exc:
        raise InvalidInput("INVALID_SPEND_LIMIT", f"limits.{name}: {exc.message}",
                           {"limit": name}) from None
    if amount <= 0 or amount > MAX_PURCHASE:
        raise InvalidInput("INVALID_SPEND_LIMIT",
                           f"limits.{name} must be more than 0 and at most "
                           f"{MAX_PURCHASE:,.2f}, or null for no limit.", {"limit": name})
    return amount.quantize(Decimal("0.01"))


def _minutes_limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) \
            or not str(value).strip().isdigit():
        raise InvalidInput("INVALID_SPEND_LIMIT", "limits.intl_minutes_user_day must be a "
                           "whole number of minutes, or null for no limit.",
                           {"limit": Limit.INTL_MINUTES_USER_DAY.value})
    minutes = int(str(value).strip())
    if not 1 <= minutes <= MAX_INTL_MINUTES:
        raise InvalidInput("INVALID_SPEND_LIMIT", "limits.intl_minutes_user_day must be from "
                           f"1 to {MAX_INTL_MINUTES:,}, or null for no limit.",
                           {"limit": Limit.INTL_MINUTES_USER_DAY.value})
    return minutes


def parse_blocked_entry(value: Any, known_countries: Iterable[str]) -> Blocked:
    """``CU`` (an ISO 3166 code the reference table knows) or ``+53`` / ``53`` (digits)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("INVALID_BLOCKED_DESTINATION",
                           "A blocked destination is a country code (CU) or a dialling "
                           "prefix (+53).", {"value": str(value)[:40]})
    text = value.strip().replace(" ", "")
    if _COUNTRY.match(text):
        code = text.upper()
        if code not in set(known_countries):
            raise InvalidInput("INVALID_BLOCKED_DESTINATION",
                               f"{code} is not a country code this service knows.",
                               {"value": code})
        return Blocked(country=code)
    if _PREFIX.match(text):
        digits = text.lstrip("+")
        if digits.startswith("0"):
            raise InvalidInput("INVALID_BLOCKED_DESTINATION",
                               "A prefix is in international form: +53, not 0053.",
                               {"value": text})
        return Blocked(prefix=digits)
    raise InvalidInput("INVALID_BLOCKED_DESTINATION",
                       f"{value[:40]!r} is neither a country code (CU) nor a dialling prefix "
                       "(+53).", {"value": value[:40]})


def parse_settings(limits: Any, blocked: Any, known_countries: Iterable[str]) -> GuardSettings:
    """The guard from the API's JSON (or the CLI's and the page's text): every limit
    optional, amounts as decimals with at most 2 places (GUARD-1)."""
    if limits is None:
        limits = {}
    if not isinstance(limits, dict):
        raise InvalidInput("INVALID_SPEND_LIMIT", "limits is an object of optional limits.",
                           {"allowed": [x.value for x in Limit]})
    unknown = sorted(set(limits) - {x.value for x in Limit})
    if unknown:
        raise InvalidInput("INVALID_SPEND_LIMIT", f"Unknown limit {unknown[0]!r}.",
                           {"allowed": [x.value for x in Limit]})
    if blocked is None:
        blocked = []
    if not isinstance(blocked, list | tuple):
        raise InvalidInput("INVALID_BLOCKED_DESTINATION",
                           "blocked is a list of country codes or prefixes.")
    if len(blocked) > MAX_BLOCKED:
        raise InvalidInput("INVALID_BLOCKED_DESTINATION",
                           f"At most {MAX_BLOCKED} blocked destinations.")
    countries = set(known_countries)
    entries: list[Blocked] = []
    for value in blocked:
        entry = parse_blocked_entry(value, countries)
        if entry not in entries:
            entries.append(entry)
    return GuardSettings(
        user_hour=_money_limit("user_hour", limits.get("user_hour")),
        user_day=_money_limit("user_day", limits.get("user_day")),
        tenant_day=_money_limit("tenant_day", limits.get("tenant_day")),
        intl_minutes_user_day=_minutes_limit(limits.get("intl_minutes_user_day")),
        blocked=tuple(entries),
    )


def blocked_texts(settings: GuardSettings) -> list[str]:
    return [b.text for b in settings.blocked]


def from_texts(blocked: Sequence[str]) -> tuple[Blocked, ...]:
    """Stored texts back to entries (already validated when stored)."""
    out = []
    for text in blocked:
        out.append(Blocked(prefix=text[1:]) if text.startswith("+") else Blocked(country=text))
    return tuple(out)


# --- Deciding -------------------------------------------------------------------------------


def blocked_by(settings: GuardSettings, call: GuardedCall) -> Blocked | None:
    if not call.outbound:
        return None
    for entry in settings.blocked:
        if entry.matches(call.digits, call.country):
            return entry
    return None


def _credit_cap(decision: Allowed, rate: Rate | None, left: Money) -> int | None:
    """The longest call whose credits fit ``left``; None when the call spends no credits."""
    if decision.funding is Funding.FREE:
        return None
    if decision.funding is Funding.POOL:
        if rate is None:
            return None
        extra_rate = replace(rate, connection_fee=Money.zero(rate.connection_fee.currency))
        extra = max_seconds(extra_rate, left) if left.is_positive() else 0
        return min(MAX_CALL_SECONDS, decision.pool_seconds + extra)
    if rate is None:
        return None
    return max_seconds(rate, left) if left.is_positive() else 0


def restrict(decision: Decision, settings: GuardSettings, spent: Spent, call: GuardedCall,
             currency: str) -> Verdict:
    """GUARD-1, GUARD-3: the decision the guard allows for one call.

    A blocked destination is denied; an allowed call that would spend credits past a limit
    gets the `max_seconds` that stops at the first limit it would cross, or, when not even
    its first billing increment fits, `SPEND_LIMIT_REACHED`.
    """
    entry = blocked_by(settings, call)
    if entry is not None:
        return Verdict(Denied("DESTINATION_BLOCKED",
                              f"Calls to {entry.text} are blocked by the tenant's spend guard."))
    if not isinstance(decision, Allowed) or decision.funding is Funding.FREE:
        return Verdict(decision)
    cap: int | None = None
    reached: Limit | None = None
    for which in Limit:
        limit = settings.limit(which)
        if limit is None or (which.per_user and not call.per_user):
            continue
        if which is Limit.INTL_MINUTES_USER_DAY:
            if not call.international:
                continue
            seconds: int | None = max(0, int(limit * 60) - spent.intl_seconds_user_day)
        else:
            left = Money(limit - spent.of(which), currency)
            seconds = _credit_cap(decision, call.rate, left)
        if seconds is None:
            continue
        if cap is None or seconds < cap:
            cap, reached = seconds, which
    if cap is None or (decision.max_seconds is not None and decision.max_seconds <= cap):
        return Verdict(decision)
    assert reached is not None
    if cap <= 0:
        return Verdict(Denied("SPEND_LIMIT_REACHED",
                              f"The spend guard's limit of {reached.label} is reached."),
                       reached)
    shorter = replace(decision, max_seconds=cap, grant_seconds=min(GRANT_SECONDS, cap),
                      pool_seconds=min(decision.pool_seconds, cap))
    return Verdict(shorter, reached, cap)


def limit_event(tenant_id: str, which: Limit, subject: str, at: datetime) -> str:
    """The email's event id: one per limit, subject (user or tenant) and period."""
    return f"spend-limit:{tenant_id}:{which.value}:{subject}:" \
           f"{period_start(which, at).isoformat()}"


# --- Anomalies (GUARD-2) ---------------------------------------------------------------------


def median_hourly(hourly: dict[datetime, Decimal]) -> Decimal:
    """The median of a user's spend per hour over the hours in which they spent anything
    (docs/decisions.md: counting the silent hours would make the median 0 for nearly every
    user, and the rule only the 10.00 floor); 0 for a user with no history."""
    values = sorted(v for v in hourly.values() if v > 0)
    if not values:
        return Decimal(0)
    return Decimal(statistics.median(values))


def is_anomaly(last_hour: Decimal, median: Decimal) -> bool:
    """GUARD-2: more than 10 times the median hourly spend, and at least 10.00."""
    return last_hour >= ANOMALY_FLOOR and last_hour > ANOMALY_FACTOR * median
