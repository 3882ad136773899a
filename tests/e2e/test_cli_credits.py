"""`credits` and `auto-recharge` through the CLI as the README writes them (issue #11):
negative adjustments, card numbers that never touch the command line, and `auto-recharge
set --disable` on its own."""

from __future__ import annotations

from decimal import Decimal

import pytest
from typer.testing import CliRunner

from commcredits.entrypoints.cli import credits as credits_cli
from commcredits.entrypoints.cli.main import app
from commcredits.services import queries, recharge
from commcredits.services.context import Services
from tests.support import GOOD_CARD, OPERATOR, add_card, buy, make_tenant

runner = CliRunner(env={"COLUMNS": "250"})


def cli(db_url: str, *args: str, code: int = 0, input: str | None = None) -> str:
    result = runner.invoke(app, [*args, "--db", db_url], input=input)
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.rule("FUND-1")
@pytest.mark.rule("FUND-6")
def test_credits_adjust_takes_a_negative_amount_as_written(svc: Services, db_url: str) -> None:
    tid = make_tenant(svc)
    lot = buy(svc, tid, "100.00", add_card(svc, tid)).lot
    out = cli(db_url, "credits", "adjust", tid, "-25.00", "--reason", "x")
    assert "Charged 25.00 USD; balance 75.00 USD, debt 0.00 USD" in out
    out = cli(db_url, "credits", "adjust", tid, "--reason", "goodwill", "-0.50")
    assert "balance 74.50 USD" in out
    view = queries.credits(svc, OPERATOR, tid)
    assert view.balance.format() == "74.50"
    assert [(x.id, x.remaining.format()) for x in view.lots] == [(lot.id, "74.50")]
    _, entries = queries.ledger(svc, OPERATOR, tid, limit=2)
    assert [(e.kind.value, e.amount.format()) for e in entries] == [
        ("adjustment", "-0.50"), ("adjustment", "-25.00")]
    assert [(a.lot_id, a.amount.amount) for a in entries[1].allocations] == [
        (lot.id, Decimal("25.00"))]  # taken from the one lot
    out = cli(db_url, "credits", "adjust", tid, "25.00", "--reason", "refund")
    assert "Added 25.00 USD as lot" in out
    assert queries.credits(svc, OPERATOR, tid).balance.format() == "99.50"
    assert "INVALID_AMOUNT" in cli(db_url, "credits", "adjust", tid, "-x", "--reason", "y",
                                   code=2)


@pytest.mark.rule("PAY-1")
def test_add_card_reads_the_number_from_stdin_or_a_hidden_prompt(
    svc: Services, db_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    tid = make_tenant(svc)
    out = cli(db_url, "credits", "add-card", tid, input=f"{GOOD_CARD}\n")  # piped
    assert "Added visa ending 4242 (expires 12/2030)" in out and GOOD_CARD not in out
    out = cli(db_url, "credits", "add-card", tid, "--number", "-", "--expiry", "01/2031",
              input=f"{GOOD_CARD}\n")
    assert "Added visa ending 4242 (expires 01/2031)" in out
    monkeypatch.setattr(credits_cli, "_stdin_is_tty", lambda: True)
    out = cli(db_url, "credits", "add-card", tid, input=f"{GOOD_CARD}\n")  # hidden prompt
    assert "Card number" in out and GOOD_CARD not in out
    assert "Already added: the same card is visa ending 4242 (expires 12/2030)" in out
    monkeypatch.setattr(credits_cli, "_stdin_is_tty", lambda: False)
    assert "error CARD_NUMBER_REQUIRED" in cli(db_url, "credits", "add-card", tid, input="",
                                               code=2)
    out = cli(db_url, "credits", "add-card", tid, "--number", GOOD_CARD, code=2)
    assert "error CARD_NUMBER_ON_COMMAND_LINE" in out
    out = cli(db_url, "credits", "add-card", tid, GOOD_CARD, code=2)  # no number argument
    assert "unexpected extra argument" in out
    methods = queries.payment_methods(svc, OPERATOR, tid)
    assert sorted((m.last4, m.exp_month, m.exp_year) for m in methods) == [
        ("4242", 1, 2031), ("4242", 12, 2030)]  # the same card twice is one method


@pytest.mark.rule("AR-1")
@pytest.mark.rule("AR-7")
def test_auto_recharge_set_disable_needs_no_amount_trigger_or_card(
    svc: Services, db_url: str,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    out = cli(db_url, "auto-recharge", "set", tid, "--disable")  # never set up: fine too
    assert "Auto-recharge off" in out
    out = cli(db_url, "auto-recharge", "set", tid, "--amount", "100.00", "--trigger", "50.00",
              "--card", card)
    assert "Auto-recharge on: add 100.00 USD when the balance is below 50.00 USD." in out
    out = cli(db_url, "auto-recharge", "set", tid, "--disable")
    assert "Auto-recharge off" in out
    s = recharge.status(svc, OPERATOR, tid).settings
    assert s is not None and not s.enabled
    assert (s.amount and s.amount.format(), s.trigger and s.trigger.format(),
            s.payment_method_id) == ("100.00", "50.00", card)  # kept for next time
    out = cli(db_url, "auto-recharge", "set", tid, "--trigger", "20.00", code=2)
    assert "error AUTO_RECHARGE_INCOMPLETE" in out and "--amount, --card" in out
    assert not recharge.status(svc, OPERATOR, tid).settings.enabled  # type: ignore[union-attr]
