"""Call records in batch (CDR-1, CDR-2): CSV or JSON lines with the PSTN usage export's
column names, rated and charged exactly once each, in start-time order, by the same rules as
live calls.

A malformed file (encoding, header, JSON) is refused whole. Otherwise each row is applied or
reported with its line number and reason, and none of a rejected row is applied.

Two paths, one result:

- the batch path (default): runs of outbound user calls are rated and charged set-based,
  one transaction per chunk of up to `CHUNK` records (`services.cdr_batch`);
- the single-call path: one transaction per record through `calls.rate_call` and
  `calls.settle_in`, the live path's own functions. It takes every record the batch path
  does not handle (other call types, MCA tenants, a chunk whose write finds a ledger key
  already used or that raises a refusal), in its place
  in start-time order, and it is the reference the batch path is tested against
  (``vectorized=False`` runs a whole file through it).
"""

from __future__ import annotations

import _csv
import csv
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from commcredits.domain.authorization import Denied
from commcredits.domain.calls import CallSource, CallStatus, CallType
from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.domain.reports import RETENTION_DAYS
from commcredits.domain.tenants import BillingAccountType, Tenant
from commcredits.domain.text import check_json_line, read_upload
from commcredits.services import calls, cdr_batch
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.recharge import process_request

REQUIRED = ("Call ID", "Call Type", "Caller ID", "Destination Number", "Start Time",
            "Duration Seconds")
MAX_ROWS = 1_000_000
# A record may start at most this long before the import (the longest retention, REP-1's
# "Retention": an older call would never be shown) and this long after it (clock skew, and
# files of test calls made ahead of a simulated clock); docs/decisions.md.
MAX_AGE = timedelta(days=max(RETENTION_DAYS.values()))
MAX_AHEAD = timedelta(days=7)
CHUNK = 10_000  # records per transaction on the batch path


@dataclass
class CdrReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    batched: int = 0  # records handled by the batch path (accepted, duplicate or rejected)
    one_by_one: int = 0  # records the batch path left to the single-call path


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("INVALID_CDR_FILE", message + " Nothing was imported.")


def _text(data: bytes | str) -> str:
    """The file's text, through the one upload reader (UTF-8, no NUL, ERR-1)."""
    return read_upload(data, lambda _: _refuse("The file must be UTF-8 text."))


def parse(data: bytes | str) -> list[tuple[int, dict[str, Any]]]:
    """Rows with their line numbers, from CSV (header row) or JSON lines."""
    text = _text(data)
    stripped = text.lstrip()
    if not stripped:
        raise _refuse("The file is empty.")
    rows: list[tuple[int, dict[str, Any]]] = []
    if stripped.startswith("{"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                raise _refuse(f"Line {number} is not JSON.") from None
            if not isinstance(value, dict):
                raise _refuse(f"Line {number} is not a JSON object.")
            check_json_line(value, number)
            rows.append((number, value))
    else:
        reader = csv.DictReader(io.StringIO(text))
        try:
            header = reader.fieldnames or []
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise InvalidInput(
                    "INVALID_CDR_FILE",
                    f"The header lacks {', '.join(missing)}; use the PSTN usage export's "
                    "column names. Nothing was imported.", {"missing": missing},
                )
            for row in reader:
                rows.append((reader.line_num, dict(row)))
        except csv.Error as exc:
            raise _not_csv(reader.reader.line_num, exc) from None
    if len(rows) > MAX_ROWS:
        raise _refuse(f"At most {MAX_ROWS} records per file.")
    return rows


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
    svc: Services, principal: Principal, tenant_id: str, data: bytes | str,
    *, progress: Callable[[int, int], None] | None = None, vectorized: bool = True,
) -> CdrReport:
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.CALL_CONTROL)
    report = CdrReport()
    records = _records(data, report, svc.clock.now())
    records.sort(key=lambda r: (r.req.start, r.line))
    if progress is not None:
        progress = _counting_data_rows(progress, len(report.rejected))
        progress(0, len(records))
    if vectorized:
        _apply_batched(svc, tenant, records, report, progress)
    else:
        for done, record in enumerate(records, start=1):
            _apply_one(svc, tenant_id, record, report)
            if progress:
                progress(done, len(records))
    report.rejected.sort(key=lambda r: int(r["line"]))
    return report


def _counting_data_rows(
    progress: Callable[[int, int], None], refused: int,
) -> Callable[[int, int], None]:
    """`progress(done, total)` in data rows of the file: the rows refused while parsing count
    as done from the start, so the total is every data row (no header, no blank lines)."""
    def tell(done: int, total: int) -> None:
        progress(refused + done, refused + total)
    return tell


