"""Scale-out on Citus (DIST-1): after the migrations, distribute the schema by tenant.

`commcredits db upgrade` (and `serve`, which migrates on start) calls `distribute` when the
database has the ``citus`` extension. Every tenant-owned table (a ``tenant_id`` column that
is never null) is distributed by ``tenant_id``, all co-located with the first of them, so
one tenant's rows of every table sit on one worker
and each transaction, which touches one tenant, runs there. The other tables (tenants,
partners, rate tables and rates, the clock, API keys, admin accounts and sessions, the
sandbox processor's tables) are reference tables, copied to every node, so joins and foreign
keys from distributed tables to them stay local.

Idempotent: tables already in ``pg_dist_partition`` are left alone, so a second upgrade, or
one after a migration that added a table, only distributes what is new.

The append-only triggers of the ledger and invoices (FUND-6, FUND-8) refuse UPDATE and
DELETE of the row they fire for and read nothing else, so they are safe on shards; Citus
asks for ``citus.enable_unsafe_triggers`` to create them there, set for this transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, Table, text
from sqlalchemy.schema import AddConstraint

from commcredits.adapters.db import tables as t

DISTRIBUTION_COLUMN = "tenant_id"


class Placement(StrEnum):
    """How Citus keeps a table: split by tenant, or copied to every node."""

    DISTRIBUTED = "distributed"
    REFERENCE = "reference"


@dataclass(frozen=True)
class TablePlacement:
    table: str
    placement: Placement


def is_citus(conn: Connection) -> bool:
    """Whether the database has the Citus extension."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first() is not None


def tenant_owned(table: Table) -> bool:
    """A table whose every row belongs to one tenant (``tenant_id`` never null)."""
    column = table.c.get(DISTRIBUTION_COLUMN)
    return column is not None and not column.nullable


def plan() -> list[TablePlacement]:
    """Every table of the schema and how Citus keeps it, reference tables first (in foreign
    key order), then the distributed ones (in foreign key order)."""
    ordered = t.metadata.sorted_tables
    return [
        TablePlacement(tb.name, Placement.REFERENCE) for tb in ordered if not tenant_owned(tb)
    ] + [
        TablePlacement(tb.name, Placement.DISTRIBUTED) for tb in ordered if tenant_owned(tb)
    ]


def placed(conn: Connection) -> dict[str, Placement]:
    """What Citus already keeps (``pg_dist_partition``): 'h' hash-distributed, 'n' with
    replication model 't' a reference table. A table a later migration created with a
    foreign key to a reference table is a "Citus local table" ('n', model 's'), which Citus
    makes by itself: it is not placed yet, and `distribute` places it."""
    rows = conn.execute(text(
        "SELECT logicalrelid::regclass::text, partmethod, repmodel FROM pg_dist_partition"))
    out: dict[str, Placement] = {}
    for name, method, model in rows:
        if method == "h":
            out[name] = Placement.DISTRIBUTED
        elif method == "n" and model == "t":
            out[name] = Placement.REFERENCE
    return out


def distribute(conn: Connection) -> list[TablePlacement]:
    """Distribute or replicate every table not yet known to Citus; returns what it did."""
    done = placed(conn)
    conn.execute(text("SET LOCAL citus.enable_unsafe_triggers TO on"))
    # DDL and distribution in one transaction: run the shards' commands one connection per
    # worker, so later statements of the transaction see them.
    conn.execute(text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))
    anchor: str | None = next(
        (name for name, kind in done.items() if kind is Placement.DISTRIBUTED), None)
    pending = {item.table for item in plan() if item.table not in done}
    # Citus refuses a foreign key between a distributed and a local table, which is what
    # two linked tenant tables are halfway through: drop those keys, put them back after.
    links = [fk for tb in t.metadata.sorted_tables for fk in tb.foreign_key_constraints
             if tenant_owned(tb) and tenant_owned(fk.referred_table)
             and {tb.name, fk.referred_table.name} & pending]
    for fk in links:
        conn.execute(text(
            f'ALTER TABLE {fk.table.name} DROP CONSTRAINT IF EXISTS "{fk.name}"'))
    changed: list[TablePlacement] = []
    for item in plan():
        if item.table in done:
            continue
        if item.placement is Placement.REFERENCE:
            conn.execute(text("SELECT create_reference_table(:t)"), {"t": item.table})
        else:
            conn.execute(
                text("SELECT create_distributed_table(:t, :c, colocate_with => :w)"),
                {"t": item.table, "c": DISTRIBUTION_COLUMN, "w": anchor or "default"})
            anchor = anchor or item.table
        changed.append(item)
    for fk in links:
        conn.execute(AddConstraint(fk))
    return changed
