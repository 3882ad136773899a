"""CLI commands for insight (REP-5): `report spend` and `credits recommendation`.

They register on the existing groups (`report_app` from `directory.py`, `credits_app` from
`credits.py`); `main.py` imports this module at its end, like the other groups.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from commcredits.entrypoints.cli.common import Db, friendly, out, runtime
from commcredits.entrypoints.cli.credits import credits_app
from commcredits.entrypoints.cli.directory import report_app
from commcredits.services import insight
from commcredits.services.auth import OPERATOR_CLI

Tenant = Annotated[str, typer.Argument(help="Tenant id.")]


@report_app.command("spend")
@friendly
def report_spend(
    tenant_id: Tenant,
    group_by: Annotated[str, typer.Option(help="day, user, country or capability.")] = "day",
    start: Annotated[str | None, typer.Option(
        "--from", help="First UTC day, YYYY-MM-DD (included); default 29 days before --to.")]
    = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="Last UTC day, YYYY-MM-DD (included); default today.")] = None,
    db: Db = None,
) -> None:
    """Spend of finished calls per day, user, destination country or capability."""
    with runtime(db) as rt:
        r = insight.spend(rt.services, OPERATOR_CLI, tenant_id, group_by, start, end)
    out.print(f"Calls started {r.window.describe()}", soft_wrap=True)
    table = Table(title=f"Spend by {r.group_by} ({r.currency})")
    for h in (r.group_by, "calls", "seconds", "amount"):
        table.add_column(h, justify="left" if h == r.group_by else "right")
    for x in r.rows:
        table.add_row(x.key or "-", f"{x.calls:,}", f"{x.seconds:,}", f"{x.amount:.2f}")
    table.add_row("total", "", "", f"{r.total:.2f}")
    out.print(table)


@credits_app.command("recommendation")
@friendly
def credits_recommendation(tenant_id: Tenant, db: Db = None) -> None:
    """Recommended auto-recharge trigger and amount, and the runway."""
    with runtime(db) as rt:
        r = insight.recommendation(rt.services, OPERATOR_CLI, tenant_id)
    runway = f"{r.runway_days} days" if r.runway_days is not None else "no recent spend"
    out.print(f"Trigger: {r.trigger:.2f} {r.currency}")
    out.print(f"Amount: {r.amount:.2f} {r.currency}")
    out.print(f"Runway: {runway}")
    out.print(r.explanation)
