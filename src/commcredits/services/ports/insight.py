"""Insight, Graph call logs, the spend guard, plan advice and the usage reports (REP-*,
GUARD-*, PLAN-*).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from commcredits.domain.calls import Call, CallSource, CallType
from commcredits.domain.guard import GuardSettings, Spent
from commcredits.domain.reports import Retention, UsageRecord

# --- Insight and Graph call logs (REP-3, REP-5) --------------------------------------------


@dataclass(frozen=True, slots=True)
class RatedCallRecord:
    """One finished (ended or expired) rated call, as the Graph PSTN call log shows it: a
    projection of its `Call`."""

    id: str
    call_id: str
    usage_id: str
    source: CallSource
    call_type: CallType
    user_object_id: str | None
    upn: str | None
    display_name: str | None
    user_location: str | None
    caller: str
    callee: str
    conference_id: str | None
    number_type: str | None
    domestic: bool | None
    destination_name: str | None
    external_country: str | None
    start_at: datetime
    end_at: datetime | None
    duration: int | None
    capability: str | None
    currency: str
    connection_fee: Decimal | None
    charge: Decimal | None

    @classmethod
    def of(cls, call: Call) -> RatedCallRecord:
        return cls(
            id=call.id, call_id=call.call_id, usage_id=call.usage_id, source=call.source,
            call_type=call.call_type, user_object_id=call.user_object_id, upn=call.upn,
            display_name=call.display_name, user_location=call.user_location,
            caller=call.caller, callee=call.callee, conference_id=call.conference_id,
            number_type=call.number_type, domestic=call.domestic,
            destination_name=call.destination_name, external_country=call.external_country,
            start_at=call.start_at, end_at=call.end_at, duration=call.duration,
            capability=call.capability, currency=call.currency,
            connection_fee=call.connection_fee, charge=call.charge,
        )


@dataclass(frozen=True, slots=True)
class SpendRecord:
    """Spend of one group (a day, user, destination country or capability)."""

    key: str
    calls: int
    seconds: int
    amount: Decimal


class InsightRepository(Protocol):
    def ledger_days(self, tenant_id: str) -> list[tuple[str, Decimal, Decimal]]:
        """Per UTC day (YYYY-MM-DD), oldest first: the net ledger amount and the charges."""
        ...
    def spend(
        self, tenant_id: str, start: datetime, end: datetime, group_by: str,
    ) -> list[SpendRecord]:
        """Finished calls started in [start, end) grouped by day, user, country or
        capability."""
        ...
    def count_calls(self, tenant_id: str, start: datetime, end: datetime,
                    retention: Retention | None = None) -> int: ...
    def calls_page(
        self, tenant_id: str, start: datetime, end: datetime,
        after: tuple[datetime, str] | None, limit: int, retention: Retention | None = None,
    ) -> list[RatedCallRecord]:
        """Finished calls started in [start, end], ordered by (start, id), after a cursor."""
        ...


class GuardRepository(Protocol):
    """The spend guard's settings and what counts toward its limits (GUARD-1..3)."""

    def get(self, tenant_id: str) -> GuardSettings | None: ...
    def put(self, tenant_id: str, settings: GuardSettings | None, at: datetime) -> None: ...
    def spent(self, tenant_id: str, user_id: str | None, hour: datetime, day: datetime,
              until: datetime, *, exclude: str | None = None) -> Spent: ...
    def heavy_users(self, tenant_id: str, since: datetime, until: datetime,
                    floor: Decimal) -> list[tuple[str, Decimal]]: ...
    def user_charges(self, tenant_id: str, user_id: str, since: datetime,
                     until: datetime) -> list[tuple[datetime, Decimal]]: ...


class PlanningRepository(Protocol):
    """Finished calls of a period, in start order, for re-rating (PLAN-1, PLAN-2)."""

    def finished_calls(self, tenant_id: str, since: datetime, until: datetime) -> list[Call]:
        ...


class ReportRepository(Protocol):
    """Finished calls for the PSTN usage report (REP-1), read a page at a time."""

    def usage(
        self, tenant_id: str, start: datetime, end: datetime, *, user: str | None,
        call_type: str | None, capability: str | None, after: tuple[datetime, str] | None,
        limit: int, retention: Retention | None = None,
    ) -> list[UsageRecord]:
        """Ended or expired calls with start in [start, end), ordered by (start, id), after
        the keyset ``after``; at most ``limit``; only those ``retention`` still keeps."""
        ...
    def count(
        self, tenant_id: str, start: datetime, end: datetime, *, user: str | None,
        call_type: str | None, capability: str | None, retention: Retention | None = None,
    ) -> int: ...
