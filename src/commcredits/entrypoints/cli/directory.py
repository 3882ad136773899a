"""CLI groups for the directory: `users`, `subscriptions`, `licenses` (with `licenses bulk
FILE.csv`), `numbers`, `resource-accounts` and `report minute-pools`.

They work on the database as the operator, like the rest of the CLI, and print refusals as
``error CODE: message`` with exit status 2. `main.py` registers these groups at its end (this
module uses `friendly` and `runtime` from `common.py`), so import the CLI through `main`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from commcredits.domain.directory import User
from commcredits.entrypoints.cli.common import (
    EXIT_ROWS_REJECTED,
    Db,
    err,
    friendly,
    out,
    runtime,
    writable_file,
)
from commcredits.services import directory, licenses, pools
from commcredits.services.auth import OPERATOR_CLI

users_app: typer.Typer = typer.Typer(
    help="Users: UPN, display name, usage location, phone number, blocked.",
    no_args_is_help=True)
subscriptions_app: typer.Typer = typer.Typer(
    help="License seats: buy them, and see what is assigned.", no_args_is_help=True)
licenses_app: typer.Typer = typer.Typer(
    help="Assign and remove licenses, one user or a CSV file.",
    no_args_is_help=True)
numbers_app: typer.Typer = typer.Typer(
    help="The tenant's phone numbers and who answers on them.", no_args_is_help=True)
resources_app: typer.Typer = typer.Typer(
    help="Resource accounts: auto attendants, call queues, conference bridges.",
    no_args_is_help=True)
report_app: typer.Typer = typer.Typer(
    help="Reports: the PSTN usage export, spend and the minute pools of a month. "
    "Ranges are UTC days, both included.", no_args_is_help=True)

Tenant = Annotated[str, typer.Argument(help="Tenant id.")]
Upn = Annotated[str, typer.Argument(help="The user's UPN (or object id).")]


def user_table(title: str, rows: list[User]) -> Table:
    table = Table(title=title)
    # The UPN is what every other command takes: never cut it; the other columns wrap.
    table.add_column("upn", no_wrap=True, min_width=max((len(u.upn) for u in rows), default=3))
    for h in ("display name", "location", "phone", "licenses", "blocked", "object id"):
        table.add_column(h)
    for u in rows:
        table.add_row(u.upn, u.display_name, u.usage_location or "-", u.phone_number or "-",
                      " ".join(sorted(u.licenses)) or "-", "yes" if u.blocked else "",
                      u.id)
    return table


@users_app.command("add")
@friendly
def users_add(
    tenant_id: Tenant,
    upn: Annotated[str, typer.Option(help="UPN, e.g. megan.bowen@contoso.com.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    location: Annotated[str | None, typer.Option(
        help="Usage location: ISO country code, e.g. US (needed before licenses).")] = None,
    phone: Annotated[str | None, typer.Option(help="E.164 phone number, e.g. +14255550100.")]
    = None,
    blocked: Annotated[bool, typer.Option("--blocked", help="Create the user blocked.")] = False,
    db: Db = None,
) -> None:
    """Add a user (a new stable object id is made for call records)."""
    with runtime(db) as rt:
        u = directory.create_user(rt.services, OPERATOR_CLI, tenant_id, upn=upn,
                                  display_name=name, usage_location=location,
                                  phone_number=phone, blocked=blocked)
    out.print(f"Added {u.upn} ({u.display_name}), object id [bold]{u.id}[/]")


@users_app.command("list")
@friendly
def users_list(
    tenant_id: Tenant,
    limit: Annotated[int, typer.Option(help="How many, by UPN.")] = 100,
    after: Annotated[str | None, typer.Option(help="Start after this UPN.")] = None,
    db: Db = None,
) -> None:
    """List users with their licenses and numbers."""
    with runtime(db) as rt:
        rows = directory.list_users(rt.services, OPERATOR_CLI, tenant_id, limit=limit,
                                    after=after)
    out.print(user_table("Users", rows))


@users_app.command("show")
@friendly
def users_show(tenant_id: Tenant, upn: Upn, db: Db = None) -> None:
    """Show one user."""
    with runtime(db) as rt:
        u = directory.get_user(rt.services, OPERATOR_CLI, tenant_id, upn)
    out.print(user_table(u.upn, [u]))


@users_app.command("update")
@friendly
def users_update(
    tenant_id: Tenant, upn: Upn,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    location: Annotated[str | None, typer.Option(help="New usage location.")] = None,
    phone: Annotated[str | None, typer.Option(
        help="New phone number, or 'none' to take the number away.")] = None,
    blocked: Annotated[bool | None, typer.Option("--block/--unblock",
                                                 help="Block or unblock the user.")] = None,
    db: Db = None,
) -> None:
    """Change a user's display name, usage location, phone number or blocked flag."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["display_name"] = name
    if location is not None:
        changes["usage_location"] = location
    if phone is not None:
        changes["phone_number"] = None if phone.lower() == "none" else phone
    if blocked is not None:
        changes["blocked"] = blocked
    if not changes:
        err.print("[bold red]error[/] NOTHING_TO_CHANGE: pass --name, --location, --phone, "
                  "--block or --unblock.")
        raise typer.Exit(2)
    with runtime(db) as rt:
        u = directory.update_user(rt.services, OPERATOR_CLI, tenant_id, upn, changes)
    out.print(user_table(f"Updated {u.upn}", [u]))


