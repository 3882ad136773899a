"""Imports stream (CDR-3): a file is read in chunks in memory that does not grow with it, a
committed chunk stays committed, and the same file submitted again after a crash charges
nothing twice (CDR-1, CALL-9, FUND-6)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from commcredits.adapters.db import tables as t
from commcredits.domain.errors import InvalidInput
from commcredits.services import cdr_reader, cdrs, funds
from commcredits.services.context import Services
from tests.integration.test_calls import GB_MOBILE, setup
from tests.support import OPERATOR, check_ledger_invariants
from tests.support_directory import add_users

COMMCREDITS = str(Path(sys.executable).with_name("commcredits"))
HEADER = "UsageId,Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time," \
         "Duration Seconds\n"
USERS = ("alice0@contoso.com", "carol0@contoso.com", "carol1@contoso.com")


def write_cdrs(path: Path, n: int, start: datetime) -> None:
    """``n`` outbound calls of the tenant's users, one second apart, in file order."""
    base = start.replace(microsecond=0)
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(n):
            at = (base + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            f.write(f"u{i},c{i},{USERS[i % 3]},user_out,+12065550100,{GB_MOBILE},{at},"
                    f"{30 + i % 90}\n")


def call_count(engine: Engine, tid: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.calls)
                            .where(t.calls.c.tenant_id == tid)).scalar_one()


@pytest.mark.slow
@pytest.mark.rule("CDR-3")
@pytest.mark.rule("CDR-1")
@pytest.mark.rule("FUND-6")
def test_an_import_killed_mid_file_and_run_again_charges_each_cdr_exactly_once(
    svc: Services, engine: Engine, db_url: str, tmp_path: Path,
) -> None:
    n = 200_000
    tid = setup(svc)
    add_users(svc, tid, 2, "US", ["MCOEV", "MCOPSTN1", "MCOPSTNC"], prefix="carol")
    funds.adjust(svc, OPERATOR, tid, amount="900000.00", reason="a large balance")
    path = tmp_path / "cdrs.csv"
    write_cdrs(path, n, datetime.now(UTC) - timedelta(days=3))
    command = [COMMCREDITS, "cdr", "import", tid, str(path), "--db", db_url]
    env = {**os.environ, "COLUMNS": "120"}
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=env)
    deadline = time.monotonic() + 60
    while call_count(engine, tid) < cdrs.CHUNK and first.poll() is None:
        assert time.monotonic() < deadline, "no chunk committed in 60 s"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL, "the import ended before it was killed"
    stored = call_count(engine, tid)
    assert cdrs.CHUNK <= stored < n
    assert stored % cdrs.CHUNK == 0  # whole chunks only: a chunk is one transaction here

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"accepted {n - stored}, duplicates {stored}, rejected 0" in again.stdout
    assert f"{n}/{n}" in again.stdout

    with engine.connect() as conn:
        calls = t.calls.c
        assert conn.execute(select(func.count(), func.count(calls.usage_id.distinct()))
                            .where(calls.tenant_id == tid)).one() == (n, n)
        charged = conn.execute(select(func.sum(calls.charge), func.count(calls.entry_id))
                               .where(calls.tenant_id == tid)).one()
        entries = t.ledger_entries.c
        spent = conn.execute(select(-func.sum(entries.amount), func.count())
                             .where(entries.tenant_id == tid, entries.kind == "charge")).one()
    # Every call names the entry that paid it; the batch path posts one entry per chunk of at
    # most 10,000 calls (FUND-10), so 200,000 calls need at least 20 and far fewer than n.
    assert charged[1] == n and -(-n // 10_000) <= spent[1] < n
    assert spent[0] == charged[0]
    check_ledger_invariants(engine)


def _peak_parsing(path: Path) -> int:
    """The peak traced memory of reading the file into chunks of records, one at a time."""
    report = cdrs.CdrReport()
    now = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    tracemalloc.start()
    try:
        with path.open("rb") as f:
            assert cdr_reader.scan(f) > 0
            for records, size in cdrs.read_chunks(f, report, now):
                assert len(records) == size <= cdrs.CHUNK
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.rule("CDR-3")
def test_the_memory_of_parsing_does_not_grow_with_the_file(tmp_path: Path) -> None:
    start = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    write_cdrs(small, 20_000, start)
    write_cdrs(large, 100_000, start)
    peak_small, peak_large = _peak_parsing(small), _peak_parsing(large)
    assert peak_large < 1.3 * peak_small, (peak_small, peak_large)
    assert peak_large < 64 * 1024 * 1024  # about one chunk of records, not the file


@pytest.mark.rule("CDR-3")
@pytest.mark.rule("CDR-1")
@pytest.mark.parametrize(("junk", "words"), [
    ("x" * 131_073, "not valid CSV at line"),
    ("bad\x00row", "at line"),
    ("\udcff", "UTF-8"),
])
def test_a_file_malformed_after_its_first_chunk_is_still_refused_whole(
    svc: Services, engine: Engine, tmp_path: Path, junk: str, words: str,
) -> None:
    tid = setup(svc)
    funds.adjust(svc, OPERATOR, tid, amount="10000.00", reason="a large balance")
    path = tmp_path / "cdrs.csv"
    write_cdrs(path, cdrs.CHUNK + 100, datetime(2026, 1, 15, 10, 0, tzinfo=UTC))
    with path.open("ab") as f:
        f.write(f"late,{junk},user_out,+12065550100,{GB_MOBILE},2026-01-15T10:00:00Z,5\n"
                .encode("utf-8", "surrogateescape"))
    with path.open("rb") as f, pytest.raises(InvalidInput) as refused:
        cdrs.import_cdrs(svc, OPERATOR, tid, f)
    assert words in refused.value.message
    if "line" in words:
        assert refused.value.details["line"] == cdrs.CHUNK + 102
    assert call_count(engine, tid) == 0


@pytest.mark.rule("CDR-3")
@pytest.mark.rule("CDR-1")
def test_a_report_lists_the_first_rejected_rows_by_line_and_counts_them_all(
    svc: Services, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file of any size has a report of bounded size: the first rejected rows by line,
    and the count of every one; the good rows between them are all charged."""
    monkeypatch.setattr(cdrs, "CHUNK", 4)
    monkeypatch.setattr(cdrs, "LISTED_REJECTIONS", 3)
    tid = setup(svc)
    add_users(svc, tid, 2, "US", ["MCOEV", "MCOPSTN1", "MCOPSTNC"], prefix="carol")
    funds.adjust(svc, OPERATOR, tid, amount="100.00", reason="a balance")
    path = tmp_path / "cdrs.csv"
    write_cdrs(path, 14, datetime(2026, 1, 15, 10, 0, tzinfo=UTC))
    lines = path.read_text().splitlines()
    bad = {3, 5, 8, 9, 12, 14}  # file lines (the header is line 1): durations out of range
    path.write_text("\n".join(
        line.rsplit(",", 1)[0] + ",86401" if number in bad else line
        for number, line in enumerate(lines, start=1)) + "\n")
    with path.open("rb") as f:
        report = cdrs.import_cdrs(svc, OPERATOR, tid, f)
    assert (report.accepted, report.duplicates, report.rejected_total) == (8, 0, 6)
    assert [(r["line"], r["reason"]) for r in report.rejected] == [
        (3, "INVALID_CDR"), (5, "INVALID_CDR"), (8, "INVALID_CDR")]
    assert call_count(engine, tid) == 8
    check_ledger_invariants(engine)
