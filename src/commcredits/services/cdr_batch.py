"""Set-based rating and charging of CDR batches (CDR-1, CDR-2, RATE-1..3, POOL-5, FUND-3..6).

`apply_chunk` rates and charges a run of records of one tenant, already in start-time
order, in ONE transaction under the tenant lock, and writes them with a few bulk
statements (`CdrBatchRepository`). It computes, record by record, exactly what
`calls.rate_call` + `calls.settle_in` + `funds.charge_in` would compute one transaction at a
time, but:

- reference data is read once per chunk: the license index, the pool usage it touches, the
  open lots, the auto-recharge settings, and the duplicates (one query for the chunk);
- numbers are classified once per distinct (number, usage location), rates looked up once
  per distinct number and table version (`PrefixIndex`), decisions taken once per distinct
  set of facts, and charges computed once per distinct (rate, seconds) in integer
  micro-units (`charge_micros`, half-up to cents as `rating.charge`);
- pools, lots, balance and debt are tracked in memory in start-time order, so POOL-5's
  split, FIFO over lots (FUND-3), debt (FUND-5) and the balance-depleted email follow each
  charge as they would one by one; the charges are posted in bulk (FUND-10,
  `cdr_posting.ChunkLedger`): one `charge` entry per chunk, split after the charge that
  depleted the balance or queued an auto-recharge, and each call row keeps its own charge
  and the id of the entry that paid it.

What it does not handle is left to the single-call path, one record at a time, in order:
a record of another call type than the outbound user calls (`CallType.is_outbound`), an MCA
tenant (post-usage billing), and a chunk with a call whose single-call ledger key
(`call:<call id>:<usage id>`) is already taken (an interrupted earlier attempt). When a
charge queues an auto-recharge (AR-2), the chunk ends right after that record and is
committed, and the recharge is processed before the next record, as it is one by one.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from commcredits.domain.authorization import (
    CREDITS_CAPABILITY,
    Allowed,
    Decision,
    Denied,
    Funding,
)
from commcredits.domain.calls import OUTBOUND_TYPES, CallSource, CallStatus
from commcredits.domain.errors import InvalidInput
from commcredits.domain.licensing import calling_plan_code
from commcredits.domain.pools import (
    DirectoryUser,
    LicenseIndex,
    PoolRef,
    PoolTarget,
    locate,
    month_of,
    parse_pool_key,
    split,
)
from commcredits.domain.rating import Classified, Direction, Rate
from commcredits.domain.rating_batch import (
    ChargeMemo,
    PrefixIndex,
    RateTerms,
)
from commcredits.domain.reference import country
from commcredits.domain.tenants import BillingAccountType, Tenant
from commcredits.services import calls, pools
from commcredits.services.cdr_posting import ChunkLedger
from commcredits.services.cdr_rating import Static, rate_record
from commcredits.services.context import Services
from commcredits.services.ports import CdrBatch, RateTableRecord, UnitOfWork
from commcredits.services.rates import version_for

FAST_TYPES = OUTBOUND_TYPES
_CDR, _ENDED = CallSource.CDR.value, CallStatus.ENDED.value


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed CDR: its line in the file, the request, and the duration in seconds."""

    line: int
    req: calls.CallRequest
    duration: int


@dataclass
class ChunkResult:
    """What one chunk did. ``consumed`` records were handled (accepted, duplicate or
    rejected); ``general`` says the next record must go through the single-call path."""

    consumed: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    general: str | None = None
    recharge_request: str | None = None


# --- Reference data for a whole import ----------------------------------------------------


