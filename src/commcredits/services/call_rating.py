"""Call requests (CALL-1) and the one rating kernel (CDR-2, CALL-1..6, RATE-1..3,
POOL-1..5, NUM-2, POST-2): calls in, `Rated` (the decision and the report fields) out, for
every call type. `parse_request` validates an authorize request or a CDR row's fields.

A `Rater` rates the calls of one tenant, a batch at a time: a live call's authorization is
a batch of one, a CDR chunk a batch of up to 10,000. It reads the reference data lazily
and keeps it for the batch: the license index (and the license epochs, between which who
holds what stays the same), the numbers classified per (number, location), users' display
names, the tenant's inventory numbers (toll-free inbound), POST-2's overage switch per
month, the pools' usage per (month, pool) and the rate table version per start (one
`RateIndex` per version, from `RateBook`). The decision itself is `authorization.decide`,
pure, over `CallFacts`.

The pool usage a `Rater` holds is the one settlement updates (`Rater.used` and `use`), so a
call later in a batch sees the minutes the calls before it took (POOL-5).
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from commcredits.domain.authorization import CallFacts, CallKind, Decision, decide, unlimited
from commcredits.domain.calls import CALL_TYPES, CallType
from commcredits.domain.directory import NumberType as InventoryType
from commcredits.domain.errors import InvalidInput, NotFound
from commcredits.domain.licensing import CREDITS_SKU, PHONE_SKU, calling_plan_code
from commcredits.domain.money import Money
from commcredits.domain.pool_index import DirectoryUser, LicenseIndex, PoolTarget, locate
from commcredits.domain.pools import month_of
from commcredits.domain.rating import Classified, Direction, Rate
from commcredits.domain.reference import country
from commcredits.domain.tenants import BillingAccountType, Tenant
from commcredits.services import pools, postpaid
from commcredits.services.context import Services
from commcredits.services.ports import UnitOfWork
from commcredits.services.rates import TableVersions

LIVE_START_WINDOW = timedelta(days=1)  # how far from now a live call's start may be
_CALL_TYPES = {t.value: t for t in CALL_TYPES}


@dataclass(frozen=True, slots=True)
class CallRequest:
    call_id: str
    call_type: CallType
    user: str | None
    caller: str
    callee: str
    start: datetime
    usage_id: str | None = None
    conference_id: str | None = None


def _text(body: dict[str, Any], name: str, required: bool = True, limit: int = 64,
          ) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if isinstance(value, str) and len(value) <= limit:
        stripped = value.strip()
        if stripped:
            return stripped
    raise InvalidInput("INVALID_CALL", f"{name} is required (text, at most {limit}).")


def parse_request(body: dict[str, Any], now: datetime) -> CallRequest:
    """Validate an authorize request (CALL-1)."""
    call_type = str(_text(body, "call_type", limit=32))
    found = _CALL_TYPES.get(call_type)
    if found is None:
        raise InvalidInput("INVALID_CALL_TYPE", f"{call_type!r} is not a known call type.",
                           {"allowed": sorted(t.value for t in CALL_TYPES)})
    start = body.get("start")
    if start is None:
        at = now
    elif isinstance(start, datetime):
        at = start
    else:
        try:
            at = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput("INVALID_CALL", "start must be ISO 8601 with a zone.") from None
    if at.tzinfo is None:
        raise InvalidInput("INVALID_CALL", "start must carry a time zone, e.g. Z.")
    return CallRequest(
        str(_text(body, "call_id")), found, _text(body, "user", False, 128),
        str(_text(body, "caller")), str(_text(body, "callee")), at,
        _text(body, "usage_id", False), _text(body, "conference_id", False),
    )


def check_live_start(req: CallRequest, now: datetime) -> CallRequest:
    """A live call starts within `LIVE_START_WINDOW` of now, or INVALID_CALL: the platform
    asks before the call, so a start far away is a wrong clock or a forged request, and
    would hold a reservation for a call that cannot happen (docs/decisions.md)."""
    if not now - LIVE_START_WINDOW <= req.start <= now + LIVE_START_WINDOW:
        raise InvalidInput(
            "INVALID_CALL", "start must be within 1 day of now; leave it out to mean now.",
            {"start": req.start.isoformat(), "now": now.isoformat()},
        )
    return req


@dataclass(frozen=True, slots=True)
class Rated:
    """Everything the usage report needs about a call, and the decision behind it."""

    decision: Decision
    kind: CallKind
    user_id: str | None = None
    upn: str | None = None
    display_name: str | None = None
    user_location: str | None = None
    number_type: str | None = None
    domestic: bool | None = None
    destination_name: str | None = None
    external_country: str | None = None
    pool_key: str | None = None
    rate_id: int | None = None
    rate: Rate | None = None
    facts: CallFacts | None = None  # what `decision` was decided from, when it needs a balance

    def with_available(self, available: Money) -> Rated:
        """The same call decided again with the available balance read under the lock."""
        if self.facts is None:
            return self
        facts = replace(self.facts, available=available)
        return replace(self, decision=decide(facts), facts=facts)


class _DisplayNames:
    """Users' display names, cached per (tenant, directory version): every directory write
    changes the version, so a stale name is never served."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str, str], str | None] = OrderedDict()

    def get(self, uow: UnitOfWork, tenant_id: str, version: str | None, user_id: str,
            ) -> str | None:
        if version is None:
            return uow.calls.display_name(tenant_id, user_id)
        key = (tenant_id, version, user_id)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        name = uow.calls.display_name(tenant_id, user_id)
        with self._lock:
            self._items[key] = name
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return name


