"""CLI commands `what-if` (PLAN-1) and `advise` (PLAN-2): re-rate a period under another
rate-table version or other licenses, and the plan advisor (with `--apply`, the bulk
license change of LIC-4).

`main.py` registers these commands at its end; `friendly` and `runtime` come from `common.py`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from commcredits.domain.errors import InvalidInput
from commcredits.domain.planning import PlanOption
from commcredits.entrypoints.cli.common import Db, friendly, out, runtime
from commcredits.services import planning
from commcredits.services.auth import OPERATOR_CLI


def _licenses(values: list[str]) -> dict[str, list[str]]:
    out_: dict[str, list[str]] = {}
    for value in values:
        upn, sep, skus = value.partition("=")
        if not sep or not upn.strip():
            raise InvalidInput("INVALID_WHAT_IF",
                               f"--licenses {value!r}: write UPN=SKU,SKU (e.g. "
                               "ann@contoso.com=MCOEV,MCOPSTN2,MCOPSTNC).")
        out_[upn.strip()] = [s.strip() for s in skus.split(",") if s.strip()]
    return out_


@friendly
def what_if(
    tenant_id: str,
    start: Annotated[str, typer.Option("--from", help="First UTC day (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last UTC day, at most 90 days on.")],
    rate_table_version: Annotated[int | None, typer.Option(
        help="Re-rate with this rate-table version.")] = None,
    licenses: Annotated[list[str] | None, typer.Option(
        help="UPN=SKU,SKU: the user holds exactly these SKUs; repeat it.")] = None,
    db: Db = None,
) -> None:
    """What the period's calls cost, and would have cost; writes nothing."""
    with runtime(db) as rt:
        w = planning.what_if(rt.services, OPERATOR_CLI, tenant_id, start=start, end=end,
                             rate_table_version=rate_table_version,
                             licenses=_licenses(licenses) if licenses else None)
    table = Table("user", f"actual ({w.currency})", f"what-if ({w.currency})",
                  f"difference ({w.currency})")
    for u in w.per_user:
        table.add_row(u.upn or "(no user)", f"{u.actual:.2f}", f"{u.what_if:.2f}",
                      f"{u.what_if - u.actual:+.2f}")
    out.print(table)
    out.print(f"{w.calls} calls: actual {w.actual:.2f} {w.currency}, what-if "
              f"{w.what_if:.2f} {w.currency}, difference {w.difference:+.2f} {w.currency}")


@friendly
def advise(
    tenant_id: str,
    days: Annotated[int, typer.Option(help="Look back 30 to 90 days.")] = 30,
    apply: Annotated[bool, typer.Option(help="Apply the advice as a bulk license change.")]
    = False,
    db: Db = None,
) -> None:
    """The cheapest calling plan per user, with the monthly saving."""
    with runtime(db) as rt:
        advice = planning.plan_advice(rt.services, OPERATOR_CLI, tenant_id, days=days)
        report = planning.apply_advice(rt.services, OPERATOR_CLI, tenant_id, advice.users) \
            if apply else None
    cur = advice.currency
    table = Table("user", "current", "proposed", *(f"{o.label} ({cur}/month)"
                                                   for o in PlanOption),
                  f"saving ({cur}/month)")
    for a in advice.users:
        table.add_row(a.upn, a.current.label, a.proposed.label,
                      *(f"{a.monthly_cost[o]:.2f}" if o in a.monthly_cost else "—"
                        for o in PlanOption), f"{a.monthly_saving:.2f}")
    out.print(table)
    total = sum((a.monthly_saving for a in advice.users), start=0)
    out.print(f"{len(advice.users)} users over {advice.days} days: saving {total:.2f} {cur} "
              "a month")
    if report is not None:
        out.print(f"Applied: {report.applied} license changes, {report.failed} failed")
        if report.failed:
            raise typer.Exit(1)
