"""Call control over HTTP: authorize+end pairs per second through ``commcredits serve``, against
a baseline of GET /healthz from the same server in the same run.

What it does, on PostgreSQL only (``COMMCREDITS_BENCH_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test_g``; its schema ``public`` is DROPped and
re-created first):

- starts ``commcredits serve --db URL --host 127.0.0.1 --port <free port> --no-demo`` as a
  subprocess (by default one uvicorn worker with its access log, as ``make run`` does;
  ``--workers N`` and ``--no-access-log`` pass on to ``serve``), with an operator key in
  ``COMMCREDITS_OPERATOR_KEY`` and the outbox in a temporary folder, and waits for /healthz;
- sets up through the REST API as the operator: a US MOSA tenant, a card, a purchase of
  100,000.00 USD, the sample USD rate table (PUT /api/v1/rate-tables/USD), MCOEV and
  MCOPSTN1 seats, one user with MCOEV, MCOPSTN1 and MCOPSTNC, and a ``platform`` API key;
- **pairs**: with the platform key, ``POST /calls/authorize`` (user_out, +12065550100 to
  +447400123456: a GB mobile call, charged to credits) then ``POST /calls/{id}/end``
  (61 s, which bills 120 s at 0.12/min = 0.24), 16 calls in flight at once (asyncio, one
  httpx client on loopback);
- **baseline**: GET /healthz at the same concurrency: FastAPI, the thread pool and one
  ``SELECT 1`` on the database, with no authentication and no business logic;
- the two run in interleaved rounds, so a noisy neighbour slows them alike; the ratio is the
  call-control request rate over the /healthz request rate;
- afterwards it checks every reply (allow, charge 0.24) and the balance
  (100,000.00 - 0.24 x pairs), and stops the server, also on errors.

It prints figures and asserts no timings: it is not a test. The client runs on the same
machine as the server and the database, so they share the CPUs; compare the ratio.

Run: ``.venv/bin/python bench/call_control.py [--pairs 3000] [--seconds 30]`` (or
``make bench-calls``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from benchdb import free_port, reset_postgres

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_g"
SAMPLE_RATES = (Path(__file__).resolve().parent.parent
                / "src" / "commcredits" / "data" / "rates" / "sample_usd.csv")
HOST = "127.0.0.1"
CONCURRENCY = 16
ROUNDS = 3
WARMUP_PAIRS = 50
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
PURCHASE = "100000.00"
CHARGE = Decimal("0.24")  # 61 s to a GB mobile: 120 s at 0.12/min
USER = "alice@bench.example"

console = Console(width=None if sys.stdout.isatty() else 132)


class BenchError(RuntimeError):
    """The server refused a request or answered something unexpected."""


@dataclass
class Stats:
    what: str
    latencies: dict[str, list[float]] = field(default_factory=dict)  # per request kind, s
    units: int = 0  # pairs, or health checks
    seconds: float = 0.0
    server_cpu: float = 0.0  # CPU seconds the server's processes used meanwhile

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def request_rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def unit_rate(self) -> float:
        return self.units / self.seconds if self.seconds else 0.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- the server --------------------------------------------------------------------------


def server_stack() -> str:
    """Which HTTP parser and event loop uvicorn will pick ("auto": httptools and uvloop
    when they import, else h11 and asyncio); the server inherits this environment."""
    import importlib

    def loads(name: str) -> bool:
        try:
            importlib.import_module(name)
        except ImportError:
            return False
        return True

    http = "httptools" if loads("httptools") else "h11"
    loop = "uvloop" if loads("uvloop") else "asyncio"
    return f"uvicorn {http}+{loop}"


SERVER_PIDS: list[int] = []  # the server's process, set once it runs


def server_cpu_seconds() -> float:
    """User + system CPU time of the server process and its children (uvicorn workers), from
    /proc (0 where /proc is missing). Robust to a noisy machine, unlike rates."""
    if not SERVER_PIDS:
        return 0.0
    pids = set(SERVER_PIDS)
    try:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) in SERVER_PIDS:  # ppid
                    pids.add(int(entry))
        total = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    except OSError:
        return 0.0
    return total / os.sysconf("SC_CLK_TCK")


def commcredits_command() -> list[str]:
    beside = Path(sys.executable).parent / "commcredits"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("commcredits")
    if found:
        return [found]
    return [sys.executable, "-m", "commcredits.entrypoints.cli.main"]


class Server:
    """``commcredits serve`` in a subprocess; always stopped by ``stop``."""

    def __init__(self, url: str, workdir: Path, operator_key: str,
                 extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log_path = workdir / "serve.log"
        env = {**os.environ, "COMMCREDITS_OPERATOR_KEY": operator_key,
               "COMMCREDITS_OUTBOX_DIR": str(workdir / "outbox")}
        env.pop("COMMCREDITS_SMTP_HOST", None)  # emails go to the temporary outbox
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*commcredits_command(), "serve", "--db", url, "--host", HOST,
             "--port", str(self.port), "--no-demo", *extra],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
            start_new_session=True,
        )

    def wait_healthy(self) -> float:
        started = time.perf_counter()
        deadline = started + START_TIMEOUT
        with httpx.Client(base_url=self.base, timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise BenchError(f"the server exited with code {self.proc.returncode}:\n"
                                     + self.log_tail())
                try:
                    if client.get("/healthz").status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise BenchError(f"no /healthz within {START_TIMEOUT:.0f} s:\n" + self.log_tail())

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly on SIGINT
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


# --- setup through the REST API ----------------------------------------------------------


def expect(response: httpx.Response, *codes: int) -> Any:
    if response.status_code not in codes:
        raise BenchError(f"{response.request.method} {response.request.url.path} answered "
                         f"{response.status_code}: {response.text[:500]}")
    return response.json()


def set_up(base: str, operator_key: str) -> tuple[str, str]:
    """The tenant id and a platform API key."""
    with httpx.Client(base_url=base + "/api/v1", timeout=REQUEST_TIMEOUT,
                      headers={"Authorization": f"Bearer {operator_key}"}) as api:
        tid = expect(api.post("/tenants", json={
            "name": "Bench", "country": "US", "billing_account_type": "MOSA",
            "contacts": [{"email": "admin@bench.example", "role": "global_admin"}],
        }), 201)["id"]
        card = expect(api.post(f"/tenants/{tid}/payment-methods", json={
            "type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2099,
        }), 201)["id"]
        expect(api.post(f"/tenants/{tid}/credits/purchases",
                        json={"amount": PURCHASE, "payment_method_id": card}), 201)
        expect(api.put("/rate-tables/USD", content=SAMPLE_RATES.read_bytes(),
                       headers={"Content-Type": "text/csv"}), 201)
        for sku in ("MCOEV", "MCOPSTN1"):
            expect(api.post(f"/tenants/{tid}/subscriptions",
                            json={"sku": sku, "quantity": 5}), 201)
        expect(api.post(f"/tenants/{tid}/users", json={
            "upn": USER, "display_name": "Alice", "usage_location": "US",
        }), 201)
        held = expect(api.post(f"/tenants/{tid}/users/{USER}/licenses",
                               json={"add": ["MCOEV", "MCOPSTN1", "MCOPSTNC"]}), 200)
        if set(held["licenses"]) < {"MCOEV", "MCOPSTN1", "MCOPSTNC"}:
            raise BenchError(f"the user holds {held['licenses']}")
        key = expect(api.post(f"/tenants/{tid}/api-keys",
                              json={"role": "platform", "name": "bench"}), 201)["key"]
    return tid, str(key)


def balance(base: str, operator_key: str, tid: str) -> Decimal:
    with httpx.Client(base_url=base + "/api/v1", timeout=REQUEST_TIMEOUT,
                      headers={"Authorization": f"Bearer {operator_key}"}) as api:
        body = expect(api.get(f"/tenants/{tid}/credits"), 200)
    return Decimal(str(body["balance"]))


# --- the load ----------------------------------------------------------------------------


async def drive(
    n: int, seconds: float, one: Callable[[int, Stats], Awaitable[None]], stats: Stats,
    first: int,
) -> None:
    """Run ``one(i)`` for i = first .. first+n-1 with CONCURRENCY in flight, or until
    ``seconds`` have passed (each worker checks the deadline before its next unit)."""
    next_i = first
    last = first + n
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal next_i
        while next_i < last and time.perf_counter() < deadline:
            i = next_i
            next_i += 1
            await one(i, stats)
            stats.units += 1

    started, cpu = time.perf_counter(), server_cpu_seconds()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    stats.seconds += time.perf_counter() - started
    stats.server_cpu += server_cpu_seconds() - cpu


def call_pair(client: httpx.AsyncClient, tid: str, tag: str) -> Callable[[int, Stats],
                                                                           Awaitable[None]]:
    async def one(i: int, stats: Stats) -> None:
        call_id = f"bench-{tag}-{i}"
        t0 = time.perf_counter()
        r = await client.post(f"/api/v1/tenants/{tid}/calls/authorize", json={
            "call_id": call_id, "call_type": "user_out", "user": USER,
            "caller": "+12065550100", "callee": "+447400123456"})
        t1 = time.perf_counter()
        reply = expect(r, 200)
        if reply.get("decision") != "allow" or reply.get("funding") != "credits":
            raise BenchError(f"authorize {call_id}: {reply}")
        t2 = time.perf_counter()
        r = await client.post(f"/api/v1/tenants/{tid}/calls/{call_id}/end",
                              json={"duration_seconds": 61})
        t3 = time.perf_counter()
        ended = expect(r, 200)
        if Decimal(str(ended.get("charge"))) != CHARGE:
            raise BenchError(f"end {call_id}: {ended}")
        stats.add("authorize", t1 - t0)
        stats.add("end", t3 - t2)
    return one


def health(client: httpx.AsyncClient) -> Callable[[int, Stats], Awaitable[None]]:
    async def one(_i: int, stats: Stats) -> None:
        t0 = time.perf_counter()
        r = await client.get("/healthz")
        stats.add("GET /healthz", time.perf_counter() - t0)
        expect(r, 200)
    return one


async def load(base: str, tid: str, key: str, pairs: int, seconds: float,
               rounds: int) -> tuple[Stats, Stats]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT, limits=limits,
                                 headers={"Authorization": f"Bearer {key}"}) as client:
        tag = secrets.token_hex(3)
        calls_one, health_one = call_pair(client, tid, tag), health(client)
        warm = Stats("warm-up")
        await drive(WARMUP_PAIRS, seconds, calls_one, warm, -WARMUP_PAIRS)
        await drive(WARMUP_PAIRS * 2, seconds, health_one, warm, 0)
        calls_stats, health_stats = Stats("pairs"), Stats("healthz")
        done = 0
        for r in range(rounds):
            chunk = pairs // rounds + (1 if r < pairs % rounds else 0)
            # the baseline gets as many requests as the pairs make (two per pair)
            await drive(2 * chunk, seconds / (2 * rounds), health_one, health_stats, 0)
            await drive(chunk, seconds / (2 * rounds), calls_one, calls_stats, done)
            done = calls_stats.units
    return calls_stats, health_stats


# --- report ------------------------------------------------------------------------------


def report(calls_stats: Stats, health_stats: Stats) -> None:
    table = Table(title=f"Call control over HTTP, {CONCURRENCY} in flight, PostgreSQL")
    for name, justify in (("what", "left"), ("count", "right"), ("seconds", "right"),
                          ("per second", "right"), ("p50 ms", "right"), ("p99 ms", "right"),
                          ("vs baseline", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    base_rate = health_stats.request_rate
    base_lat = health_stats.latencies.get("GET /healthz", [])
    table.add_row("authorize+end pairs", f"{calls_stats.units:,}", f"{calls_stats.seconds:.1f}",
                  f"{calls_stats.unit_rate:,.0f}", "", "", "")
    table.add_row("call-control requests (2 per pair)", f"{calls_stats.requests:,}",
                  f"{calls_stats.seconds:.1f}", f"{calls_stats.request_rate:,.0f}", "", "",
                  f"{calls_stats.request_rate / base_rate:.2f}× rate" if base_rate else "")
    for kind in ("authorize", "end"):
        lat = calls_stats.latencies.get(kind, [])
        p50 = percentile(lat, 50)
        ratio = f"{p50 / percentile(base_lat, 50):.1f}× p50" if base_lat else ""
        table.add_row(f"  POST …/{kind}", f"{len(lat):,}", "", "",
                      f"{p50 * 1e3:.1f}", f"{percentile(lat, 99) * 1e3:.1f}", ratio)
    table.add_row("baseline: GET /healthz", f"{health_stats.requests:,}",
                  f"{health_stats.seconds:.1f}", f"{base_rate:,.0f}",
                  f"{percentile(base_lat, 50) * 1e3:.1f}",
                  f"{percentile(base_lat, 99) * 1e3:.1f}", "1.00")
    console.print(table)
    if calls_stats.server_cpu and health_stats.server_cpu:
        per_call = calls_stats.server_cpu / calls_stats.requests * 1e3
        per_health = health_stats.server_cpu / health_stats.requests * 1e3
        console.print(
            f"server CPU per request (the server's processes, from /proc): call control "
            f"{per_call:.2f} ms, /healthz {per_health:.2f} ms = [bold]{per_call / per_health:.2f}"
            f"[/bold]× the baseline"
        )
    if base_rate:
        console.print(
            f"pairs/s {calls_stats.unit_rate:,.0f}; call-control requests/s over /healthz "
            f"requests/s = {calls_stats.request_rate:,.0f} / {base_rate:,.0f} = "
            f"[bold]{calls_stats.request_rate / base_rate:.2f}[/bold]"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3000,
                        help="authorize+end pairs in the timed part (default 3000)")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="time limit of the timed part, pairs and baseline (default 30)")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help=f"interleaved rounds of baseline and pairs ({ROUNDS})")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes of the server (default 1)")
    parser.add_argument("--no-access-log", action="store_true",
                        help="start the server with --no-access-log")
    args = parser.parse_args(argv)
    extra: tuple[str, ...] = ("--workers", str(args.workers)) if args.workers > 1 else ()
    if args.no_access_log:
        extra = (*extra, "--no-access-log")
    pairs = max(args.pairs, 1)
    rounds = max(min(args.rounds, pairs), 1)
    url = os.environ.get("COMMCREDITS_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
    version, sync = reset_postgres(url, migrate=False)
    console.print(
        f"Python {platform.python_version()}, httpx {httpx.__version__}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}; PostgreSQL {version} (synchronous_commit={sync}); "
        f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
        f"server: {server_stack()} {' '.join(extra)}"
    )
    operator_key = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="commcredits-bench-calls-") as tmp:
        server = Server(url, Path(tmp), operator_key, extra)
        try:
            ready = server.wait_healthy()
            SERVER_PIDS.append(server.proc.pid)
            console.print(f"[dim]server on {server.base} (pid {server.proc.pid}) healthy after "
                          f"{ready:.1f} s[/]")
            tid, key = set_up(server.base, operator_key)
            calls_stats, health_stats = asyncio.run(
                load(server.base, tid, key, pairs, args.seconds, rounds))
            total = calls_stats.units + WARMUP_PAIRS
            left = balance(server.base, operator_key, tid)
            expected = Decimal(PURCHASE) - CHARGE * total
            if left != expected:
                raise BenchError(f"balance {left} after {total} calls; expected {expected}")
        except BaseException:
            console.print("[red]the bench failed; the server's log ends with:[/]\n"
                          + server.log_tail())
            raise
        finally:
            server.stop()
    report(calls_stats, health_stats)
    console.print(f"[dim]balance checked: {PURCHASE} - {total:,} x {CHARGE} = {left}[/]")
    if calls_stats.units < pairs:
        console.print(f"[yellow]stopped at the time limit: {calls_stats.units:,} of "
                      f"{pairs:,} pairs[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