class ImportState:
    """Caches that hold for one import (one tenant, one currency, one `now`)."""

    def __init__(self, svc: Services, tenant: Tenant, now: datetime) -> None:
        self.svc = svc
        self.tenant = tenant
        self.currency = tenant.currency
        self.now = now
        self.classified: dict[tuple[str, str], Classified] = {}
        self.display_names: dict[str, str | None] = {}
        self.countries: dict[str, str | None] = {}
        self.decisions: dict[tuple[Any, ...], Decision] = {}
        self.charges = ChargeMemo()
        self.terms: dict[int, RateTerms] = {}
        self.snapshots: dict[int | None, str] = {}
        self.tables: list[RateTableRecord] | None = None
        self.starts: list[datetime] = []
        self.chosen: list[RateTableRecord] = []
        self.indexes: dict[int, PrefixIndex] = {}
        self.index: LicenseIndex | None = None
        self.epochs: list[datetime] = []
        self.held: dict[tuple[str, int], tuple[dict[str, str | None], str | None]] = {}
        self.targets: dict[tuple[str, str, int], PoolTarget] = {}
        self.statics: dict[tuple[str | None, str, int], Static | Denied] = {}
        # The import's bulk charge entries are `cdr-batch:<batch_id>:<n>` (FUND-10).
        self.batch_id = uuid.uuid4().hex
        self.entries = 0

    def licenses(self, uow: UnitOfWork) -> LicenseIndex:
        """The tenant's license index for this chunk, and the moments where any license
        started or ended: between two of them, who holds what (and so every pool's
        capacity) stays the same, so `held_at` and `locate` are asked once per user, epoch
        (and destination)."""
        index = pools.license_index(uow, self.tenant.id)
        if index is not self.index:
            _, holdings = uow.directory.snapshot(self.tenant.id)
            moments = {h.start for h in holdings} | {h.end for h in holdings if h.end}
            self.index, self.epochs = index, sorted(moments)
            self.held.clear()
            self.targets.clear()
            self.statics.clear()
            self.display_names.clear()
        return index

    def held_at(self, user_id: str, epoch: int, at: datetime) \
            -> tuple[dict[str, str | None], str | None]:
        """`LicenseIndex.held_at` and the calling plan rate_call picks, per epoch."""
        key = (user_id, epoch)
        found = self.held.get(key)
        if found is None:
            assert self.index is not None
            held = self.index.held_at(user_id, at)
            found = self.held[key] = (held, calling_plan_code(held))
        return found

    def locate(self, user: DirectoryUser, dest: str, epoch: int, at: datetime) -> PoolTarget:
        key = (user.id, dest, epoch)
        found = self.targets.get(key)
        if found is None:
            assert self.index is not None
            found = self.targets[key] = locate(self.index, user, dest, at)
        return found

    def at(self, now: datetime) -> None:
        """The moment the next chunk is charged at (each chunk reads the clock once)."""
        self.now = now

    def classify(self, number: str, location: str) -> Classified:
        key = (number, location)
        found = self.classified.get(key)
        if found is None:
            phone = self.svc.phone
            assert phone is not None
            found = self.classified[key] = phone.classify(number, location)
        return found

    def display_name(self, uow: UnitOfWork, user_id: str) -> str | None:
        if user_id not in self.display_names:
            detail = uow.directory.user(self.tenant.id, user_id)
            self.display_names[user_id] = detail.display_name if detail else None
        return self.display_names[user_id]

    def pool_country(self, code: str) -> str | None:
        """The destination's country code as pools take it, or None (INVALID_COUNTRY)."""
        if code not in self.countries:
            try:
                self.countries[code] = country(code).code
            except InvalidInput as exc:
                if exc.code != "INVALID_COUNTRY":
                    raise
                self.countries[code] = None
        return self.countries[code]

    def rate(self, uow: UnitOfWork, digits: str, at: datetime) -> tuple[int, Rate] | None:
        """`RateBook.lookup` for the outbound direction: the version in force at ``at``
        (RATE-3), then the longest prefix in force (RATE-1), from the same book (so the
        same versions, refreshed by the same rule, as the single-call path)."""
        tables = self.svc.rate_book.versions(uow, self.currency)
        if tables is not self.tables:
            self.tables = tables
            # version_for answers by imported_at; precompute its answer per interval.
            self.starts = sorted({r.imported_at for r in tables})
            self.chosen = [version_for(tables, s) for s in self.starts]  # type: ignore[misc]
            self.indexes.clear()
        if not self.tables:
            return None
        i = bisect_right(self.starts, at)
        table = version_for(self.tables, at) if i == 0 else self.chosen[i - 1]
        assert table is not None
        index = self.indexes.get(table.id)
        if index is None:
            index = self.indexes[table.id] = self.svc.rate_book.prefix_index(uow, table)
        return index.lookup(digits, at, Direction.OUTBOUND)

    def rate_terms(self, rate_id: int, rate: Rate) -> RateTerms:
        found = self.terms.get(rate_id)
        if found is None:
            found = self.terms[rate_id] = RateTerms.of(rate)
        return found

    def decision_json(self, rate_id: int | None, rate: Rate | None) -> str:
        found = self.snapshots.get(rate_id)
        if found is None:
            found = self.snapshots[rate_id] = json.dumps(
                {"reply": {}, "rate": calls.rate_snapshot(rate)})
        return found


# --- One chunk ----------------------------------------------------------------------------


def _reject(result: ChunkResult, line: int, code: str, message: str) -> None:
    result.rejected.append({"line": line, "reason": code, "message": message})


