"""Call records in batch (CDR-1, CDR-2): CSV or JSON lines with the PSTN usage export's
column names, rated and charged exactly once each, in start-time order, through the same
path as live calls (`calls.rate_call` and `calls.settle_in`).

A malformed file (encoding, header, JSON) is refused whole. Otherwise each row is applied in
its own transaction or reported with its line number and reason, and none of a rejected row
is applied.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from commcredits.domain.authorization import Denied
from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.services import calls
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.recharge import process_request

REQUIRED = ("Call ID", "Call Type", "Caller ID", "Destination Number", "Start Time",
            "Duration Seconds")
MAX_ROWS = 1_000_000


@dataclass
class CdrReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("INVALID_CDR_FILE", message + " Nothing was imported.")


def parse(data: bytes | str) -> list[tuple[int, dict[str, Any]]]:
    """Rows with their line numbers, from CSV (header row) or JSON lines."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise _refuse("The file must be UTF-8 text.") from None
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
            rows.append((number, value))
    else:
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InvalidInput(
                "INVALID_CDR_FILE",
                f"The header lacks {', '.join(missing)}; use the PSTN usage export's column "
                "names. Nothing was imported.", {"missing": missing},
            )
        for row in reader:
            rows.append((reader.line_num, dict(row)))
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
    *, progress: Callable[[int, int], None] | None = None,
) -> CdrReport:
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.CALL_CONTROL)
    rows = parse(data)
    report = CdrReport()
    parsed: list[tuple[int, calls.CallRequest, int]] = []
    for line, row in rows:
        try:
            req, duration = _request(row)
        except DomainError as exc:
            report.rejected.append({"line": line, "reason": exc.code, "message": exc.message})
            continue
        parsed.append((line, req, duration))
    parsed.sort(key=lambda item: (item[1].start, item[0]))
    for done, (line, req, duration) in enumerate(parsed, start=1):
        try:
            outcome = _apply(svc, tenant_id, req, duration)
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
        if progress:
            progress(done, len(parsed))
    report.rejected.sort(key=lambda r: int(r["line"]))
    return report


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
        row_id = uuid.uuid4().hex
        uow.calls.add(tenant_id, {
            "id": row_id, "call_id": req.call_id, "usage_id": usage_id, "source": "cdr",
            "status": "authorized", "call_type": req.call_type, "caller": req.caller,
            "callee": req.callee, "conference_id": req.conference_id, "start_at": req.start,
            "currency": tenant.currency, "reserved": 0, "max_seconds": None,
            "granted_seconds": None, "used_seconds": 0, "last_update_at": now,
            "decision": {"reply": {}, "rate": calls.rate_snapshot(rated.rate)},
            **calls.report_fields(rated),
        })
        call = uow.calls.get(tenant_id, req.call_id, usage_id)
        request_id = calls.settle_in(svc, uow, tenant_id, call, duration, now)
        uow.commit()
    if request_id:
        process_request(svc, request_id)
    return "accepted"
