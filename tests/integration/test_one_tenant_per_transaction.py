"""One worker per transaction (DIST-1, DIST-2): every writing transaction of the due work
touches one tenant, so on Citus it runs on the one worker that holds that tenant's shards.

The due work (`jobs.run_due_work`) runs over six tenants at once: a recharge that succeeds
and one that fails (AR-2, AR-5), a lot that expires (FUND-4), a lot that will expire soon
(NOTE-1), an MCA month end (POST-1), a stale call (CALL-7) and an expensive hour (GUARD-2)
of a calling tenant, and the emails all of it queued (NOTE-2). Every
statement the driver sends is recorded per transaction (`tests/support_transactions.py`):

- each writing transaction binds the id of exactly one tenant;
- each of its statements on a tenant-owned table has a ``tenant_id`` parameter bound to
  that tenant (so Citus can route it: an UPDATE by id alone visits every shard);
- on Citus, ``EXPLAIN`` of each such statement is a router plan, one task.

PostgreSQL only (on plain PostgreSQL in `make test`, on the cluster in `make test-citus`).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import citus
from commcredits.adapters.db import tables as t
from commcredits.domain.money import Money
from commcredits.domain.tenants import Role
from commcredits.services import calls, funds, postpaid, queries, recharge, tenants
from commcredits.services.auth import Principal
from commcredits.services.context import Services
from commcredits.services.jobs import run_due_work
from tests.integration.test_calls import GB_MOBILE, auth, setup
from tests.support import OPERATOR, add_card, buy, make_tenant, usd, utc
from tests.support_transactions import TENANT_TABLES, Statement, Transaction, recording

pytestmark = pytest.mark.postgres

DECLINED_CARD = "4000000000000002"  # the sandbox gateway declines it


@pytest.fixture
def pg_engine(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("the recorder reads psycopg's cursors: PostgreSQL and Citus only")
    return engine


def _queue_recharge(svc: Services, tid: str, card: str) -> None:
    """Auto-recharge 100.00 below 50.00, then a 15.00 charge that queues it (left for the
    due work: not dispatched in this process)."""
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="50.00",
                       payment_method_id=card)
    with svc.uow() as uow:
        funds.charge_in(uow, tid, usd("15.00"), svc.clock.now())
        uow.commit()


def _six_tenants_with_work_due(svc: Services, clock: FixedClock) -> dict[str, str]:
    ids: dict[str, str] = {}
    clock.set(utc(2025, 2, 1, 9, 0))
    ids["expiring"] = make_tenant(svc, name="Expires")
    buy(svc, ids["expiring"], "50.00", add_card(svc, ids["expiring"]))  # to 2026-02-01 09:00
    clock.set(utc(2025, 2, 20, 9, 0))
    ids["warned"] = make_tenant(svc, name="Warned")
    buy(svc, ids["warned"], "55.00", add_card(svc, ids["warned"]))  # to 2026-02-20 09:00
    clock.set(utc(2026, 1, 15, 9, 0))
    ids["recharged"] = make_tenant(svc, name="Recharged")
    card = add_card(svc, ids["recharged"])
    buy(svc, ids["recharged"], "60.00", card)
    _queue_recharge(svc, ids["recharged"], card)
    ids["declined"] = make_tenant(svc, name="Declined")
    buy(svc, ids["declined"], "60.00", add_card(svc, ids["declined"]))
    _queue_recharge(svc, ids["declined"], add_card(svc, ids["declined"], DECLINED_CARD))
    ids["mca"] = make_tenant(svc, name="Postpaid")
    buy(svc, ids["mca"], "60.00", add_card(svc, ids["mca"]))
    funds.charge(svc, ids["mca"], usd("40.00"))
    postpaid.switch_billing_account(svc, OPERATOR, ids["mca"], "MCA")
    with svc.uow() as uow:
        uow.credits.account(ids["mca"], lock=True)
        split = postpaid.charge_postpaid_in(uow, ids["mca"], usd("30.00"),
                                            capability="domestic", country="US",
                                            reference="call-1", at=clock.now())
        uow.commit()
    assert (split.prepaid, split.overage) == (usd("20.00"), usd("10.00"))
    clock.set(utc(2026, 2, 1, 9, 20))
    ids["calling"] = setup(svc)  # 100.00, users with licenses, the sample rates
    reply = auth(svc, ids["calling"], "heavy", GB_MOBILE)
    assert reply["decision"] == "allow", reply
    # 100 minutes of GB mobile at 0.12/min: 12.00 in an hour with no history (GUARD-2).
    assert calls.end(svc, OPERATOR, ids["calling"], "heavy", 100 * 60)["charge"] == "12.00"
    clock.set(utc(2026, 2, 1, 9, 30))
    assert auth(svc, ids["calling"], "stale", GB_MOBILE)["decision"] == "allow"
    clock.set(utc(2026, 2, 1, 10, 0))  # the stale call's last news is 30 minutes old
    return ids


def _emails(engine: Engine, ids: dict[str, str]) -> set[tuple[str, str, str]]:
    """(tenant, kind, status) of every email in the outbox."""
    name = {tid: key for key, tid in ids.items()}
    outbox = t.email_outbox
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.tenant_id, outbox.c.kind, outbox.c.status)).all()
    return {(name[r.tenant_id], r.kind, r.status) for r in rows}


def _describe(tx: Transaction) -> str:
    return "\n  ".join(s.sql.split("\n")[0][:160] for s in tx.statements)


def _one_tenant_each(writing: list[Transaction], tenants: set[str]) -> dict[str, set[str]]:
    """Assert each transaction binds one of ``tenants`` and names it on every statement on
    a tenant-owned table; return the tenant-owned tables each tenant's transactions used."""
    touched: dict[str, set[str]] = {tid: set() for tid in tenants}
    for tx in writing:
        mine = tx.tenants(tenants)
        assert len(mine) == 1, f"{len(mine)} tenants in:\n  {_describe(tx)}"
        for statement in _routed(tx):
            assert statement.names_tenant(mine), \
                f"no tenant_id = :tenant in\n{statement.sql}\n{statement.params}"
            touched[next(iter(mine))] |= statement.tenant_tables
    return touched


