"""Rating and charging a chunk of CDRs (CDR-1, CDR-2, RATE-1..3, POOL-5, FUND-3..6, FUND-10,
POST-1): every call type, through the one engine.

`apply_chunk` takes a run of records of one tenant, already in start-time order, in ONE
transaction under the tenant lock:

- rating: the one kernel, `call_rating.Rater` (the same that authorizes a live call),
  which reads the reference data once per chunk;
- settlement: `domain.settlement.settle_call` per call (the same that ends a live call),
  with the pools' usage tracked in memory in start-time order (POOL-5's split, the
  dial-out 80%/100% emails, `pools.dialout_alerts`);
- the ledger: a prepaid tenant's charges go into bulk entries (FUND-10,
  `cdr_posting.ChunkLedger`: FIFO over lots, debt, the depletion email, auto-recharge),
  an MCA tenant's through `postpaid.charge_postpaid_in`, call by call (POST-1);
- the rows are written with a few bulk statements (`CdrBatchRepository`).

When a charge queues an auto-recharge (AR-2), the chunk ends right after that record and is
committed, and the recharge is processed before the next record, as it is one by one.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from commcredits.domain.authorization import CREDITS_CAPABILITY, Allowed, Denied, Funding
from commcredits.domain.calls import CallSource, CallStatus
from commcredits.domain.errors import DomainError
from commcredits.domain.money import Money, from_micros
from commcredits.domain.pools import PoolRef, month_of, parse_pool_key
from commcredits.domain.rating import RateTerms
from commcredits.domain.settlement import settle_call
from commcredits.domain.tenants import Tenant
from commcredits.services import pools, postpaid
from commcredits.services.call_rating import CallRequest, Rated, Rater
from commcredits.services.cdr_posting import ChunkLedger
from commcredits.services.context import Services
from commcredits.services.ports import CdrBatch, UnitOfWork

_CDR, _ENDED = CallSource.CDR.value, CallStatus.ENDED.value


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed CDR: its line in the file, the request, and the duration in seconds."""

    line: int
    req: CallRequest
    duration: int


@dataclass
class ChunkResult:
    """What one chunk did: ``consumed`` records were handled (accepted, duplicate or
    rejected); ``recharge_request`` is the auto-recharge the last one queued."""

    consumed: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    recharge_request: str | None = None


class ImportState:
    """What holds for one chunk of an import (one tenant, one currency), across its runs:
    the rating kernel and its memos, the numbering of the bulk entries, and the chunk's
    keys already stored."""

    def __init__(self, svc: Services, tenant: Tenant, now: datetime,
                 call_ids: Sequence[str]) -> None:
        self.svc = svc
        self.tenant = tenant
        self.currency = tenant.currency
        self.now = now
        self.rater = Rater(svc, tenant, epochs=True)
        self.pool_refs: dict[str, PoolRef] = {}
        # The import's bulk charge entries are `cdr-batch:<batch_id>:<n>` (FUND-10).
        self.batch_id = uuid.uuid4().hex
        self.entries = 0
        self.call_ids = list(dict.fromkeys(call_ids))
        self._stored: set[tuple[str, str]] | None = None

    def stored(self, uow: UnitOfWork) -> set[tuple[str, str]]:
        """The (call id, usage id) keys already stored among the chunk's call ids (CALL-9),
        with those this chunk's runs wrote since: read once per chunk, under the tenant
        lock of its first run, not once per run (a chunk with many auto-recharges has many
        runs). A row a concurrent import stored since then still refuses the run that
        writes it again (`CdrBatchRepository.write`), which `forget_stored` follows."""
        if self._stored is None:
            self._stored = uow.cdr_batch.existing(self.tenant.id, self.call_ids)
        return self._stored

    def forget_stored(self) -> None:
        """A run was rolled back: what it added to `stored` is not stored; read again."""
        self._stored = None

    def at(self, now: datetime) -> None:
        """The moment the next chunk is charged at (each chunk reads the clock once)."""
        self.now = now

    def pool_ref(self, key: str) -> PoolRef:
        found = self.pool_refs.get(key)
        if found is None:
            found = self.pool_refs[key] = parse_pool_key(key)
        return found



def _reject(result: ChunkResult, line: int, code: str, message: str) -> None:
    result.rejected.append({"line": line, "reason": code, "message": message})


