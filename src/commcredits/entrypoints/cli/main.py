"""The `commcredits` CLI: serve, demo, db, clock, jobs, notifications and worker; the other
groups live in their own modules and are registered at the end of this one.

Commands work directly on the database as the operator. Refusals print their stable code
and what to do; see `common.py` for the exit statuses (0 applied, 1 some rows rejected,
2 refused). There are no tracebacks for bad input.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from commcredits.bootstrap import build
from commcredits.domain.errors import InvalidInput
from commcredits.entrypoints.cli.common import (  # noqa: F401 (re-exported for the groups)
    Db,
    err,
    friendly,
    money_table,
    out,
    runtime,
    settings_for,
)
from commcredits.entrypoints.heap import freeze_startup_heap
from commcredits.services import clock as clock_service
from commcredits.services import (
    notifications,
    web_access,
)
from commcredits.services.auth import OPERATOR_CLI
from commcredits.services.demo import seed_demo
from commcredits.services.jobs import run_due_work

app = typer.Typer(
    help="commcredits: prepaid, per-minute billing for PSTN calling (Communications Credits).",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
clock_app = typer.Typer(help="The simulated clock (only with serve --simulated-clock).",
                        no_args_is_help=True)
jobs_app = typer.Typer(help="Due work: expiry, expiry warnings, recharges, email delivery.",
                       no_args_is_help=True)
notes_app = typer.Typer(help="Admin emails: list them, and deliver what is queued.",
                        no_args_is_help=True)
app.add_typer(db_app, name="db")

# Tenants (`tenants.py`), then credits and auto-recharge (`credits.py`), keep their place in
# the help.
from commcredits.entrypoints.cli import credits as _credits  # noqa: E402
from commcredits.entrypoints.cli import tenants as _tenants  # noqa: E402

app.add_typer(_tenants.tenant_app, name="tenant")

app.add_typer(_credits.credits_app, name="credits")
app.add_typer(clock_app, name="clock")
app.add_typer(jobs_app, name="jobs")
app.add_typer(_credits.recharge_app, name="auto-recharge")
app.add_typer(notes_app, name="notifications")

_DURATION = re.compile(r"^(\d+)([smhd])$")


@app.command()
@friendly
def serve(
    db: Db = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    simulated_clock: Annotated[bool, typer.Option(
        "--simulated-clock", help="Run on a simulated clock that the operator moves.",
    )] = False,
    no_demo: Annotated[bool, typer.Option("--no-demo", help="Do not seed the demo tenant.")]
    = False,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Server processes (uvicorn workers); each builds its own engine and caches. "
                    "Default: the usable cores (1 on an in-memory SQLite database).",
        show_default=False,
    )] = None,
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log", help="Log every request (uvicorn's access log).",
    )] = True,
    metrics_port: Annotated[int | None, typer.Option(
        min=1, max=65535,
        help="Also serve /metrics (Prometheus) without a key on 127.0.0.1 at this port.",
    )] = None,
) -> None:
    """Migrate the database, seed the demo tenant, and serve the API."""
    import os

    import uvicorn

    from commcredits.entrypoints.api.app import create_app
    from commcredits.entrypoints.cli.serving import (
        WORKER_HEALTHCHECK_SECONDS,
        default_workers,
        prepare_metrics,
        serve_metrics,
        uvicorn_logs,
    )

    settings = settings_for(db, simulated_clock=simulated_clock)
    if workers is None:
        workers = default_workers(settings.database_url)
    prepare_metrics(workers)  # before any worker starts: PROMETHEUS_MULTIPROC_DIR, emptied
    logs = uvicorn_logs(settings.log_format, access_log)
    rt = build(settings, migrate=True, serving=True)
    url = f"http://{host}:{port}"
    if not no_demo:
        demo = seed_demo(rt.services)
        out.print(f"[bold]Demo tenant[/] Contoso: {demo.tenant_id}"
                  + (" (created)" if demo.created else ""))
        account, password = web_access.ensure_demo_admin(rt.services, OPERATOR_CLI,
                                                         demo.tenant_id)
        if settings.log_format == "json":  # OPS-4: no key, password or sign-in link in logs
            out.print("Demo secrets are not printed with JSON logs: use `commcredits tenant "
                      "api-key` and `commcredits admin link`.", soft_wrap=True)
        else:
            print_demo_key(demo.admin_key)
            link = web_access.create_sign_in_link(rt.services, account.id)
            if password:
                out.print(f"[bold]Demo admin sign-in[/]: {account.email} / {password}")
            out.print(f"[bold]Open the admin center[/] (one-time sign-in link): "
                      f"{url}/signin/link/{link}", soft_wrap=True)
            out.print(f"  try: curl -H 'Authorization: Bearer {demo.admin_key or '$KEY'}' "
                      f"{url}/api/v1/tenants/{demo.tenant_id}/credits", soft_wrap=True)
    out.print(f"[bold green]commcredits[/] serving on {url}  (API docs: {url}/docs)")
    if settings.simulated_clock:
        out.print("[yellow]Simulated clock is on[/]: move it with POST /api/v1/clock "
                  "or `commcredits clock`.")
    if metrics_port is not None:
        serve_metrics(metrics_port, rt.engine)
    if workers == 1:
        application = create_app(rt, background_jobs=True)
        freeze_startup_heap()
        uvicorn.run(application, host=host, port=port,
                    log_level="info", **logs)
        return
    # Several processes: each worker builds its runtime from the environment
    # (`entrypoints.api.serving`); this one has migrated, seeded and settled the clock.
    os.environ["COMMCREDITS_DATABASE_URL"] = settings.database_url
    os.environ["COMMCREDITS_SIMULATED_CLOCK"] = "true" if settings.simulated_clock else "false"
    rt.close()
    # A worker that starts slowly (a busy machine) is not taken for a dead one: uvicorn's
    # default of 5 s to answer its supervisor's health check kills and restarts it forever.
    uvicorn.run("commcredits.entrypoints.api.serving:worker_app", factory=True,
                workers=workers, host=host, port=port, log_level="info",
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS, **logs)


@app.command()
@friendly
def demo(db: Db = None) -> None:
    """Seed the demo tenant (once); its global-admin key is printed when it is created."""
    with runtime(db, create=True) as rt:
        result = seed_demo(rt.services)
    out.print(f"Demo tenant Contoso: {result.tenant_id}"
              + (" (created)" if result.created else " (already there)"))
    print_demo_key(result.admin_key)


def print_demo_key(key: str | None) -> None:
    """The demo's key when it was just made; otherwise where a new one comes from."""
    if key:
        out.print(f"[bold]Demo global admin key[/] (shown once): {key}", soft_wrap=True)
    else:
        out.print("[bold]Demo global admin key[/]: printed when the demo was created (keys "
                  "are stored hashed); `commcredits admin key --rotate` prints a new one, and "
                  "the old one stops working.", soft_wrap=True)


