"""Scale-out on Citus (DIST-1, DIST-2): skipped unless COMMCREDITS_TEST_POSTGRES_URL points
at a Citus coordinator (`make test-citus`).

- Every tenant table is hash-distributed by ``tenant_id``, all in one co-location group with
  the same shard ranges (``pg_dist_partition``, ``pg_dist_shard``); every other table is a
  reference table.
- A second ``db upgrade`` changes nothing.
- The hot-path statements for one tenant (call control's facts and reservations, a charge's
  account lock, lots, entry and lot update) are router plans: one task, on one worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, bindparam, insert, inspect, text

from commcredits.adapters.db import calls_repos, citus, credit_statements
from commcredits.adapters.db import tables as t
from commcredits.adapters.db.migrate import upgrade
from commcredits.services.context import Services
from tests.support import add_card, buy, make_tenant

pytestmark = pytest.mark.postgres


@pytest.fixture
def citus_engine(engine: Engine) -> Engine:
    with engine.connect() as conn:
        if not citus.is_citus(conn):
            pytest.skip("not a Citus coordinator")
    return engine


def _tenant_tables(engine: Engine) -> set[str]:
    inspector = inspect(engine)
    return {name for name in inspector.get_table_names()
            if any(c["name"] == "tenant_id" and not c["nullable"]
                   for c in inspector.get_columns(name))}


@pytest.mark.rule("DIST-1")
@pytest.mark.rule("DIST-2")
def test_tenant_tables_are_distributed_by_tenant_and_co_located(citus_engine: Engine) -> None:
    tenant_tables = _tenant_tables(citus_engine)
    everything = set(inspect(citus_engine).get_table_names()) - {"alembic_version"}
    with citus_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT logicalrelid::regclass::text, partmethod,"
            " column_to_column_name(logicalrelid, partkey), colocationid"
            " FROM pg_dist_partition")).all()
        shards = conn.execute(text(
            "SELECT logicalrelid::regclass::text, shardminvalue, shardmaxvalue"
            " FROM pg_dist_shard ORDER BY shardminvalue::bigint")).all()
    by_table = {name: (method, column, group) for name, method, column, group in rows}
    assert {"calls", "lots", "ledger_entries", "invoices"} <= tenant_tables
    for name in tenant_tables:
        assert by_table[name][:2] == ("h", "tenant_id"), name
    assert len({by_table[name][2] for name in tenant_tables}) == 1, "one co-location group"
    for name in everything - tenant_tables:
        assert by_table[name][0] == "n", f"{name} is a reference table"
    assert {"tenants", "partners", "rate_tables", "rates", "sim_clock"} <= \
        everything - tenant_tables
    ranges = {name: [(lo, hi) for table, lo, hi in shards if table == name]
              for name in tenant_tables}
    assert len({tuple(r) for r in ranges.values()}) == 1, "the same shard ranges"
    assert len(ranges["calls"]) >= 2


@pytest.mark.rule("DIST-1")
def test_a_second_upgrade_distributes_nothing_more(citus_engine: Engine) -> None:
    with citus_engine.connect() as conn:
        before = citus.placed(conn)
    upgrade(citus_engine)
    with citus_engine.begin() as conn:
        assert citus.distribute(conn) == []
        assert citus.placed(conn) == before


def _explain(conn: Connection, stmt: Any, values: Mapping[str, Any]) -> str:
    compiled = stmt.compile(dialect=conn.dialect)
    params = compiled.construct_params(dict(values))
    rows = conn.exec_driver_sql("EXPLAIN " + compiled.string, params).all()
    return "\n".join(row[0] for row in rows)


def _assert_router(name: str, plan: str) -> None:
    assert "Citus Adaptive" in plan, (name, plan)
    assert "Task Count: 1\n" in plan + "\n", (name, plan)


@pytest.mark.rule("DIST-1")
def test_the_hot_path_statements_route_to_one_worker(
    svc: Services, citus_engine: Engine,
) -> None:
    tid = make_tenant(svc)
    buy(svc, tid, "50.00", add_card(svc, tid))
    call = {"tenant_id": tid, "key_hash": "k" * 64, "call_id": "c1", "usage_id": "u1"}
    statements: list[tuple[str, Any, Mapping[str, Any]]] = [
        ("call control facts", calls_repos._facts_statement(), call),
        ("call reservations", calls_repos._RESERVATIONS, call),
        ("call control under the lock (an end's)",
         calls_repos._under_lock_statement(charging=True), call),
        ("call status", calls_repos._STATUS, {"tenant_id": tid, "row_id": "r1"}),
        ("account for update", credit_statements._ACCOUNT_FOR_UPDATE, {"tenant_id": tid}),
        ("open lots", credit_statements._OPEN_LOTS, {"tenant_id": tid}),
        ("take from lot", credit_statements._TAKE_FROM_LOT,
         {"tenant_id": tid, "lot_id": 1, "taken": 1}),
        ("entry by key", credit_statements._ENTRY_ID_BY_KEY, {"tenant_id": tid, "key": "k"}),
        ("insert entry", insert(t.ledger_entries).values(
            tenant_id=bindparam("tenant_id"), kind="charge", amount=-1, debt_delta=0,
            at=bindparam("at"), description="", reference=None),
         {"tenant_id": tid, "at": svc.clock.now()}),
    ]
    with citus_engine.connect() as conn:
        for name, stmt, values in statements:
            _assert_router(name, _explain(conn, stmt, values))
