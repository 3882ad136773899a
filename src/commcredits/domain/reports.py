"""The PSTN usage report (REP-1, REP-4): its columns, its time range, and number masking.

Pure functions over one finished call (`UsageRecord`): the row in the Calling Plans export
column order, with the dialled or calling number masked by the tenant's country.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from commcredits.domain.calls import CallSource, CallType
from commcredits.domain.errors import InvalidInput

COLUMNS: tuple[str, ...] = (
    "UsageId", "Call ID", "Conference ID", "User Location", "Microsoft Entra ObjectId", "UPN",
    "User Display Name", "Caller ID", "Call Type",
    "Call Direction", "Number Type", "Domestic/International", "Destination Dialed",
    "Destination Number", "External Country",
    "Start Time", "End Time", "Duration Seconds", "Connection Fee", "Charge", "Currency",
    "Capability", "Operator", "Source of Call Duration", "Administrative Units",
)
OPERATOR = "commcredits"
PERIODS: dict[str, timedelta] = {"7d": timedelta(days=7), "28d": timedelta(days=28)}

# How long call records stay in the usage report, in days, by the user's location (or the
# tenant's country when the user has none); every other country keeps them 365 days.
RETENTION_DAYS: dict[str, int] = {
    "IT": 730, "MX": 720, "GB": 450, "NL": 180, "SE": 180, "CA": 150, "NO": 150,
}
DEFAULT_RETENTION_DAYS = 365


def retention_days(country: str | None) -> int:
    return RETENTION_DAYS.get((country or "").upper(), DEFAULT_RETENTION_DAYS)


@dataclass(frozen=True, slots=True)
class Retention:
    """Which calls are still kept at ``now``: a call is shown while its start is within the
    retention of its user's location, or of ``tenant_country`` when the user has none."""

    now: datetime
    tenant_country: str

    def cutoffs(self) -> list[tuple[frozenset[str], datetime]]:
        """(countries, earliest start kept) per retention length; the default length has
        the empty set, meaning every country not listed elsewhere."""
        groups: dict[int, set[str]] = {}
        for country, days in RETENTION_DAYS.items():
            groups.setdefault(days, set()).add(country)
        out = [(frozenset(cs), self.now - timedelta(days=d)) for d, cs in sorted(groups.items())]
        out.append((frozenset(), self.now - timedelta(days=DEFAULT_RETENTION_DAYS)))
        return out

    def keeps(self, location: str | None, start: datetime) -> bool:
        days = retention_days(location or self.tenant_country)
        return start >= self.now - timedelta(days=days)
DEFAULT_PERIOD = "7d"

# REP-4: how many trailing digits are masked, by the tenant's country.
MASKED_DIGITS: dict[str, int] = {
    **dict.fromkeys(("BE", "DE", "DK", "ES", "FI", "IT", "NL", "NO", "SE"), 3),
    **dict.fromkeys(("CH", "FR"), 4),
}

ReportRow = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One finished (ended or expired) rated call, as stored."""

    id: str
    usage_id: str
    call_id: str
    conference_id: str | None
    user_location: str | None
    user_object_id: str | None
    upn: str | None
    display_name: str | None
    caller: str
    call_type: CallType
    callee: str
    number_type: str | None
    domestic: bool | None
    destination_name: str | None
    external_country: str | None
    start_at: datetime
    end_at: datetime | None
    duration: int | None
    connection_fee: Decimal | None
    charge: Decimal | None
    currency: str
    capability: str | None
    source: CallSource


def is_inbound(call_type: str) -> bool:
    """Received by the tenant (`CallType.is_inbound`: user_in, conf_in, dr_unassigned_in, …)."""
    return CallType(call_type).is_inbound


def mask_number(number: str, country: str) -> str:
    """Replace the last 3 or 4 digits of ``number`` with X for the countries of REP-4."""
    n = MASKED_DIGITS.get(country.upper(), 0)
    if n == 0:
        return number
    chars = list(number)
    for i in range(len(chars) - 1, -1, -1):
        if n == 0:
            break
        if chars[i].isdigit():
            chars[i] = "X"
            n -= 1
    return "".join(chars)


def report_row(rec: UsageRecord, tenant_country: str) -> ReportRow:
    """The REP-1 row of one call, in `COLUMNS` order; REP-4 masking by tenant country.

    Times stay timezone-aware datetimes and money stays Decimal: exports format them.
    """
    inbound = is_inbound(rec.call_type)
    caller = mask_number(rec.caller, tenant_country) if inbound else rec.caller
    callee = rec.callee if inbound else mask_number(rec.callee, tenant_country)
    scope = None if rec.domestic is None else ("Domestic" if rec.domestic else "International")
    return (
        rec.usage_id, rec.call_id, rec.conference_id, rec.user_location, rec.user_object_id,
        rec.upn, rec.display_name, caller, rec.call_type.value,
        "Inbound" if inbound else "Outbound", rec.number_type, scope, rec.destination_name,
        callee, rec.external_country,
        rec.start_at, rec.end_at, rec.duration or 0,
        money(rec.connection_fee), money(rec.charge), rec.currency, rec.capability,
        OPERATOR, "operator" if rec.source == CallSource.CDR else "microsoft", None,
    )


def money(value: Decimal | None) -> Decimal:
    """numeric(16,2): two decimals, half up (a call's charge is already in cents)."""
    return (value or Decimal(0)).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


def one_year_after(start: datetime) -> datetime:
    try:
        return start.replace(year=start.year + 1)
    except ValueError:  # 29 February
        return start.replace(year=start.year + 1, day=28)


def report_range(
    now: datetime, period: str | None, start: datetime | None, end: datetime | None,
) -> tuple[datetime, datetime]:
    """[start, end) on the call's start time: the last 7 or 28 days up to ``now``, or a custom
    range of at most one year (REP-1). Without any, the last 7 days."""
    if period is not None and (start is not None or end is not None):
        raise InvalidInput("INVALID_RANGE", "Give either a period or from/to, not both.",
                           {"period": period})
    if start is None and end is None:
        chosen = period or DEFAULT_PERIOD
        if chosen not in PERIODS:
            raise InvalidInput("INVALID_PERIOD", "The period must be 7d or 28d; for another "
                               "range give from and to.", {"period": chosen,
                                                           "allowed": sorted(PERIODS)})
        return now - PERIODS[chosen], now
    if start is None:
        raise InvalidInput("INVALID_RANGE", "Give 'from' with 'to'.", {})
    end = end or now
    if start >= end:
        raise InvalidInput("INVALID_RANGE", "'from' must be before 'to'.",
                           {"from": start.isoformat(), "to": end.isoformat()})
    if end > one_year_after(start):
        raise InvalidInput("RANGE_TOO_LONG", "A report covers at most 1 year; choose a "
                           "shorter range.", {"from": start.isoformat(), "to": end.isoformat(),
                                              "max": "1 year"})
    return start, end
