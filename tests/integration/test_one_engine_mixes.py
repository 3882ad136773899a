"""One engine over random mixes (CDR-1, CDR-2, FUND-10): the same random files, imported
into two tenants set up alike, one record per batch (a batch of one: each CDR in its own
transaction, as a live call's end is) and in chunks, leave the same calls, ledger, lots,
pools, recharges and emails, to the micro-unit.

The files come from a seeded generator: every call type (outbound user calls of users with
every kind of license: pooled plans that run dry, international pools, per-user pools,
pay-as-you-go, no calling plan, no credits license, blocked; inbound, conference dial-in
and dial-out, emergency), to rated, unrated, premium, emergency and invalid numbers, with
durations on and around the billing increments, plus duplicates and bad rows, in start-time
order (so that both imports charge in the same order). A second rate table version with
connection fees, odd increments, 6-decimal rates and rows that take effect mid-month rates
them; a small balance with auto-recharge makes charges cross the trigger, run into debt and
recharge in the middle of a chunk; one file comes a year later, after the first lot expired
(FUND-4).

The ledger differs by design (FUND-10): one record per batch writes one charge entry per
call, a chunk one per chunk, split after a depletion or a queued recharge. So charge entries
are compared by what they add up to (amount, debt, allocations per lot), the other entries
(purchases, expiries) row by row, and a recharge's cause by how many charged calls had been
paid when it was queued.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.services import calls, cdrs, directory, rates, recharge
from commcredits.services.context import Services
from tests.support import OPERATOR, add_card, buy, make_tenant, utc
from tests.support_directory import add_users
from tests.support_directory import buy as buy_seats

HEADER = ("UsageId,Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time,"
          "Duration Seconds,Conference ID")
SETUP_AT = utc(2026, 1, 15, 9, 0)
DESTINATIONS = (
    "+12025550123", "+12025550188", "+13125550100", "+12045551234", "+17875550123",
    "+447400123456", "+442071234567", "+4915112345678", "+493012345678", "+33612345678",
    "+33123456789", "+81312345678", "+819012345678", "+19005551234", "+18005550199",
    "+8613912345678", "+80012345678", "911", "112", "+999123", "not-a-number", "+12025550123",
)
CALL_TYPES = ("user_out",) * 12 + ("user_out_transfer", "user_out_forwarding", "user_in",
                                   "conf_out", "emergency_out", "conf_in")
DURATIONS = (0, 1, 29, 30, 31, 59, 60, 61, 119, 120, 121, 600, 1799, 3600)
# A second USD version: fees, odd increments, 6-decimal rates, and rows that only take effect
# on 20 January (RATE-1: the newer effective_from wins for calls after it).
CUSTOM_RATES = """prefix,destination,number_type,direction,rate_per_minute,connection_fee,\
first_increment,next_increment,effective_from,effective_to
1,United States,fixed,outbound,0.013457,0.015,60,1,2026-01-01T00:00:00Z,
1,United States,fixed,outbound,0.021,0,30,6,2026-01-20T00:00:00Z,
1204,Canada,fixed,outbound,0.012345,0.05,1,1,2026-01-01T00:00:00Z,
1787,Puerto Rico,fixed,outbound,0.333333,0,60,60,2026-01-01T00:00:00Z,2026-01-25T00:00:00Z
1900,United States premium,premium,outbound,2.99,0,60,60,2026-01-01T00:00:00Z,
44,United Kingdom,fixed,outbound,0.023,0.1,60,1,2026-01-01T00:00:00Z,
447,United Kingdom mobile,mobile,outbound,0.2,0.1,60,1,2026-01-01T00:00:00Z,
4474,United Kingdom mobile 74,mobile,outbound,0.155555,0.004999,20,10,2026-01-20T00:00:00Z,
49,Germany,fixed,outbound,0.025,0,60,60,2026-01-01T00:00:00Z,
4915,Germany mobile,mobile,outbound,0.140001,0.000001,1,1,2026-01-01T00:00:00Z,
33,France,fixed,outbound,0.025,0.025,60,30,2026-01-01T00:00:00Z,
336,France mobile,mobile,outbound,0.130000,0,60,60,2026-01-01T00:00:00Z,
81,Japan,fixed,outbound,0.060001,0.333333,30,30,2026-01-01T00:00:00Z,
819,Japan mobile,mobile,outbound,0.18,0,60,1,2026-01-01T00:00:00Z,
"""
USERS: tuple[tuple[str, int, str, tuple[str, ...]], ...] = (
    ("alice", 3, "US", ("MCOEV", "MCOPSTN1", "MCOPSTNC")),
    ("bob", 1, "US", ("MCOEV", "MCOPSTN1")),
    ("carol", 2, "GB", ("MCOEV", "MCOPSTN2", "MCOPSTNC")),
    ("dan", 2, "US", ("MCOEV", "MCOPSTN5", "MCOPSTNC")),
    ("erin", 1, "US", ("MCOEV", "MCOPSTN8", "MCOPSTNC")),
    ("fay", 1, "US", ("MCOEV", "MCOPSTNC")),
    ("gus", 1, "US", ("MCOEV", "MCOPSTN_PAYG_1", "MCOPSTNC")),
    ("hal", 1, "US", ("MCOEV", "MCOPSTN1", "MCOPSTNC")),
)


def set_up_tenant(svc: Services, card_number: str) -> str:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "50.00", card)
    pay = card if card_number == "4242424242424242" else add_card(svc, tid, card_number)
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="50.00", trigger="40.00",
                       payment_method_id=pay)
    buy_seats(svc, tid, MCOEV=20, MCOPSTN1=10, MCOPSTN2=5, MCOPSTN5=5, MCOPSTN8=5,
              MCOPSTN_PAYG_1=5)
    for prefix, count, location, skus in USERS:
        add_users(svc, tid, count, location, skus, prefix=prefix)
    directory.update_user(svc, OPERATOR, tid, "hal0@contoso.com", {"blocked": True})
    calls.authorize(svc, OPERATOR, tid, {
        "call_id": "live1", "call_type": "user_out", "user": "alice0@contoso.com",
        "caller": "+12065550100", "callee": "+447400123456"})
    calls.end(svc, OPERATOR, tid, "live1", 61)
    return tid


def cdr_file(seed: int, rows: int, base: datetime = SETUP_AT) -> str:
    rng = random.Random(seed)
    upns = [f"{p}{i}@contoso.com" for p, n, _, _ in USERS for i in range(n)]
    upns += ["nobody@contoso.com", ""]
    lines = [HEADER]
    made: list[str] = []
    for i in range(rows):
        if made and rng.random() < 0.05:
            lines.append(rng.choice(made))  # a duplicate, anywhere in the file
            continue
        start = base + timedelta(seconds=rng.randrange(60, 16 * 86_400))
        if rng.random() < 0.03:
            start = SETUP_AT - timedelta(hours=1)  # before any license or the new rates
        usage = rng.choice(("", "", "", "leg-1", "leg-2"))
        call_id = f"c{i:05d}" if rng.random() > 0.02 else "live1"
        values = [usage, call_id, rng.choice(upns), rng.choice(CALL_TYPES), "+12065550100",
                  rng.choice(DESTINATIONS), start.isoformat().replace("+00:00", "Z"),
                  str(rng.choice(DURATIONS) if rng.random() < 0.6 else rng.randrange(7200)),
                  rng.choice(("", "", "conf-1"))]
        bad = rng.random()
        if bad < 0.01:
            values[6] = "yesterday"
        elif bad < 0.02:
            values[7] = "-5"
        elif bad < 0.03:
            values[3] = "nonsense"
        elif bad < 0.04:
            values[1] = ""
        line = ",".join(values)
        made.append(line)
        lines.append(line)
    body = sorted(lines[1:], key=lambda v: v.split(",")[6])  # start-time order, stably
    return "\n".join([HEADER, *body]) + "\n"


_HEX = re.compile(r"\b[0-9A-Fa-f]{16,}\b")
_LOT = re.compile(r"\blot[: ](\d+)\b")


def snapshot(engine: Engine, tid: str) -> dict[str, Any]:
    """Everything the imports wrote for a tenant, with its own ids replaced by what they
    stand for (a UPN, an entry's or a lot's position, a call's id)."""
    with engine.connect() as conn:
        def rows(table: t.Table, *order: Any) -> list[Any]:
            query = select(table).where(table.c.tenant_id == tid)
            return list(conn.execute(query.order_by(*order)))

        upn = {r.id: r.upn for r in rows(t.users, t.users.c.id)}
        lots = rows(t.lots, t.lots.c.purchased_at, t.lots.c.id)
        lot_no = {r.id: n for n, r in enumerate(lots)}
        entries = rows(t.ledger_entries, t.ledger_entries.c.id)
        entry_no = {r.id: n for n, r in enumerate(entries)}
        allocations: dict[int, list[tuple[int, Any]]] = {}
        for a in rows(t.ledger_allocations, t.ledger_allocations.c.id):
            allocations.setdefault(a.entry_id, []).append((lot_no[a.lot_id], a.amount))
        call_rows = rows(t.calls, t.calls.c.call_id, t.calls.c.usage_id)
        call_of = {r.id: (r.call_id, r.usage_id) for r in call_rows}

        def clean(value: Any) -> Any:
            if isinstance(value, str):
                for user_id, name in upn.items():
                    value = value.replace(user_id, name)
                value = _LOT.sub(lambda m: f"lot #{lot_no.get(int(m[1]))}", value)
                return _HEX.sub("<hex>", value)
            return value

        def call(r: Any) -> dict[str, Any]:
            out = {k: clean(v) for k, v in r._mapping.items() if k not in ("id", "tenant_id")}
            out["user_object_id"] = upn.get(r.user_object_id)
            # Which entry paid the call differs by design (FUND-10); that one did is kept.
            out["entry_id"] = r.entry_id in entry_no if r.entry_id is not None else None
            return out

        # A recharge's cause: how many charged calls had been paid by then (entries are
        # numbered in the order they were charged, on both paths).
        paid = sorted(r.entry_id for r in call_rows if r.entry_id is not None)

        def cause(entry_id: int | None) -> int:
            return -1 if entry_id is None else bisect_right(paid, entry_id)

        charges = [r for r in entries if r.kind == "charge"]
        taken: dict[int, Any] = {}
        for r in charges:
            for lot, amount in allocations.get(r.id, []):
                taken[lot] = taken.get(lot, 0) + amount
        account = conn.execute(select(t.credit_accounts).where(
            t.credit_accounts.c.tenant_id == tid)).one()
        return {
            "account": (account.balance, account.debt, account.next_expiry_at,
                        account.invoice_seq, account.first_funded_at),
            "lots": [(r.amount, r.remaining, r.purchased_at, r.expires_at, r.source)
                     for r in lots],
            "entries": [(r.kind, r.amount, r.debt_delta, r.at, clean(r.reference),
                         clean(r.description), lot_no.get(r.lot_id), clean(r.idempotency_key),
                         allocations.get(r.id, [])) for r in entries if r.kind != "charge"],
            "charges": (sum(r.amount for r in charges), sum(r.debt_delta for r in charges),
                        sorted(taken.items()), sorted({r.at for r in charges})),
            "calls": [call(r) for r in call_rows],
            "pool_usage": sorted((r.month, clean(r.pool_key), r.used_minutes, r.updated_at)
                                 for r in rows(t.pool_usage, t.pool_usage.c.month)),
            "pool_consumptions": [
                (r.month, clean(r.pool_key), call_of.get((r.reference or "")[5:]), r.seconds,
                 r.minutes_covered, r.uncovered_seconds, r.at)
                for r in rows(t.pool_consumptions, t.pool_consumptions.c.id)],
            "recharges": sorted(  # all created at the same moment: order by cause
                ((cause(r.cause_entry_id), r.chain, r.status, r.amount, r.attempt,
                  r.failure, lot_no.get(r.lot_id, -1))
                 for r in rows(t.recharge_requests, t.recharge_requests.c.created_at)),
                key=lambda r: r[:2]),
            "emails": [(r.kind, clean(r.subject)) for r in rows(t.email_outbox,
                                                                t.email_outbox.c.id)],
            "invoices": [(r.seq, r.total) for r in rows(t.invoices, t.invoices.c.seq)],
        }


def assert_same(batched: dict[str, Any], single: dict[str, Any]) -> None:
    """Equal snapshots, or the first difference of each part, side by side."""
    for key, expected in single.items():
        got = batched[key]
        if got == expected:
            continue
        if isinstance(expected, list):
            for n, (g, e) in enumerate(zip(got, expected, strict=False)):
                if g != e:
                    if isinstance(e, dict):
                        g = {k: v for k, v in g.items() if e.get(k) != v}
                        e = {k: e[k] for k in g}
                    pytest.fail(f"{key}[{n}]: batch {g!r} != single {e!r}")
            pytest.fail(f"{key}: batch has {len(got)} rows, single {len(expected)}")
        pytest.fail(f"{key}: batch {got!r} != single {expected!r}")


def import_in(svc: Services, monkeypatch: pytest.MonkeyPatch, tid: str, body: str,
              chunk: int) -> cdrs.CdrReport:
    """Import ``body`` in chunks of ``chunk`` records (1: each record a batch of one)."""
    monkeypatch.setattr(cdrs, "CHUNK", chunk)
    return cdrs.import_cdrs(svc, OPERATOR, tid, body)


def report_of(report: cdrs.CdrReport) -> tuple[int, int, list[tuple[int, str, str]]]:
    return (report.accepted, report.duplicates,
            [(r["line"], r["reason"], r["message"]) for r in report.rejected])


@pytest.mark.rule("CDR-1")
@pytest.mark.rule("CDR-2")
@pytest.mark.rule("RATE-1")
@pytest.mark.rule("RATE-2")
@pytest.mark.rule("RATE-3")
@pytest.mark.rule("POOL-5")
@pytest.mark.rule("FUND-3")
@pytest.mark.rule("FUND-5")
@pytest.mark.rule("FUND-6")
@pytest.mark.rule("FUND-4")
@pytest.mark.rule("AR-2")
@pytest.mark.parametrize(("seed", "import_at", "card", "chunk", "base"), [
    (1, utc(2026, 1, 31, 23, 0), "4242424242424242", 10_000, SETUP_AT),
    (2, utc(2026, 2, 2, 8, 0), "4242424242424242", 37, SETUP_AT),
    (3, utc(2026, 1, 31, 23, 0), "4000000000000002", 50, SETUP_AT),
    # A year on: the first lot has expired, and is forfeited before the first charge.
    (4, utc(2027, 1, 31, 23, 0), "4242424242424242", 100, utc(2027, 1, 15, 9, 0)),
])
def test_batches_of_one_and_chunks_leave_exactly_the_same_state(
    svc: Services, clock: FixedClock, engine: Engine, monkeypatch: pytest.MonkeyPatch,
    seed: int, import_at: datetime, card: str, chunk: int, base: datetime,
) -> None:
    rates.import_samples(svc, OPERATOR, only_missing=True)
    rates.import_table(svc, OPERATOR, "USD", CUSTOM_RATES, "equivalence.csv")
    single, batched = set_up_tenant(svc, card), set_up_tenant(svc, card)
    body = cdr_file(seed, 700, base)
    clock.set(import_at)
    one = import_in(svc, monkeypatch, single, body, 1)
    many = import_in(svc, monkeypatch, batched, body, chunk)
    assert report_of(many) == report_of(one)
    assert one.accepted > 300 and len(one.rejected) > 50
    assert_same(snapshot(engine, batched), snapshot(engine, single))
    # Exactly once: the same file again changes nothing on either path.
    clock.set(import_at + timedelta(hours=1))
    again_one = import_in(svc, monkeypatch, single, body, 1)
    again_many = import_in(svc, monkeypatch, batched, body, chunk)
    assert again_many.accepted == again_one.accepted == 0
    assert report_of(again_many) == report_of(again_one)
    assert_same(snapshot(engine, batched), snapshot(engine, single))
