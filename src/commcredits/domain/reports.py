"""The PSTN usage report (REP-1, REP-4): its columns, its time range, and number masking.

`report_range` is the one meaning of a range (whole UTC days, ``to`` included) for the usage
report and spend, through the API, the CLI and the admin center.

Pure functions over one finished call (`UsageRecord`): the row in the Calling Plans export
column order, with the dialled or calling number masked by the tenant's country.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

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
# The telephone operator of every call, as the Calling Plans export and Graph's
# pstnCallLogRow.operator name it: Microsoft is the operator of Calling Plans.
OPERATOR = "Microsoft"
# The usage report's periods: that many whole UTC days ending today (REP-1).
PERIOD_DAYS: dict[str, int] = {"7d": 7, "28d": 28}

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


class UsageRecord(NamedTuple):
    """One finished (ended or expired) rated call, as stored. A named tuple in the report
    query's column order, so the read repository makes one straight from a result row."""

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
    connection_fee_micros: int | None  # money as stored: integer micro-units (10^-6)
    charge_micros: int | None
    currency: str
    capability: str | None
    source: CallSource


def duration_source(source: str) -> str:
    """Who measured the call's duration ("Source of Call Duration", Graph's
    callDurationSource): the operator's CDR, or Microsoft's live call control."""
    return "operator" if source == "cdr" else "microsoft"


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


# Per call type and source, chosen once: the export's "Call Type", whether it is inbound and
# its "Call Direction"; and the "Source of Call Duration".
_BY_TYPE: dict[CallType, tuple[str, bool, str]] = {
    kind: (kind.value, kind.is_inbound, "Inbound" if kind.is_inbound else "Outbound")
    for kind in CallType
}
_DURATION_SOURCE: dict[CallSource, str] = {source: duration_source(source)
                                          for source in CallSource}
_SCOPE: dict[bool | None, str | None] = {None: None, True: "Domestic", False: "International"}


def _unmasked(number: str) -> str:
    return number


def report_rows(records: Iterable[UsageRecord], tenant_country: str) -> list[ReportRow]:
    """The REP-1 rows of finished calls, in `COLUMNS` order; REP-4 masking by tenant
    country (the outbound call's callee, the inbound call's caller).

    Times stay timezone-aware datetimes and money stays Decimal: exports format them. What
    is the same for every row (the masking, each call type's columns) is chosen once.
    """
    country = tenant_country.upper()
    mask: Callable[[str], str] = (
        (lambda number: mask_number(number, country)) if MASKED_DIGITS.get(country)
        else _unmasked
    )
    rows: list[ReportRow] = []
    append = rows.append
    for (_, usage_id, call_id, conference_id, user_location, user_object_id, upn,
         display_name, caller, call_type, callee, number_type, domestic, destination_name,
         external_country, start_at, end_at, duration, fee_micros, charge_micros, currency,
         capability, source) in records:
        type_value, inbound, direction = _BY_TYPE[call_type]
        if inbound:
            caller = mask(caller)
        else:
            callee = mask(callee)
        append((
            usage_id, call_id, conference_id, user_location, user_object_id, upn,
            display_name, caller, type_value, direction, number_type, _SCOPE[domestic],
            destination_name, callee, external_country, start_at, end_at, duration or 0,
            cents(fee_micros), cents(charge_micros), currency, capability, OPERATOR,
            _DURATION_SOURCE[source], None,
        ))
    return rows


def money(value: Decimal | None) -> Decimal:
    """numeric(16,2): two decimals, half up (a call's charge is already in cents)."""
    return (value or Decimal(0)).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


