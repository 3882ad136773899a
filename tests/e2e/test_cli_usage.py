"""The CLI as a new user meets it (issue #11): a mistyped `--db` is refused, exit statuses
mean one thing everywhere (0 applied, 1 some rows rejected, 2 refused), messages never show
a Python exception's class name, output paths are checked before any work, and the progress
bar counts data rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from commcredits.entrypoints.cli.main import app
from commcredits.services import directory, licenses, queries
from commcredits.services.context import Services
from tests.integration.test_calls import GB_MOBILE, setup
from tests.support import OPERATOR, make_tenant

runner = CliRunner(env={"COLUMNS": "250", "COMMCREDITS_DATABASE_URL": None})
CLASS_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception|Parameter)\b|\bExit: ")


def run(*args: str, code: int, env: dict[str, str | None] | None = None) -> str:
    result: Result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    assert not CLASS_NAME.search(result.output), result.output
    return result.output


@pytest.mark.rule("ERR-1")
@pytest.mark.parametrize("command", [
    ["tenant", "list"], ["credits", "show", "t1"], ["credits", "ledger", "t1"],
    ["jobs", "run"], ["worker", "--once"], ["clock", "show"], ["rates", "list", "USD"],
    ["users", "list", "t1"], ["admin", "list"], ["notifications", "send"],
])
def test_a_mistyped_db_is_refused_and_no_file_is_created(
    tmp_path: Path, command: list[str],
) -> None:
    typo = tmp_path / "typo.db"
    out = run(*command, "--db", f"sqlite:///{typo}", code=2)
    assert "error DATABASE_NOT_FOUND" in out and str(typo) in out
    assert "commcredits db upgrade" in out
    out = run(*command, code=2, env={"COMMCREDITS_DATABASE_URL": f"sqlite:///{typo}"})
    assert "error DATABASE_NOT_FOUND" in out and str(typo) in out
    assert not typo.exists()


@pytest.mark.rule("ERR-1")
def test_without_a_database_in_the_folder_the_hint_is_make_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    out = run("tenant", "list", code=2)
    assert "error DATABASE_NOT_FOUND" in out and "`make run`" in out
    assert "`commcredits db upgrade`" in out and str(tmp_path / "commcredits.db") in out
    assert not (tmp_path / "commcredits.db").exists()
    assert "Database is up to date" in run("db", "upgrade", code=0)
    assert (tmp_path / "commcredits.db").exists()
    assert "Tenants" in run("tenant", "list", code=0)


@pytest.mark.rule("ERR-1")
def test_a_bad_database_url_or_a_database_that_is_down_is_one_line_exit_2(
    tmp_path: Path,
) -> None:
    out = run("tenant", "list", "--db", "not a url", code=2)
    assert "error INVALID_DATABASE_URL" in out
    out = run("tenant", "list", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none", code=2)
    assert "error DATABASE_ERROR" in out and "127.0.0.1" in out


@pytest.mark.rule("ERR-1")
def test_bad_parameters_and_domain_refusals_exit_2_without_class_names(
    svc: Services, db_url: str, tmp_path: Path,
) -> None:
    tid = make_tenant(svc)
    assert "error TENANT_NOT_FOUND" in run("credits", "show", "nope", "--db", db_url, code=2)
    assert "error INVALID_DURATION" in run("clock", "advance", "5x", "--db", db_url, code=2)
    assert "error INVALID_TIME" in run("clock", "set", "soon", "--db", db_url, code=2)
    out = run("report", "pstn-usage", tid, "--format", "pdf", "-o", str(tmp_path / "x.pdf"),
              "--db", db_url, code=2)
    assert "error INVALID_FORMAT" in out
    assert "error INVALID_AMOUNT" in run("credits", "adjust", tid, "abc", "--reason", "x",
                                         "--db", db_url, code=2)
    out = run("users", "update", tid, "nobody@contoso.com", "--db", db_url, code=2)
    assert "error NOTHING_TO_CHANGE" in out
    out = run("cdr", "import", tid, str(tmp_path / "missing.csv"), "--db", db_url, code=2)
    assert "does not exist" in out


@pytest.mark.rule("ERR-1")
def test_a_bad_output_path_is_refused_before_any_work(
    svc: Services, db_url: str, tmp_path: Path,
) -> None:
    # The tenant does not exist: had the work started, that would be the refusal.
    out = run("report", "pstn-usage", "no-such-tenant", "--period", "28d", "--format", "xlsx",
              "--out", "/nonexistent/dir/x.xlsx", "--db", db_url, code=2)
    assert "error OUTPUT_NOT_WRITABLE" in out and "/nonexistent/dir" in out
    out = run("report", "pstn-usage", "no-such-tenant", "-o", str(tmp_path), "--db", db_url,
              code=2)
    assert "is a directory" in out
    tid = make_tenant(svc)
    licenses.buy_seats(svc, OPERATOR, tid, sku="MCOEV", quantity=1)
    directory.create_user(svc, OPERATOR, tid, upn="a@contoso.com", display_name="A",
                          usage_location="US")
    rows = tmp_path / "licenses.csv"
    rows.write_text("upn,sku,action\na@contoso.com,MCOEV,add\n", encoding="utf-8")
    out = run("licenses", "bulk", tid, str(rows), "--report", "/nonexistent/dir/r.csv",
              "--db", db_url, code=2)
    assert "error OUTPUT_NOT_WRITABLE" in out
    assert not directory.get_user(svc, OPERATOR, tid, "a@contoso.com").licenses


@pytest.mark.rule("CDR-1")
@pytest.mark.rule("ERR-1")
def test_cdr_import_exits_1_when_rows_are_rejected_and_the_bar_counts_data_rows(
    svc: Services, db_url: str, tmp_path: Path,
) -> None:
    tid = setup(svc)
    header = "Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time,Duration Seconds\n"
    good = f"c1,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},2026-01-15T10:00:00Z,60\n"
    path = tmp_path / "cdrs.csv"
    path.write_text(header + good + "\n"
                    f"c2,alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},yesterday,60\n"
                    "c3,x@contoso.com,user_out,+12065550100,+12065550101,"
                    "2026-01-15T10:06:00Z,5\n", encoding="utf-8")
    out = run("cdr", "import", tid, str(path), "--db", db_url, code=1)
    assert "accepted 1, duplicates 0, rejected 2" in out
    assert "3/3" in out  # three data rows: not 4 lines with the header, not 2 parsed rows
    assert "INVALID_CDR" in out and "USER_NOT_FOUND" in out
    assert queries.credits(svc, OPERATOR, tid).balance.format() == "99.88"
    path.write_text(header + good, encoding="utf-8")
    out = run("cdr", "import", tid, str(path), "--db", db_url, code=0)  # a duplicate is fine
    assert "accepted 0, duplicates 1, rejected 0" in out and "1/1" in out
