"""The `commcredits tenant` group: create, list and show tenants, API keys, EA exceptions.

Operator commands on the database, registered by `main.py`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from commcredits.entrypoints.cli.common import Db, friendly, out, runtime
from commcredits.services import queries, tenants
from commcredits.services.auth import OPERATOR_CLI

tenant_app = typer.Typer(help="Tenants, admin contacts, API keys and exceptions.",
                         no_args_is_help=True)


@tenant_app.command("create")
@friendly
def tenant_create(
    name: Annotated[str, typer.Option(help="The organization's name.")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 country, e.g. US.")],
    account_type: Annotated[str, typer.Option(
        "--type", help="Billing account type: MOSA, CSP, EA or MCA.")] = "MOSA",
    billing_country: Annotated[str | None, typer.Option(
        help="Billing address country (default: the country).")] = None,
    currency: Annotated[str | None, typer.Option(
        help="ISO 4217 currency (default: the country's).")] = None,
    cloud: Annotated[str, typer.Option(help="commercial or gcc.")] = "commercial",
    contact: Annotated[list[str] | None, typer.Option(
        help="Admin contact as EMAIL:ROLE (global_admin, billing_admin, teams_admin, "
             "reader); repeat for more.")] = None,
    db: Db = None,
) -> None:
    """Create a tenant with its billing account and admin contacts."""
    contacts = []
    for item in contact or []:
        email, _, role = item.partition(":")
        contacts.append({"email": email, "role": role or "global_admin"})
    with runtime(db) as rt:
        t = tenants.create_tenant(
            rt.services, OPERATOR_CLI, name=name, country=country,
            billing_account_type=account_type.upper(), billing_country=billing_country,
            currency=currency, cloud=cloud, contacts=contacts,
        )
    out.print(f"Created tenant {t.name}: [bold]{t.id}[/] ({t.country}, {t.currency}, "
              f"{t.billing_account_type.value})")


@tenant_app.command("list")
@friendly
def tenant_list(db: Db = None) -> None:
    """List every tenant."""
    with runtime(db) as rt:
        rows = tenants.list_tenants(rt.services, OPERATOR_CLI)
    table = Table(title="Tenants")
    # The id is what the other commands take: never cut it.
    table.add_column("id", no_wrap=True, min_width=max((len(t.id) for t in rows), default=2))
    for h in ("name", "country", "currency", "account", "cloud"):
        table.add_column(h)
    for t in rows:
        table.add_row(t.id, t.name, t.country, t.currency, t.billing_account_type.value,
                      t.cloud.value)
    out.print(table)


@tenant_app.command("show")
@friendly
def tenant_show(tenant_id: str, db: Db = None) -> None:
    """Show a tenant and its admin contacts."""
    with runtime(db) as rt:
        t, contacts = queries.tenant(rt.services, OPERATOR_CLI, tenant_id)
    out.print(f"[bold]{t.name}[/] {t.id}")
    out.print(f"country {t.country} · currency {t.currency} · {t.billing_account_type.value} "
              f"(billing country {t.billing_country}) · cloud {t.cloud.value}"
              f"{' · EA region exception' if t.ea_region_exception else ''}")
    for c in contacts:
        out.print(f"  {c.role.value:14} {c.email}")


@tenant_app.command("api-key")
@friendly
def tenant_api_key(
    tenant_id: str,
    role: Annotated[str, typer.Option(
        help="global_admin, billing_admin, teams_admin, reader or platform.")] = "global_admin",
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    db: Db = None,
) -> None:
    """Create an API key for a tenant role (shown once)."""
    with runtime(db) as rt:
        key = tenants.create_api_key(rt.services, OPERATOR_CLI, tenant_id, role=role, name=name)
    out.print(f"{key.role.value} key (shown once): [bold]{key.key}[/]")


@tenant_app.command("ea-exception")
@friendly
def tenant_ea_exception(
    tenant_id: str,
    enable: Annotated[bool, typer.Option("--enable/--disable",
                                         help="Grant or revoke the exception.")] = True,
    db: Db = None,
) -> None:
    """Let an EA tenant buy despite its billing-region mismatch."""
    with runtime(db) as rt:
        t = tenants.set_ea_exception(rt.services, OPERATOR_CLI, tenant_id, enable)
    out.print(f"EA region exception for {t.name}: {'on' if t.ea_region_exception else 'off'}")