# Calls' charges repeat (a rate times a whole number of minutes), and a Decimal is immutable:
# a report's rows share one Decimal per amount.
@lru_cache(maxsize=4096)
def cents(micros: int | None) -> Decimal:
    """`money` of an amount in integer micro-units, in integer arithmetic: two decimals,
    half away from zero (ROUND_HALF_UP); None is 0.00. The Decimal has exponent -2, so its
    ``str`` is already the two-decimal text the CSV shows."""
    if not micros:
        return _ZERO_CENTS
    amount = Decimal((abs(micros) + 5_000) // 10_000).scaleb(-2)
    return amount if micros > 0 else amount.copy_negate()  # -0.004999 is -0.00, as `money`


_ZERO_CENTS = Decimal("0.00")


def one_year_after(start: datetime) -> datetime:
    try:
        return start.replace(year=start.year + 1)
    except ValueError:  # 29 February
        return start.replace(year=start.year + 1, day=28)


Bound = str | date | datetime | None
MIDNIGHT = time(0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ReportRange:
    """[start, end) in UTC on the call's start time, and the period it came from."""

    start: datetime
    end: datetime
    period: str | None = None

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        """The last UTC day the range touches (``end`` itself is not in it)."""
        return (self.end - timedelta(microseconds=1)).date()

    @property
    def whole_days(self) -> bool:
        return self.start.timetz() == MIDNIGHT and self.end.timetz() == MIDNIGHT

    def describe(self) -> str:
        """'from 2026-01-14 to 2026-01-20 (UTC days, both included)', or the exact times."""
        if self.whole_days:
            return f"from {self.first_day} to {self.last_day} (UTC days, both included)"
        return f"from {self.start:%Y-%m-%d %H:%M:%S} to {self.end:%Y-%m-%d %H:%M:%S} UTC"


class OverRange:
    """A report over a `ReportRange` (held as ``window``), showing its ends."""

    __slots__ = ()
    window: ReportRange

    @property
    def start(self) -> datetime:
        return self.window.start

    @property
    def end(self) -> datetime:
        """Not included: the start of the day after the last one, or the exact `to`."""
        return self.window.end

    @property
    def first_day(self) -> date:
        return self.window.first_day

    @property
    def last_day(self) -> date:
        return self.window.last_day


# The years a range may name: well inside what dates and times can represent (ERR-1).
RANGE_YEARS = (2000, 9000)


def parse_bound(value: Bound, name: str) -> date | datetime | None:
    """One end of a range: a UTC day (YYYY-MM-DD, or a `date`) or an ISO 8601 date-time
    (naive means UTC). Empty means not given."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    refusal = InvalidInput(
        "INVALID_DATE", f"'{name}' must be a UTC day like 2026-01-31 or an ISO 8601 "
        f"date-time like 2026-01-31T08:00:00Z, in the years {RANGE_YEARS[0]} to "
        f"{RANGE_YEARS[1]}.", {name: text[:40]},
    )
    parsed: date | datetime
    if isinstance(value, date):
        parsed = value
    else:
        try:
            parsed = date.fromisoformat(text) if len(text) == 10 else \
                datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise refusal from None
    if not RANGE_YEARS[0] <= parsed.year <= RANGE_YEARS[1]:
        raise refusal
    if not isinstance(parsed, datetime):
        return parsed
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, MIDNIGHT)


def report_range(
    now: datetime, period: str | None = None, start: Bound = None, end: Bound = None, *,
    periods: Mapping[str, int] | None = None, default: str = DEFAULT_PERIOD,
    at_most_a_year: bool = True,
) -> ReportRange:
    """The one meaning of a report's range, for the API, the CLI and the admin center.

    - A period (``7d``, ``28d``) is that many whole UTC days ending today: ``7d`` is today
      and the 6 days before. Without a period, ``from`` or ``to``: the default period.
    - ``from`` and ``to`` are UTC days, both included (``from`` = ``to`` is that one day),
      or exact ISO 8601 date-times (``from`` included, ``to`` not): the range runs from the
      start of ``from`` to the end of ``to``. Without ``to``, it runs through today; without
      ``from``, it is the default period's length of days ending on ``to``.
    - At most one year (``RANGE_TOO_LONG``) unless ``at_most_a_year`` is off.
    """
    lengths = PERIOD_DAYS if periods is None else periods
    lo, hi = parse_bound(start, "from"), parse_bound(end, "to")
    today = now.astimezone(UTC).date()
    if period is not None and (lo is not None or hi is not None):
        raise InvalidInput("INVALID_RANGE", "Give either a period or from/to, not both.",
                           {"period": period})
    if lo is None and hi is None:
        chosen = period or default
        if chosen not in lengths:
            raise InvalidInput("INVALID_PERIOD", f"The period must be {' or '.join(lengths)}; "
                               "for another range give from and to.",
                               {"period": chosen, "allowed": sorted(lengths)})
        days = lengths[chosen]
        return ReportRange(_day_start(today - timedelta(days=days - 1)),
                           _day_start(today + timedelta(days=1)), chosen)
    if hi is None:
        hi = today
    upper = hi if isinstance(hi, datetime) else _day_start(hi + timedelta(days=1))
    if lo is None:
        last = (upper - timedelta(microseconds=1)).date()
        lo = last - timedelta(days=lengths[default] - 1)
    lower = lo if isinstance(lo, datetime) else _day_start(lo)
    if lower >= upper:
        raise InvalidInput("INVALID_RANGE", "The range is empty: 'from' must not be after "
                           "'to' (a day as 'to' includes that whole day).",
                           {"from": lower.isoformat(), "to": upper.isoformat()})
    if at_most_a_year and upper > one_year_after(lower):
        raise InvalidInput("RANGE_TOO_LONG", "A report covers at most 1 year; choose a "
                           "shorter range.", {"from": lower.isoformat(), "to": upper.isoformat(),
                                              "max": "1 year"})
    return ReportRange(lower, upper)