class _Chunk:
    """One chunk's writes: the batch, the ledger (opened by the first charge), the pools'
    added usage."""

    def __init__(self, uow: UnitOfWork, state: ImportState, size: int) -> None:
        self.uow = uow
        self.state = state
        self.size = size
        self.batch = CdrBatch([], [], [], {}, [])
        self.ledger: ChunkLedger | None = None
        self.added: dict[tuple[str, str], int] = {}

    def balance(self) -> Money:
        """The balance as charging the calls one by one would read it now."""
        if self.ledger is not None:
            return self.ledger.money(self.ledger.balance)
        return self.uow.credits.account(self.state.tenant.id, lock=True).balance

    def use_pool(self, key: str, start: datetime, duration: int, funding: str | None,
                 capability: str | None, terms: RateTerms | None, row: str) -> Any:
        """POOL-5 for one pool call: the split, the usage and the dial-out emails."""
        state, uow, tid, now = self.state, self.uow, self.state.tenant.id, self.state.now
        rater = state.rater
        month = month_of(start)
        ref = state.pool_ref(key)
        assert rater.index is not None
        capacity = rater.index.capacity(ref, start)
        used = rater.used(uow, month, key)
        cost = settle_call(funding, capability, terms, duration, capacity - used)
        covered = cost.pool_minutes
        if covered:
            rater.use(month, key, covered)
            self.added[(month, key)] = self.added.get((month, key), 0) + covered
            pools.dialout_alerts(uow, tid, ref, month, used + covered, capacity,
                                 self.balance(), now)
        self.batch.pool_consumptions.append((month, key, f"call:{row}", duration, covered,
                                             cost.uncovered_seconds, now))
        return cost

    def charge(self, req: CallRequest, usage_id: str, rated: Rated, amount: int,
               capability: str | None) -> tuple[int | None, str | None]:
        """One call's charge: (the entry that paid it, a queued auto-recharge)."""
        state, uow, tenant = self.state, self.uow, self.state.tenant
        reference = f"call:{req.call_id}:{usage_id}"
        if state.rater.on_mca:  # ACCT-6, POST-1: prepaid first, then the statement
            split = postpaid.charge_postpaid_in(
                uow, tenant.id, Money(from_micros(amount), state.currency),
                capability=capability or CREDITS_CAPABILITY,
                country=(rated.external_country or "")[:2] or tenant.country,
                reference=reference, at=state.now, description=f"Call {req.call_id}")
            return split.entry_id, None
        if self.ledger is None:
            self.ledger = ChunkLedger(uow, tenant.id, state.now, self.size, state.batch_id,
                                      state.entries)
        # A call whose live ledger key is already taken refuses the chunk (`write`).
        self.batch.call_keys.append(reference)
        return self.ledger.charge(amount)


def apply_chunk(uow: UnitOfWork, state: ImportState, records: Sequence[Record]) -> ChunkResult:
    """Rate and charge ``records`` (start-time order) in ``uow``, which the caller commits.
    Stops early when a charge queued an auto-recharge (``recharge_request``)."""
    result = ChunkResult()
    tid = state.tenant.id
    uow.credits.account(tid, lock=True)  # the tenant lock, first
    existing = state.stored(uow)
    rater = state.rater
    rater.start_batch(uow)
    now = state.now
    chunk = _Chunk(uow, state, len(records))
    # Row ids: 32 hex digits like uuid4().hex, but in insertion order (the chunk's clock
    # reading, the record's position, 10 random digits), so the primary key index is
    # appended to rather than written all over.
    prefix = f"{time.time_ns() & (1 << 64) - 1:016x}"
    noise = os.urandom(5 * len(records)).hex()
    for position, record in enumerate(records):
        req, duration = record.req, record.duration
        usage_id = req.usage_id or req.call_id
        result.consumed = position + 1
        if (req.call_id, usage_id) in existing:
            result.duplicates += 1
            continue
        try:
            rated = rater.rate_call(uow, req, None)
        except DomainError as exc:
            _reject(result, record.line, exc.code, exc.message)
            continue
        decision = rated.decision
        if isinstance(decision, Denied):
            _reject(result, record.line, decision.code, decision.message)
            continue
        assert isinstance(decision, Allowed)
        row = f"{prefix}{position:06x}{noise[10 * position:10 * position + 10]}"
        funding = decision.funding.value
        terms = rated.rate.terms if rated.rate is not None else None
        if decision.funding is Funding.POOL and rated.pool_key:
            cost = chunk.use_pool(rated.pool_key, req.start, duration, funding,
                                  decision.capability, terms, row)
        else:
            cost = settle_call(funding, decision.capability, terms, duration, None)
        entry_id: int | None = None
        if cost.amount > 0:
            entry_id, request = chunk.charge(req, usage_id, rated, cost.amount,
                                             cost.capability)
            if request is not None:
                result.recharge_request = request
        chunk.batch.calls.append((
            row, tid, req.call_id, usage_id, _CDR, _ENDED, req.call_type.value,
            rated.user_id, rated.upn, rated.display_name, rated.user_location, req.caller,
            req.callee, req.conference_id, rated.number_type, rated.domestic,
            rated.destination_name, (rated.external_country or "")[:2] or None,
            req.start, req.start + timedelta(seconds=duration), duration, funding,
            cost.capability, rated.pool_key, cost.pool_minutes, rated.rate_id,
            state.currency, 0, None, None, duration, now, cost.fee, cost.amount, entry_id,
            None, None, None,
        ))
        existing.add((req.call_id, usage_id))
        result.accepted += 1
        if result.recharge_request:
            break
    ledger = chunk.ledger
    if ledger is not None:
        ledger.finish(chunk.batch)
    uow.cdr_batch.write(tid, chunk.batch)
    if ledger is not None:
        state.entries = ledger.entry_no  # numbered on by the next chunk, once this one stands
    for (month, key), minutes in chunk.added.items():
        uow.pools.add_usage(tid, month, key, minutes, now)
    return result
