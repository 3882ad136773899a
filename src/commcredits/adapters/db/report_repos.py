"""SQL read repository for the PSTN usage report (REP-1): finished calls a page at a time.

Pages follow a keyset on (start_at, id) (`keyset_page`, which the Graph call log uses too),
so a report of any size is read in constant memory and each page's scan of the
(tenant_id, start_at) index starts at the page. Calls past their retention (by user
location, REFERENCE) are left out when a `Retention` is given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, func, or_, select, type_coerce

from commcredits.adapters.db import tables as t
from commcredits.domain.calls import FINISHED_STATUSES
from commcredits.domain.reports import Retention, UsageRecord

C = t.calls
FINISHED = tuple(status.value for status in FINISHED_STATUSES)
_COLUMNS = (
    C.c.id, C.c.usage_id, C.c.call_id, C.c.conference_id, C.c.user_location,
    C.c.user_object_id, C.c.upn, C.c.display_name, C.c.caller, C.c.call_type, C.c.callee,
    C.c.number_type, C.c.domestic, C.c.destination_name, C.c.external_country, C.c.start_at,
    C.c.end_at, C.c.duration,
    # Money as stored, integer micro-units: the report rounds it to cents in integers.
    type_coerce(C.c.connection_fee, BigInteger).label("connection_fee_micros"),
    type_coerce(C.c.charge, BigInteger).label("charge_micros"),
    C.c.currency, C.c.capability, C.c.source,
)


def retained(retention: Retention) -> Any:
    """SQL for "the call is still kept": per retention length, the user's location (or the
    tenant's country) is in that group and the call started after its cutoff."""
    location = func.coalesce(C.c.user_location, retention.tenant_country)
    listed = [c for countries, _ in retention.cutoffs() for c in countries]
    return or_(*[
        and_(location.in_(sorted(countries)) if countries else location.not_in(listed),
             C.c.start_at >= cutoff)
        for countries, cutoff in retention.cutoffs()
    ])


def keyset_page(start: datetime, after: tuple[datetime, str] | None) -> tuple[datetime, Any]:
    """A page of calls on the keyset (start_at, id), ordered by it: the lower bound on
    ``start_at`` to scan from, and the condition that continues after the cursor (None on
    the first page). The bound is one, the later of ``start`` and the cursor's start: given
    both, SQLite bounds the index scan by the first, and each page would read every row
    before it; the OR alone bounds nothing."""
    if after is None:
        return start, None
    at, row_id = after
    return max(start, at), or_(C.c.start_at > at, and_(C.c.start_at == at, C.c.id > row_id))


class SqlReports:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @staticmethod
    def _where(
        tenant_id: str, start: datetime, end: datetime, user: str | None,
        call_type: str | None, capability: str | None, retention: Retention | None,
    ) -> list[Any]:
        where: list[Any] = [C.c.tenant_id == tenant_id, C.c.status.in_(FINISHED),
                            C.c.start_at >= start, C.c.start_at < end]
        if retention is not None:
            where.append(retained(retention))
        if user is not None:
            where.append(func.lower(C.c.upn) == user.lower())
        if call_type is not None:
            where.append(C.c.call_type == call_type)
        if capability is not None:
            where.append(C.c.capability == capability)
        return where

    def usage(
        self, tenant_id: str, start: datetime, end: datetime, *, user: str | None,
        call_type: str | None, capability: str | None, after: tuple[datetime, str] | None,
        limit: int, retention: Retention | None = None,
    ) -> list[UsageRecord]:
        lower, continues = keyset_page(start, after)
        where = self._where(tenant_id, lower, end, user, call_type, capability, retention)
        if continues is not None:
            where.append(continues)
        rows = self.conn.execute(
            select(*_COLUMNS).where(*where).order_by(C.c.start_at, C.c.id).limit(limit)
        )
        # `Coded` already reads call_type and source back as their enums.
        return list(map(UsageRecord._make, rows))

    def count(
        self, tenant_id: str, start: datetime, end: datetime, *, user: str | None,
        call_type: str | None, capability: str | None, retention: Retention | None = None,
    ) -> int:
        where = self._where(tenant_id, start, end, user, call_type, capability, retention)
        return int(self.conn.execute(
            select(func.count()).select_from(C).where(*where)
        ).scalar_one())