DISPLAY_NAMES = _DisplayNames()
_UNKNOWN_COUNTRY = ""


class Rater:
    """The rating kernel for one tenant's batch of calls (see the module docstring).

    ``directory_version``, when the caller has just read it in this transaction, saves
    reading it again. ``epochs`` (batches) memoizes licenses per license epoch.
    """

    def __init__(self, svc: Services, tenant: Tenant, *, directory_version: str | None = None,
                 epochs: bool = False) -> None:
        if svc.phone is None:  # pragma: no cover - bootstrap always wires one
            raise RuntimeError("no number classifier configured")
        self.svc = svc
        self.phone = svc.phone
        self.tenant = tenant
        self.currency = tenant.currency
        self.on_mca = tenant.billing_account_type is BillingAccountType.MCA
        self._unlimited = unlimited(self.currency)
        self._version = directory_version
        self._use_epochs = epochs
        self.index: LicenseIndex | None = None
        self._epochs: list[datetime] = []
        self._held: dict[tuple[str, int], tuple[dict[str, str | None], str | None]] = {}
        self._targets: dict[tuple[str, str, int, bool], PoolTarget] = {}
        self._classified: dict[tuple[str, str], Classified] = {}
        self._names: dict[str, str | None] = {}
        self._countries: dict[str, str | None] = {}
        self._inventory: dict[str, InventoryType | None] = {}
        self._overage: dict[str, bool] = {}
        self._used: dict[tuple[str, str], int] = {}
        self._tables: TableVersions | None = None

    # --- reference data, read once per batch ------------------------------------------

    def licenses(self, uow: UnitOfWork) -> LicenseIndex:
        """The license index this transaction sees; a new one forgets the memos built on
        the old one."""
        known = self._version is not None
        index = pools.license_index(uow, self.tenant.id, self._version, known=known)
        self._version = None  # read again by the next batch
        if index is not self.index:
            self.index = index
            self._held.clear()
            self._targets.clear()
            self._names.clear()
            if self._use_epochs:
                _, holdings = uow.directory.snapshot(self.tenant.id)
                moments = {h.start for h in holdings} | {h.end for h in holdings if h.end}
                self._epochs = sorted(moments)
        return index

    def start_batch(self, uow: UnitOfWork) -> None:
        """A new batch (transaction): the pools' usage and the rate versions are read again."""
        self._used.clear()
        self._tables = None
        self.licenses(uow)

    def _epoch(self, at: datetime) -> int:
        return bisect_right(self._epochs, at) if self._use_epochs else -1

    def held_at(self, user_id: str, at: datetime) -> tuple[dict[str, str | None], str | None]:
        """The user's licenses at ``at`` and the calling plan among them."""
        assert self.index is not None
        key = (user_id, self._epoch(at))
        found = self._held.get(key) if self._use_epochs else None
        if found is None:
            held = self.index.held_at(user_id, at)
            found = (held, calling_plan_code(held))
            if self._use_epochs:
                self._held[key] = found
        return found

    def locate(self, user: DirectoryUser, dest: str, at: datetime, dial_out: bool) -> PoolTarget:
        assert self.index is not None
        if not self._use_epochs:
            return locate(self.index, user, dest, at, dial_out=dial_out)
        key = (user.id, dest, self._epoch(at), dial_out)
        found = self._targets.get(key)
        if found is None:
            found = self._targets[key] = locate(self.index, user, dest, at, dial_out=dial_out)
        return found

    def display_name(self, uow: UnitOfWork, user_id: str) -> str | None:
        """The user's display name (`DISPLAY_NAMES`), kept for the license index's life
        when the index has a directory version."""
        names = self._names
        if user_id not in names:
            assert self.index is not None
            version = self.index.version
            name = DISPLAY_NAMES.get(uow, self.tenant.id, version, user_id)
            if version is None:
                return name
            names[user_id] = name
        return names[user_id]

    def classify(self, number: str, location: str) -> Classified:
        key = (number, location)
        found = self._classified.get(key)
        if found is None:
            found = self._classified[key] = self.phone.classify(number, location)
        return found

    def pool_country(self, code: str) -> str | None:
        """The destination's country code as pools take it, or None (INVALID_COUNTRY)."""
        found = self._countries.get(code, _UNKNOWN_COUNTRY)
        if found == _UNKNOWN_COUNTRY:
            try:
                found = country(code).code
            except InvalidInput as exc:
                if exc.code != "INVALID_COUNTRY":
                    raise
                found = None
            self._countries[code] = found
        return found

    def inventory(self, uow: UnitOfWork, number: str) -> InventoryType | None:
        if number not in self._inventory:
            found = uow.numbers.get(self.tenant.id, number)
            self._inventory[number] = found.type if found is not None else None
        return self._inventory[number]

    def overage(self, uow: UnitOfWork, at: datetime) -> bool:
        """POST-2's overage switch (it only matters to MCA tenants)."""
        if not self.on_mca:
            return True
        month = month_of(at)
        if month not in self._overage:
            self._overage[month] = postpaid.overage_enabled_in(uow, self.tenant.id, at)
        return self._overage[month]

    def rate(self, uow: UnitOfWork, digits: str, at: datetime,
             direction: Direction) -> tuple[int, Rate] | None:
        """The row rating a call to ``digits`` started at ``at`` (RATE-1, RATE-3)."""
        book = self.svc.rate_book
        if self._tables is None:
            self._tables = book.versions(uow, self.currency)
        table = self._tables.at(at)
        if table is None:
            return None
        return book.index(uow, table).lookup(digits, at, direction)

    # --- the pools' usage, shared with settlement -------------------------------------

    def used(self, uow: UnitOfWork, month: str, key: str) -> int:
        """Minutes used of a pool in a month, with what this batch has taken so far."""
        found = self._used.get((month, key))
        if found is None:
            found = self._used[(month, key)] = uow.pools.used(self.tenant.id, month, key)
        return found

    def use(self, month: str, key: str, minutes: int) -> None:
        self._used[(month, key)] += minutes

    # --- the kernel -------------------------------------------------------------------

    def rate_call(self, uow: UnitOfWork, req: CallRequest, available: Money | None) -> Rated:
        """Rate one call of the batch. ``available`` None decides with an unlimited
        balance (a finished call, or a live call before the lock: `Rated.with_available`
        then decides again). Refuses an outbound user call of an unknown user
        (USER_NOT_FOUND)."""
        index = self.index if self.index is not None else self.licenses(uow)
        tenant = self.tenant
        found = index.user(req.user) if req.user else None
        held, plan = self.held_at(found.id, req.start) if found else ({}, None)
        location = (found.usage_location if found else None) or tenant.country
        base: dict[str, Any] = {
            "user_id": found.id if found else None, "upn": found.upn if found else None,
            "display_name": self.display_name(uow, found.id) if found else None,
            "user_location": found.usage_location if found else None,
        }
        balance = available if available is not None else self._unlimited
        callee = self.classify(req.callee, location)
        inbound = req.call_type.is_inbound
        if req.call_type.is_emergency or (not inbound and callee.emergency):
            return Rated(decide(CallFacts(CallKind.EMERGENCY, calling_plan=plan)),
                         CallKind.EMERGENCY, number_type="emergency", **base)
        if inbound:
            return self._inbound(uow, req, callee, plan, balance, base)
        dial_out = req.call_type.is_dial_out
        kind = CallKind.CONFERENCE_DIAL_OUT if dial_out else CallKind.USER_OUTBOUND
        if found is None and not dial_out:
            raise NotFound("USER_NOT_FOUND", f"No user {req.user!r} in this tenant.")
        if not callee.valid:
            return Rated(decide(CallFacts(kind, callee_valid=False)), kind, **base)
        rated = self.rate(uow, callee.digits, req.start, Direction.OUTBOUND)
        rate_id, rate = rated if rated is not None else (None, None)
        pool_key = capability = None
        left: int | None = None
        dest = self.pool_country(callee.country) if found is not None else None
        domestic = callee.country == location
        if found is not None and dest is not None:
            target = self.locate(found, dest, req.start, dial_out)
            domestic = target.domestic
            if target.ref is not None:
                pool_key, capability = target.ref.key, target.ref.capability
                left = max(0, target.capacity - self.used(uow, month_of(req.start), pool_key))
        facts = CallFacts(
            kind, callee_valid=True, callee_type=callee.number_type,
            user_blocked=bool(found and found.blocked),
            has_phone_license=PHONE_SKU in held or dial_out,
            calling_plan=plan or ("MCOMEETADV" if dial_out else None),
            has_credits_license=CREDITS_SKU in held, pool_capability=capability,
            pool_minutes_left=left, rate=rate, available=balance, postpaid=self.on_mca,
            overage_enabled=self.overage(uow, req.start),
        )
        return Rated(
            decide(facts), kind, number_type=callee.number_type.value, facts=facts,
            domestic=domestic,
            destination_name=rate.destination if rate is not None else callee.country,
            external_country=callee.country or None, pool_key=pool_key, rate_id=rate_id,
            rate=rate, **base,
        )

    def _inbound(self, uow: UnitOfWork, req: CallRequest, callee: Classified,
                 plan: str | None, balance: Money, base: dict[str, Any]) -> Rated:
        tenant_country = self.tenant.country
        number = self.inventory(uow, "+" + callee.digits) if callee.valid else None
        if number is InventoryType.TOLL_FREE:
            caller = self.classify(req.caller, tenant_country)
            rated = self.rate(uow, caller.digits, req.start, Direction.TOLL_FREE_INBOUND) \
                if caller.valid else None
            rate_id, rate = rated if rated is not None else (None, None)
            facts = CallFacts(CallKind.TOLL_FREE_INBOUND, rate=rate, available=balance,
                              postpaid=self.on_mca,
                              overage_enabled=self.overage(uow, req.start))
            return Rated(decide(facts), CallKind.TOLL_FREE_INBOUND, number_type="toll_free",
                         facts=facts, domestic=caller.country == tenant_country,
                         destination_name=rate.destination if rate is not None else None,
                         external_country=caller.country or None, rate_id=rate_id,
                         rate=rate, **base)
        kind = CallKind.CONFERENCE_DIAL_IN if req.call_type is CallType.CONF_IN \
            else CallKind.USER_INBOUND
        location = base["user_location"] or tenant_country
        caller = self.classify(req.caller, location)
        return Rated(decide(CallFacts(kind, calling_plan=plan)), kind,
                     number_type=caller.number_type.value if caller.valid else None,
                     external_country=caller.country or None, **base)
