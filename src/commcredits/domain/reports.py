"""The PSTN usage report (REP-1, REP-4): its columns, its time range, and number masking.

Pure functions over one finished call (`UsageRecord`): the row in the Calling Plans export
column order, with the dialled or calling number masked by the tenant's country.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

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
    call_type: str
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
    source: str


def is_inbound(call_type: str) -> bool:
    """Inbound call types end in `_in` (user_in, conf_in, dr_unassigned_in, …)."""
    return call_type.endswith("_in")


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
        rec.upn, rec.display_name, caller, rec.call_type,
        "Inbound" if inbound else "Outbound", rec.number_type, scope, rec.destination_name,
        callee, rec.external_country,
        rec.start_at, rec.end_at, rec.duration or 0,
        money(rec.connection_fee), money(rec.charge), rec.currency, rec.capability,
        OPERATOR, "operator" if rec.source == "cdr" else "microsoft", None,
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
