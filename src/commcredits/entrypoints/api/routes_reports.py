"""The /api/v1 PSTN usage report (REP-1, REP-2, REP-4): JSON pages, or a ZIP or XLSX file.

Files are built into a spooled temporary file (memory up to 8 MiB, then disk) row by row and
streamed back in chunks, so no export is held in memory whole. Every refusal (range, filters,
access) is raised before the file is started, so it gets the usual error envelope.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import IO, Annotated, Any

from fastapi import Query
from fastapi.responses import StreamingResponse

from commcredits.adapters.exports import usage as exports
from commcredits.domain.errors import InvalidInput
from commcredits.entrypoints.api.deps import PrincipalDep, ServicesDep
from commcredits.entrypoints.api.routing import api_router
from commcredits.services import reports

router = api_router()
SPOOL_BYTES = 8 * 1024 * 1024
CHUNK = 64 * 1024
FORMATS = ("json", "zip", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def _stream(file: IO[bytes]) -> Iterator[bytes]:
    try:
        file.seek(0)
        while chunk := file.read(CHUNK):
            yield chunk
    finally:
        file.close()


def export_file(report: reports.PstnUsage, format: str) -> StreamingResponse:
    """The whole report as a ZIP (CSV + parameters.json) or XLSX attachment, streamed from a
    spooled temporary file. The admin center's Export buttons use this too."""
    export_id = uuid.uuid4().hex
    file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by _stream
    try:
        if format == "zip":
            exports.write_zip(file, export_id, report.columns, report, report.parameters())
            name, media = exports.zip_name(export_id), "application/zip"
        else:
            exports.write_xlsx(file, report.columns, report)
            name, media = f"Export.callingplans.{export_id}.xlsx", XLSX_TYPE
    except BaseException:
        file.close()
        raise
    return StreamingResponse(_stream(file), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/tenants/{tid}/reports/pstn-usage", tags=["reports"], response_model=None)
def pstn_usage(
    tid: str, svc: ServicesDep, who: PrincipalDep,
    period: Annotated[str | None, Query(max_length=8)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    user: Annotated[str | None, Query(max_length=128)] = None,
    call_type: Annotated[str | None, Query(max_length=32)] = None,
    capability: Annotated[str | None, Query(max_length=32)] = None,
    format: Annotated[str, Query(max_length=8)] = "json",
    limit: Annotated[int, Query(ge=1, le=reports.MAX_LIMIT)] = reports.PAGE,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any] | StreamingResponse:
    """One row per finished call in the Calling Plans export columns. ``format=json`` gives a
    page of at most ``limit`` rows with the ``next`` cursor; ``zip`` and ``xlsx`` give the
    whole range as an attachment."""
    if format not in FORMATS:
        raise InvalidInput("INVALID_FORMAT", "The format must be json, zip or xlsx.",
                           {"format": format, "allowed": list(FORMATS)})
    report = reports.pstn_usage(svc, who, tid, period=period, start=start, end=end, user=user,
                                call_type=call_type, capability=capability)
    if format == "json":
        rows, following = report.page(limit, cursor)
        return {
            "parameters": report.parameters(), "columns": list(report.columns),
            "rows": [dict(zip(report.columns, map(_json_value, r), strict=True))
                     for r in rows],
            "next": following,
        }
    return export_file(report, format)