@subscriptions_app.command("list")
@friendly
def subscriptions_list(tenant_id: Tenant, db: Db = None) -> None:
    """Seats per SKU: purchased, assigned and available."""
    with runtime(db) as rt:
        seats = licenses.subscriptions(rt.services, OPERATOR_CLI, tenant_id)
    table = Table(title="Subscriptions")
    for h in ("sku", "license", "purchased", "assigned", "available"):
        table.add_column(h, justify="right" if h in {"purchased", "assigned", "available"}
                         else "left")
    for s in seats:
        table.add_row(s.sku, s.name, f"{s.purchased:,}", f"{s.assigned:,}", f"{s.available:,}")
    out.print(table)


@subscriptions_app.command("buy")
@friendly
def subscriptions_buy(
    tenant_id: Tenant,
    sku: Annotated[str, typer.Argument(help="Part number, e.g. MCOPSTN1.")],
    quantity: Annotated[int, typer.Argument(help="How many seats.")],
    db: Db = None,
) -> None:
    """Buy seats of a SKU."""
    with runtime(db) as rt:
        s = licenses.buy_seats(rt.services, OPERATOR_CLI, tenant_id, sku=sku,
                                quantity=quantity)
    out.print(f"{s.sku} ({s.name}): {s.purchased:,} purchased, {s.assigned:,} assigned, "
              f"{s.available:,} available")


@licenses_app.command("assign")
@friendly
def licenses_assign(
    tenant_id: Tenant, upn: Upn,
    add: Annotated[list[str] | None, typer.Option(help="SKU to add; repeat for more.")] = None,
    remove: Annotated[list[str] | None, typer.Option(help="SKU to remove; repeat for more.")]
    = None,
    db: Db = None,
) -> None:
    """Add and remove a user's licenses in one step (removals first)."""
    with runtime(db) as rt:
        r = licenses.change_licenses(rt.services, OPERATOR_CLI, tenant_id, upn,
                                      add=list(add or []), remove=list(remove or []))
    out.print(f"{r.user.upn}: added {', '.join(r.added) or 'nothing'}, removed "
              f"{', '.join(r.removed) or 'nothing'}; now holds "
              f"{', '.join(sorted(r.user.licenses)) or 'no licenses'}")


@licenses_app.command("bulk")
def licenses_bulk(
    tenant_id: Tenant,
    file: Annotated[Path, typer.Argument(help="CSV with the header upn,sku,action.",
                                         exists=True, dir_okay=False, readable=True)],
    report: Annotated[Path | None, typer.Option(
        help="Write every row's result to this CSV file.")] = None,
    db: Db = None,
) -> None:
    """Apply a CSV of license changes row by row and report each row. A malformed file
    changes nothing. Exits 1 when some rows failed."""
    if _apply_bulk(tenant_id, file, report, db):
        raise typer.Exit(EXIT_ROWS_REJECTED)


@friendly
def _apply_bulk(tenant_id: str, file: Path, report: Path | None, db: str | None) -> int:
    """Apply the file, print the report; returns how many rows failed."""
    if report is not None:
        writable_file(report, "--report")
    data = file.read_bytes()
    with runtime(db) as rt:
        result = licenses.bulk_licenses(rt.services, OPERATOR_CLI, tenant_id, data)
    shown = result.rows if len(result.rows) <= 50 else [r for r in result.rows if not r.ok]
    if shown:
        table = Table(title="Rows" if len(result.rows) <= 50 else "Rows that failed")
        for h in ("line", "upn", "sku", "action", "result"):
            table.add_column(h)
        for r in shown[:500]:
            table.add_row(str(r.line), r.upn, r.sku, r.action,
                          "ok" if r.ok else f"[red]{r.code}[/]")
        out.print(table)
        if len(shown) > 500:
            out.print(f"… and {len(shown) - 500} more (see --report)")
    if report is not None:
        with report.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["line", "upn", "sku", "action", "result", "code", "message"])
            for r in result.rows:
                writer.writerow([r.line, r.upn, r.sku, r.action, "ok" if r.ok else "error",
                                 r.code or "", r.message or ""])
    out.print(f"{len(result.rows)} rows: {result.applied} applied, {result.failed} failed")
    return result.failed