def _routed(tx: Transaction) -> Iterator[Statement]:
    """The statements of ``tx`` on tenant-owned (on Citus: distributed) tables."""
    return (s for s in tx.statements if s.tenant_tables)


@pytest.mark.rule("DIST-1")
@pytest.mark.rule("DIST-2")
def test_every_writing_transaction_of_the_due_work_touches_one_tenant(
    svc: Services, pg_engine: Engine, clock: FixedClock,
) -> None:
    ids = _six_tenants_with_work_due(svc, clock)
    assert _emails(pg_engine, ids) == {("mca", "balance_depleted", "queued")}
    with recording(pg_engine) as recorder:
        report = run_due_work(svc)

    # The work itself, to the cent.
    assert (report.tenants_expired, report.lots_expired) == (1, 1)
    assert report.expiry_warnings == 1
    assert report.recharges == 2
    assert report.statements == 1
    assert (report.calls_expired, report.anomaly_emails) == (1, 1)
    # The email queued before the run, and every one the run queued, is sent.
    assert (report.emails_sent, report.emails_failed) == (6, 0)
    assert _emails(pg_engine, ids) == {
        ("mca", "balance_depleted", "sent"), ("expiring", "funds_expired", "sent"),
        ("warned", "funds_expiring", "sent"), ("recharged", "recharge_succeeded", "sent"),
        ("declined", "recharge_failed", "sent"), ("calling", "spend_anomaly", "sent"),
    }
    balance = {k: queries.credits(svc, OPERATOR, v).balance for k, v in ids.items()}
    assert balance == {"expiring": usd("0.00"), "warned": usd("55.00"),
                       "recharged": usd("145.00"), "declined": usd("45.00"),
                       "mca": usd("0.00"), "calling": usd("88.00")}
    issued = postpaid.statement(svc, OPERATOR, ids["mca"], "2026-01")
    assert issued.invoice_number is not None and issued.total == usd("10.00")

    # One tenant per writing transaction, and every routed statement names it.
    everyone = set(ids.values())
    # The sandbox card processor (a stand-in for an outside service) keeps its own tables,
    # reference tables on Citus, in transactions of their own: no tenant's rows.
    processor = [tx for tx in recorder.writing() if not tx.tables & TENANT_TABLES]
    assert len(processor) == 2  # the two recharge payments
    assert all(name.startswith("sandbox_") for tx in processor for name in tx.tables)
    writing = [tx for tx in recorder.writing() if tx.tables & TENANT_TABLES]
    assert len(writing) >= 10, [_describe(tx) for tx in writing]
    touched = _one_tenant_each(writing, everyone)
    assert all(touched.values()), "every tenant's work was recorded"
    assert {"recharge_requests", "email_outbox", "lots", "ledger_entries",
            "ledger_allocations", "invoices", "overage_statements", "calls"} \
        <= set().union(*touched.values())
    # The scans that find the due work read across tenants, read-only.
    assert any(len(tx.tenants(everyone)) > 1 for tx in recorder.transactions
               if not tx.writes)
    if _on_citus(pg_engine):
        explained = _assert_router_plans(pg_engine, writing)
        assert {"update recharge_requests", "update email_outbox"} <= explained


