"""Call records in batch (CDR-1, CDR-2, CDR-3): CSV or JSON lines with the PSTN usage
export's columns, rated and charged exactly once each, by the same rules as live calls.

Imports stream (CDR-3): `services.cdr_reader` reads the file line by line, twice. A
malformed file (encoding, header, JSON, a CSV field over 131,072 characters) is refused whole
by the first pass, before anything is applied; the second pass parses rows lazily and applies
them in chunks of at most `CHUNK` data rows, each chunk sorted by start time and committed in
its own transaction(s) before the next is read: a committed chunk stays committed, and a file
submitted again after a crash finds its stored rows as duplicates (CALL-9's keys), so nothing
is charged twice. Order is start-time order within a chunk and file order across chunks
(docs/decisions.md). Each row is applied or reported with its line number and reason, and none
of a rejected row is applied.

Two paths, one result:

- the batch path (default): runs of outbound user calls are rated and charged set-based,
  one transaction per run of a chunk (`services.cdr_batch`);
- the single-call path: one transaction per record through `calls.rate_call` and
  `calls.settle_in`, the live path's own functions. It takes every record the batch path
  does not handle (other call types, MCA tenants, a run whose write finds a ledger key
  already used or that raises a refusal), in its place in the chunk's start-time order, and
  it is the reference the batch path is tested against (``vectorized=False`` runs a whole
  file through it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from commcredits.domain.authorization import Denied
from commcredits.domain.calls import CallSource, CallStatus
from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.domain.reports import RETENTION_DAYS
from commcredits.domain.tenants import BillingAccountType, Tenant
from commcredits.services import calls, cdr_batch, cdr_reader
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.recharge import process_request

REQUIRED = cdr_reader.REQUIRED
MAX_ROWS = cdr_reader.MAX_ROWS
# A record may start at most this long before the import (the longest retention, REP-1's
# "Retention": an older call would never be shown) and this long after it (clock skew, and
# files of test calls made ahead of a simulated clock); docs/decisions.md.
MAX_AGE = timedelta(days=max(RETENTION_DAYS.values()))
MAX_AHEAD = timedelta(days=7)
CHUNK = 10_000  # data rows per chunk: read, sorted and committed before the next is read

Progress = Callable[[int, int], None]


@dataclass
class CdrReport:
    """What an import did. ``duplicates`` counts the rows already stored (CALL-9's keys),
    such as those a crashed import of the same file committed (CDR-3)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    batched: int = 0  # records handled by the batch path (accepted, duplicate or rejected)
    one_by_one: int = 0  # records the batch path left to the single-call path


def _start(row: dict[str, Any]) -> datetime:
    value = str(row.get("Start Time") or "").strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("no zone")
    return parsed


def _request(row: dict[str, Any]) -> tuple[calls.CallRequest, int]:
    try:
        start = _start(row)
    except ValueError:
        raise InvalidInput("INVALID_CDR", "Start Time must be ISO 8601 with a zone.") from None
    raw = str(row.get("Duration Seconds") or "").strip()
    if not raw.isdigit() or int(raw) > 86_400:
        raise InvalidInput("INVALID_CDR", "Duration Seconds must be 0 to 86400.")
    body = {
        "call_id": row.get("Call ID"), "call_type": row.get("Call Type"),
        "user": row.get("UPN") or None, "caller": row.get("Caller ID"),
        "callee": row.get("Destination Number"), "start": start,
        "usage_id": row.get("UsageId") or None,
        "conference_id": row.get("Conference ID") or None,
    }
    return calls.parse_request(body, start), int(raw)


def import_cdrs(
    svc: Services, principal: Principal, tenant_id: str, source: cdr_reader.Source,
    *, progress: Progress | None = None, vectorized: bool = True,
) -> CdrReport:
    """Import a file of CDRs: bytes, text, or a seekable binary file read as a stream.

    ``progress(done, total)`` counts data rows (no header, no blank lines); rows refused
    while parsing count as done when their chunk starts."""
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.CALL_CONTROL)
    total = cdr_reader.scan(source)
    report = CdrReport()
    if progress is not None:
        progress(0, total)
    done = 0
    for records, size in read_chunks(source, report, svc.clock.now()):
        records.sort(key=lambda r: (r.req.start, r.line))
        tell = None if progress is None else _offset(progress, done + size - len(records),
                                                     total)
        if vectorized:
            _apply_batched(svc, tenant, records, report, tell)
        else:
            for n, record in enumerate(records, start=1):
                _apply_one(svc, tenant_id, record, report)
                if tell:
                    tell(n, len(records))
        done += size
        if progress is not None:
            progress(done, total)
    report.rejected.sort(key=lambda r: int(r["line"]))
    return report


def _offset(progress: Progress, base: int, total: int) -> Progress:
    """`progress` for one chunk's records: ``done`` of them after ``base`` rows of the file."""
    def tell(done: int, _chunk_total: int) -> None:
        progress(base + done, total)
    return tell


