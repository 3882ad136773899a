"""PSTN usage export throughput and peak memory (REP-2), against a csv-module baseline.

A SQLite database (a temporary file) holds one tenant and N finished, rated calls (default
200,000), inserted straight into ``calls`` with ``executemany``. Every row falls in one custom
report range (less than a year). Then each export runs in a **fresh subprocess**, so its peak
RSS (``ru_maxrss``) is its own:

- **ZIP/CSV**: what ``commcredits report pstn-usage --format zip`` does:
  ``reports.pstn_usage(...)`` then ``exports.write_zip(...)`` over the report's rows (pages of
  10,000 through the read repository, REP-4 masking, formatting, deflate).
- **CSV**: the same with ``exports.write_csv`` to a plain file (``--format csv``).
- **XLSX**: ``exports.write_xlsx`` (XlsxWriter, ``constant_memory``).
- **baseline**: the same rows (same WHERE and ORDER BY) read with one plain ``sqlite3`` cursor
  and written to a file by ``csv.writer`` alone: no paging, no masking, no formatting, no
  compression. What reading and writing the rows costs at the least.
- **XLSX baseline**: XlsxWriter alone (``constant_memory``, the same formats) writing the
  report's rows, already in cell form (UTC times naive, money as floats) in a Python list
  built before the clock starts; timed is the writing only: one typed ``write_*`` per cell.
- **vs baseline**: rows/s of the export / rows/s of its baseline (XLSX: the XLSX baseline;
  the others: the csv baseline), measured in this run. With
  ``--rounds R`` the measurements run in interleaved rounds and the median is shown.
- **RSS at start** is the subprocess's peak RSS after its imports, before the export: the
  interpreter and libraries, which every process pays whatever the export does.

It prints figures and asserts no timings: it is not a test. Machines here are shared, so
figures move from run to run; compare ratios, and rerun before reading much into a change.

Run: ``.venv/bin/python bench/export.py [--calls N] [--rounds R]`` (or ``make bench-export``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
FIRST = datetime(2025, 2, 1, tzinfo=UTC)  # calls spread over [FIRST, NOW)
RANGE = ("2025-01-20T00:00:00Z", "2026-01-15T09:00:00Z")  # under 1 year, covers every call
CHUNK = 10_000
KINDS = ("baseline", "zip", "csv", "xlsx_baseline", "xlsx")
BASELINE_OF = {"zip": "baseline", "csv": "baseline", "xlsx": "xlsx_baseline"}
LABELS = {
    "baseline": "baseline: sqlite3 cursor + csv.writer",
    "xlsx_baseline": "XLSX baseline: XlsxWriter from a list",
    "zip": "ZIP/CSV (write_zip)",
    "csv": "CSV (write_csv)",
    "xlsx": "XLSX (write_xlsx)",
}
# (call_type, destination country, destination name, domestic, number_type, fee, per-minute)
ROUTES = [
    ("user_out", "US", "United States", True, None, 0, 12_000),
    ("user_out", "US", "United States", True, None, 0, 12_000),
    ("user_out", "GB", "United Kingdom", False, None, 0, 25_000),
    ("user_out", "MX", "Mexico - Mobile", False, None, 10_000, 90_000),
    ("user_out", "DE", "Germany", False, None, 0, 30_000),
    ("user_in", "US", "United States", True, "fixed", 0, 0),
    ("user_in", "US", "United States", True, "toll_free", 0, 19_000),
    ("conf_out", "FR", "France", False, None, 0, 35_000),
    ("ucap_in", "US", "United States", True, "fixed", 0, 0),
    ("dr_in", "US", "United States", True, "mobile", 0, 0),
]
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how UTCDateTime is stored on SQLite (naive UTC)


def _t(at: datetime) -> str:
    return at.replace(tzinfo=None).strftime(SQLITE_TIME)


# --- setup (parent process) --------------------------------------------------------------


def prepare(path: Path) -> tuple[str, str]:
    """Migrate a SQLite file and create a tenant; return its URL and the tenant id."""
    from benchdb import prepare_sqlite
    from commcredits.adapters.clock import FixedClock
    from commcredits.bootstrap import build
    from commcredits.config import Settings
    from commcredits.services import tenants
    from commcredits.services.auth import OPERATOR_CLI

    url = prepare_sqlite(path)
    rt = build(Settings(database_url=url), clock=FixedClock(NOW))
    try:
        tenant = tenants.create_tenant(rt.services, OPERATOR_CLI, name="Bench export",
                                       country="US", billing_account_type="MOSA")
    finally:
        rt.close()
    return url, tenant.id


def call_rows(tenant_id: str, n: int, rnd: random.Random,
              users: int = 2000) -> list[tuple[object, ...]]:
    from commcredits.adapters.db.codes import CALL_CODES

    code = CALL_CODES  # the enums are stored as SMALLINT codes (migration 0012)
    people = [(str(uuid.UUID(int=(u + 1) << 64)), f"user{u}@contoso.com",
               f"User {u}", f"+1206555{u:04d}") for u in range(users)]
    span = (NOW - FIRST).total_seconds()
    rows: list[tuple[object, ...]] = []
    for _ in range(n):
        oid, upn, name, number = people[rnd.randrange(users)]
        call_type, country, dest, domestic, ntype, fee, per_min = rnd.choice(ROUTES)
        start = FIRST + timedelta(seconds=rnd.random() * span)
        duration = rnd.randint(5, 1800)
        end = start + timedelta(seconds=duration)
        minutes = -(-duration // 60)
        charge = fee + per_min * minutes
        inbound = call_type.endswith("_in")
        remote = f"+{rnd.randint(10**10, 10**11 - 1)}"
        caller, callee = (remote, number) if inbound else (number, remote)
        call_id = str(uuid.UUID(int=rnd.getrandbits(128)))
        funding = "credits" if charge else "pool"
        capability = "MCOPSTN1" if not inbound else None
        rows.append((
            uuid.UUID(int=rnd.getrandbits(128)).hex, tenant_id, call_id, call_id,
            code["source"]["cdr" if rnd.random() < 0.1 else "live"], code["status"]["ended"],
            code["call_type"][call_type], oid, upn, name, "US", caller, callee, None,
            code["number_type"][ntype] if ntype else None, domestic, dest,
            country if not inbound else None, _t(start), _t(end), duration,
            code["funding"][funding], capability, None, None, None, "USD", 0,
            3600, 600, duration, _t(end), fee, charge, None, None, None, None,
        ))
    return rows


INSERT = (
    "INSERT INTO calls (id, tenant_id, call_id, usage_id, source, status, call_type, "
    "user_object_id, upn, display_name, user_location, caller, callee, conference_id, "
    "number_type, domestic, destination_name, external_country, start_at, end_at, duration, "
    "funding, capability, pool_key, pool_minutes, rate_id, currency, reserved, max_seconds, "
    "granted_seconds, used_seconds, last_update_at, connection_fee, charge, entry_id, reason, "
    "message, guard_seconds) VALUES (" + ", ".join(["?"] * 38) + ")"
)


def insert_calls(path: Path, tenant_id: str, n: int) -> None:
    db = sqlite3.connect(path)
    rnd = random.Random(42)
    try:
        for lo in range(0, n, CHUNK):
            db.executemany(INSERT, call_rows(tenant_id, min(CHUNK, n - lo), rnd))
            db.commit()
        db.execute("ANALYZE")
        db.commit()
    finally:
        db.close()


# --- one measurement (child process) -----------------------------------------------------


def _rss_mb() -> float:
    """Peak RSS of this process in MiB: VmHWM on Linux (ru_maxrss survives execve, so it
    would include the parent's peak), else ru_maxrss (KiB on Linux, bytes on macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


BASELINE_SQL = (
    "SELECT id, usage_id, call_id, conference_id, user_location, user_object_id, upn, "
    "display_name, caller, call_type, callee, number_type, domestic, destination_name, "
    "external_country, start_at, end_at, duration, connection_fee, charge, currency, "
    "capability, source FROM calls WHERE tenant_id = ? AND status IN (3, 4) "  # ended, expired
    "AND start_at >= ? AND start_at < ? ORDER BY start_at, id"
)


def measure(kind: str, url: str, tenant_id: str, out_dir: str) -> dict[str, float]:
    import csv

    from commcredits.adapters.clock import FixedClock
    from commcredits.adapters.exports import usage as exports
    from commcredits.bootstrap import build
    from commcredits.config import Settings
    from commcredits.services import reports
    from commcredits.services.auth import OPERATOR_CLI

    rss_start = _rss_mb()
    suffix = {"baseline": "csv", "xlsx_baseline": "xlsx"}.get(kind, kind)
    target = Path(out_dir) / f"export-{kind}.{suffix}"
    if kind == "xlsx_baseline":
        return xlsx_baseline(url, tenant_id, target, rss_start)
    wall, cpu = time.perf_counter(), time.process_time()
    if kind == "baseline":
        lo = datetime.fromisoformat(RANGE[0])
        hi = datetime.fromisoformat(RANGE[1])
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            cur = db.execute(BASELINE_SQL, (tenant_id, _t(lo), _t(hi)))
            with target.open("w", encoding="utf-8", newline="") as f:
                writer = csv.writer(f, lineterminator="\r\n")
                writer.writerow(reports.PstnUsage.columns)
                done = 0
                for done, row in enumerate(cur, 1):  # noqa: B007 (done is the count)
                    writer.writerow(row)
        finally:
            db.close()
    else:
        rt = build(Settings(database_url=url), clock=FixedClock(NOW))
        try:
            report = reports.pstn_usage(rt.services, OPERATOR_CLI, tenant_id,
                                        start=RANGE[0], end=RANGE[1])
            if kind == "csv":
                with target.open("w", encoding="utf-8", newline="") as text:
                    done = exports.write_csv(text, report.columns, report)
            elif kind == "zip":
                with target.open("wb") as binary:
                    done = exports.write_zip(binary, uuid.uuid4().hex, report.columns, report,
                                             report.parameters())
            else:
                with target.open("wb") as binary:
                    done = exports.write_xlsx(binary, report.columns, report)
        finally:
            rt.close()
    seconds = time.perf_counter() - wall
    result = {"rows": done, "seconds": seconds, "cpu": time.process_time() - cpu,
              "rss_start": rss_start, "rss_peak": _rss_mb(),
              "bytes": target.stat().st_size}
    target.unlink()
    return result


def _cell(value: object) -> object:
    """A report value as XlsxWriter takes it: naive UTC times, money as a float."""
    from decimal import Decimal

    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, Decimal):
        return float(value)
    return value


