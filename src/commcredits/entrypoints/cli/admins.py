"""CLI group `admin`: local admin-center accounts (create, list), one-time sign-in links, and
`admin key --rotate`, a new global-admin API key that revokes the one printed before.

`main.py` registers this group at its end; `friendly` and `runtime` come from `common.py`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from commcredits.domain.errors import InvalidInput, NotFound
from commcredits.entrypoints.cli.common import Db, friendly, out, runtime
from commcredits.services import demo, tenants, web_access
from commcredits.services.auth import OPERATOR_CLI

admin_app: typer.Typer = typer.Typer(
    help="Admin-center accounts, one-time sign-in links, and global-admin API keys.",
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


ADMIN_KEY_NAME = "global admin (commcredits admin key)"


@admin_app.command("key")
@friendly
def admin_key(
    rotate: Annotated[bool, typer.Option(
        "--rotate", help="Print a new key and revoke the previous one this command (or the "
                         "demo's first start) printed.")] = False,
    tenant: Annotated[str | None, typer.Option(
        help="The tenant id (default: the demo tenant, Contoso).")] = None,
    db: Db = None,
) -> None:
    """A tenant's global-admin API key for the REST API. Keys are stored hashed, so a key is
    shown once: --rotate prints a new one, and the one printed before stops working."""
    if not rotate:
        raise InvalidInput(
            "ROTATE_REQUIRED",
            "API keys are stored hashed, so a key cannot be shown again. `commcredits admin "
            "key --rotate` prints a new one and revokes the previous one.",
        )
    with runtime(db) as rt:
        demo_id = demo.find_demo_tenant(rt.services)
        tenant_id = tenant or demo_id
        if tenant_id is None:
            raise NotFound("DEMO_NOT_FOUND", "There is no demo tenant in this database: pass "
                           "--tenant TENANT_ID, or run `commcredits demo`.")
        name = demo.DEMO_KEY_NAME if tenant_id == demo_id else ADMIN_KEY_NAME
        rotated = tenants.rotate_api_key(rt.services, OPERATOR_CLI, tenant_id,
                                         role="global_admin", name=name)
    out.print(f"global_admin key for {tenant_id} (shown once): [bold]{rotated.key.key}[/]",
              soft_wrap=True)
    out.print(f"revoked {rotated.revoked} earlier key(s) named {name!r}")
