"""Admin-center pages: how long each page takes to answer with the demo data, against a
baseline of GET /healthz from the same server in the same run.

What it does:

- starts ``commcredits serve --db sqlite:///<temp>/bench.db --port <free port>`` as a
  subprocess (the demo tenant is seeded, as ``make run`` does: a year of purchases, two
  months of calls, 40 users) and waits for /healthz;
- signs in through the printed one-time link as the demo global admin, and with the
  operator key (the sign-in form's API-key path) as the operator, keeping the cookies;
- requests every page sequentially (one client, loopback), ``--rounds`` times each after
  one warm-up, interleaved with GET /healthz, and prints p50, p95 and max per page, and the
  ratio of the page's p50 to /healthz's p50;
- a page that does not answer 200 is listed with its status.

It prints figures and asserts no timings: it is not a test. Run:
``.venv/bin/python bench/pages.py [--rounds 20]`` (or ``make bench-pages``).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from benchdb import free_port

OPERATOR_KEY = "bench-" + secrets.token_hex(8)


def _pages(tenant: str, user: str | None) -> list[tuple[str, str]]:
    t = f"/t/{tenant}"
    pages = [
        ("Home", t),
        ("Communications Credits", f"{t}/credits"),
        ("Marketplace", f"{t}/marketplace"),
        ("Active users", f"{t}/users"),
        ("Users: search", f"{t}/users?q=a"),
        ("Phone numbers", f"{t}/numbers"),
        ("PSTN usage, 7 days", f"{t}/reports/usage?range=7d"),
        ("PSTN usage, 28 days", f"{t}/reports/usage?range=28d"),
        ("Minute pools", f"{t}/reports/pools"),
        ("Spend by day", f"{t}/reports/spend"),
        ("Spend by country", f"{t}/reports/spend?group_by=country"),
        ("Notifications", f"{t}/notifications"),
        ("Audit log", f"{t}/audit"),
    ]
    if user:
        pages.insert(5, ("User: licenses tab", f"{t}/users/{user}"))
    return pages


def _timed(client: httpx.Client, path: str) -> tuple[float, int]:
    start = time.perf_counter()
    r = client.get(path)
    return (time.perf_counter() - start) * 1000, r.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    out = Console()
    exe = Path(sys.executable).with_name("commcredits")
    with tempfile.TemporaryDirectory() as work:
        db = f"sqlite:///{work}/bench.db"
        port = free_port()
        env = {**os.environ, "COMMCREDITS_OPERATOR_KEY": OPERATOR_KEY,
               "COMMCREDITS_OUTBOX_DIR": f"{work}/outbox", "COLUMNS": "300"}
        log = Path(work) / "serve.log"
        started = time.perf_counter()
        with log.open("w") as fh:
            proc = subprocess.Popen([str(exe), "serve", "--db", db, "--port", str(port)],
                                    cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"serve exited:\n{log.read_text()}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            out.print(f"server ready with the demo in {time.perf_counter() - started:.1f} s")
            text = log.read_text()
            tenant = re.search(r"Demo tenant Contoso: ([0-9a-f]{32})", text)
            link = re.search(r"(/signin/link/[A-Za-z0-9_-]+)", text)
            assert tenant and link, text
            with httpx.Client(base_url=base, timeout=30) as client:
                client.get(link.group(1))
                users = client.get(f"/api/v1/tenants/{tenant.group(1)}/users",
                                   headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
                first = None
                if users.status_code == 200:
                    body = users.json()
                    items = body.get("users") or body.get("items") or []
                    if items:
                        first = items[0].get("user_principal_name") or items[0].get("id")
                pages = _pages(tenant.group(1), first)
                operator = httpx.Client(base_url=base, timeout=30)
                operator.get("/signin")
                operator.post("/signin", data={"api_key": OPERATOR_KEY,
                                               "csrf_token": operator.cookies["cc_pre"]})
                op_pages = [("Operator: tenants", "/operator"),
                            ("Operator: clock", "/operator/clock")]
                timings: dict[str, list[float]] = {name: [] for name, _ in pages}
                statuses: dict[str, int] = {}
                health: list[float] = []
                plan = [(client, n, p) for n, p in pages] + [(operator, n, p)
                                                             for n, p in op_pages]
                pages += op_pages
                timings.update({name: [] for name, _ in op_pages})
                for who, name, path in plan:  # warm-up
                    _, statuses[name] = _timed(who, path)
                for _ in range(args.rounds):
                    for who, name, path in plan:
                        ms, statuses[name] = _timed(who, path)
                        timings[name].append(ms)
                        health.append(_timed(client, "/healthz")[0])
                operator.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    h50 = statistics.median(health)
    table = Table(title=f"Admin-center pages, demo data, SQLite, {args.rounds} rounds "
                        f"(GET /healthz p50 {h50:.1f} ms)")
    for col in ("page", "status", "p50 ms", "p95 ms", "max ms", "p50 / healthz"):
        table.add_column(col, justify="left" if col == "page" else "right")
    for name, _ in pages:
        xs = sorted(timings[name])
        p95 = xs[min(len(xs) - 1, int(len(xs) * 0.95))]
        table.add_row(name, str(statuses[name]), f"{statistics.median(xs):.1f}", f"{p95:.1f}",
                      f"{xs[-1]:.1f}", f"{statistics.median(xs) / h50:.1f}x")
    out.print(table)


if __name__ == "__main__":
    main()
