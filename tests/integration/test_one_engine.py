"""One engine (CDR-2, CALL-7, POOL-5, FUND-3..6, POST-1): every call type, rated and settled
live (authorize, then end, through call control) or in a CDR batch, leaves the same stored
call, ledger (balance, lots, debt, recharges, emails) and pool state, on SQLite and
PostgreSQL. Both go through the one rating kernel and the one settlement, so the test needs
no second implementation: it pins that the live path and the batch path feed them alike.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.services import calls, cdrs, directory, postpaid, rates
from commcredits.services.context import Services
from tests.support import OPERATOR, add_card, buy, make_tenant, utc
from tests.support_directory import add_users
from tests.support_directory import buy as buy_seats

HEADER = ("UsageId,Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time,"
          "Duration Seconds,Conference ID")
TOLL_FREE = "+18005550100"
FIRST = utc(2026, 1, 20, 8, 0)
# (call type, user prefix or "", caller, callee, seconds): every call type, with pools that
# run dry (alice's domestic plan, the dial-out pool past 80% and 100%), credits, toll-free.
CASES: tuple[tuple[str, str, str, str, int], ...] = (
    ("user_out", "alice", "+12065550100", "+12025550123", 61),
    ("user_out", "fay", "+12065550100", "+447400123456", 130),
    ("user_out_transfer", "fay", "+12065550100", "+4915112345678", 59),
    ("user_out_forwarding", "alice", "+12065550100", "+12025550188", 3_000),
    ("user_in", "alice", "+447400123456", "+12065550100", 300),
    ("user_in", "", "+447400123456", TOLL_FREE, 121),
    ("conf_out", "org", "+12065550100", "+4915112345678", 50 * 60),
    ("conf_out", "org", "+12065550100", "+33612345678", 15 * 60),
    ("conf_in", "", "+447400123456", "+12065550199", 600),
    ("emergency_out", "alice", "+12065550100", "911", 60),
    ("user_out", "alice", "+12065550100", "911", 30),
    ("user_out", "alice", "+12065550100", "+12025550123", 1_200),
)
POST_USAGE_CASES = (CASES[1], CASES[2], CASES[5], CASES[3])


def set_up(svc: Services, *, mca: bool = False) -> str:
    tid = make_tenant(svc)
    buy(svc, tid, "50.00", add_card(svc, tid))
    buy_seats(svc, tid, MCOEV=3, MCOPSTN1=1, MCOPSTN_PAYG_1=1, MCOMEETADV=1)
    add_users(svc, tid, 1, "US", ("MCOEV", "MCOPSTN1", "MCOPSTNC"), prefix="alice")
    add_users(svc, tid, 1, "US", ("MCOEV", "MCOPSTN_PAYG_1", "MCOPSTNC"), prefix="fay")
    add_users(svc, tid, 1, "US", ("MCOEV", "MCOMEETADV"), prefix="org")
    directory.add_number(svc, OPERATOR, tid, number=TOLL_FREE, type="toll_free")
    if mca:
        postpaid.switch_billing_account(svc, OPERATOR, tid, "MCA")
    return tid


def starts(cases: tuple[tuple[str, str, str, str, int], ...]) -> list[datetime]:
    return [FIRST + timedelta(hours=2 * n) for n in range(len(cases))]


def live(svc: Services, clock: FixedClock, tid: str,
         cases: tuple[tuple[str, str, str, str, int], ...]) -> None:
    """Each call authorized at its start and ended after its duration, one by one."""
    for n, ((call_type, user, caller, callee, seconds), start) in enumerate(
            zip(cases, starts(cases), strict=True)):
        clock.set(start)
        body: dict[str, Any] = {"call_id": f"c{n}", "call_type": call_type,
                                "caller": caller, "callee": callee}
        if user:
            body["user"] = f"{user}0@contoso.com"
        assert calls.authorize(svc, OPERATOR, tid, body)["decision"] == "allow", body
        clock.set(start + timedelta(seconds=seconds))
        assert calls.end(svc, OPERATOR, tid, f"c{n}", seconds)["status"] == "ended"


def batch(svc: Services, clock: FixedClock, tid: str,
          cases: tuple[tuple[str, str, str, str, int], ...]) -> cdrs.CdrReport:
    """The same calls as one CDR file, imported after the last one ended."""
    lines = [HEADER] + [
        f",c{n},{user + '0@contoso.com' if user else ''},{call_type},{caller},{callee},"
        f"{start.isoformat().replace('+00:00', 'Z')},{seconds},"
        for n, ((call_type, user, caller, callee, seconds), start) in enumerate(
            zip(cases, starts(cases), strict=True))]
    clock.set(starts(cases)[-1] + timedelta(hours=3))
    return cdrs.import_cdrs(svc, OPERATOR, tid, "\n".join(lines) + "\n")


CALL_FIELDS = ("call_id", "usage_id", "status", "call_type", "upn", "display_name",
               "user_location", "caller", "callee", "conference_id", "number_type",
               "domestic", "destination_name", "external_country", "start_at", "end_at",
               "duration", "funding", "capability", "pool_key", "pool_minutes", "rate_id",
               "currency", "used_seconds", "connection_fee", "charge")


def state(engine: Engine, tid: str) -> dict[str, Any]:
    """What the calls left: the calls, the account, lots, charges, pools, emails."""
    with engine.connect() as conn:
        def rows(table: t.Table, *order: Any) -> list[Any]:
            return list(conn.execute(select(table).where(table.c.tenant_id == tid)
                                     .order_by(*order)))

        account = conn.execute(select(t.credit_accounts)
                               .where(t.credit_accounts.c.tenant_id == tid)).one()
        entries = rows(t.ledger_entries, t.ledger_entries.c.id)
        charged = [e for e in entries if e.kind == "charge"]
        call_rows = rows(t.calls, t.calls.c.call_id)
        consumption = {r.reference: r for r in rows(t.pool_consumptions,
                                                     t.pool_consumptions.c.id)}
        return {
            "calls": [{k: getattr(r, k) for k in CALL_FIELDS} for r in call_rows],
            "paid": [r.entry_id is not None for r in call_rows],
            "pool uses": [(lambda c: None if c is None else (
                c.month, c.pool_key, c.seconds, c.minutes_covered, c.uncovered_seconds))(
                consumption.get(f"call:{r.id}")) for r in call_rows],
            "account": (account.balance, account.debt, account.next_expiry_at),
            "lots": [(r.amount, r.remaining, r.expires_at)
                     for r in rows(t.lots, t.lots.c.purchased_at, t.lots.c.id)],
            "charged": (sum(e.amount for e in charged), sum(e.debt_delta for e in charged)),
            "other entries": [(e.kind, e.amount, e.debt_delta) for e in entries
                              if e.kind != "charge"],
            "pool usage": sorted((r.month, r.pool_key, r.used_minutes)
                                 for r in rows(t.pool_usage, t.pool_usage.c.month)),
            "emails": Counter(r.kind for r in rows(t.email_outbox, t.email_outbox.c.id)),
            "recharges": len(rows(t.recharge_requests, t.recharge_requests.c.id)),
            "overage": sorted((r.month, r.capability, r.country, r.amount, r.reference)
                              for r in rows(t.overage_lines, t.overage_lines.c.id)),
        }


@pytest.mark.rule("CDR-2")
@pytest.mark.rule("CALL-7")
@pytest.mark.rule("POOL-5")
@pytest.mark.rule("NUM-2")
@pytest.mark.rule("FUND-3")
@pytest.mark.rule("FUND-5")
def test_every_call_type_live_and_in_a_batch_leaves_the_same_calls_ledger_and_pools(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    clock.set(utc(2026, 1, 15, 9, 0))
    rates.import_samples(svc, OPERATOR, only_missing=True)
    one_by_one, batched = set_up(svc), set_up(svc)
    live(svc, clock, one_by_one, CASES)
    report = batch(svc, clock, batched, CASES)
    assert (report.accepted, report.rejected) == (len(CASES), [])
    single, many = state(engine, one_by_one), state(engine, batched)
    assert many == single
    # Every case did what it is there for: pool, credits, free, toll-free, dial-out alerts.
    fundings = Counter(c["funding"] for c in many["calls"])
    assert fundings["pool"] >= 4 and fundings["credits"] >= 3 and fundings["free"] >= 3
    assert many["emails"]["dialout_pool_80"] == many["emails"]["dialout_pool_100"] == 1
    assert any(c["number_type"] == "toll_free" and c["charge"] for c in many["calls"])
    # The dial-out pool ran dry mid-call: 10 minutes covered, the rest on credits.
    assert any(c["funding"] == "pool" and c["pool_minutes"] == 10 and c["charge"]
               for c in many["calls"])


@pytest.mark.rule("CDR-2")
@pytest.mark.rule("POST-1")
@pytest.mark.rule("ACCT-6")
def test_post_usage_calls_live_and_in_a_batch_leave_the_same_split_and_calls(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    clock.set(utc(2026, 1, 15, 9, 0))
    rates.import_samples(svc, OPERATOR, only_missing=True)
    one_by_one, batched = set_up(svc, mca=True), set_up(svc, mca=True)
    live(svc, clock, one_by_one, POST_USAGE_CASES)
    report = batch(svc, clock, batched, POST_USAGE_CASES)
    assert (report.accepted, report.rejected) == (len(POST_USAGE_CASES), [])
    single, many = state(engine, one_by_one), state(engine, batched)
    assert many == single
    assert any(c["funding"] == "post_usage" and c["charge"] for c in many["calls"])