@db_app.command("upgrade")
@friendly
def db_upgrade(db: Db = None) -> None:
    """Apply every database migration (safe to run again); creates a new SQLite file."""
    with runtime(db, create=True) as rt:
        out.print(f"Database is up to date: {rt.engine.url.render_as_string(hide_password=True)}")


def parse_duration(text: str) -> int:
    match = _DURATION.match(text.strip())
    if not match:
        raise InvalidInput("INVALID_DURATION", f"{text!r} is not a duration; write one like "
                           "90s, 15m, 6h or 30d.")
    value, unit = int(match.group(1)), match.group(2)
    return value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


@clock_app.command("show")
@friendly
def clock_show(db: Db = None) -> None:
    """What time the service thinks it is."""
    with runtime(db) as rt:
        store = rt.services.clock_store
        simulated, _ = store.read() if store else (False, None)
        out.print(f"{rt.services.clock.now().isoformat()} "
                  f"({'simulated' if simulated else 'real'} clock)")


@clock_app.command("set")
@friendly
def clock_set(
    when: Annotated[str, typer.Argument(help="ISO 8601 time with zone, e.g. 2027-03-01T00:00Z")],
    db: Db = None,
) -> None:
    """Set the simulated clock and run the work that became due."""
    try:
        now = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("INVALID_TIME", f"{when!r} is not a time; use ISO 8601 with a zone, "
                           "e.g. 2027-03-01T00:00:00Z.") from None
    with runtime(db) as rt:
        moved, report = clock_service.move_clock(rt.services, OPERATOR_CLI, now=now)
    out.print(f"Clock set to {moved.isoformat()}; {report.summary()}")


@clock_app.command("advance")
@friendly
def clock_advance(
    by: Annotated[str, typer.Argument(help="How far: 90s, 15m, 6h or 30d.")],
    db: Db = None,
) -> None:
    """Move the simulated clock forward and run the work that became due."""
    seconds = parse_duration(by)
    with runtime(db) as rt:
        moved, report = clock_service.move_clock(
            rt.services, OPERATOR_CLI, advance_seconds=seconds,
        )
    out.print(f"Clock advanced {timedelta(seconds=seconds)} to {moved.isoformat()}; "
              f"{report.summary()}")