def apply_chunk(uow: UnitOfWork, state: ImportState, records: Sequence[Record]) -> ChunkResult:
    """Rate and charge ``records`` (start-time order, all of FAST_TYPES) in ``uow``, which
    the caller commits. Stops early when a record needs the single-call path
    (``general``) or a charge queued an auto-recharge (``recharge_request``)."""
    result = ChunkResult()
    tenant = state.tenant
    tid = tenant.id
    account = uow.credits.account(tid, lock=True)  # the tenant lock, first
    current = uow.tenants.get(tid)
    if current is None or current.billing_account_type is BillingAccountType.MCA \
            or account.currency != state.currency:
        result.general = "mca_tenant"
        return result
    call_ids = [r.req.call_id for r in records]
    existing = uow.cdr_batch.existing(tid, call_ids)
    index = state.licenses(uow)
    now = state.now
    # Row ids: 32 hex digits like uuid4().hex, but in insertion order (the chunk's clock
    # reading, the record's position, 10 random digits), so the primary key index is
    # appended to rather than written all over.
    prefix = f"{time.time_ns() & (1 << 64) - 1:016x}"
    noise = os.urandom(5 * len(records)).hex()
    batch = CdrBatch([], [], [], {}, [])
    ledger: ChunkLedger | None = None
    used: dict[tuple[str, str], int] = {}
    added: dict[tuple[str, str], int] = {}
    pool_refs: dict[str, PoolRef] = {}

    def pool_used(month: str, key: str) -> int:
        found = used.get((month, key))
        if found is None:
            found = used[(month, key)] = uow.pools.used(tid, month, key)
        return found

    for position, record in enumerate(records):
        req, duration = record.req, record.duration
        usage_id = req.usage_id or req.call_id
        if (req.call_id, usage_id) in existing:
            result.duplicates += 1
            result.consumed = position + 1
            continue
        rated = rate_record(uow, state, index, req, pool_used)
        if isinstance(rated, Denied):
            _reject(result, record.line, rated.code, rated.message)
            result.consumed = position + 1
            continue
        fields, decision, rate_id, rate = rated
        assert isinstance(decision, Allowed)
        # settle_in (RATE-2, POOL-5), in integers.
        amount = fee = pool_minutes = 0
        capability = decision.capability
        pool_key = fields[11]
        row = f"{prefix}{position:06x}{noise[10 * position:10 * position + 10]}"
        if decision.funding is Funding.POOL and pool_key:
            # The pool of the month the call started in, as it was then (POOL-1).
            month = month_of(req.start)
            ref = pool_refs.get(pool_key)
            if ref is None:
                ref = pool_refs[pool_key] = parse_pool_key(pool_key)
            capacity = index.capacity(ref, req.start)
            covered, uncovered = split(duration, capacity - pool_used(month, pool_key))
            if covered:
                used[(month, pool_key)] += covered
                added[(month, pool_key)] = added.get((month, pool_key), 0) + covered
            batch.pool_consumptions.append((month, pool_key, f"call:{row}", duration, covered,
                                            uncovered, now))
            pool_minutes = covered
            if uncovered and rate is not None:
                assert rate_id is not None
                amount = state.charges(state.rate_terms(rate_id, rate).without_fee(),
                                       uncovered)
                capability = CREDITS_CAPABILITY
        elif decision.funding is Funding.CREDITS and rate is not None and duration > 0:
            assert rate_id is not None
            terms = state.rate_terms(rate_id, rate)
            amount = state.charges(terms, duration)
            fee = terms.fee_micros
        entry_id: int | None = None
        if amount > 0:
            if ledger is None:
                ledger = ChunkLedger(uow, tid, now, len(records) - position, state.batch_id,
                                     state.entries)
            # The key a single-call charge of this call would have: one already in the
            # ledger (an interrupted attempt) sends the chunk through that path.
            batch.call_keys.append(f"call:{req.call_id}:{usage_id}")
            entry_id, request = ledger.charge(amount)
            if request is not None:
                result.recharge_request = request
        batch.calls.append((
            row, tid, req.call_id, usage_id, _CDR, _ENDED, req.call_type.value, *fields[:11],
            req.start, req.start + timedelta(seconds=duration), duration,
            decision.funding.value, capability, pool_key, pool_minutes, rate_id,
            state.currency, 0, None, None, duration, now, fee, amount, entry_id,
            state.decision_json(rate_id, rate),
        ))
        existing.add((req.call_id, usage_id))
        result.accepted += 1
        result.consumed = position + 1
        if result.recharge_request:
            break
    if ledger is not None:
        ledger.finish(batch)
    uow.cdr_batch.write(tid, batch)
    if ledger is not None:
        state.entries = ledger.entry_no  # numbered on by the next chunk, once this one stands
    for (month, key), minutes in added.items():
        uow.pools.add_usage(tid, month, key, minutes, now)
    return result
