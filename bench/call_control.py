"""Call control over HTTP, driven by ``wrk``, against the framework's ceiling measured in the
same run.

For each database (PostgreSQL from ``COMMCREDITS_BENCH_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``, whose schema ``public`` is DROPped
and re-created; and a temporary SQLite file), on ``--workers`` uvicorn processes (default:
the usable cores, as ``serve``'s own default):

1. **the ceiling**: ``bench/noop_app.py`` under ``uvicorn --workers N --no-access-log``: a
   no-op FastAPI POST with a pydantic body of authorize's five fields, and a no-op GET;
2. ``commcredits serve --workers N --no-access-log --no-demo`` on the database, set up
   through the REST API (the sample USD rate table; per tenant a card, a 100,000.00 USD
   purchase, MCOEV and MCOPSTN1 seats, one user with MCOEV, MCOPSTN1 and MCOPSTNC, a
   ``platform`` key), then, one after the other:
   - the project's ``GET /healthz``, as it is;
   - authorize+end pairs on **one tenant** (a GB mobile call, 61 s: 120 s at 0.12/min =
     0.24), and on **16 tenants** (thread i works for tenant i mod 16);
   - authorize+update+end triples on one tenant.

``wrk`` runs ``--connections`` threads with one connection each (``bench/wrk/calls.lua``),
so a thread's requests go in order and an end follows its own authorize. Its ``response``
hook checks every answer (2xx; allow; charge 0.24; update active); afterwards every tenant's
balance must be 100,000.00 - 0.24 x its ended calls (counted in the database, and within the
connections in flight at the deadline of what wrk counted). Server CPU per request is the
CPU time of the server's processes (``/proc/<pid>/stat``, the parent and its workers) over
the run, divided by the requests; for PostgreSQL also that of its backends on this database.

It prints figures and asserts no timings: it is not a test. wrk, the server and the database
share this machine's CPUs; compare the ratios against the no-op POST.

With ``--citus``, the same runs again on a Citus coordinator (``COMMCREDITS_BENCH_CITUS_URL``,
default the ``../shared/citus`` cluster: ``cluster.sh start``) right after plain PostgreSQL,
with every tenant's rows on the shard of its ``tenant_id`` (DIST-1), and a last table gives
Citus's requests/s over plain PostgreSQL's, run by run.

Run: ``.venv/bin/python bench/call_control.py [--seconds 10] [--db postgresql|sqlite|both]
[--citus] [--profile [--profile-out DIR]]`` (or ``make bench-calls``). ``--profile`` runs
``py-spy record --gil`` on one server worker during the one-tenant pairs and prints where its
Python CPU time goes; ``--profile-out`` keeps the raw stacks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from benchdb import free_port, prepare_sqlite, reset_postgres
from commcredits.adapters.db import tables as t
from commcredits.adapters.db.engine import make_engine

HERE = Path(__file__).resolve().parent
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_CITUS_URL = "postgresql+psycopg://postgres@127.0.0.1:9700/citus"  # cluster.sh url
SAMPLE_RATES = HERE.parent / "src" / "commcredits" / "data" / "rates" / "sample_usd.csv"
LUA = HERE / "wrk" / "calls.lua"
HOST = "127.0.0.1"
START_TIMEOUT = 90.0
PURCHASE = Decimal("100000.00")
CHARGE = Decimal("0.24")  # 61 s to a GB mobile: 120 s at 0.12/min
USER = "alice@bench.example"
TENANTS = 16

console = Console(width=None if sys.stdout.isatty() else 140)


class BenchError(RuntimeError):
    """The server refused a request or answered something unexpected."""


def usable_cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


# --- CPU from /proc ----------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def tree(root: int) -> set[int]:
    """``root`` and its descendants."""
    parents: dict[int, int] = {}
    for pid in _pids():
        fields = _stat(pid)
        if fields is not None:
            parents[pid] = int(fields[1])
    found = {root}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def cpu_of(pids: set[int]) -> dict[int, int]:
    """utime + stime in clock ticks per pid."""
    out = {}
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            out[pid] = int(fields[11]) + int(fields[12])
    return out


def pg_backends(database: str) -> set[int]:
    """PostgreSQL backend processes connected to ``database`` (by their process title)."""
    return {pid for pid in _pids()
            if _cmdline(pid).startswith("postgres: ") and f" {database} " in _cmdline(pid)}


@dataclass
class CpuProbe:
    """CPU seconds used over a run by a server's process tree (and PostgreSQL backends)."""

    root: int
    database: str | None = None
    before: dict[int, int] = field(default_factory=dict)
    db_before: dict[int, int] = field(default_factory=dict)

    def start(self) -> None:
        self.before = cpu_of(tree(self.root))
        self.db_before = cpu_of(pg_backends(self.database)) if self.database else {}

    def stop(self) -> tuple[float, float | None]:
        tick = os.sysconf("SC_CLK_TCK")
        after = cpu_of(tree(self.root))
        server = sum(v - self.before.get(p, 0) for p, v in after.items()) / tick
        if not self.database:
            return server, None
        db_after = cpu_of(pg_backends(self.database))
        return server, sum(v - self.db_before.get(p, 0) for p, v in db_after.items()) / tick


