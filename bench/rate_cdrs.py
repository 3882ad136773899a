"""CDR import through the real CLI (CDR-1..3, FUND-10): CDRs/s of `commcredits cdr import`
against the physical baseline measured in the same run, and the CLI's peak RSS by file size.

- **setup, through the services, untimed** (`bench/cdr_setup.py`): per case a US MOSA tenant
  with a card, the sample rates, 100 users holding MCOEV, MCOPSTN1 and MCOPSTNC, funded
  - *auto-recharge on*: 500.00 and the demo's auto-recharge (add 100.00 below 300.00), so
    recharges fall inside the import every few hundred CDRs;
  - *auto-recharge off*: a large balance (1,000,000.00 per million CDRs).
- **the file**: N CSV rows with the export's columns, written to a temporary folder row by
  row (never held in memory) and deleted after: outbound user calls of 1 to 900 s, seven in
  eight to GB, DE, FR, JP and CA numbers (credits), one in eight to a US fixed number
  (domestic pool).
- **import**: ``.venv/bin/commcredits cdr import <tenant> <file>`` as a child process, the
  database given as ``COMMCREDITS_DATABASE_URL``, timed from spawn to exit; its CPU time and
  peak RSS come from its own rusage (`os.wait4`).
- **baseline** (`bench/cdr_physical.py`): a bare `sqlite3` ``executemany`` (SQLite) or a
  psycopg ``COPY`` (PostgreSQL) of N narrow 12-column rows into a table with one unique
  index, committed per 10,000 rows. **ratio** = import CDRs/s / baseline rows/s.
- **RSS** (``--rss-cdrs`` M, SQLite): the auto-recharge-off import of files of M/100, M/10
  and M rows, each into a new database: the child's peak RSS should not grow with the file
  (CDR-3; the issue's figure is M = 10,000,000).

After each import it checks that every CDR was accepted once (the CLI's report) and stored
once, and that the tenant's ledger adds up to its balance. It prints figures and asserts no
timings. The machine may be shared; compare ratios, measured in the same run.

Run: ``.venv/bin/python bench/rate_cdrs.py [--cdrs 1000000] [--rss-cdrs 10000000]
[--sqlite-only]`` (or ``make bench-cdrs``). PostgreSQL: ``COMMCREDITS_BENCH_POSTGRES_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), whose schema ``public``
is DROPped and re-created first.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchdb import prepare_sqlite, reset_postgres
from cdr_physical import COMMIT_EVERY, Child, postgres_baseline, run_cli, sqlite_baseline
from cdr_setup import check, set_up, write_cdr_file

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPORT = re.compile(r"accepted (\d+), duplicates (\d+), rejected (\d+)")

console = Console(width=None if sys.stdout.isatty() else 132)


@dataclass
class Row:
    database: str
    what: str
    rows: int
    seconds: float
    cpu: float | None = None  # the child's CPU seconds (not the PostgreSQL server's)
    rss_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def import_file(url: str, folder: Path, label: str, n: int, *, auto_recharge: bool,
                ) -> tuple[Child, dict[str, int]]:
    """Set up a tenant, write its file, import it through the CLI, check and delete it."""
    started = time.perf_counter()
    name = f"{label}{'on' if auto_recharge else 'off'}{n}"
    tid, upns = set_up(url, name, auto_recharge=auto_recharge, cdrs=n)
    path = folder / f"cdrs-{name}.csv"
    size = write_cdr_file(path, n, upns)
    console.print(f"[dim]{label}: {name}: set up and {n:,} CDRs written "
                  f"({size / 1e6:,.1f} MB) in {time.perf_counter() - started:.1f} s[/]")
    try:
        child = run_cli(["cdr", "import", tid, str(path)], url, folder / f"{name}.log")
    finally:
        path.unlink(missing_ok=True)
    found = REPORT.search(child.output)
    if found is None or tuple(map(int, found.groups())) != (n, 0, 0):
        raise RuntimeError(f"the CLI's report is not 'accepted {n}, duplicates 0, "
                           f"rejected 0':\n{child.output[-2000:]}")
    counts = check(url, tid, n)
    console.print(f"[dim]{label}: {name}: {child.seconds:.1f} s, peak RSS "
                  f"{child.rss_mb:,.0f} MB; {counts}[/]")
    return child, counts


def run_database(label: str, url: str, folder: Path, n: int) -> list[Row]:
    rows: list[Row] = []
    for auto_recharge in (True, False):
        child, counts = import_file(url, folder, label, n, auto_recharge=auto_recharge)
        recharges = counts.get("purchase entries", 0)
        what = (f"cdr import, auto-recharge on ({recharges - 1:,} recharges)" if auto_recharge
                else "cdr import, auto-recharge off")
        rows.append(Row(label, what, n, child.seconds, child.cpu, child.rss_mb))
    if label == "sqlite":
        base_s = sqlite_baseline(folder, n)
        what = "baseline: sqlite3 executemany"
    else:
        base_s = postgres_baseline(url, n)
        what = "baseline: psycopg COPY"
    rows.append(Row(label, f"{what}, 12 narrow columns, 1 unique index, commit per "
                    f"{COMMIT_EVERY:,}", n, base_s))
    return rows


def rss_runs(folder: Path, largest: int) -> list[Row]:
    """The auto-recharge-off import of three sizes, each into a new SQLite file."""
    rows: list[Row] = []
    for n in sorted({max(largest // 100, 1), max(largest // 10, 1), largest}):
        sub = folder / f"rss-{n}"
        sub.mkdir()
        url = prepare_sqlite(sub / "bench.db")
        child, _ = import_file(url, sub, "sqlite", n, auto_recharge=False)
        rows.append(Row("sqlite", f"RSS: cdr import of {n:,} rows", n, child.seconds,
                        child.cpu, child.rss_mb))
        for leftover in sub.iterdir():
            leftover.unlink()
        sub.rmdir()
    return rows


def report(rows: list[Row]) -> None:
    table = Table(title="commcredits cdr import: CDRs per second, against the physical "
                        "baseline")
    for name, justify in (("database", "left"), ("what", "left"), ("rows", "right"),
                          ("seconds", "right"), ("per second", "right"),
                          ("ratio", "right"), ("child CPU µs/CDR", "right"),
                          ("peak RSS MB", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    baselines = {r.database: r.rate for r in rows if r.what.startswith("baseline")}
    for r in rows:
        base = baselines.get(r.database)
        ratio = "1.00" if r.what.startswith("baseline") else (
            f"{r.rate / base:.3f}" if base and not r.what.startswith("RSS") else "")
        table.add_row(r.database, r.what, f"{r.rows:,}", f"{r.seconds:.1f}",
                      f"{r.rate:,.0f}", ratio,
                      f"{1e6 * r.cpu / r.rows:,.0f}" if r.cpu is not None else "",
                      f"{r.rss_mb:,.0f}" if r.rss_mb is not None else "")
    console.print(table)
    for r in rows:
        base = baselines.get(r.database)
        if base and r.what.startswith("cdr import"):
            console.print(f"{r.database}, {r.what}: {r.rate:,.0f} / {base:,.0f} = "
                          f"[bold]{r.rate / base:.3f}[/bold] of the baseline")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cdrs", type=int, default=1_000_000,
                        help="CDRs per import (default 1,000,000; 0: only the RSS runs)")
    parser.add_argument("--rss-cdrs", type=int, default=10_000_000,
                        help="rows of the largest RSS run on SQLite (default 10,000,000; "
                             "0: skip the RSS runs)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args(argv)
    if args.cdrs < 0 or args.rss_cdrs < 0:
        parser.error("--cdrs and --rss-cdrs are 0 (skip) or more rows")
    console.print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}; load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="commcredits-bench-cdrs-") as tmp:
        folder = Path(tmp)
        if args.cdrs:
            rows += run_database("sqlite", prepare_sqlite(folder / "bench.db"), folder,
                                 args.cdrs)
            if not args.sqlite_only:
                url = os.environ.get("COMMCREDITS_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
                version, sync = reset_postgres(url)
                console.print(f"PostgreSQL {version} (synchronous_commit={sync})")
                rows += run_database("postgres", url, folder, args.cdrs)
        if args.rss_cdrs:
            rows += rss_runs(folder, args.rss_cdrs)
    report(rows)
    console.print(f"load average at the end: "
                  f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