def xlsx_baseline(url: str, tenant_id: str, target: Path, rss_start: float) -> dict[str, float]:
    """XlsxWriter writing the report's rows from memory: the rows are read through the
    report and put in cell form first (not timed); then one workbook, constant_memory, the
    header, and per cell its typed ``write_*`` with its column's format (timed)."""
    import xlsxwriter  # type: ignore[import-untyped]

    from commcredits.adapters.clock import FixedClock
    from commcredits.bootstrap import build
    from commcredits.config import Settings
    from commcredits.services import reports
    from commcredits.services.auth import OPERATOR_CLI

    rt = build(Settings(database_url=url), clock=FixedClock(NOW))
    try:
        report = reports.pstn_usage(rt.services, OPERATOR_CLI, tenant_id,
                                    start=RANGE[0], end=RANGE[1])
        rows = [tuple(map(_cell, row)) for row in report]
    finally:
        rt.close()
    columns = reports.PstnUsage.columns
    wall, cpu = time.perf_counter(), time.process_time()
    with target.open("wb") as binary:
        workbook = xlsxwriter.Workbook(binary, {"constant_memory": True})
        sheet = workbook.add_worksheet("PSTN usage")
        date = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        money = workbook.add_format({"num_format": "0.00"})
        sheet.write_row(0, 0, list(columns), workbook.add_format({"bold": True}))
        first = rows[0] if rows else ()
        writers = [
            (sheet.write_datetime, date) if isinstance(v, datetime) else
            (sheet.write_number, money) if isinstance(v, float) else
            (sheet.write_number, None) if isinstance(v, int) else (sheet.write_string, None)
            for v in first
        ]
        for r, row in enumerate(rows, 1):
            for c, value in enumerate(row):
                if value is not None:
                    write, fmt = writers[c]
                    write(r, c, value, fmt)
        workbook.close()
    seconds = time.perf_counter() - wall
    result = {"rows": len(rows), "seconds": seconds, "cpu": time.process_time() - cpu,
              "rss_start": rss_start, "rss_peak": _rss_mb(), "bytes": target.stat().st_size}
    target.unlink()
    return result