# --- servers -----------------------------------------------------------------------------


def venv_bin(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise BenchError(f"{name} not found")
    return found


class Server:
    """A server subprocess in its own session; always stopped by ``stop``."""

    def __init__(self, argv: Sequence[str], workdir: Path, env: dict[str, str],
                 health: str) -> None:
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.health = health
        self.log_path = workdir / f"server-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*argv, "--host", HOST, "--port", str(self.port)], stdout=self._log,
            stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=workdir,
            start_new_session=True,
        )

    def wait_healthy(self, workers: int) -> None:
        deadline = time.perf_counter() + START_TIMEOUT
        with httpx.Client(base_url=self.base, timeout=5.0) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise BenchError(f"the server exited with code {self.proc.returncode}:\n"
                                     + self.log_tail())
                try:
                    if client.get(self.health).status_code == 200 \
                            and len(tree(self.proc.pid)) > (workers if workers > 1 else 0):
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise BenchError(f"no {self.health} within {START_TIMEOUT:.0f} s:\n" + self.log_tail())

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # uvicorn shuts down cleanly on SIGINT
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


# --- set-up through the REST API ---------------------------------------------------------


@dataclass(frozen=True)
class BenchTenant:
    tid: str
    key: str


def expect(response: httpx.Response, *codes: int) -> Any:
    if response.status_code not in codes:
        raise BenchError(f"{response.request.method} {response.request.url.path} answered "
                         f"{response.status_code}: {response.text[:500]}")
    return response.json()


def set_up(base: str, operator_key: str, n: int) -> list[BenchTenant]:
    made = []
    with httpx.Client(base_url=base + "/api/v1", timeout=30.0,
                      headers={"Authorization": f"Bearer {operator_key}"}) as api:
        expect(api.put("/rate-tables/USD", content=SAMPLE_RATES.read_bytes(),
                       headers={"Content-Type": "text/csv"}), 201)
        for i in range(n):
            tid = expect(api.post("/tenants", json={
                "name": f"Bench {i}", "country": "US", "billing_account_type": "MOSA",
                "contacts": [{"email": f"admin{i}@bench.example", "role": "global_admin"}],
            }), 201)["id"]
            card = expect(api.post(f"/tenants/{tid}/payment-methods", json={
                "type": "card", "number": "4242424242424242", "exp_month": 12,
                "exp_year": 2099}), 201)["id"]
            expect(api.post(f"/tenants/{tid}/credits/purchases",
                            json={"amount": str(PURCHASE), "payment_method_id": card}), 201)
            for sku in ("MCOEV", "MCOPSTN1"):
                expect(api.post(f"/tenants/{tid}/subscriptions",
                                json={"sku": sku, "quantity": 5}), 201)
            expect(api.post(f"/tenants/{tid}/users", json={
                "upn": USER, "display_name": "Alice", "usage_location": "US"}), 201)
            expect(api.post(f"/tenants/{tid}/users/{USER}/licenses",
                            json={"add": ["MCOEV", "MCOPSTN1", "MCOPSTNC"]}), 200)
            key = expect(api.post(f"/tenants/{tid}/api-keys",
                                  json={"role": "platform", "name": "bench"}), 201)["key"]
            made.append(BenchTenant(tid, str(key)))
    return made


