"""CLI groups `credits` (balance, lots, cards, purchases, adjustments, ledger, invoices) and
`auto-recharge` (settings and status).

Like the rest of the CLI they work on the database as the operator. `main.py` registers these
groups (and `insight.py` adds `credits recommendation`), so import the CLI through `main`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from commcredits.domain.errors import InvalidInput
from commcredits.domain.recharge import ACTIVE, RequestStatus
from commcredits.entrypoints.cli.common import Db, friendly, money_table, out, runtime
from commcredits.services import funds, payments, queries, recharge
from commcredits.services.auth import OPERATOR_CLI
from commcredits.services.context import Services

credits_app: typer.Typer = typer.Typer(
    help="Balance, lots, purchases, cards, ledger and invoices.", no_args_is_help=True)
recharge_app: typer.Typer = typer.Typer(
    help="Auto-recharge settings and status.", no_args_is_help=True)


@credits_app.command("show")
@friendly
def credits_show(tenant_id: str, db: Db = None) -> None:
    """Balance, debt and lots with their expiry dates."""
    with runtime(db) as rt:
        view = queries.credits(rt.services, OPERATOR_CLI, tenant_id)
    out.print(f"[bold]{view.tenant.name}[/]  balance [bold]{view.balance}[/]  "
              f"available {view.available}  debt {view.debt}")
    rows = [(str(x.id), x.purchased_at.date().isoformat(), x.expires_at.date().isoformat(),
             x.source.value, x.amount.format(), x.remaining.format()) for x in view.lots]
    out.print(money_table("Lots (used oldest first)", rows,
                          ("lot", "purchased", "expires", "source", "amount", "remaining")))


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def read_card_number(source: str | None) -> str:
    """The card number from a hidden prompt, or from stdin (`--number -`, or stdin piped):
    never from the command line, where it would stay in the shell history."""
    if source not in (None, "-"):
        raise InvalidInput(
            "CARD_NUMBER_ON_COMMAND_LINE",
            "Do not put a card number on the command line: it stays in the shell history. "
            "Leave --number out to be asked for it (hidden), or pipe it in with --number -.",
        )
    if source == "-" or not _stdin_is_tty():
        number = sys.stdin.readline().strip()
        if not number:
            raise InvalidInput(
                "CARD_NUMBER_REQUIRED",
                "No card number on stdin: pipe one line in, e.g. "
                "`printf '4242424242424242\\n' | commcredits credits add-card TENANT`.",
            )
        return number
    return str(typer.prompt("Card number", hide_input=True)).strip()


@credits_app.command("add-card")
@friendly
def credits_add_card(
    tenant_id: Annotated[str, typer.Argument(help="Tenant id.")],
    expiry: Annotated[str, typer.Option("--expiry", help="Expiry as MM/YYYY.")] = "12/2030",
    number: Annotated[str | None, typer.Option(
        "--number", help="`-` reads the card number from stdin. Without it the number is "
                         "asked for (hidden), or read from stdin when that is piped.",
    )] = None,
    db: Db = None,
) -> None:
    """Add a card; only brand, last 4 digits and expiry are kept. The number is asked for
    (hidden) or piped in, never taken from the command line."""
    month, _, year = expiry.partition("/")
    if not (month.isdigit() and year.isdigit()):
        raise InvalidInput("INVALID_EXPIRY", "Write the expiry as MM/YYYY, e.g. 12/2030.")
    card_number = read_card_number(number)
    with runtime(db) as rt:
        added = payments.add_or_find_payment_method(
            rt.services, OPERATOR_CLI, tenant_id, number=card_number, exp_month=int(month),
            exp_year=int(year))
    m = added.method
    verb = "Added" if added.created else "Already added: the same card is"
    out.print(f"{verb} {m.brand} ending {m.last4} (expires {m.exp_month:02d}/{m.exp_year}): "
              f"[bold]{m.id}[/]")


@credits_app.command("remove-card")
@friendly
def credits_remove_card(
    tenant_id: str,
    payment_method_id: Annotated[str, typer.Argument(help="The payment method's id.")],
    db: Db = None,
) -> None:
    """Remove a payment method; it can no longer pay (past invoices are unchanged)."""
    with runtime(db) as rt:
        m = payments.remove_payment_method(rt.services, OPERATOR_CLI, tenant_id,
                                           payment_method_id)
    out.print(f"Removed {m.brand} ending {m.last4}: [bold]{m.id}[/]")


@credits_app.command("purchase")
@friendly
def credits_purchase(
    tenant_id: str,
    amount: Annotated[str, typer.Argument(help="Amount with at most 2 decimals, e.g. 50.00.")],
    card: Annotated[str, typer.Option(help="Payment method id (see credits add-card).")],
    channel: Annotated[str | None, typer.Option(
        help="web_direct_offer for CSP tenants buying directly.")] = None,
    idempotency_key: Annotated[str | None, typer.Option(
        help="Retry-safe key: the same key never charges twice.")] = None,
    db: Db = None,
) -> None:
    """Buy credits: a new lot that expires in 12 months, and an invoice."""
    with runtime(db) as rt:
        r = funds.purchase(rt.services, OPERATOR_CLI, tenant_id, amount=amount,
                           payment_method_id=card, channel=channel,
                           idempotency_key=idempotency_key)
    out.print(f"{'Replayed' if r.replayed else 'Bought'} {r.lot.amount} · lot {r.lot.id} "
              f"expires {r.lot.expires_at.date()} · invoice {r.invoice.number}")


# A negative amount (`-25.00`) looks like an option to the parser: unknown "options" are kept
# as arguments here, so `credits adjust TENANT -25.00 --reason …` works as written. The
# amount is a string, validated by `funds.adjust` (INVALID_AMOUNT).
@credits_app.command("adjust", context_settings={"ignore_unknown_options": True})
@friendly
def credits_adjust(
    tenant_id: str,
    amount: Annotated[str, typer.Argument(help="Signed amount: 25.00 adds, -25.00 charges.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the ledger and audit log).")],
    db: Db = None,
) -> None:
    """Operator correction: add a lot (adjustment) or charge the balance."""
    with runtime(db) as rt:
        result = funds.adjust(rt.services, OPERATOR_CLI, tenant_id, amount=amount,
                              reason=reason)
    if isinstance(result, funds.PurchaseResult):
        out.print(f"Added {result.lot.amount} as lot {result.lot.id} "
                  f"(invoice {result.invoice.number})")
    else:
        out.print(f"Charged {result.amount}; balance {result.balance}, debt {result.debt}")


@credits_app.command("ledger")
@friendly
def credits_ledger(
    tenant_id: str,
    limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 30,
    db: Db = None,
) -> None:
    """The append-only ledger, newest first."""
    with runtime(db) as rt:
        tenant, entries = queries.ledger(rt.services, OPERATOR_CLI, tenant_id, limit=limit)
    rows = [(str(e.id), e.at.strftime("%Y-%m-%d %H:%M"), e.kind.value, e.amount.format(),
             ", ".join(f"lot {a.lot_id}: {a.amount.format()}" for a in e.allocations),
             e.reference or "") for e in entries]
    out.print(money_table(f"Ledger ({tenant.currency})", rows,
                          ("id", "at", "kind", "amount", "allocations", "reference")))


@credits_app.command("invoices")
@friendly
def credits_invoices(tenant_id: str, db: Db = None) -> None:
    """Invoices, newest first."""
    with runtime(db) as rt:
        found = queries.invoices(rt.services, OPERATOR_CLI, tenant_id)
    rows = [(i.number, i.issued_at.date().isoformat(), i.total.format(),
             str(i.document.get("status", ""))) for i in found]
    out.print(money_table("Invoices", rows, ("number", "issued", "total", "status")))


@recharge_app.command("show")
@friendly
def recharge_show(tenant_id: str, db: Db = None) -> None:
    """Settings, the last recharge, the last failure and the next retry."""
    with runtime(db) as rt:
        st = recharge.status(rt.services, OPERATOR_CLI, tenant_id)
    s = st.settings
    if s is None:
        out.print("Auto-recharge has never been set up for this tenant.")
        return
    out.print(f"Auto-recharge is [bold]{'on' if s.enabled else 'off'}[/]: add "
              f"{s.amount or '-'} when the balance is below {s.trigger or '-'} "
              f"(payment method {s.payment_method_id or '-'})")
    out.print(f"last recharge: {s.last_recharge_at or 'never'}")
    if s.last_failure_at:
        out.print(f"last failure:  {s.last_failure_at} ({s.last_failure_reason})")
    if st.active:
        out.print(f"in flight:     {st.active.amount}, attempt {st.active.attempt}, "
                  f"next try {st.active.next_attempt_at}")
    if s.waiting_for_payment_method:
        out.print("[yellow]Retries ran out: waiting for a new payment method.[/]")
    closed = next((r for r in st.recent if r.status not in ACTIVE), None)
    if closed is not None and closed.status == RequestStatus.NOT_NEEDED.value:
        out.print(f"last retry:    not needed, nothing charged ({closed.amount}, "
                  f"attempt {closed.attempt})")


@recharge_app.command("set")
@friendly
def recharge_set(
    tenant_id: str,
    amount: Annotated[str | None, typer.Option(
        help='"Add this amount", e.g. 100.00 (needed with --enable).')] = None,
    trigger: Annotated[str | None, typer.Option(
        help='"When balance is below", e.g. 50.00 (needed with --enable).')] = None,
    card: Annotated[str | None, typer.Option(
        help="Payment method id (needed with --enable).")] = None,
    enable: Annotated[bool, typer.Option("--enable/--disable", help="Turn it on or off.")]
    = True,
    db: Db = None,
) -> None:
    """Turn auto-recharge on with its amounts and payment method, or off (--disable needs
    nothing else and keeps the amounts for next time)."""
    if enable:
        missing = [flag for flag, value in (("--amount", amount), ("--trigger", trigger),
                                            ("--card", card)) if value is None]
        if missing:
            raise InvalidInput(
                "AUTO_RECHARGE_INCOMPLETE",
                f"Turning auto-recharge on needs {', '.join(missing)}, e.g. --amount 100.00 "
                "--trigger 50.00 --card PM_ID; --disable turns it off.",
            )
    with runtime(db) as rt:
        if not enable:
            amount, trigger, card = _kept(rt.services, tenant_id, amount, trigger, card)
        st = recharge.configure(rt.services, OPERATOR_CLI, tenant_id, enabled=enable,
                                amount=amount, trigger=trigger, payment_method_id=card)
    s = st.settings
    assert s is not None
    if s.enabled:
        out.print(f"Auto-recharge on: add {s.amount} when the balance is below {s.trigger}.")
    else:
        out.print("Auto-recharge off; nothing more is charged automatically.")


def _kept(
    svc: Services, tenant_id: str, amount: str | None, trigger: str | None, card: str | None,
) -> tuple[str | None, str | None, str | None]:
    """What --disable leaves in place: the values given, else the current settings."""
    current = recharge.status(svc, OPERATOR_CLI, tenant_id).settings
    if current is None:
        return amount, trigger, card
    if amount is None and current.amount is not None:
        amount = current.amount.format()
    if trigger is None and current.trigger is not None:
        trigger = current.trigger.format()
    if amount is None or trigger is None:  # both or neither: the domain checks them together
        amount = trigger = None
    return amount, trigger, card if card is not None else current.payment_method_id
