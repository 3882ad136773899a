"""The PSTN usage report (REP-1, REP-4): who may read it, its range and filters, its rows.

`pstn_usage` checks the request and the principal at once and returns a `PstnUsage`, whose
rows are read lazily a page at a time (keyset on start time, then id), each page in its own
short read-only unit of work; exports iterate it, the API reads one page per request.
Calls past their retention (by the user's location, else the tenant's country) at the time
the report was asked for are left out (`domain.reports.Retention`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from commcredits.domain.calls import CallType
from commcredits.domain.errors import InvalidInput
from commcredits.domain.reports import (
    COLUMNS,
    DEFAULT_PERIOD,
    Bound,
    OverRange,
    ReportRange,
    ReportRow,
    Retention,
    report_range,
    report_rows,
)
from commcredits.domain.tenants import Tenant
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services

PAGE = 1000
MAX_LIMIT = 1000
# Iterating the whole report (the exports) reads larger pages: fewer queries, the same
# keyset, and still a bounded amount of memory.
EXPORT_PAGE = 10_000


def _text(value: object, name: str, max_len: int) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not text or len(text) > max_len:
        raise InvalidInput("INVALID_FILTER", f"'{name}' must be 1 to {max_len} characters.",
                           {name: str(value)[:200]})
    return text


def _call_type(value: object) -> str | None:
    """A call type to filter on: one of `CallType`'s values, or INVALID_FILTER."""
    text = _text(value, "call_type", 32)
    if text is None:
        return None
    try:
        return CallType(text).value
    except ValueError:
        raise InvalidInput(
            "INVALID_FILTER", f"'call_type' is one of: {', '.join(t.value for t in CallType)}.",
            {"call_type": text},
        ) from None


def encode_cursor(start_at: datetime, row_id: str) -> str:
    raw = json.dumps([start_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = json.loads(raw)
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None or not isinstance(row_id, str):
            raise ValueError(cursor)
        return parsed, row_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("INVALID_CURSOR", "The cursor is not valid; use the 'next' value "
                           "of the previous page.", {}) from None


@dataclass(frozen=True, slots=True)
class PstnUsage(OverRange):
    """A checked report request; iterate it for every row, or read one `page`."""

    svc: Services
    tenant: Tenant
    window: ReportRange
    user: str | None
    call_type: str | None
    capability: str | None
    now: datetime

    columns = COLUMNS

    def _filters(self) -> dict[str, Any]:
        return {"user": self.user, "call_type": self.call_type, "capability": self.capability,
                "retention": Retention(self.now, self.tenant.country)}

    def parameters(self) -> dict[str, Any]:
        """The time range and filters, for `parameters.json` and the API: `from` (included)
        and `to` (not included) as UTC times, and the UTC days they cover, both included."""
        return {
            "report": "pstn-usage", "tenant_id": self.tenant.id, "period": self.window.period,
            "from": _iso(self.start), "to": _iso(self.end),
            "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
            "user": self.user,
            "call_type": self.call_type, "capability": self.capability,
            "masking_country": self.tenant.country,
        }

    def count(self) -> int:
        with self.svc.uow(readonly=True) as uow:
            return uow.reports.count(self.tenant.id, self.start, self.end, **self._filters())

    def _records_page(
        self, after: tuple[datetime, str] | None, limit: int,
    ) -> tuple[list[ReportRow], tuple[datetime, str] | None]:
        with self.svc.uow(readonly=True) as uow:
            records = uow.reports.usage(self.tenant.id, self.start, self.end,
                                        after=after, limit=limit, **self._filters())
        rows = report_rows(records, self.tenant.country)
        last = (records[-1].start_at, records[-1].id) if len(records) == limit else None
        return rows, last

    def page(self, limit: int = PAGE, cursor: str | None = None) -> tuple[list[ReportRow],
                                                                           str | None]:
        """One page of at most ``limit`` rows and the cursor of the next (None at the end)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput("INVALID_LIMIT", f"'limit' must be 1 to {MAX_LIMIT}.",
                               {"limit": limit})
        after = decode_cursor(cursor) if cursor else None
        rows, last = self._records_page(after, limit)
        return rows, encode_cursor(*last) if last else None

    def __iter__(self) -> Iterator[ReportRow]:
        after: tuple[datetime, str] | None = None
        while True:
            rows, after = self._records_page(after, EXPORT_PAGE)
            yield from rows
            if after is None:
                return


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def pstn_usage(
    svc: Services, principal: Principal, tenant_id: str, *, period: str | None = None,
    start: Bound = None, end: Bound = None, user: object = None, call_type: object = None,
    capability: object = None,
) -> PstnUsage:
    """The PSTN usage report of a tenant (REP-1): the last 7 or 28 UTC days (today
    included), or ``from``/``to`` UTC days (both included) of at most 1 year, on the call's
    start time (`domain.reports.report_range`), optionally for one user, call type or
    capability. Readers may read it. Refusals are raised here, before any row is read."""
    chosen = _text(period, "period", 8)
    window = report_range(svc.clock.now(), chosen, start, end, default=DEFAULT_PERIOD)
    filters = (_text(user, "user", 128), _call_type(call_type),
               _text(capability, "capability", 32))
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_CREDITS)
    return PstnUsage(svc, tenant, window, *filters, svc.clock.now())
