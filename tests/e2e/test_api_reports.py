"""The PSTN usage report through HTTP and the CLI (REP-1, REP-2, REP-4, AUTH-1, ERR-1):
JSON pages with a cursor, ZIP and XLSX attachments, refusals with the envelope, readers."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from commcredits.adapters.clock import FixedClock
from commcredits.entrypoints.cli.main import app
from commcredits.services.context import Services
from tests.e2e.conftest import OPERATOR_HEADERS, Api, assert_envelope, snapshot
from tests.integration.test_reports import REP1_COLUMNS, seed

runner = CliRunner(env={"COLUMNS": "250"})
RANGE = "from=2026-02-01T00:00:00Z&to=2026-02-21T00:00:00Z"


def report_url(tid: str, query: str = "period=28d") -> str:
    return f"/tenants/{tid}/reports/pstn-usage?{query}"


@pytest.mark.rule("REP-1")
@pytest.mark.rule("AUTH-1")
def test_a_reader_pages_through_the_report_as_json_with_a_cursor(
    api: Api, svc: Services, clock: FixedClock,
) -> None:
    tid = seed(svc, clock)
    reader = api.key(tid, "reader")
    r = api.get(report_url(tid, "period=28d&limit=3"), key=reader)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["columns"] == REP1_COLUMNS
    assert [row["Call ID"] for row in first["rows"]] == ["old1", "in1", "us1"]
    # 28 whole UTC days, today (2026-02-20) included
    assert {k: first["parameters"][k] for k in ("from", "to", "first_day", "last_day")} == {
        "from": "2026-01-24T00:00:00Z", "to": "2026-02-21T00:00:00Z",
        "first_day": "2026-01-24", "last_day": "2026-02-20"}
    assert list(first["rows"][0]) == REP1_COLUMNS
    r = api.get(report_url(tid, f"period=28d&limit=3&cursor={first['next']}"), key=reader)
    second = r.json()
    assert [row["Call ID"] for row in second["rows"]] == ["gb1", "live1"]
    assert second["next"] is None
    gb = second["rows"][0]
    assert (gb["Start Time"], gb["Charge"], gb["Duration Seconds"]) == \
        ("2026-02-19T08:00:00Z", "0.24", 61)


@pytest.mark.rule("REP-1")
@pytest.mark.rule("ERR-1")
@pytest.mark.parametrize(("query", "status", "code"), [
    ("from=2025-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", 422, "RANGE_TOO_LONG"),
    ("from=2026-02-10T00:00:00Z&to=2026-02-01T00:00:00Z", 422, "INVALID_RANGE"),
    ("period=90d", 422, "INVALID_PERIOD"),
    ("period=7d&format=pdf", 422, "INVALID_FORMAT"),
    ("period=7d&cursor=zzz", 422, "INVALID_CURSOR"),
    ("period=7d&limit=1001", 422, "VALIDATION_ERROR"),
])
def test_bad_ranges_and_options_are_refused_with_the_envelope_and_change_nothing(
    api: Api, svc: Services, clock: FixedClock, engine: Engine, query: str, status: int,
    code: str,
) -> None:
    tid = seed(svc, clock)
    before = snapshot(api, engine, tid)
    assert_envelope(api.get(report_url(tid, query)), status, code)
    assert snapshot(api, engine, tid) == before


@pytest.mark.rule("AUTH-2")
def test_another_tenant_cannot_read_the_report(
    api: Api, svc: Services, clock: FixedClock,
) -> None:
    tid = seed(svc, clock)
    other = api.tenant(name="Fabrikam")
    key = api.key(other, "global_admin")
    assert_envelope(api.get(report_url(tid), key=key), 404, "TENANT_NOT_FOUND")
    platform = api.key(tid, "platform")
    assert_envelope(api.get(report_url(tid), key=platform), 403, "FORBIDDEN")


@pytest.mark.rule("REP-2")
def test_the_zip_download_is_an_attachment_with_the_csv_and_parameters(
    api: Api, svc: Services, clock: FixedClock,
) -> None:
    tid = seed(svc, clock)
    r = api.get(report_url(tid, "period=28d&user=alice0@contoso.com&format=zip"),
                key=api.key(tid, "reader"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Export.callingplans.')
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        names = archive.namelist()
        rows = list(csv.reader(io.StringIO(archive.read(names[0]).decode(), newline="")))
        params = json.loads(archive.read("parameters.json"))
    assert names[0].startswith("Export.callingplans.") and names[0].endswith(".csv")
    assert rows[0] == REP1_COLUMNS
    assert [row[1] for row in rows[1:]] == ["old1", "in1", "gb1", "live1"]
    assert (params["from"], params["to"], params["user"], params["rows"]) == \
        ("2026-01-24T00:00:00Z", "2026-02-21T00:00:00Z", "alice0@contoso.com", 4)


@pytest.mark.rule("REP-2")
def test_the_xlsx_download_opens_with_typed_cells(
    api: Api, svc: Services, clock: FixedClock,
) -> None:
    tid = seed(svc, clock)
    r = api.get(report_url(tid, "period=28d&call_type=user_out&format=xlsx"))
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].endswith('.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == REP1_COLUMNS
    assert [v[1] for v in values[1:]] == ["old1", "us1", "gb1", "live1"]
    assert [v[REP1_COLUMNS.index("Charge")] for v in values[1:]] == [0.24, 0, 0.24, 0.12]


@pytest.mark.rule("REP-2")
def test_the_cli_writes_csv_zip_and_xlsx_files(
    svc: Services, clock: FixedClock, db_url: str, tmp_path: Path,
) -> None:
    tid = seed(svc, clock)
    base = ["report", "pstn-usage", tid, "--from", "2026-02-01T00:00:00Z",
            "--to", "2026-02-21T00:00:00Z", "--db", db_url]
    for fmt in ("csv", "zip", "xlsx"):
        target = tmp_path / f"usage.{fmt}"
        result = runner.invoke(app, [*base, "--format", fmt, "--output", str(target)])
        assert result.exit_code == 0, result.output
        assert f"wrote 5 rows to {target}" in result.output.replace("\n", "")
        assert "5/5" in result.output  # the progress bar counts data rows, not lines
    text = (tmp_path / "usage.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == REP1_COLUMNS and len(rows) == 6
    with zipfile.ZipFile(tmp_path / "usage.zip") as archive:
        assert "parameters.json" in archive.namelist()
    book = openpyxl.load_workbook(tmp_path / "usage.xlsx")
    assert book.worksheets[0].max_row == 6
    refused = runner.invoke(app, ["report", "pstn-usage", tid, "--from",
                                  "2024-01-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z",
                                  "--output", str(tmp_path / "x.csv"), "--db", db_url])
    assert refused.exit_code != 0
    assert "RANGE_TOO_LONG" in refused.output
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.rule("REP-2")
@pytest.mark.skipif(shutil.which("libreoffice") is None, reason="libreoffice not installed")
def test_libreoffice_converts_the_xlsx(
    api: Api, svc: Services, clock: FixedClock, tmp_path: Path,
) -> None:
    tid = seed(svc, clock)
    r = api.get(report_url(tid, "period=28d&format=xlsx"))
    source = tmp_path / "usage.xlsx"
    source.write_bytes(r.content)
    subprocess.run(["libreoffice", "--headless", "--convert-to", "csv", "--outdir",
                    str(tmp_path), str(source)], check=True, timeout=120)
    assert (tmp_path / "usage.csv").read_text().startswith("UsageId,")


@pytest.mark.rule("REP-2")
@pytest.mark.skipif(shutil.which("libreoffice") is None, reason="libreoffice not installed")
def test_the_exported_csv_opens_in_libreoffice(
    api: Api, svc: Services, clock: FixedClock, tmp_path: Path,
) -> None:
    tid = seed(svc, clock)
    r = api.get(report_url(tid, "period=28d&format=zip"))
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".csv")]
        (tmp_path / "usage.csv").write_bytes(archive.read(name))
    subprocess.run(["libreoffice", "--headless", "--convert-to", "xlsx", "--outdir",
                    str(tmp_path), str(tmp_path / "usage.csv")], check=True, timeout=120,
                   env={**os.environ, "HOME": str(tmp_path)})
    sheet = openpyxl.load_workbook(tmp_path / "usage.xlsx").active
    assert sheet is not None
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:3] == ["UsageId", "Call ID", "Conference ID"]
    assert sheet.max_row > 1


@pytest.mark.rule("REP-1", "REP-2", "REP-3")
def test_each_call_names_the_same_operator_and_duration_source_in_csv_xlsx_and_graph(
    api: Api, svc: Services, clock: FixedClock,
) -> None:
    tid = seed(svc, clock)  # four CDRs and one live call
    with zipfile.ZipFile(io.BytesIO(api.get(report_url(tid, f"{RANGE}&format=zip")).content)) \
            as archive:
        member = next(n for n in archive.namelist() if n.endswith(".csv"))
        csv_rows = list(csv.DictReader(io.StringIO(archive.read(member).decode(), newline="")))
    sheet = openpyxl.load_workbook(io.BytesIO(
        api.get(report_url(tid, f"{RANGE}&format=xlsx")).content)).worksheets[0]
    header, *values = list(sheet.iter_rows(values_only=True))
    xlsx_rows = [dict(zip(header, v, strict=True)) for v in values]
    graph = api.client.get(
        "/graph/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2026-02-01T00:00:00Z,"
        f"toDateTime=2026-02-20T23:59:59Z)?tenant={tid}", headers=OPERATOR_HEADERS).json()

    def seen(rows: list[dict[str, Any]], call: str, operator: str, source: str) -> dict[
            str, tuple[Any, Any]]:
        return {str(r[call]): (r[operator], r[source]) for r in rows}

    in_csv = seen(csv_rows, "Call ID", "Operator", "Source of Call Duration")
    assert in_csv == {"old1": ("Microsoft", "operator"), "in1": ("Microsoft", "operator"),
                      "us1": ("Microsoft", "operator"), "gb1": ("Microsoft", "operator"),
                      "live1": ("Microsoft", "microsoft")}
    assert seen(xlsx_rows, "Call ID", "Operator", "Source of Call Duration") == in_csv
    assert seen(graph["value"], "callId", "operator", "callDurationSource") == in_csv
