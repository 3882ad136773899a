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

One engine (CDR-2): each chunk's records are rated and charged by `services.cdr_batch`, with
the rating kernel and the settlement live calls use, one transaction per run (a run ends
after a charge that queued an auto-recharge, which is processed before the next record). A
run that raises a refusal as a whole (a row already stored by a concurrent import, a ledger
key already taken) is rolled back and its records are applied again as batches of one,
each applied or rejected with its line and reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.domain.reports import RETENTION_DAYS
from commcredits.domain.tenants import Tenant
from commcredits.services import calls, cdr_batch, cdr_reader
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.recharge import process_request

REQUIRED = cdr_reader.REQUIRED
# A record may start at most this long before the import (the longest retention, REP-1's
# "Retention": an older call would never be shown) and this long after it (clock skew, and
# files of test calls made ahead of a simulated clock); docs/decisions.md.
MAX_AGE = timedelta(days=max(RETENTION_DAYS.values()))
MAX_AHEAD = timedelta(days=7)
CHUNK = 10_000  # data rows per chunk: read, sorted and committed before the next is read

Progress = Callable[[int, int], None]


LISTED_REJECTIONS = 10_000  # rejected rows a report lists by line; the rest are counted


@dataclass
class CdrReport:
    """What an import did. ``duplicates`` counts the rows already stored (CALL-9's keys),
    such as those a crashed import of the same file committed (CDR-3). ``rejected`` lists
    the first `LISTED_REJECTIONS` rejected rows by line and ``rejected_total`` counts them
    all, so a file of any size (CDR-3) reports in memory that does not grow with it."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    unlisted: int = 0  # rejected rows beyond the listed ones

    @property
    def rejected_total(self) -> int:
        return len(self.rejected) + self.unlisted

    def trim(self) -> None:
        """Keep the first `LISTED_REJECTIONS` rejected rows by line (chunks come in file
        order, so a later chunk's rows never come before a kept one)."""
        self.rejected.sort(key=lambda r: int(r["line"]))
        if len(self.rejected) > LISTED_REJECTIONS:
            self.unlisted += len(self.rejected) - LISTED_REJECTIONS
            del self.rejected[LISTED_REJECTIONS:]


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
    *, progress: Progress | None = None,
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
        _apply_chunked(svc, tenant, records, report, tell)
        done += size
        report.trim()
        if progress is not None:
            progress(done, total)
    report.trim()
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


def _apply_chunked(
    svc: Services, tenant: Tenant, records: list[cdr_batch.Record], report: CdrReport,
    progress: Callable[[int, int], None] | None,
) -> None:
    """The chunk's records in runs, each in its own transaction (see the module docstring)."""
    state = cdr_batch.ImportState(svc, tenant, svc.clock.now(),
                                  [r.req.call_id for r in records])
    total, i = len(records), 0
    while i < total:
        j = min(total, i + CHUNK)
        result = _run(svc, state, records[i:j])
        if result is None:  # refused as a whole: each record as a batch of one
            for record in records[i:j]:
                one = _run(svc, state, [record])
                if isinstance(one, DomainError):
                    report.rejected.append({"line": record.line, "reason": one.code,
                                            "message": one.message})
                elif one is not None:
                    _add(report, one)
                    if one.recharge_request:
                        process_request(svc, tenant.id, one.recharge_request)
            i = j
        elif isinstance(result, DomainError):  # a run of one, refused
            report.rejected.append({"line": records[i].line, "reason": result.code,
                                    "message": result.message})
            i = j
        else:
            _add(report, result)
            i += result.consumed
            if result.recharge_request:
                process_request(svc, tenant.id, result.recharge_request)
        if progress:
            progress(i, total)


def _run(svc: Services, state: cdr_batch.ImportState, records: list[cdr_batch.Record],
         ) -> cdr_batch.ChunkResult | DomainError | None:
    """One run in its own transaction: its result, or (nothing written) the refusal of a
    single record, or None for a run of several that was refused."""
    state.at(svc.clock.now())
    try:
        with svc.uow() as uow:
            result = cdr_batch.apply_chunk(uow, state, records)
            uow.commit()
    except DomainError as exc:
        state.forget_stored()
        return exc if len(records) == 1 else None
    return result


def _add(report: CdrReport, result: cdr_batch.ChunkResult) -> None:
    report.accepted += result.accepted
    report.duplicates += result.duplicates
    report.rejected.extend(result.rejected)