@jobs_app.command("run")
@friendly
def jobs_run(db: Db = None) -> None:
    """Run the work that is due now (lot expiry)."""
    with runtime(db) as rt:
        report = run_due_work(rt.services)
    out.print(f"Due work done: {report.summary()}")


@notes_app.command("list")
@friendly
def notifications_list(
    tenant_id: str,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 30,
    db: Db = None,
) -> None:
    """Emails queued and sent for a tenant, with their status."""
    with runtime(db) as rt:
        rows = notifications.list_notifications(rt.services, OPERATOR_CLI, tenant_id, limit)
    table = Table(title="Notifications")
    for h in ("id", "created", "kind", "status", "to", "subject"):
        table.add_column(h)
    for n in rows:
        table.add_row(str(n.id), n.created_at.strftime("%Y-%m-%d %H:%M"), n.kind, n.status,
                      ", ".join(n.recipients), n.subject)
    out.print(table)


@notes_app.command("send")
@friendly
def notifications_send(db: Db = None) -> None:
    """Deliver every queued email now (SMTP or .eml files), ignoring back-off."""
    with runtime(db) as rt:
        assert rt.services.mailer is not None
        result = notifications.deliver_due(rt.services, rt.services.mailer, retry_now=True)
    out.print(f"sent {result.sent}, failed {result.failed} (failed ones stay queued)")


@app.command()
@friendly
def worker(
    db: Db = None,
    interval: Annotated[float, typer.Option(help="Seconds between rounds.")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="Run one round and stop.")] = False,
) -> None:
    """Run due work in a loop (safe to run several at once); Ctrl-C stops it."""
    import time as _time

    with runtime(db) as rt:
        while True:
            report = run_due_work(rt.services)
            out.print(f"{rt.services.clock.now().isoformat()} {report.summary()}")
            if once:
                return
            try:
                _time.sleep(interval)
            except KeyboardInterrupt:
                return


# The directory groups (users, licenses, numbers, pools) use `friendly` and `runtime`
# from `common.py`.
from commcredits.entrypoints.cli import directory as _dir  # noqa: E402

app.add_typer(_dir.users_app, name="users")
app.add_typer(_dir.subscriptions_app, name="subscriptions")
app.add_typer(_dir.licenses_app, name="licenses")
app.add_typer(_dir.numbers_app, name="numbers")
app.add_typer(_dir.resources_app, name="resource-accounts")
app.add_typer(_dir.report_app, name="report")

# The rate tables group (RATE-1, RATE-3) and `report pstn-usage` (REP-1) use `friendly` and
# `runtime` from `common.py`.
from commcredits.entrypoints.cli import rates as _rates  # noqa: E402
from commcredits.entrypoints.cli import reports as _reports  # noqa: E402, F401

app.add_typer(_rates.rates_app, name="rates")

# The post-usage billing group (ACCT-6, POST-1, POST-2) uses `friendly` and
# `runtime` from `common.py`.
from commcredits.entrypoints.cli import postpaid as _postpaid  # noqa: E402

app.add_typer(_postpaid.billing_app, name="billing")

# Call records in batch (CDR-1) use `friendly` and `runtime`
# from `common.py`.
from commcredits.entrypoints.cli import cdrs as _cdrs  # noqa: E402

app.add_typer(_cdrs.cdr_app, name="cdr")

# Insight (REP-5) adds `report spend` and `credits recommendation` to the groups above.
# Admin-center accounts and sign-in links use `friendly` and `runtime`
# from `common.py`.
from commcredits.entrypoints.cli import admins as _admins  # noqa: E402
from commcredits.entrypoints.cli import insight as _insight  # noqa: E402, F401

app.add_typer(_admins.admin_app, name="admin")

# The spend guard (GUARD-1, GUARD-3) uses `friendly` and `runtime` from `common.py`.
from commcredits.entrypoints.cli import guard as _guard  # noqa: E402

app.add_typer(_guard.guard_app, name="guard")

# Planning (PLAN-1, PLAN-2): `what-if` and `advise`.
from commcredits.entrypoints.cli import planning as _planning  # noqa: E402

app.command("what-if")(_planning.what_if)
app.command("advise")(_planning.advise)


def main() -> None:
    """The `commcredits` executable: every command module is imported by now."""
    freeze_startup_heap()
    app()
