"""What `bench/rate_cdrs.py` sets up and checks, untimed: a funded tenant (auto-recharge on
or off) with rates, seats and users, made through the services; a CDR file written as a
stream (never held in memory, so 10,000,000 rows cost no more memory than 10); and the check
that every CDR was stored once and the tenant's ledger adds up (FUND-6).

Times are relative to the wall clock, because `commcredits cdr import` runs on the system
clock: the tenant is set up `SETUP_DAYS` days ago and its calls start between then and a
day ago."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import BigInteger, func, select, type_coerce

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.bootstrap import build
from commcredits.config import Settings
from commcredits.services import directory, funds, licenses, payments, rates, recharge, tenants
from commcredits.services.auth import OPERATOR_CLI

USERS = 100
SETUP_DAYS = 40
COLUMNS = ("Call ID", "UPN", "Call Type", "Caller ID", "Destination Number", "Start Time",
           "Duration Seconds")
DESTINATIONS = (
    "+447400123456", "+442071234567", "+4915112345678", "+493012345678",
    "+33612345678", "+33123456789", "+81312345678", "+12045551234",
)
US_FIXED = "+12025550123"
# Auto-recharge on: the demo's settings (add 100.00 when the balance is below 300.00) on a
# first purchase of 500.00, so a recharge falls inside the import every few hundred CDRs.
RECHARGE_AMOUNT, RECHARGE_TRIGGER, FIRST_PURCHASE = "100.00", "300.00", "500.00"
LARGE_PURCHASE = "1000000.00"  # FUND-2's maximum; one per `CDRS_PER_PURCHASE` CDRs
CDRS_PER_PURCHASE = 1_000_000


def setup_at() -> datetime:
    """When the tenant was set up: `SETUP_DAYS` days before now, on the hour."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(days=SETUP_DAYS)


def set_up(url: str, name: str, *, auto_recharge: bool, cdrs: int) -> tuple[str, list[str]]:
    """A US MOSA tenant with a card, the sample rates, `USERS` users holding MCOEV, MCOPSTN1
    and MCOPSTNC; funded with a large balance (auto-recharge off) or with `FIRST_PURCHASE`
    and the demo's auto-recharge. Returns the tenant id and the users' UPNs."""
    rt = build(Settings(database_url=url, smtp_host=None), clock=FixedClock(setup_at()))
    try:
        svc = rt.services
        tid = tenants.create_tenant(
            svc, OPERATOR_CLI, name=f"Bench CDRs {name}", country="US",
            billing_account_type="MOSA",
            contacts=[{"email": "admin@bench.example", "role": "global_admin"}],
        ).id
        card = payments.add_payment_method(svc, OPERATOR_CLI, tid, number="4242424242424242",
                                           exp_month=12, exp_year=2099)
        if auto_recharge:
            funds.purchase(svc, OPERATOR_CLI, tid, amount=FIRST_PURCHASE,
                           payment_method_id=card.id)
            recharge.configure(svc, OPERATOR_CLI, tid, enabled=True, amount=RECHARGE_AMOUNT,
                               trigger=RECHARGE_TRIGGER, payment_method_id=card.id)
        else:
            for _ in range(cdrs // CDRS_PER_PURCHASE + 1):
                funds.purchase(svc, OPERATOR_CLI, tid, amount=LARGE_PURCHASE,
                               payment_method_id=card.id)
        rates.import_samples(svc, OPERATOR_CLI, only_missing=True)
        for sku in ("MCOEV", "MCOPSTN1"):
            licenses.buy_seats(svc, OPERATOR_CLI, tid, sku=sku, quantity=USERS)
        upns = [f"{name}{i}@bench.example" for i in range(USERS)]
        for upn in upns:
            directory.create_user(svc, OPERATOR_CLI, tid, upn=upn,
                                  display_name=upn.split("@")[0], usage_location="US")
        lines = "".join(f"{upn},{sku},add\n" for upn in upns
                        for sku in ("MCOEV", "MCOPSTN1", "MCOPSTNC"))
        report = licenses.bulk_licenses(svc, OPERATOR_CLI, tid, "upn,sku,action\n" + lines)
        if report.failed:
            raise RuntimeError(f"license assignment failed: {report.failed} rows")
        return tid, upns
    finally:
        rt.close()


def write_cdr_file(path: Path, n: int, upns: list[str], seed: int = 7) -> int:
    """``n`` CSV rows with the export's columns, written row by row to ``path``: outbound
    user calls of 1 to 900 s at random moments from setup to a day ago, seven in eight to
    GB, DE, FR, JP and CA numbers (credits), one in eight to a US fixed number (the domestic
    pool). Returns the file's size in bytes."""
    rng = random.Random(seed)
    first = setup_at() + timedelta(hours=1)
    span = (SETUP_DAYS - 2) * 86_400
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for i in range(n):
            start = first + timedelta(seconds=rng.randrange(span))
            callee = US_FIXED if i % 8 == 0 else rng.choice(DESTINATIONS)
            writer.writerow((f"cdr-{i:08d}", rng.choice(upns), "user_out", "+12065550100",
                             callee, start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                             rng.randint(1, 900)))
    return path.stat().st_size


def check(url: str, tid: str, n: int) -> dict[str, int]:
    """Every CDR stored once; the tenant's ledger entries add up to its balance (FUND-6).
    Returns the calls by funding, the charge entries and the recharges (lots bought)."""
    rt = build(Settings(database_url=url, smtp_host=None))
    try:
        with rt.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(t.calls).where(
                t.calls.c.tenant_id == tid)).scalar_one()
            funding = {str(r[0]): int(r[1]) for r in conn.execute(
                select(t.calls.c.funding, func.count()).where(t.calls.c.tenant_id == tid)
                .group_by(t.calls.c.funding))}
            kinds = {str(r[0]): int(r[1]) for r in conn.execute(
                select(t.ledger_entries.c.kind, func.count())
                .where(t.ledger_entries.c.tenant_id == tid)
                .group_by(t.ledger_entries.c.kind))}
            total = conn.execute(select(func.coalesce(func.sum(
                type_coerce(t.ledger_entries.c.amount, BigInteger)), 0))
                .where(t.ledger_entries.c.tenant_id == tid)).scalar_one()
            balance = conn.execute(select(type_coerce(t.credit_accounts.c.balance,
                                                      BigInteger))
                                   .where(t.credit_accounts.c.tenant_id == tid)).scalar_one()
    finally:
        rt.close()
    if stored != n:
        raise RuntimeError(f"{stored} calls rows stored for {n} CDRs")
    if int(total) != int(balance):
        raise RuntimeError(f"ledger entries add up to {total}, the balance is {balance}")
    return {**{f"funding {k}": v for k, v in funding.items()},
            **{f"{k} entries": v for k, v in kinds.items()}}