def _on_citus(engine: Engine) -> bool:
    with engine.connect() as conn:
        return citus.is_citus(conn)


def _assert_router_plans(engine: Engine, writing: list[Transaction]) -> set[str]:
    """On Citus: EXPLAIN of every routed statement of a writing transaction shows one task;
    returns the tables explained (and ``update <table>`` for the UPDATEs)."""
    seen: dict[str, Statement] = {}
    for tx in writing:
        for statement in _routed(tx):
            seen.setdefault(statement.sql, statement)
    explained: set[str] = set()
    with engine.connect() as conn:
        cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        for sql, statement in seen.items():
            cursor.execute("EXPLAIN " + sql, statement.params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Citus Adaptive" in plan and "Task Count: 1\n" in plan + "\n", (sql, plan)
            explained |= statement.tenant_tables
            if sql.lstrip().upper().startswith("UPDATE"):
                explained.add("update " + next(iter(statement.tenant_tables)))
        cursor.close()
        conn.rollback()
    return explained


@pytest.mark.rule("DIST-1")
def test_the_recorder_sees_a_transaction_that_writes_two_tenants(
    svc: Services, pg_engine: Engine,
) -> None:
    """The check above is not blind: one transaction that charges two tenants is seen as
    touching both."""
    first, second = make_tenant(svc, name="First"), make_tenant(svc, name="Second")
    buy(svc, first, "50.00", add_card(svc, first))
    buy(svc, second, "50.00", add_card(svc, second))
    with recording(pg_engine) as recorder, svc.uow() as uow:
        for tid in (first, second):
            funds.charge_in(uow, tid, Money(Decimal("1.25"), "USD"), svc.clock.now())
        uow.commit()
    [tx] = recorder.writing()
    assert tx.tenants({first, second}) == {first, second}
    assert queries.credits(svc, OPERATOR, first).balance == usd("48.75")
    assert queries.credits(svc, OPERATOR, second).balance == usd("48.75")


@pytest.mark.rule("DIST-1")
@pytest.mark.rule("ACCT-3")
def test_the_operator_paths_write_one_tenant_per_transaction(
    svc: Services, pg_engine: Engine,
) -> None:
    """The operator's tenant list and balances (read-only over every tenant), a partner
    bound to a CSP tenant and funding it, and an operator's adjustment: each write is one
    tenant's transaction; the partner itself is a reference row."""
    csp = make_tenant(svc, kind="CSP", name="Reseller")
    other = make_tenant(svc, name="Other")
    buy(svc, other, "50.00", add_card(svc, other))
    with recording(pg_engine) as recorder:
        pid = tenants.create_partner(svc, OPERATOR, name="Fabrikam CSP")
        tenants.bind_partner(svc, OPERATOR, pid, csp)
        partner = Principal(Role.PARTNER, partner_id=pid, name="Fabrikam CSP key")
        funded = funds.purchase(svc, partner, csp, amount="200.00", payment_method_id=None)
        listed = tenants.list_tenants(svc, OPERATOR)
        balances = {x.id: queries.credits(svc, OPERATOR, x.id).balance for x in listed}
        funds.adjust(svc, OPERATOR, other, amount="-5.00", reason="goodwill")
    assert funded.lot.amount == usd("200.00")
    assert balances == {csp: usd("200.00"), other: usd("50.00")}
    assert queries.credits(svc, OPERATOR, other).balance == usd("45.00")

    [partner_only] = [tx for tx in recorder.writing() if not tx.tables & TENANT_TABLES]
    assert partner_only.tables == {"partners"}
    writing = [tx for tx in recorder.writing() if tx.tables & TENANT_TABLES]
    touched = _one_tenant_each(writing, {csp, other})
    assert {"partner_tenants", "lots", "ledger_entries", "invoices"} <= touched[csp]
    assert {"ledger_entries", "ledger_allocations"} <= touched[other]
    if _on_citus(pg_engine):
        assert {"partner_tenants", "lots", "ledger_entries"} \
            <= _assert_router_plans(pg_engine, writing)
