"""Issue #12: inputs that used to be accepted, or answered 500, are refused with the error
envelope and a stable code, and change nothing (ERR-1, FUND-2, FUND-9, AR-1, CALL-1, CDR-1,
RATE-3, NUM-1, PAY-1, SIM-1).

Each test pins exact amounts and codes, and compares what the tenant's admins can read and
every table's row count before and after the refused request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import Engine
from typer.testing import CliRunner

from commcredits.entrypoints.cli.main import app as cli
from tests.e2e.conftest import Api, assert_envelope, snapshot, successful_charges

Send = Callable[[], Response]
CSV = {"Content-Type": "text/csv"}
JSON = {"Content-Type": "application/json"}
HUGE = "1" + "0" * 28  # 1e28: more digits than the default decimal context keeps


@contextmanager
def unchanged(api: Api, engine: Engine, tid: str) -> Iterator[None]:
    """Whatever runs inside changes nothing the tenant's admins can read, and no row count."""
    before = snapshot(api, engine, tid)
    charged = successful_charges(engine)
    yield
    assert snapshot(api, engine, tid) == before
    assert successful_charges(engine) == charged


def refused(api: Api, engine: Engine, tid: str, send: Send, status: int, code: str,
            ) -> dict[str, Any]:
    """`send` is refused with the envelope, ``status`` and ``code``, and changes nothing."""
    with unchanged(api, engine, tid):
        error = assert_envelope(send(), status, code)
    return error


@pytest.fixture
def shop(api: Api) -> dict[str, str]:
    """A MOSA tenant in the US with a good card and 100.00 USD of credits."""
    tid = api.tenant()
    card = api.card(tid)
    api.bought(tid, "100.00", card)
    return {"tid": tid, "card": card}


def auto_recharge(api: Api, tid: str, body: dict[str, Any]) -> Send:
    return lambda: api.put(f"/tenants/{tid}/credits/auto-recharge", body)


def raw_post(api: Api, path: str, content: bytes) -> Send:
    return lambda: api.post(path, content=content, headers=JSON)


# Item 1: auto-recharge and adjustments take FUND-2's upper limit.


@pytest.mark.rule("AR-1")
@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_auto_recharge_amount_or_trigger_above_the_purchase_maximum_is_invalid(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid, card = shop["tid"], shop["card"]
    for field in ("amount", "trigger"):
        for value in ("1000000.01", "5000000.00", "9000000000000.00", "9223372036854.78",
                      HUGE):
            with subtests.test(field=field, value=value):
                body = {"enabled": True, "amount": "100.00", "trigger": "50.00",
                        "payment_method_id": card, field: value}
                error = refused(api, engine, tid, auto_recharge(api, tid, body),
                                422, "INVALID_AMOUNT")
                assert error["details"]["maximum"] == "1000000.00"
    r = auto_recharge(api, tid, {"enabled": True, "amount": "1000000.00",
                                 "trigger": "1000000.00", "payment_method_id": card})()
    assert r.status_code == 200, r.text
    assert api.ok(f"/tenants/{tid}/credits")["auto_recharge"]["amount"] == "1000000.00"


@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_an_operator_adjustment_beyond_the_purchase_maximum_is_invalid(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid = shop["tid"]
    for amount in ("1000000.01", "-1000000.01", "9223372036854.78", "-9223372036854.78",
                   HUGE, "-" + HUGE):
        with subtests.test(amount=amount):
            error = refused(api, engine, tid, lambda amount=amount: api.post(
                f"/tenants/{tid}/credits/adjustments", {"amount": amount, "reason": "typo"},
            ), 422, "INVALID_AMOUNT")
            assert error["details"]["maximum"] == "1000000.00"
    r = api.post(f"/tenants/{tid}/credits/adjustments",
                 {"amount": "-1000000.00", "reason": "largest correction"})
    assert r.status_code == 201, r.text
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "-999900.00"


@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_the_cli_adjustment_is_capped_as_the_api_one(
    api: Api, engine: Engine, shop: dict[str, str], db_url: str,
) -> None:
    tid = shop["tid"]
    runner = CliRunner()
    with unchanged(api, engine, tid):
        for amount in ("1000000.01", "-5000000.00", HUGE):
            result = runner.invoke(cli, ["credits", "adjust", "--reason", "typo",
                                         "--db", db_url, "--", tid, amount])
            assert result.exit_code == 2, result.output
            assert "INVALID_AMOUNT" in result.output


# Item 7: JSON numbers are decimals, never binary floats.


@pytest.mark.rule("FUND-9")
@pytest.mark.rule("FUND-2")
@pytest.mark.rule("ERR-1")
def test_json_number_amounts_with_more_than_two_decimals_are_invalid(
    api: Api, engine: Engine, shop: dict[str, str], subtests: pytest.Subtests,
) -> None:
    tid, card = shop["tid"], shop["card"]
    for token in ("50.009999999999999999", "50.0000000000000001", "100.001", "1e28",
                  "1E+400", HUGE + ".00"):
        with subtests.test(token=token):
            body = f'{{"amount": {token}, "payment_method_id": "{card}"}}'.encode()
            refused(api, engine, tid, raw_post(api, f"/tenants/{tid}/credits/purchases", body),
                    422, "INVALID_AMOUNT")
            body = (f'{{"enabled": true, "amount": {token}, "trigger": "0", '
                    f'"payment_method_id": "{card}"}}').encode()
            refused(api, engine, tid, lambda body=body: api.put(
                f"/tenants/{tid}/credits/auto-recharge", content=body, headers=JSON,
            ), 422, "INVALID_AMOUNT")


@pytest.mark.rule("FUND-9")
def test_a_json_number_amount_is_taken_to_the_cent(
    api: Api, shop: dict[str, str],
) -> None:
    tid, card = shop["tid"], shop["card"]
    body = f'{{"amount": 60.10, "payment_method_id": "{card}"}}'.encode()
    r = raw_post(api, f"/tenants/{tid}/credits/purchases", body)()
    assert r.status_code == 201, r.text
    assert r.json()["lot"]["amount"] == "60.10"
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "160.10"
