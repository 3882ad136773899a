"""A call and its life (CALL-1, CALL-7, CALL-9): `CallType`, `CallStatus`, `CallSource` and
the frozen `Call`, whose transitions return a new `Call` or refuse with a stable code.

The database stores the enums as small integer codes; the mapping is the adapter's
(`adapters.db.codes`).

Life of a call::

    authorized ──update──▶ active ──update──▶ active
        │                    │
        ├──────end───────────┴──▶ ended       (the platform's end, or a CDR's settlement)
        └──────expire────────────▶ expired    (no update for two grant periods)
    denied                                    (refused at authorization: final)

``ended``, ``expired`` and ``denied`` are final. Updating or ending a denied call is refused
with ``CALL_DENIED`` (the API's answer since CALL-7 was built); updating, ending or expiring
a call that has already ended or expired is refused with ``CALL_ALREADY_ENDED``, which call
control turns into a repeat of the first answer (CALL-9). Pure Python, stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from commcredits.domain.authorization import Funding
from commcredits.domain.errors import Conflict
from commcredits.domain.pools import parse_pool_key


class CallStatus(StrEnum):
    """Where a call is in its life (the ``calls.status`` column)."""

    AUTHORIZED = "authorized"
    ACTIVE = "active"
    ENDED = "ended"
    EXPIRED = "expired"
    DENIED = "denied"

    @property
    def is_open(self) -> bool:
        """Holding a reservation: the platform may still update or end it (CALL-8)."""
        return self in OPEN_STATUSES

    @property
    def is_finished(self) -> bool:
        """Rated and settled: in the usage reports (REP-1)."""
        return self in FINISHED_STATUSES


OPEN_STATUSES: tuple[CallStatus, ...] = (CallStatus.AUTHORIZED, CallStatus.ACTIVE)
FINISHED_STATUSES: tuple[CallStatus, ...] = (CallStatus.ENDED, CallStatus.EXPIRED)


class CallSource(StrEnum):
    """Who told us about the call: call control (live) or a CDR import."""

    LIVE = "live"
    CDR = "cdr"


class CallType(StrEnum):
    """The call types of the PSTN usage export (CALL-1, CDR-1)."""

    USER_OUT = "user_out"
    USER_OUT_TRANSFER = "user_out_transfer"
    USER_OUT_FORWARDING = "user_out_forwarding"
    FMC_OUT = "fmc_out"
    UCAP_OUT = "ucap_out"
    DR_OUT = "dr_out"
    DR_OUT_USER_FORWARDING = "dr_out_user_forwarding"
    DR_OUT_USER_TRANSFER = "dr_out_user_transfer"
    CONF_OUT = "conf_out"
    USER_OUT_CONF = "user_out_conf"
    UCAP_OUT_CONF = "ucap_out_conf"
    DR_OUT_USER_CONF = "dr_out_user_conf"
    EMERGENCY_OUT = "emergency_out"
    DR_EMERGENCY_OUT = "dr_emergency_out"
    USER_IN = "user_in"
    EMERGENCY_IN = "emergency_in"
    UNASSIGNED_IN = "unassigned_in"
    FMC_IN = "fmc_in"
    UCAP_IN = "ucap_in"
    DR_IN = "dr_in"
    DR_UNASSIGNED_IN = "dr_unassigned_in"
    CONF_IN = "conf_in"

    @property
    def is_emergency(self) -> bool:
        return self in EMERGENCY_TYPES

    @property
    def is_inbound(self) -> bool:
        """Received by the tenant (a conference dial-in included): free unless toll free."""
        return self in INBOUND_TYPES or self is CallType.CONF_IN

    @property
    def is_dial_out(self) -> bool:
        """A meeting calling out: paid by the organizer's dial-out pool or credits."""
        return self in DIAL_OUT_TYPES

    @property
    def is_outbound(self) -> bool:
        """A user calling out (transfers and forwards included): what CDR batches rate."""
        return self in OUTBOUND_TYPES


_T = CallType
EMERGENCY_TYPES = frozenset({_T.EMERGENCY_OUT, _T.DR_EMERGENCY_OUT})
INBOUND_TYPES = frozenset({_T.USER_IN, _T.EMERGENCY_IN, _T.UNASSIGNED_IN, _T.FMC_IN, _T.UCAP_IN,
                           _T.DR_IN, _T.DR_UNASSIGNED_IN})
DIAL_OUT_TYPES = frozenset({_T.CONF_OUT, _T.USER_OUT_CONF, _T.UCAP_OUT_CONF,
                            _T.DR_OUT_USER_CONF})
OUTBOUND_TYPES = frozenset({_T.USER_OUT, _T.USER_OUT_TRANSFER, _T.USER_OUT_FORWARDING,
                            _T.FMC_OUT, _T.UCAP_OUT, _T.DR_OUT, _T.DR_OUT_USER_FORWARDING,
                            _T.DR_OUT_USER_TRANSFER})
CALL_TYPES = frozenset(CallType)


class CallDenied(Conflict):
    """Updating or ending a call that authorization refused."""

    def __init__(self) -> None:
        super().__init__("CALL_DENIED", "This call was denied; it cannot be updated or ended.")