def run_child(kind: str, url: str, tenant_id: str, out_dir: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, url, tenant_id, out_dir],
        check=True, capture_output=True, text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- report ------------------------------------------------------------------------------


@dataclass
class Result:
    kind: str
    runs: list[dict[str, float]]

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.runs)

    @property
    def rate(self) -> float:
        return statistics.median(r["rows"] / r["seconds"] for r in self.runs)


def machine() -> str:
    return (f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 132)
    console.print(f"[bold]PSTN usage export[/]: {args.calls:,} calls, {args.rounds} round(s); "
                  f"{machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        path = Path(tmp) / "bench.db"
        started = time.perf_counter()
        url, tenant_id = prepare(path)
        insert_calls(path, tenant_id, args.calls)
        console.print(f"seeded {args.calls:,} calls in {time.perf_counter() - started:.1f} s "
                      f"(database {path.stat().st_size / 2**20:.0f} MB); range "
                      f"{RANGE[0]} .. {RANGE[1]}")
        results = {kind: Result(kind, []) for kind in KINDS}
        for _ in range(args.rounds):
            for kind in KINDS:
                results[kind].runs.append(run_child(kind, url, tenant_id, tmp))
                r = results[kind].runs[-1]
                console.print(f"  {kind}: {r['rows']:,} rows in {r['seconds']:.2f} s, "
                              f"peak RSS {r['rss_peak']:.0f} MB")

    table = Table(title=f"PSTN usage export, SQLite, {args.calls:,} calls (medians)")
    for col in ("what", "rows", "seconds", "rows/s", "vs baseline", "CPU s",
                "RSS at start MB", "peak RSS MB", "file MB"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for kind in KINDS:
        res = results[kind]
        base = results[BASELINE_OF.get(kind, kind)].rate
        table.add_row(
            LABELS[kind], f"{int(res.median('rows')):,}", f"{res.median('seconds'):.2f}",
            f"{res.rate:,.0f}", f"{res.rate / base:.2f}" if base else "-",
            f"{res.median('cpu'):.2f}", f"{res.median('rss_start'):.0f}",
            f"{res.median('rss_peak'):.0f}", f"{res.median('bytes') / 2**20:.1f}",
        )
    console.print(table)
    console.print("Aims (issue #13): ZIP/CSV >= 0.5 of the csv baseline, XLSX >= 0.5 of the "
                  "XLSX baseline; peak RSS < 300 MB. Figures only; nothing is asserted.")


if __name__ == "__main__":
    main()
