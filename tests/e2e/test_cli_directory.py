"""The directory through the CLI (CliRunner): users, subscriptions, licenses (one user and
bulk CSV), numbers, resource accounts and the minute pools report."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from commcredits.entrypoints.cli.main import app
from commcredits.services import directory, licenses
from commcredits.services.context import Services
from tests.support import OPERATOR, make_tenant

runner = CliRunner(env={"COLUMNS": "250"})


def cli(db_url: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--db", db_url])
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.rule("LIC-1")
@pytest.mark.rule("LIC-3")
@pytest.mark.rule("NUM-1")
@pytest.mark.rule("POOL-6")
def test_the_cli_manages_users_seats_licenses_numbers_and_shows_the_pools(
    svc: Services, db_url: str,
) -> None:
    tid = make_tenant(svc)
    out = cli(db_url, "subscriptions", "buy", tid, "MCOEV", "2")
    assert "MCOEV (Teams Phone Standard): 2 purchased, 0 assigned, 2 available" in out
    cli(db_url, "subscriptions", "buy", tid, "MCOPSTN1", "1")
    out = cli(db_url, "users", "add", tid, "--upn", "megan@contoso.com", "--name",
              "Megan Bowen", "--location", "US", "--phone", "+14255550101")
    assert "Added megan@contoso.com (Megan Bowen), object id" in out
    cli(db_url, "users", "add", tid, "--upn", "lynne@contoso.com", "--name", "Lynne")
    out = cli(db_url, "licenses", "assign", tid, "megan@contoso.com", "--add", "MCOEV",
              "--add", "MCOPSTN1")
    assert "megan@contoso.com: added MCOEV, MCOPSTN1, removed nothing" in out
    out = cli(db_url, "licenses", "assign", tid, "lynne@contoso.com", "--add", "MCOEV",
              code=2)
    assert "error USAGE_LOCATION_REQUIRED" in out
    out = cli(db_url, "users", "update", tid, "lynne@contoso.com", "--location", "GB",
              "--block")
    assert "GB" in out and "yes" in out
    out = cli(db_url, "users", "list", tid)
    assert "megan@contoso.com" in out and "MCOEV MCOPSTN1" in out and "+14255550101" in out
    assert "Lynne" in cli(db_url, "users", "show", tid, "lynne@contoso.com")
    out = cli(db_url, "subscriptions", "list", tid)
    assert "Domestic Calling Plan" in out
    cli(db_url, "resource-accounts", "add", tid, "--upn", "conference@contoso.com",
        "--name", "Bridge", "--kind", "conference_bridge")
    out = cli(db_url, "numbers", "add", tid, "+18005550100", "--type", "toll_free",
              "--assign-to", "conference@contoso.com")
    assert "Added toll_free number +18005550100, assigned to conference@contoso.com" in out
    cli(db_url, "numbers", "add", tid, "+442079460108")
    assert "assigned to lynne@contoso.com" in cli(db_url, "numbers", "assign", tid,
                                                   "+442079460108", "lynne@contoso.com")
    assert "unassigned" in cli(db_url, "numbers", "unassign", tid, "+442079460108")
    assert "Released" in cli(db_url, "numbers", "release", tid, "+442079460108")
    out = cli(db_url, "numbers", "list", tid)
    assert "+18005550100" in out and "conference@contoso.com" in out
    assert "+18005550100" in cli(db_url, "resource-accounts", "list", tid)
    out = cli(db_url, "report", "minute-pools", tid)
    assert "United States and Puerto Rico" in out
    assert "Domestic calling plan (3000 domestic minutes)" in out
    assert "3,000" in out
    assert "INVALID_MONTH" in cli(db_url, "report", "minute-pools", tid, "--month", "13-2026",
                                  code=2)


@pytest.mark.rule("LIC-4")
def test_licenses_bulk_reports_rows_and_refuses_a_malformed_file_whole(
    svc: Services, db_url: str, tmp_path: Path,
) -> None:
    tid = make_tenant(svc)
    licenses.buy_seats(svc, OPERATOR, tid, sku="MCOEV", quantity=1)
    for name in ("a", "b"):
        directory.create_user(svc, OPERATOR, tid, upn=f"{name}@contoso.com", display_name=name,
                              usage_location="US")
    bad = tmp_path / "bad.csv"
    bad.write_text("user,sku,action\na@contoso.com,MCOEV,add\n", encoding="utf-8")
    out = cli(db_url, "licenses", "bulk", tid, str(bad), code=2)
    assert "error MALFORMED_FILE" in out
    good = tmp_path / "licenses.csv"
    good.write_text("upn,sku,action\na@contoso.com,MCOEV,add\nb@contoso.com,MCOEV,add\n",
                    encoding="utf-8")
    report = tmp_path / "report.csv"
    out = cli(db_url, "licenses", "bulk", tid, str(good), "--report", str(report), code=1)
    assert "2 rows: 1 applied, 1 failed" in out
    assert "error" not in out  # failed rows are a report, not a refusal
    assert "NO_FREE_SEATS" in out
    assert report.read_text(encoding="utf-8").splitlines()[:3] == [
        "line,upn,sku,action,result,code,message",
        "2,a@contoso.com,MCOEV,add,ok,,",
        report.read_text(encoding="utf-8").splitlines()[2],
    ]
    assert report.read_text(encoding="utf-8").splitlines()[2].startswith(
        "3,b@contoso.com,MCOEV,add,error,NO_FREE_SEATS,")
    assert sorted(directory.get_user(svc, OPERATOR, tid, "a@contoso.com").licenses) == ["MCOEV"]