@numbers_app.command("list")
@friendly
def numbers_list(tenant_id: Tenant, db: Db = None) -> None:
    """The tenant's numbers, their types, and who answers on them."""
    with runtime(db) as rt:
        rows = directory.list_numbers(rt.services, OPERATOR_CLI, tenant_id)
    table = Table(title="Phone numbers")
    for h in ("number", "type", "assigned to"):
        table.add_column(h)
    for n in rows:
        table.add_row(n.number, n.type.value, n.assignee_upn or "-")
    out.print(table)


@numbers_app.command("add")
@friendly
def numbers_add(
    tenant_id: Tenant,
    number: Annotated[str, typer.Argument(help="E.164 number, e.g. +14255550100.")],
    type: Annotated[str, typer.Option("--type", help="user, service or toll_free.")] = "user",
    assign_to: Annotated[str | None, typer.Option(
        help="UPN of a user or resource account.")] = None,
    db: Db = None,
) -> None:
    """Add a number to the tenant, optionally assigning it at once."""
    with runtime(db) as rt:
        n = directory.add_number(rt.services, OPERATOR_CLI, tenant_id, number=number,
                                 type=type, assigned_to=assign_to)
    out.print(f"Added {n.type.value} number {n.number}"
              + (f", assigned to {n.assignee_upn}" if n.assignee_upn else ""))


@numbers_app.command("assign")
@friendly
def numbers_assign(
    tenant_id: Tenant,
    number: Annotated[str, typer.Argument(help="The number.")],
    upn: Annotated[str, typer.Argument(help="UPN of a user or resource account.")],
    db: Db = None,
) -> None:
    """Assign a number to a user or resource account."""
    with runtime(db) as rt:
        n = directory.assign_number(rt.services, OPERATOR_CLI, tenant_id, number, upn)
    out.print(f"{n.number} is assigned to {n.assignee_upn}")


@numbers_app.command("unassign")
@friendly
def numbers_unassign(
    tenant_id: Tenant, number: Annotated[str, typer.Argument(help="The number.")],
    db: Db = None,
) -> None:
    """Take a number away from whoever has it."""
    with runtime(db) as rt:
        n = directory.assign_number(rt.services, OPERATOR_CLI, tenant_id, number, None)
    out.print(f"{n.number} is unassigned")


@numbers_app.command("release")
@friendly
def numbers_release(
    tenant_id: Tenant, number: Annotated[str, typer.Argument(help="The number.")],
    db: Db = None,
) -> None:
    """Remove an unassigned number from the tenant."""
    with runtime(db) as rt:
        directory.release_number(rt.services, OPERATOR_CLI, tenant_id, number)
    out.print(f"Released {number}")


@resources_app.command("add")
@friendly
def resource_accounts_add(
    tenant_id: Tenant,
    upn: Annotated[str, typer.Option(help="UPN, e.g. reception@contoso.com.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    kind: Annotated[str, typer.Option(
        help="auto_attendant, call_queue or conference_bridge.")],
    db: Db = None,
) -> None:
    """Add a resource account that service and toll-free numbers can be assigned to."""
    with runtime(db) as rt:
        a = directory.create_resource_account(rt.services, OPERATOR_CLI, tenant_id, upn=upn,
                                              display_name=name, kind=kind)
    out.print(f"Added {a.kind.value} {a.upn} ({a.display_name}): [bold]{a.id}[/]")


@resources_app.command("list")
@friendly
def resource_accounts_list(tenant_id: Tenant, db: Db = None) -> None:
    """Resource accounts and their numbers."""
    with runtime(db) as rt:
        rows = directory.list_resource_accounts(rt.services, OPERATOR_CLI, tenant_id)
    table = Table(title="Resource accounts")
    for h in ("upn", "display name", "kind", "numbers"):
        table.add_column(h)
    for a in rows:
        table.add_row(a.upn, a.display_name, a.kind.value, " ".join(a.phone_numbers) or "-")
    out.print(table)


@report_app.command("minute-pools")
@friendly
def report_minute_pools(
    tenant_id: Tenant,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month).")] = None,
    db: Db = None,
) -> None:
    """The PSTN minute pools of a month: total, used and available minutes."""
    with runtime(db) as rt:
        r = pools.minute_pools_report(rt.services, OPERATOR_CLI, tenant_id, month)
    table = Table(title=f"Minute pools {r.month} (as of {r.as_of:%Y-%m-%d %H:%M} UTC)")
    for h in ("country or region", "capability description", "total minutes", "minutes used",
              "minutes available", "capability"):
        table.add_column(h, justify="right" if h.endswith("minutes") or "minutes " in h
                         else "left")
    for row in r.rows:
        table.add_row(row.country_or_region, row.capability_description,
                      f"{row.total_minutes:,}", f"{row.minutes_used:,}",
                      f"{row.minutes_available:,}", row.capability)
    out.print(table if r.rows else "No minute pools: no user holds a calling plan or Audio "
              "Conferencing this month.")