class CallAlreadyEnded(Conflict):
    """Updating, ending or expiring a call that has already ended or expired (a repeat:
    call control answers it with the first answer, CALL-9)."""

    def __init__(self, status: CallStatus) -> None:
        super().__init__("CALL_ALREADY_ENDED", f"This call has already {status.value}.",
                         {"status": status.value})
        self.status = status


@dataclass(frozen=True, slots=True)
class Settlement:
    """What settling a call charged (RATE-2, POOL-5), amounts as Decimal in its currency."""

    charge: Decimal = Decimal(0)
    connection_fee: Decimal = Decimal(0)
    pool_minutes: int = 0
    capability: str | None = None
    entry_id: int | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """One call as stored: the request, what it was rated as, its reservation and, once
    finished, its settlement. Field order is the ``calls`` table's column order."""

    id: str
    tenant_id: str
    call_id: str
    usage_id: str
    source: CallSource
    status: CallStatus
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
    funding: str | None
    capability: str | None
    pool_key: str | None
    pool_minutes: int | None
    rate_id: int | None
    currency: str
    reserved: Decimal
    max_seconds: int | None
    granted_seconds: int | None
    used_seconds: int
    last_update_at: datetime
    connection_fee: Decimal | None
    charge: Decimal | None
    entry_id: int | None
    reason: str | None  # why authorization denied the call (None: allowed)
    message: str | None  # the denial's message, as the platform was told it
    guard_seconds: int | None  # the spend guard's cap on the call's grants (GUARD-1)

    # The columns each transition writes (the repository's update statements are compiled
    # per column set).
    UPDATE_FIELDS = ("status", "used_seconds", "granted_seconds", "last_update_at",
                     "reserved")
    SETTLE_FIELDS = ("status", "duration", "end_at", "used_seconds", "charge",
                     "connection_fee", "pool_minutes", "capability", "reserved", "entry_id",
                     "last_update_at")

    @classmethod
    def of_row(cls, row: tuple[Any, ...] | list[Any]) -> Call:
        """A stored row (columns in table order) as a `Call`."""
        values = list(row)
        values[4] = CallSource(values[4])
        values[5] = CallStatus(values[5])
        values[6] = CallType(values[6])
        return cls(*values)

    def row(self) -> tuple[Any, ...]:
        """The row to store, columns in table order (enums as their plain strings)."""
        return (self.id, self.tenant_id, self.call_id, self.usage_id, self.source.value,
                self.status.value, self.call_type.value, self.user_object_id, self.upn,
                self.display_name, self.user_location, self.caller, self.callee,
                self.conference_id, self.number_type, self.domestic, self.destination_name,
                self.external_country, self.start_at, self.end_at, self.duration,
                self.funding, self.capability, self.pool_key, self.pool_minutes,
                self.rate_id, self.currency, self.reserved, self.max_seconds,
                self.granted_seconds, self.used_seconds, self.last_update_at,
                self.connection_fee, self.charge, self.entry_id, self.reason, self.message,
                self.guard_seconds)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def authorized_capability(self) -> str | None:
        """The capability authorization answered (CALL-1). A pool call's settlement may
        record credits instead, for the seconds beyond the pool (POOL-5); the answer named
        the pool's."""
        if self.funding == Funding.POOL.value and self.pool_key:
            return parse_pool_key(self.pool_key).capability
        return self.capability

    def _check_open(self) -> None:
        if self.status is CallStatus.DENIED:
            raise CallDenied()
        if not self.status.is_open:
            raise CallAlreadyEnded(self.status)

    def update(self, used_seconds: int, granted_seconds: int, reserved: Decimal,
               at: datetime) -> Call:
        """CALL-7: usage so far reported, the next grant given: the call is active.

        Usage never goes back: a lower report than one already seen keeps the higher."""
        self._check_open()
        if used_seconds < 0 or granted_seconds < used_seconds:
            raise ValueError("granted seconds cover the seconds used, which are 0 or more")
        return replace(self, status=CallStatus.ACTIVE,
                       used_seconds=max(self.used_seconds, used_seconds),
                       granted_seconds=granted_seconds, last_update_at=at, reserved=reserved)

    def end(self, duration: int, settlement: Settlement, at: datetime) -> Call:
        """CALL-7: the call ended after ``duration`` seconds and was settled; nothing stays
        reserved."""
        return self._settled(CallStatus.ENDED, duration, settlement, at)

    def expire(self, settlement: Settlement, at: datetime) -> Call:
        """CALL-7: no update for two grant periods: settled at its last reported usage."""
        return self._settled(CallStatus.EXPIRED, self.used_seconds, settlement, at)

    def _settled(self, status: CallStatus, duration: int, settlement: Settlement,
                 at: datetime) -> Call:
        self._check_open()
        if duration < 0:
            raise ValueError("a duration is 0 seconds or more")
        return replace(
            self, status=status, duration=duration,
            end_at=self.start_at + timedelta(seconds=duration), used_seconds=duration,
            charge=settlement.charge, connection_fee=settlement.connection_fee,
            pool_minutes=settlement.pool_minutes, capability=settlement.capability,
            reserved=Decimal(0), entry_id=settlement.entry_id, last_update_at=at,
        )
