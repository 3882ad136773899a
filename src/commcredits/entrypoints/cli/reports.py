"""`commcredits report pstn-usage`: the PSTN usage export to a file, with a progress bar
(REP-1, REP-2). The command joins the `report` group defined in `cli.directory`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from commcredits.adapters.exports import usage as exports
from commcredits.domain.errors import InvalidInput
from commcredits.entrypoints.cli.common import Db, friendly, out, runtime, writable_file
from commcredits.entrypoints.cli.directory import Tenant, report_app
from commcredits.services import reports
from commcredits.services.auth import OPERATOR_CLI

FORMATS = ("csv", "zip", "xlsx")


@report_app.command("pstn-usage")
@friendly
def pstn_usage(
    tenant_id: Tenant,
    output: Annotated[Path, typer.Option("--output", "--out", "-o", help="The file to write.",
                                         dir_okay=False)],
    period: Annotated[str | None, typer.Option(
        help="7d or 28d: that many UTC days, today included (default 7d).")] = None,
    start: Annotated[str | None, typer.Option(
        "--from", help="First UTC day, YYYY-MM-DD (included), or an exact ISO 8601 time.")]
    = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="Last UTC day, YYYY-MM-DD (included; --from = --to is one day), or an "
        "exact ISO 8601 time (not included). Default today.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this UPN.")] = None,
    call_type: Annotated[str | None, typer.Option(help="Only this call type.")] = None,
    capability: Annotated[str | None, typer.Option(help="Only this capability.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, zip or xlsx.")] = "csv",
    db: Db = None,
) -> None:
    """Export the PSTN usage report to a CSV, ZIP or XLSX file.

    One row per call started in the range, in the Calling Plans columns.

    The range is read as the API and the admin center read it."""
    if fmt not in FORMATS:
        raise InvalidInput("INVALID_FORMAT", f"--format {fmt!r}: use csv, zip or xlsx.")
    writable_file(output, "--output")
    with runtime(db) as rt:
        report = reports.pstn_usage(rt.services, OPERATOR_CLI, tenant_id, period=period,
                                    start=start, end=end, user=user, call_type=call_type,
                                    capability=capability)
        total = report.count()
        with Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=out, transient=False,
        ) as bar:
            task = bar.add_task("exporting", total=total)

            def advance(done: int) -> None:
                bar.update(task, completed=done)

            if fmt == "csv":
                with output.open("w", encoding="utf-8", newline="") as text:
                    done = exports.write_csv(text, report.columns, report, advance)
            elif fmt == "zip":
                with output.open("wb") as binary:
                    done = exports.write_zip(binary, uuid.uuid4().hex, report.columns, report,
                                             report.parameters(), advance)
            else:
                with output.open("wb") as binary:
                    done = exports.write_xlsx(binary, report.columns, report, advance)
    out.print(f"wrote {done} rows to {output}: calls started {report.window.describe()}",
              soft_wrap=True)
