"""The database schema on SQLite and PostgreSQL (FUND-6, FUND-8, FUND-9).

- The ledger and invoices are append-only in the database itself: triggers from the Alembic
  migration refuse UPDATE and DELETE, whatever code runs the statement.
- The migrated schema is exactly `tables.metadata`: autogenerate finds nothing to do.
- Money is stored as integer micro-units in BIGINT columns, never as NUMERIC or floats.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import BigInteger, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import citus
from commcredits.adapters.db import tables as t
from commcredits.adapters.db.keys import include_object, next_id, numbered_by_next_id
from commcredits.adapters.db.migrate import alembic_config, upgrade
from commcredits.adapters.db.types import MicroAmount
from commcredits.services import funds
from commcredits.services.context import Services
from tests.support import add_card, buy, make_tenant, usd, utc

APPEND_ONLY = ("ledger_entries", "ledger_allocations", "invoices")


def seed(svc: Services) -> str:
    """A tenant with a purchase (entry, invoice) and a charge (entry, allocation)."""
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "80.00", card)
    funds.charge(svc, tid, usd("12.50"), idempotency_key="call-1", reference="call-1")
    return tid


def snapshot(engine: Engine, table: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))]


_CHANGES = {
    "ledger_entries": "UPDATE ledger_entries SET amount = 0, description = 'rewritten'",
    "ledger_allocations": "UPDATE ledger_allocations SET amount = 0",
    "invoices": "UPDATE invoices SET total = 0, number = number || '-X'",
}


@pytest.mark.rule("FUND-6")
@pytest.mark.rule("FUND-8")
@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize("statement", ["update", "update one", "delete", "delete one"])
def test_the_ledger_and_invoices_refuse_update_and_delete_in_the_database(
    svc: Services, engine: Engine, table: str, statement: str,
) -> None:
    seed(svc)
    before = snapshot(engine, table)
    assert before, f"{table} has rows to protect"
    sql = _CHANGES[table] if statement.startswith("update") else f"DELETE FROM {table}"
    if statement.endswith("one"):
        sql += f" WHERE id = (SELECT min(id) FROM {table})"
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(sql))
    assert snapshot(engine, table) == before


@pytest.mark.rule("FUND-6")
@pytest.mark.rule("FUND-8")
def test_appending_to_the_ledger_and_invoices_is_still_allowed(
    svc: Services, engine: Engine, clock: FixedClock,
) -> None:
    tid = seed(svc)
    before = {table: len(snapshot(engine, table)) for table in APPEND_ONLY}
    clock.set(utc(2026, 2, 1, 9))
    buy(svc, tid, "50.00", add_card(svc, tid))
    funds.charge(svc, tid, usd("100.00"), idempotency_key="call-2")
    after = {table: len(snapshot(engine, table)) for table in APPEND_ONLY}
    # purchase + charge entries; allocations from both lots; one more invoice
    assert after == {
        "ledger_entries": before["ledger_entries"] + 2,
        "ledger_allocations": before["ledger_allocations"] + 2,
        "invoices": before["invoices"] + 1,
    }


def test_the_migrated_schema_matches_the_table_metadata(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True,
                        "include_object": include_object(conn.dialect.name)},
        )
        diffs = compare_metadata(context, t.metadata)
    assert diffs == []


def _numbered_by_next_id() -> list[str]:
    """The tables whose ``id`` default is `keys.next_id`, read from the metadata."""
    return sorted(tb.name for tb in t.metadata.sorted_tables if numbered_by_next_id(tb))


@pytest.mark.rule("DIST-1")
@pytest.mark.rule("CDR-2")
def test_the_next_id_of_every_tenant_keyed_table_is_read_from_an_index(
    svc: Services, engine: Engine,
) -> None:
    """``id`` is the second column of ``(tenant_id, id)``: on SQLite ``max(id) + 1`` (the id
    `next_id` gives) reads ``ix_<table>_id`` instead of scanning the table (migration 0013).
    PostgreSQL numbers the rows with the sequence and has no such index."""
    tables = _numbered_by_next_id()
    assert len(tables) == 9, tables
    seed(svc)
    with engine.connect() as conn:
        inspector = inspect(conn)
        for name in tables:
            indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes(name)}
            if engine.dialect.name != "sqlite":
                assert f"ix_{name}_id" not in indexes, name
                continue
            assert indexes[f"ix_{name}_id"] == ["id"], name
            expression = str(next_id(name).compile(dialect=engine.dialect))
            plan = " | ".join(str(row[-1]) for row in conn.execute(
                text(f"EXPLAIN QUERY PLAN SELECT {expression}")))
            assert f"USING COVERING INDEX ix_{name}_id" in plan, (name, plan)
            assert f"SCAN {name}" not in plan, (name, plan)


@pytest.mark.rule("FUND-9")
def test_every_money_column_is_a_bigint_in_the_migrated_schema(engine: Engine) -> None:
    money_columns = [
        (table.name, column.name)
        for table in t.metadata.sorted_tables for column in table.columns
        if isinstance(column.type, MicroAmount)
    ]
    assert ("ledger_entries", "amount") in money_columns
    assert ("lots", "remaining") in money_columns
    assert ("invoices", "total") in money_columns
    inspector = inspect(engine)
    for table, column in money_columns:
        reflected = {c["name"]: c["type"] for c in inspector.get_columns(table)}
        assert isinstance(reflected[column], BigInteger), (table, column, reflected[column])


@pytest.mark.rule("FUND-9")
@pytest.mark.rule("FUND-6")
def test_money_is_stored_as_integer_micro_units(svc: Services, engine: Engine) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    lot = buy(svc, tid, "50.00", card).lot
    first = funds.charge(svc, tid, usd("12.345678"), idempotency_key="micro-1")
    assert first.amount == usd("12.345678")
    funds.charge(svc, tid, usd("40.000001"), idempotency_key="micro-2")

    def raw(sql: str, **params: object) -> list[object]:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).scalars())

    assert raw("SELECT amount FROM ledger_entries WHERE tenant_id = :tid "
               "AND idempotency_key IS NOT NULL ORDER BY id", tid=tid) == [-12345678, -40000001]
    assert raw("SELECT debt_delta FROM ledger_entries WHERE tenant_id = :tid "
               "AND idempotency_key = 'micro-2'", tid=tid) == [2345679]
    assert raw("SELECT amount FROM ledger_allocations WHERE tenant_id = :tid ORDER BY id",
               tid=tid) == [12345678, 37654322]
    assert raw("SELECT amount FROM lots WHERE id = :id", id=lot.id) == [50000000]
    assert raw("SELECT remaining FROM lots WHERE id = :id", id=lot.id) == [0]
    assert raw("SELECT total FROM invoices WHERE tenant_id = :tid", tid=tid) == [50000000]
    assert raw("SELECT balance FROM credit_accounts WHERE tenant_id = :tid",
               tid=tid) == [-2345679]
    assert raw("SELECT debt FROM credit_accounts WHERE tenant_id = :tid", tid=tid) == [2345679]
    for value in raw("SELECT amount FROM ledger_entries WHERE tenant_id = :tid", tid=tid):
        assert type(value) is int
    # and read back through the column type, the amounts are exact Decimals again
    with engine.connect() as conn:
        amounts = conn.execute(
            t.ledger_entries.select().with_only_columns(t.ledger_entries.c.amount)
            .where(t.ledger_entries.c.tenant_id == tid).order_by(t.ledger_entries.c.id)
        ).scalars().all()
    assert amounts == [Decimal("50.00"), Decimal("-12.345678"), Decimal("-40.000001")]


@pytest.mark.rule("FUND-10")
def test_migration_0008_links_charged_calls_to_their_entries_by_key(
    svc: Services, engine: Engine,
) -> None:
    """Calls rated before 0008 without an entry id are linked to the single-call entry
    whose idempotency key is ``call:<call id>:<usage id>``; 0008 also indexes the column."""
    with engine.connect() as conn:
        if citus.is_citus(conn):
            pytest.skip("on Citus a distributed table's keys keep tenant_id: 0009 stays")
    tid = seed(svc)
    for n in (1, 2):
        funds.charge(svc, tid, usd(f"0.{n}0"), reference=f"call:k{n}:u{n}",
                     idempotency_key=f"call:k{n}:u{n}")
    with engine.begin() as conn:
        ids = dict(conn.execute(text(
            "SELECT idempotency_key, id FROM ledger_entries WHERE tenant_id = :t"),
            {"t": tid}).all())
        for n, entry in ((1, ids["call:k1:u1"]), (2, None), (3, None)):
            conn.execute(t.calls.insert().values(
                id=f"row{n}", tenant_id=tid, call_id=f"k{n}", usage_id=f"u{n}", source="cdr",
                status="ended", call_type="user_out", caller="+12065550100",
                callee="+12025550123", start_at=utc(2026, 1, 15, 8, n), duration=60,
                currency="USD", reserved=Decimal(0), used_seconds=60,
                last_update_at=utc(2026, 1, 15, 9), charge=Decimal(f"0.{n}0"),
                entry_id=entry))
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    assert "ix_calls_entry_id" not in {i["name"] for i in inspect(engine).get_indexes("calls")}
    upgrade(engine)
    assert "ix_calls_entry_id" in {i["name"] for i in inspect(engine).get_indexes("calls")}
    with engine.connect() as conn:
        linked = dict(conn.execute(text(
            "SELECT call_id, entry_id FROM calls WHERE tenant_id = :t ORDER BY call_id"),
            {"t": tid}).all())
        # k3 has no entry of its own: left for the invariant check to name, so remove it.
        assert linked == {"k1": ids["call:k1:u1"], "k2": ids["call:k2:u2"], "k3": None}
        conn.execute(text("DELETE FROM calls WHERE call_id = 'k3'"))
        conn.commit()


def _tenant_tables(engine: Engine) -> list[str]:
    """Tables of the migrated database with a ``tenant_id`` that is never null."""
    inspector = inspect(engine)
    return [name for name in inspector.get_table_names()
            if any(c["name"] == "tenant_id" and not c["nullable"]
                   for c in inspector.get_columns(name))]


@pytest.mark.rule("DIST-1")
def test_every_key_of_a_tenant_table_includes_tenant_id(engine: Engine) -> None:
    """Read from the migrated database, not from a list: a table added later is checked too.
    Primary keys, unique constraints and unique indexes include ``tenant_id``; a foreign
    key to another tenant table goes through it."""
    inspector = inspect(engine)
    tenant_tables = _tenant_tables(engine)
    assert {"calls", "lots", "ledger_entries", "ledger_allocations", "invoices",
            "email_outbox", "credit_accounts"} <= set(tenant_tables)
    for name in tenant_tables:
        pk = inspector.get_pk_constraint(name)["constrained_columns"]
        assert "tenant_id" in pk, (name, pk)
        for unique in inspector.get_unique_constraints(name):
            assert "tenant_id" in unique["column_names"], (name, unique)
        for index in inspector.get_indexes(name):
            if index["unique"]:
                assert "tenant_id" in index["column_names"], (name, index)
        for fk in inspector.get_foreign_keys(name):
            if fk["referred_table"] in tenant_tables:
                assert fk["constrained_columns"][0] == "tenant_id", (name, fk)
                assert fk["referred_columns"][0] == "tenant_id", (name, fk)
    assert inspector.get_pk_constraint("calls")["constrained_columns"] == ["tenant_id", "id"]
    assert {tuple(u["column_names"]) for u in inspector.get_unique_constraints("invoices")} \
        == {("tenant_id", "seq"), ("tenant_id", "number")}


@pytest.mark.rule("DIST-1")
def test_migration_0009_carries_the_data_over(svc: Services, engine: Engine) -> None:
    """Down to 0008 and up again: every row and every id is where it was, and new rows
    still get the next id."""
    with engine.connect() as conn:
        if citus.is_citus(conn):
            pytest.skip("on Citus a distributed table's keys keep tenant_id: 0009 stays")
    tid = seed(svc)
    before = {table: snapshot(engine, table) for table in ("lots", *APPEND_ONLY)}
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    assert inspect(engine).get_pk_constraint("lots")["constrained_columns"] == ["id"]
    upgrade(engine)
    assert {table: snapshot(engine, table) for table in before} == before
    last = max(row[0] for row in before["ledger_entries"])
    entry = funds.charge(svc, tid, usd("1.00"), idempotency_key="after-0009")
    assert entry.entry_id == last + 1