def _records(data: bytes | str, report: CdrReport, now: datetime) -> list[cdr_batch.Record]:
    """Parse and validate every row; the invalid ones go to the report (CDR-1), with those
    that start outside [now - `MAX_AGE`, now + `MAX_AHEAD`]."""
    records: list[cdr_batch.Record] = []
    earliest, latest = now - MAX_AGE, now + MAX_AHEAD
    for line, row in _rows(data):
        if isinstance(row, cdr_batch.Record):
            record = row
        else:
            try:
                req, duration = _request(row)
            except DomainError as exc:
                report.rejected.append({"line": line, "reason": exc.code,
                                        "message": exc.message})
                continue
            record = cdr_batch.Record(line, req, duration)
        if earliest <= record.req.start <= latest:
            records.append(record)
        else:
            report.rejected.append({
                "line": line, "reason": "INVALID_CDR",
                "message": f"Start Time must be from {earliest:%Y-%m-%dT%H:%M:%SZ} "
                           f"({MAX_AGE.days} days ago) to {latest:%Y-%m-%dT%H:%M:%SZ} "
                           f"({MAX_AHEAD.days} days ahead).",
            })
    return records


def _rows(data: bytes | str) -> list[tuple[int, dict[str, Any] | cdr_batch.Record]]:
    """`parse`, except that a CSV row that passes `_quick` comes back as a Record already."""
    text = _text(data)
    if text.lstrip().startswith("{") or not text.strip():
        return list(parse(text))
    reader = csv.reader(io.StringIO(text))
    try:
        return _csv_rows(text, reader)
    except csv.Error as exc:
        raise _not_csv(reader.line_num, exc) from None


def _not_csv(line: int, exc: csv.Error) -> InvalidInput:
    """Python's CSV reader stopped (a field over 131,072 characters, a NUL byte): the whole
    file is refused, at that line (CDR-1)."""
    return InvalidInput(
        "INVALID_CDR_FILE",
        f"The file is not valid CSV at line {line} ({exc}). Nothing was imported.",
        {"line": line},
    )


def _csv_rows(
    text: str, reader: _csv.Reader,
) -> list[tuple[int, dict[str, Any] | cdr_batch.Record]]:
    """The rows of a CSV file with a header, read by ``reader`` (a `csv.reader`)."""
    header: list[str] = next(reader, [])
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return list(parse(text))  # refuses with the message that names the columns
    where = {name: header.index(name) for name in reversed(header)}  # first wins
    index = tuple(where.get(c, -1) for c in _QUICK_COLUMNS)
    rows: list[tuple[int, dict[str, Any] | cdr_batch.Record]] = []
    width = len(header)
    for values in reader:
        if not values:
            continue  # DictReader skips blank lines
        line = reader.line_num
        if len(rows) >= MAX_ROWS:
            raise _refuse(f"At most {MAX_ROWS} records per file.")
        found = _quick(line, values, index) if len(values) == width else None
        if found is not None:
            rows.append((line, found))
            continue
        row: dict[Any, Any] = dict(zip(header, values, strict=False))
        if len(values) > width:
            row[None] = values[width:]
        for name in header[len(values):]:
            row[name] = None
        rows.append((line, row))
    return rows


_QUICK_COLUMNS = ("Call ID", "Call Type", "UPN", "Caller ID", "Destination Number",
                  "Start Time", "Duration Seconds", "UsageId", "Conference ID")


def _quick(line: int, v: list[str], index: tuple[int, ...]) -> cdr_batch.Record | None:
    """A well-formed CSV row as a Record, checked as `_request` checks it; None for any row
    that is not plainly valid (`_request` then reports exactly why, or accepts it)."""
    i_id, i_type, i_upn, i_caller, i_callee, i_start, i_dur, i_usage, i_conf = index
    call_id = v[i_id].strip()
    call_type = v[i_type].strip()
    caller = v[i_caller].strip()
    callee = v[i_callee].strip()
    if not (call_id and caller and callee) or call_type not in calls.CALL_TYPES \
            or len(v[i_id]) > 64 or len(v[i_type]) > 32 or len(v[i_caller]) > 64 \
            or len(v[i_callee]) > 64:
        return None
    ok_user, user = _optional(v[i_upn], 128) if i_upn >= 0 else (True, None)
    ok_usage, usage_id = _optional(v[i_usage], 64) if i_usage >= 0 else (True, None)
    ok_conf, conference_id = _optional(v[i_conf], 64) if i_conf >= 0 else (True, None)
    if not (ok_user and ok_usage and ok_conf):
        return None
    raw = v[i_dur].strip()
    if not raw.isdigit() or int(raw) > 86_400:
        return None
    try:
        start = datetime.fromisoformat(v[i_start].strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if start.tzinfo is None:
        return None
    return cdr_batch.Record(line, calls.CallRequest(
        call_id=call_id, call_type=CallType(call_type), user=user, caller=caller, callee=callee,
        start=start, usage_id=usage_id, conference_id=conference_id,
    ), int(raw))


def _optional(value: str, limit: int) -> tuple[bool, str | None]:
    """An optional text column as `calls.parse_request` takes it: (True, None) when empty,
    (True, the stripped text), or (False, None) when it would be refused."""
    if not value:
        return True, None
    stripped = value.strip()
    if not stripped or len(value) > limit:
        return False, None
    return True, stripped


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
