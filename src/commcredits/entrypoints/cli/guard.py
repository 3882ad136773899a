"""CLI group `guard` for the spend guard (GUARD-1, GUARD-3): `show` a tenant's limits and
blocked destinations, `set` them (each limit optional; `--clear` removes them all).

`main.py` registers this group at its end; `friendly` and `runtime` come from `common.py`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from commcredits.domain.guard import GuardSettings
from commcredits.entrypoints.cli.common import Db, friendly, out, runtime
from commcredits.services import guard
from commcredits.services.auth import OPERATOR_CLI

guard_app: typer.Typer = typer.Typer(
    help="Spend guard against toll fraud: spend limits and blocked destinations.",
    no_args_is_help=True)


def _print(settings: GuardSettings, currency: str) -> None:
    shown = guard.as_json(settings)
    for name, value in shown["limits"].items():
        unit = "minutes" if name == "intl_minutes_user_day" else currency
        out.print(f"{name:<22} {'no limit' if value is None else f'{value} {unit}'}")
    out.print(f"{'blocked':<22} {', '.join(shown['blocked']) or 'none'}")


@guard_app.command("show")
@friendly
def guard_show(tenant_id: str, db: Db = None) -> None:
    """Show the spend limits and blocked destinations."""
    with runtime(db) as rt:
        settings = guard.get_settings(rt.services, OPERATOR_CLI, tenant_id)
        currency = guard.currency_of(rt.services, OPERATOR_CLI, tenant_id)
    _print(settings, currency)


@guard_app.command("set")
@friendly
def guard_set(
    tenant_id: str,
    user_hour: Annotated[str | None, typer.Option(help="Credits per user per UTC hour.")]
    = None,
    user_day: Annotated[str | None, typer.Option(help="Credits per user per UTC day.")] = None,
    tenant_day: Annotated[str | None, typer.Option(help="Credits for the tenant per UTC day.")]
    = None,
    intl_minutes_user_day: Annotated[str | None, typer.Option(
        help="International minutes per user per UTC day.")] = None,
    block: Annotated[list[str] | None, typer.Option(
        help="A blocked destination: a country code (NG) or a prefix (+234); repeat it.")]
    = None,
    clear: Annotated[bool, typer.Option(help="Remove every limit and blocked destination.")]
    = False,
    db: Db = None,
) -> None:
    """Replace the spend guard with these limits and blocked destinations."""
    limits: dict[str, Any] = {} if clear else {
        k: v for k, v in (("user_hour", user_hour), ("user_day", user_day),
                          ("tenant_day", tenant_day),
                          ("intl_minutes_user_day", intl_minutes_user_day)) if v is not None}
    with runtime(db) as rt:
        settings = guard.put_settings(rt.services, OPERATOR_CLI, tenant_id, limits=limits,
                                      blocked=[] if clear else list(block or []))
        currency = guard.currency_of(rt.services, OPERATOR_CLI, tenant_id)
    out.print("Spend guard saved")
    _print(settings, currency)
