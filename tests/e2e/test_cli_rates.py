"""Rate tables through the CLI (CliRunner): `rates import`, `rates list`, `rates sample`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from commcredits.entrypoints.cli.main import app
from commcredits.services import rates
from commcredits.services.context import Services
from tests.support import OPERATOR

runner = CliRunner(env={"COLUMNS": "250"})
HEADER = ("prefix,destination,number_type,direction,rate_per_minute,connection_fee,"
          "first_increment,next_increment,effective_from\n")


def cli(db_url: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--db", db_url])
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.rule("RATE-1")
@pytest.mark.rule("RATE-3")
def test_the_cli_imports_lists_and_refuses_rate_tables_with_every_bad_line(
    svc: Services, db_url: str, tmp_path: Path,
) -> None:
    good = tmp_path / "chf.csv"
    good.write_text(HEADER + "41,Switzerland,fixed,outbound,0.03,0,60,60,"
                    "2026-01-01T00:00:00Z\n", encoding="utf-8")
    out = cli(db_url, "rates", "import", "CHF", str(good))
    assert "Imported CHF rate table version 1: 1 rows (chf.csv)" in out
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "41,Switzerland,fixed,outbound,0.03,0,60,60,2026-01-01T00:00:00Z\n"
                   "x41,Nowhere,fixed,outbound,0.03,0,60,60,2026-01-01T00:00:00Z\n"
                   "42,Somewhere,fixed,sideways,0.03,0,60,60,2026-01-01T00:00:00Z\n",
                   encoding="utf-8")
    out = cli(db_url, "rates", "import", "CHF", str(bad), code=2)
    assert "error INVALID_RATE_TABLE" in out
    assert "line 3: prefix must be E.164 digits without +" in out
    assert "line 4: direction must be outbound or toll_free_inbound" in out
    out = cli(db_url, "rates", "list", "CHF")
    assert "chf.csv" in out and "bad.csv" not in out
    assert "No USD rate table yet." in cli(db_url, "rates", "list", "USD")
    out = cli(db_url, "rates", "sample")
    assert "Imported USD rate table version 1: 112 rows" in out
    assert "Imported GBP rate table version 1" in out
    assert [r.version for r in rates.list_tables(svc, OPERATOR, "EUR")] == [1]