def read_chunks(
    source: cdr_reader.Source, report: CdrReport, now: datetime,
) -> Iterator[tuple[list[cdr_batch.Record], int]]:
    """The file's valid records in chunks of at most `CHUNK` data rows, each with its number
    of data rows; the invalid rows go to the report (CDR-1), with those that start outside
    [now - `MAX_AGE`, now + `MAX_AHEAD`]."""
    earliest, latest = now - MAX_AGE, now + MAX_AHEAD
    records: list[cdr_batch.Record] = []
    size = 0
    for line, row in cdr_reader.rows(source):
        size += 1
        if isinstance(row, cdr_batch.Record):
            record = row
        else:
            try:
                req, duration = _request(row)
            except DomainError as exc:
                report.rejected.append({"line": line, "reason": exc.code,
                                        "message": exc.message})
                record = None
            else:
                record = cdr_batch.Record(line, req, duration)
        if record is not None and earliest <= record.req.start <= latest:
            records.append(record)
        elif record is not None:
            report.rejected.append({
                "line": line, "reason": "INVALID_CDR",
                "message": f"Start Time must be from {earliest:%Y-%m-%dT%H:%M:%SZ} "
                           f"({MAX_AGE.days} days ago) to {latest:%Y-%m-%dT%H:%M:%SZ} "
                           f"({MAX_AHEAD.days} days ahead).",
            })
        if size == CHUNK:
            yield records, size
            records, size = [], 0
    if size:
        yield records, size


def _apply_batched(
    svc: Services, tenant: Tenant, records: list[cdr_batch.Record], report: CdrReport,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Runs of records the batch path handles go in chunks; the rest one by one, in order."""
    state = cdr_batch.ImportState(svc, tenant, svc.clock.now())
    batch_ok = tenant.billing_account_type is not BillingAccountType.MCA
    total, i = len(records), 0
    while i < total:
        if not batch_ok or records[i].req.call_type not in cdr_batch.FAST_TYPES:
            _apply_one(svc, tenant.id, records[i], report)
            report.one_by_one += 1
            i += 1
        else:
            j = i + 1
            while j < total and j - i < CHUNK \
                    and records[j].req.call_type in cdr_batch.FAST_TYPES:
                j += 1
            state.at(svc.clock.now())
            try:
                with svc.uow() as uow:
                    result = cdr_batch.apply_chunk(uow, state, records[i:j])
                    uow.commit()
            except DomainError:
                # Nothing of the chunk was written: let the single-call path apply or reject
                # each of its records, with its line and reason (CDR-1).
                for record in records[i:j]:
                    _apply_one(svc, tenant.id, record, report)
                report.one_by_one += j - i
                i = j
                if progress:
                    progress(i, total)
                continue
            report.accepted += result.accepted
            report.duplicates += result.duplicates
            report.rejected.extend(result.rejected)
            report.batched += result.consumed
            i += result.consumed
            if result.recharge_request:
                process_request(svc, result.recharge_request)
            if result.general is not None:
                if result.general == "mca_tenant":
                    batch_ok = False
                if i < total:
                    _apply_one(svc, tenant.id, records[i], report)
                    report.one_by_one += 1
                    i += 1
        if progress:
            progress(i, total)


def _apply_one(svc: Services, tenant_id: str, record: cdr_batch.Record, report: CdrReport) -> None:
    """The single-call path for one record, its outcome added to the report."""
    line = record.line
    try:
        outcome = _apply(svc, tenant_id, record.req, record.duration)
    except DomainError as exc:
        report.rejected.append({"line": line, "reason": exc.code, "message": exc.message})
    else:
        if outcome == "duplicate":
            report.duplicates += 1
        elif isinstance(outcome, Denied):
            report.rejected.append(
                {"line": line, "reason": outcome.code, "message": outcome.message})
        else:
            report.accepted += 1


def _apply(svc: Services, tenant_id: str, req: calls.CallRequest, duration: int) -> Any:
    """Rate and charge one record in its own transaction (the live path's functions)."""
    now = svc.clock.now()
    request_id: str | None = None
    with svc.uow() as uow:
        tenant = uow.tenants.get(tenant_id)
        assert tenant is not None
        account = uow.credits.account(tenant_id, lock=True)
        usage_id = req.usage_id or req.call_id
        if uow.calls.get(tenant_id, req.call_id, usage_id) is not None:
            return "duplicate"
        rated = calls.rate_call(svc, uow, tenant, req, account.balance, live=False)
        if isinstance(rated.decision, Denied):
            return rated.decision
        call = calls.new_call(tenant, req, rated, row_id=uuid.uuid4().hex, usage_id=usage_id,
                              source=CallSource.CDR, status=CallStatus.AUTHORIZED, now=now)
        uow.calls.add(call)
        request_id = calls.settle_in(svc, uow, tenant_id, call, duration, now)
        uow.commit()
    if request_id:
        process_request(svc, request_id)
    return "accepted"
