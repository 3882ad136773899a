"""CLI group `rates`: import a rate table CSV (RATE-3), list a currency's versions, and
import the USD, EUR and GBP sample tables.

Like the rest of the CLI it works on the database as the operator. A refused table prints
``error INVALID_RATE_TABLE: …`` and then every bad line with its number, exit status 2.
`main.py` registers this group at its end, so import the CLI through `main`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from commcredits.domain.errors import InvalidInput
from commcredits.entrypoints.cli.common import Db, err, friendly, out, runtime
from commcredits.services import rates
from commcredits.services.auth import OPERATOR_CLI
from commcredits.services.rates import RateTableInfo

rates_app: typer.Typer = typer.Typer(
    help="Rate tables per currency: import a CSV version, list versions, sample tables.",
    no_args_is_help=True)

Currency = Annotated[str, typer.Argument(help="ISO 4217 currency, e.g. USD.")]


def _table(title: str, rows: list[RateTableInfo]) -> Table:
    table = Table(title=title)
    for h in ("currency", "version", "rows", "imported at", "source"):
        table.add_column(h)
    for r in rows:
        table.add_row(r.currency, str(r.version), f"{r.rows:,}",
                      r.imported_at.isoformat().replace("+00:00", "Z"), r.source)
    return table


def _imported(r: RateTableInfo) -> str:
    return (f"Imported {r.currency} rate table version {r.version}: {r.rows:,} rows "
            f"({r.source})")


@rates_app.command("import")
def rates_import(
    currency: Currency,
    file: Annotated[Path, typer.Argument(help="The rate table CSV (see README).",
                                         exists=True, dir_okay=False, readable=True)],
    db: Db = None,
) -> None:
    """Import FILE as the currency's next table version, all or nothing."""
    refusal = _import(currency, file, db)
    if refusal is not None:
        err.print(f"[bold red]error[/] {refusal.code}: {refusal.message}")
        for row in refusal.details.get("errors", []):
            err.print(f"  line {row['line']}: {row['error']}")
        raise typer.Exit(2)


@friendly
def _import(currency: str, file: Path, db: str | None) -> InvalidInput | None:
    """Import the file and print the version; a refused table comes back to be printed."""
    data = file.read_bytes()
    with runtime(db) as rt:
        try:
            with err.status(f"Importing {file.name} ({len(data):,} bytes) …"):
                info = rates.import_table(rt.services, OPERATOR_CLI, currency, data, file.name)
        except InvalidInput as exc:
            return exc
    out.print(_imported(info))
    return None


@rates_app.command("list")
@friendly
def rates_list(currency: Currency, db: Db = None) -> None:
    """The currency's table versions, oldest first."""
    with runtime(db) as rt:
        rows = rates.list_tables(rt.services, OPERATOR_CLI, currency)
    if not rows:
        out.print(f"No {currency.upper()} rate table yet.")
        return
    out.print(_table(f"{currency.upper()} rate tables", rows))


@rates_app.command("sample")
@friendly
def rates_sample(db: Db = None) -> None:
    """Import the USD, EUR and GBP sample tables (SAMPLE DATA, not a carrier's tariff)."""
    with runtime(db) as rt, err.status("Importing the sample rate tables …"):
        done = rates.import_samples(rt.services, OPERATOR_CLI)
    for info in done:
        out.print(_imported(info))