# --- wrk ---------------------------------------------------------------------------------


@dataclass
class Run:
    what: str
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    server_cpu: float = 0.0
    db_cpu: float | None = None
    threads: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    units: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def total(self, name: str) -> int:
        return sum(int(t[name]) for t in self.threads)

    @property
    def bad(self) -> int:
        return self.total("bad") + sum(self.errors.values())


def wrk(base: str, what: str, workdir: Path, probe: CpuProbe | None, *, steps: Sequence[str],
        seconds: float, connections: int, tenants: Sequence[BenchTenant] = (),
        path: str = "", profile: Path | None = None, profile_pid: int | None = None) -> Run:
    tag = f"{what.split()[0]}{secrets.token_hex(3)}"
    config = workdir / f"wrk-{tag}.lua"
    rows = ", ".join(f'{{tid = "{x.tid}", key = "{x.key}"}}' for x in tenants)
    config.write_text(
        f'return {{steps = {{{", ".join(json.dumps(s) for s in steps)}}}, '
        f'tenants = {{{rows}}}, tag = "{tag}", user = "{USER}", path = "{path}", '
        f'charge = "{CHARGE}"}}\n')
    argv = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{seconds:g}s", "--timeout",
            "30s", "-s", str(LUA), base]
    spy = None
    if profile is not None and profile_pid is not None:
        spy = subprocess.Popen(
            [venv_bin("py-spy"), "record", "--pid", str(profile_pid), "--duration",
             str(max(1, int(seconds) - 1)), "--rate", "250", "--format", "raw",
             "--nonblocking", "--gil", "--full-filenames", "--output", str(profile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if probe:
        probe.start()
    done = subprocess.run(argv, capture_output=True, text=True,
                          env={**os.environ, "CC_BENCH_CONFIG": str(config)}, check=False)
    server_cpu, db_cpu = probe.stop() if probe else (0.0, None)
    if spy is not None:
        _, err = spy.communicate(timeout=60)
        if spy.returncode != 0:
            console.print(f"[yellow]py-spy failed: {err.decode(errors='replace')[-500:]}[/]")
    line = next((x for x in done.stdout.splitlines() if x.startswith("CCBENCH ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("CCBENCH "))
    return Run(what, requests=data["requests"], seconds=data["duration_us"] / 1e6,
               p50_ms=data["p50_us"] / 1e3, p99_ms=data["p99_us"] / 1e3,
               server_cpu=server_cpu, db_cpu=db_cpu, threads=data["threads"],
               errors=data["errors"])


# --- checks ------------------------------------------------------------------------------


def check(url: str, tenants: Sequence[BenchTenant], counted: dict[str, int],
          connections: int) -> list[str]:
    """Each tenant's balance against its ended calls in the database; the ended calls
    against what wrk counted (up to one per connection may end after wrk stopped
    counting). Returns one line per tenant that fails, and a summary last."""
    engine = make_engine(url, pool=False)
    problems: list[str] = []
    total = 0
    try:
        with engine.connect() as conn:
            for x in tenants:
                ended = conn.execute(select(func.count()).select_from(t.calls).where(
                    t.calls.c.tenant_id == x.tid, t.calls.c.status == "ended")).scalar_one()
                balance = conn.execute(select(t.credit_accounts.c.balance).where(
                    t.credit_accounts.c.tenant_id == x.tid)).scalar_one()
                total += ended
                want = PURCHASE - CHARGE * ended
                if Decimal(balance) != want:
                    problems.append(f"tenant {x.tid}: balance {balance}, {ended} ended calls "
                                    f"want {want}")
                seen = counted.get(x.tid, 0)
                if not seen <= ended <= seen + connections:
                    problems.append(f"tenant {x.tid}: {ended} ended in the database, wrk "
                                    f"counted {seen}")
    finally:
        engine.dispose()
    problems.append(f"{total:,} ended calls on {len(tenants)} tenants: every balance is "
                    f"{PURCHASE} - {CHARGE} x its ended calls" if len(problems) == 0 else
                    f"{len(problems)} problems")
    return problems


def ended_by_tenant(runs: Sequence[tuple[Run, Sequence[BenchTenant]]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for run, tenants in runs:
        for row in run.threads:
            if row["tenant"]:
                tid = tenants[row["tenant"] - 1].tid
                out[tid] = out.get(tid, 0) + int(row["ended"])
    return out


# --- one database ------------------------------------------------------------------------


def bench_database(label: str, url: str, args: argparse.Namespace, workdir: Path,
                   ) -> tuple[list[Run], list[str], Path | None]:
    workers, seconds, conns = args.workers, args.seconds, args.connections
    database = None if label == "SQLite" else url.rsplit("/", 1)[-1].split("?")[0]
    runs: list[Run] = []
    noop = Server([venv_bin("uvicorn"), "noop_app:app", "--app-dir", str(HERE),
                   "--workers", str(workers), "--no-access-log",
                   "--timeout-worker-healthcheck", "300"], workdir, {}, "/noop")
    try:
        noop.wait_healthy(workers)
        probe = CpuProbe(noop.proc.pid)
        wrk(noop.base, "warm-up", workdir, None, steps=["post"], seconds=2, connections=conns,
            path="/noop/tenants/t/calls/authorize")
        runs.append(wrk(noop.base, "no-op FastAPI POST (pydantic body, 5 fields)", workdir,
                        probe, steps=["post"], seconds=seconds, connections=conns,
                        path="/noop/tenants/t/calls/authorize"))
        runs.append(wrk(noop.base, "no-op FastAPI GET", workdir, probe, steps=["get"],
                        seconds=seconds, connections=conns, path="/noop"))
    finally:
        noop.stop()
    operator_key = secrets.token_urlsafe(24)
    server = Server([venv_bin("commcredits"), "serve", "--db", url, "--no-demo",
                     "--workers", str(workers), "--no-access-log"], workdir,
                    {"COMMCREDITS_OPERATOR_KEY": operator_key,
                     "COMMCREDITS_OUTBOX_DIR": str(workdir / "outbox")}, "/healthz")
    profile = workdir / f"profile-{label}.txt" if args.profile else None
    try:
        server.wait_healthy(workers)
        everyone = set_up(server.base, operator_key, TENANTS + 3)
        warm, hot, triple, many = everyone[0], everyone[1], everyone[2], everyone[3:]
        probe = CpuProbe(server.proc.pid, database)
        wrk(server.base, "warm-up", workdir, None, steps=["authorize", "update", "end"],
            seconds=3, connections=conns, tenants=[warm])
        runs.append(wrk(server.base, "project GET /healthz (as it is)", workdir, probe,
                        steps=["get"], seconds=seconds, connections=conns, path="/healthz"))
        workers_pids = sorted(tree(server.proc.pid) - {server.proc.pid})
        runs.append(wrk(server.base, "authorize+end pairs, 1 tenant", workdir, probe,
                        steps=["authorize", "end"], seconds=seconds, connections=conns,
                        tenants=[hot], profile=profile,
                        profile_pid=(workers_pids or [server.proc.pid])[-1]))
        runs.append(wrk(server.base, f"authorize+end pairs, {TENANTS} tenants", workdir,
                        probe, steps=["authorize", "end"], seconds=seconds,
                        connections=conns, tenants=many))
        runs.append(wrk(server.base, "authorize+update+end triples, 1 tenant", workdir,
                        probe, steps=["authorize", "update", "end"], seconds=seconds,
                        connections=conns, tenants=[triple]))
    except BaseException:
        console.print("[red]the bench failed; the server's log ends with:[/]\n"
                      + server.log_tail())
        raise
    finally:
        server.stop()
    # The warm-up runs are not kept: their ended calls are counted in the database only.
    counted = ended_by_tenant([(runs[3], [hot]), (runs[4], many), (runs[5], [triple])])
    warm_ended = check(url, [warm], {}, 10**9)
    problems = check(url, [hot, triple, *many], counted, conns)
    return runs, [*warm_ended[:-1], *problems], profile


def report(label: str, runs: Sequence[Run], workers: int, conns: int) -> None:
    base = runs[0].rate
    base_cpu = runs[0].server_cpu / runs[0].requests * 1e3 if runs[0].requests else 0.0
    table = Table(title=f"{label}: wrk, {conns} connections (one per thread), "
                        f"{workers} uvicorn workers")
    for name in ("what", "requests", "requests/s", "p50 ms", "p99 ms", "server CPU ms/req",
                 "db CPU ms/req", "vs no-op POST", "non-2xx / denied"):
        table.add_column(name, justify="left" if name == "what" else "right")
    for run in runs:
        cpu = run.server_cpu / run.requests * 1e3 if run.requests else 0.0
        db = f"{run.db_cpu / run.requests * 1e3:.2f}" if run.db_cpu is not None \
            and run.requests else ""
        table.add_row(run.what, f"{run.requests:,}", f"{run.rate:,.0f}", f"{run.p50_ms:.1f}",
                      f"{run.p99_ms:.1f}", f"{cpu:.2f}", db,
                      f"{run.rate / base:.2f}" if base else "",
                      f"{run.bad} / {run.total('denied')}")
    console.print(table)
    pairs = [r for r in runs if r.total("ended")]
    for run in pairs:
        console.print(f"  {run.what}: {run.total('ended'):,} calls ended in the timed run, "
                      f"{run.total('ended') / run.seconds:,.0f} calls/s; server CPU "
                      f"{run.server_cpu / run.requests * 1e3 / base_cpu:.1f}x the no-op "
                      f"POST's per request" if base_cpu else "")
        firsts = {r["first_bad"] for r in run.threads if r["first_bad"]}
        for first in sorted(firsts)[:3]:
            console.print(f"  [red]refused: {first}[/]")


AREAS = (  # (area, a piece of the leaf frame's file path), first match wins
    ("PostgreSQL driver (psycopg, waiting included)", "/psycopg/"),
    ("SQLite driver", "sqlite3"),
    ("SQLAlchemy", "/sqlalchemy/"),
    ("commcredits: adapters (repositories, compiled statements)", "commcredits/adapters/"),
    ("commcredits: services and domain (rating, deciding, charging)", "commcredits/services/"),
    ("commcredits: services and domain (rating, deciding, charging)", "commcredits/domain/"),
    ("commcredits: API (routes, bodies, middleware)", "commcredits/entrypoints/"),
    ("pydantic (body validation)", "/pydantic"),
    ("FastAPI and Starlette (routing, middleware, responses)", "/fastapi/"),
    ("FastAPI and Starlette (routing, middleware, responses)", "/starlette/"),
    ("uvicorn and httptools (HTTP)", "/uvicorn/"),
    ("thread pool hand-off (threading, concurrent.futures, asyncio)", "/threading.py"),
    ("thread pool hand-off (threading, concurrent.futures, asyncio)", "/concurrent/"),
    ("thread pool hand-off (threading, concurrent.futures, asyncio)", "/asyncio/"),
    ("orjson, json", "json"),
)


def summarize_profile(path: Path, top: int = 12) -> None:
    """py-spy's raw (collapsed) stacks: the share of samples by area of the leaf frame (where
    the time is spent), then the hottest project functions anywhere in the stack."""
    if not path.exists():
        return
    areas: dict[str, int] = {}
    ours: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf = frames[-1]
        area = next((name for name, piece in AREAS if piece in leaf), "other (Python runtime)")
        areas[area] = areas.get(area, 0) + n
        for name in {f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0]
                     .rsplit("/commcredits/", 1)[-1] for f in frames if "/commcredits/" in f}:
            ours[name] = ours.get(name, 0) + n
    if not total:
        return
    console.print(f"[bold]profile[/] (py-spy --gil: the thread holding the GIL, one worker, "
                  f"{total:,} samples), by where the leaf frame is:")
    for name, n in sorted(areas.items(), key=lambda kv: -kv[1]):
        console.print(f"  {100 * n / total:5.1f}%  {name}")
    console.print("project functions (inclusive: anywhere in the stack):")
    for name, n in sorted(ours.items(), key=lambda kv: -kv[1])[:top]:
        console.print(f"  {100 * n / total:5.1f}%  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="each timed wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=16,
                        help="wrk threads, one connection each (default 16)")
    parser.add_argument("--workers", type=int, default=usable_cores(),
                        help="uvicorn workers, for the no-op app and serve alike "
                             "(default: the usable cores)")
    parser.add_argument("--db", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--citus", action="store_true",
                        help="also on a Citus coordinator (COMMCREDITS_BENCH_CITUS_URL, default "
                             "the ../shared/citus cluster), beside plain PostgreSQL")
    parser.add_argument("--profile-out", type=Path, default=None,
                        help="with --profile: also keep py-spy's raw collapsed stacks in this "
                             "directory (profile-<database>.txt)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy record one server worker during the one-tenant pairs")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (Debian's package)")
    url = os.environ.get("COMMCREDITS_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True,
                                 check=False).stdout.split("\n")[0]
    console.print(
        f"Python {platform.python_version()}, {usable_cores()} usable cores, "
        f"{platform.platform()}; "
        f"{wrk_version}; "
        f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    failed = False
    by_label: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="commcredits-bench-calls-") as tmp:
        for label in ("PostgreSQL", "Citus", "SQLite"):
            if label == "Citus" and not args.citus:
                continue
            if args.db not in ("both", "postgresql" if label == "Citus" else label.lower()):
                continue
            workdir = Path(tmp) / label
            (workdir / "outbox").mkdir(parents=True)
            if label == "PostgreSQL":
                version, sync = reset_postgres(url, migrate=False)
                db_url, label_full = url, f"PostgreSQL {version} (synchronous_commit={sync})"
            elif label == "Citus":
                db_url = os.environ.get("COMMCREDITS_BENCH_CITUS_URL", DEFAULT_CITUS_URL)
                version, sync = reset_postgres(db_url, migrate=False)
                label_full = (f"Citus on PostgreSQL {version}, coordinator + 2 workers "
                              f"(synchronous_commit={sync})")
            else:
                db_url = prepare_sqlite(workdir / "bench.db")
                label_full = "SQLite (WAL, synchronous=NORMAL)"
            runs, problems, profile = bench_database(label, db_url, args, workdir)
            by_label[label] = runs
            report(label_full, runs, args.workers, args.connections)
            for line in problems:
                console.print(f"  [{'green' if len(problems) == 1 else 'red'}]balances: "
                              f"{line}[/]")
            failed = failed or len(problems) > 1 or any(r.bad for r in runs)
            if profile is not None:
                summarize_profile(profile)
                if args.profile_out is not None and profile.exists():
                    args.profile_out.mkdir(parents=True, exist_ok=True)
                    shutil.copy(profile, args.profile_out / profile.name)
    if "Citus" in by_label and "PostgreSQL" in by_label:
        console.print("Citus / plain PostgreSQL, requests/s, same run:")
        for pg, ct in zip(by_label["PostgreSQL"], by_label["Citus"], strict=True):
            if pg.seconds and ct.seconds and "no-op" not in pg.what:
                console.print(f"  {pg.what}: {ct.rate:,.1f} / {pg.rate:,.1f} = "
                              f"{ct.rate / pg.rate if pg.rate else 0:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
