"""CLI group `admin`: local admin-center accounts (create, list) and one-time sign-in links.

`main.py` registers this group at its end; `friendly` and `runtime` come from `common.py`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from commcredits.entrypoints.cli.common import Db, friendly, out, runtime
from commcredits.services import web_access
from commcredits.services.auth import OPERATOR_CLI

admin_app: typer.Typer = typer.Typer(
    help="Admin-center accounts (email and password) and one-time sign-in links.",
    no_args_is_help=True)

BaseUrl = Annotated[str, typer.Option(help="Where the admin center is served.")]


@admin_app.command("create")
@friendly
def admin_create(
    email: Annotated[str, typer.Option(help="The admin's email (the sign-in name).")],
    role: Annotated[str, typer.Option(
        help="global_admin, billing_admin, teams_admin, reader, or operator.")],
    tenant: Annotated[str | None, typer.Option(
        help="The tenant id (every role but operator).")] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[str, typer.Option(
        prompt=True, hide_input=True, confirmation_prompt=True,
        help=f"At least {web_access.MIN_PASSWORD} characters (prompted when left out).")] = "",
    db: Db = None,
) -> None:
    """Create an admin account that signs in to the web admin center."""
    with runtime(db) as rt:
        account = web_access.create_admin(
            rt.services, OPERATOR_CLI, email=email, password=password, role=role,
            tenant_id=tenant, name=name,
        )
    out.print(f"Created {account.role.value} {account.email} ({account.id})")


@admin_app.command("list")
@friendly
def admin_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's admins.")] = None,
    db: Db = None,
) -> None:
    """List admin accounts."""
    with runtime(db) as rt:
        accounts = web_access.list_admins(rt.services, OPERATOR_CLI, tenant)
    table = Table("email", "name", "role", "tenant", "created")
    for a in accounts:
        table.add_row(a.email, a.name, a.role.value, a.tenant_id or "—",
                      a.created_at.strftime("%Y-%m-%d %H:%M"))
    out.print(table)


@admin_app.command("link")
@friendly
def admin_link(
    email: Annotated[str, typer.Option(help="The admin to sign in as.")],
    base_url: BaseUrl = "http://127.0.0.1:8000",
    db: Db = None,
) -> None:
    """Print a one-time sign-in link (valid 24 hours, usable once)."""
    with runtime(db) as rt:
        account = web_access.account_by_email(rt.services, OPERATOR_CLI, email)
        token = web_access.create_sign_in_link(rt.services, account.id)
    out.print(f"{base_url.rstrip('/')}/signin/link/{token}", soft_wrap=True)
