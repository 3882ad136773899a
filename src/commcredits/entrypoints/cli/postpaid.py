"""CLI group `billing` for post-usage billing (ACCT-6, POST-1, POST-2): `switch` the billing
account type, turn `overage` on or off, and show a month's overage `statement`.

`main.py` registers this group at its end; `friendly` and `runtime` come from `common.py`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from commcredits.domain.pools import month_of
from commcredits.entrypoints.cli.common import Db, friendly, money_table, out, runtime
from commcredits.services import postpaid
from commcredits.services.auth import OPERATOR_CLI

billing_app: typer.Typer = typer.Typer(
    help="Post-usage (MCA) billing: account type, overage, monthly statements.",
    no_args_is_help=True)


@billing_app.command("switch")
@friendly
def billing_switch(
    tenant_id: str,
    billing_account_type: Annotated[str, typer.Argument(help="MOSA, CSP, EA or MCA.")],
    db: Db = None,
) -> None:
    """Change the billing account type; MCA needs auto-recharge off first."""
    with runtime(db) as rt:
        t = postpaid.switch_billing_account(rt.services, OPERATOR_CLI, tenant_id,
                                            billing_account_type)
    out.print(f"{t.name} is now billed as {t.billing_account_type.value}")


@billing_app.command("overage")
@friendly
def billing_overage(
    tenant_id: str,
    on: Annotated[bool, typer.Option("--on/--off", help="Allow overage, or stop it until "
                                     "the 1st of next month.")] = True,
    db: Db = None,
) -> None:
    """Turn overage on, or off until next month."""
    with runtime(db) as rt:
        s = postpaid.set_overage(rt.services, OPERATOR_CLI, tenant_id, on)
    if s.enabled:
        out.print("Overage is on")
    else:
        assert s.resumes_on is not None
        out.print(f"Overage is off until {s.resumes_on.date().isoformat()}")


@billing_app.command("statement")
@friendly
def billing_statement(
    tenant_id: str,
    month: Annotated[str | None, typer.Option(help="YYYY-MM; the current month if left out.")]
    = None,
    db: Db = None,
) -> None:
    """The month's overage: one line per capability and destination country."""
    with runtime(db) as rt:
        s = postpaid.statement(rt.services, OPERATOR_CLI, tenant_id,
                               month or month_of(rt.services.clock.now()))
    rows = [(x.capability, x.country, x.amount.format()) for x in s.lines]
    out.print(money_table(f"Overage {s.month} ({s.currency})", rows,
                          ("capability", "country", "amount")))
    status = f"invoice {s.invoice_number}" if s.invoice_number else "not invoiced yet"
    out.print(f"total [bold]{s.total.format()} {s.currency}[/]  {status}  "
              f"overage {'on' if s.overage_enabled else 'off'}")
