"""`commcredits cdr import`: rate a file of call records, with a progress bar (CDR-1).

The file is streamed (CDR-3): opened, not read whole; the bar's total is its number of data
rows, counted by the service's first pass over the file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from commcredits.entrypoints.cli.common import EXIT_ROWS_REJECTED, Db, friendly, out, runtime
from commcredits.services import cdrs
from commcredits.services.auth import OPERATOR_CLI

cdr_app: typer.Typer = typer.Typer(help="Call records (CDRs) in batch.", no_args_is_help=True)


@cdr_app.command("import")
def cdr_import(
    tenant_id: str,
    file: Annotated[Path, typer.Argument(help="CSV (export columns) or JSON lines.",
                                         exists=True, dir_okay=False, readable=True)],
    db: Db = None,
) -> None:
    """Rate and charge each record exactly once, in start-time order within each chunk of
    10,000 rows; a file of any size is read in chunks, in constant memory. Exits 1 when some
    rows were rejected (all are counted, the first 200 listed by line). Run it again after a
    crash: the rows already stored count as duplicates and are not charged again."""
    if _import(tenant_id, file, db):
        raise typer.Exit(EXIT_ROWS_REJECTED)


@friendly
def _import(tenant_id: str, file: Path, db: str | None) -> int:
    """Import the file, print the outcome; returns how many rows were rejected."""
    with file.open("rb") as stream, runtime(db) as rt, Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=out, transient=False,
    ) as bar:
        task = bar.add_task("rating", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = cdrs.import_cdrs(rt.services, OPERATOR_CLI, tenant_id, stream,
                                   progress=advance)
    out.print(f"accepted {report.accepted}, duplicates {report.duplicates}, "
              f"rejected {report.rejected_total}")
    if report.rejected:
        table = Table(title="Rejected rows")
        for h in ("line", "reason", "message"):
            table.add_column(h)
        for r in report.rejected[:200]:
            table.add_row(str(r["line"]), r["reason"], r["message"])
        out.print(table)
    return report.rejected_total
