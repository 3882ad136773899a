"""What the spend guard costs call authorization, against a baseline measured in the same
run (GUARD-1, GUARD-3).

Two tenants on one database, each with 50 users on MCOPSTN1 + Communications Credits and
100.00 of credits, the sample USD rates. Each authorization is an international call (GB
mobile, paid from credits) of a random user, followed by its end (60 s), in-process through
`services.calls` (no HTTP):

- **baseline**: the tenant without a guard (the settings cache answers "none"; no read);
- **guarded**: the tenant with every limit and 20 blocked prefixes (one more statement per
  authorization: the spend so far);
- **ratio**: guarded over baseline, authorize+end pairs per second.

The guarded tenant's extra statement sums the day's calls of the tenant (its start-time
index), so its cost grows with the calls of the day; see docs/decisions.md.

It prints figures; it asserts no timings and is not a test.
Run: ``.venv/bin/python bench/guard.py [--calls N]``.
"""

from __future__ import annotations

import argparse
import platform
import random
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchdb import prepare_sqlite
from commcredits.bootstrap import build
from commcredits.config import Settings
from commcredits.services import calls, directory, funds, guard, licenses, payments, rates, tenants
from commcredits.services.auth import OPERATOR_CLI
from commcredits.services.context import Services


def tenant(svc: Services, name: str, users: int) -> str:
    tid = tenants.create_tenant(
        svc, OPERATOR_CLI, name=name, country="US", billing_account_type="MOSA",
        contacts=[{"email": f"admin@{name.lower()}.example", "role": "global_admin"}]).id
    card = payments.add_payment_method(svc, OPERATOR_CLI, tid, number="4242424242424242",
                                       exp_month=12, exp_year=2099).id
    funds.purchase(svc, OPERATOR_CLI, tid, amount="5000.00", payment_method_id=card)
    for sku in ("MCOEV", "MCOPSTN1"):
        licenses.buy_seats(svc, OPERATOR_CLI, tid, sku=sku, quantity=users)
    rows = ["upn,sku,action"]
    for i in range(users):
        upn = f"user{i}@{name.lower()}.example"
        directory.create_user(svc, OPERATOR_CLI, tid, upn=upn, display_name=f"User {i}",
                              usage_location="US")
        rows += [f"{upn},{sku},add" for sku in ("MCOEV", "MCOPSTN1", "MCOPSTNC")]
    licenses.bulk_licenses(svc, OPERATOR_CLI, tid, "\n".join(rows) + "\n")
    return tid


def run(svc: Services, tid: str, name: str, n: int, users: int, tag: str) -> float:
    rng = random.Random(1)
    started = time.perf_counter()
    for i in range(n):
        call_id = f"{name}-{tag}-{i}"
        reply = calls.authorize(svc, OPERATOR_CLI, tid, {
            "call_id": call_id, "call_type": "user_out",
            "user": f"user{rng.randrange(users)}@{name.lower()}.example",
            "caller": "+12065550100", "callee": "+447400123456"})
        assert reply["decision"] == "allow", reply
        calls.end(svc, OPERATOR_CLI, tid, call_id, 60)
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    users = 50
    with tempfile.TemporaryDirectory() as folder:
        url = prepare_sqlite(Path(folder) / "bench.db")
        rt = build(Settings(database_url=url, operator_key="bench", smtp_host=None,
                            outbox_dir=str(Path(folder) / "outbox")))
        svc = rt.services
        rates.import_samples(svc, OPERATOR_CLI, only_missing=True)
        plain, guarded = tenant(svc, "Plain", users), tenant(svc, "Guarded", users)
        guard.put_settings(svc, OPERATOR_CLI, guarded, limits={
            "user_hour": "500.00", "user_day": "1000.00", "tenant_day": "100000.00",
            "intl_minutes_user_day": 100_000}, blocked=[f"+{880 + i}" for i in range(20)])
        run(svc, plain, "Plain", 20, users, "warm")  # the caches of both
        run(svc, guarded, "Guarded", 20, users, "warm")
        base = run(svc, plain, "Plain", args.calls, users, "run")
        with_guard = run(svc, guarded, "Guarded", args.calls, users, "run")
        rt.close()
    table = Table("tenant", "authorize+end per second", "ratio")
    table.add_row("baseline: no guard", f"{base:,.0f}", "1.00")
    table.add_row("guarded: 4 limits, 20 blocked prefixes", f"{with_guard:,.0f}",
                  f"{with_guard / base:.2f}")
    console = Console()
    console.print(f"SQLite, {args.calls} calls each, Python {platform.python_version()}")
    console.print(table)


if __name__ == "__main__":
    main()
