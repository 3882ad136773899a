"""Ids of tables whose primary key is ``(tenant_id, id)`` (DIST-1, migration 0009).

SQLite numbers only a lone ``INTEGER PRIMARY KEY`` by itself; once ``tenant_id`` is part of
the key, ``id`` needs a value. `next_id` is the column default: ``nextval`` of the column's
sequence on PostgreSQL (the sequence the table always had, so ids never repeat and
concurrent writers never collide), ``max(id) + 1`` on SQLite, where writers are serialized
by ``BEGIN IMMEDIATE`` (`engine.py`), so no two transactions read the same maximum.

`id_index` is that maximum's index on SQLite (migration 0013): ``id`` is the key's second
column, so without it every ``max(id)`` scanned the table. PostgreSQL has no use for it (the
sequence numbers the rows) and does not get it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Index, Table, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import BigInteger


class next_id(FunctionElement[int]):  # noqa: N801 - reads as a SQL function
    """The next id of ``table`` (its ``id`` column)."""

    type = BigInteger()
    inherit_cache = True

    def __init__(self, table: str) -> None:
        # The name as a clause, so it is part of the statement cache key.
        super().__init__(literal_column(table))

    @property
    def table(self) -> str:
        return str(next(iter(self.clauses)).name)


@compiles(next_id)
def _next_id_default(element: next_id, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(SELECT coalesce(max(id), 0) + 1 FROM {element.table})"  # noqa: S608


@compiles(next_id, "postgresql")
def _next_id_postgresql(element: next_id, compiler: SQLCompiler, **kw: Any) -> str:
    return f"nextval('{element.table}_id_seq')"


def numbered_by_next_id(table: Table) -> bool:
    """Whether ``table``'s ``id`` default is `next_id` (its key is ``(tenant_id, id)``)."""
    return "id" in table.c and isinstance(getattr(table.c.id.default, "arg", None), next_id)


def id_index(table: str) -> Index:
    """The index `next_id`'s ``max(id)`` reads on SQLite; SQLite only (see `only_on`)."""
    return only_on("sqlite", Index(f"ix_{table}_id", "id"))


def only_on(dialect: str, index: Index) -> Index:
    """``index`` exists on ``dialect`` only: created there (``ddl_if``), and marked in its
    ``info`` so that comparing a database with the metadata skips it elsewhere
    (`include_object`; Alembic's comparison does not read ``ddl_if``)."""
    index.info["only_on"] = dialect
    return index.ddl_if(dialect=dialect)


def include_object(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for a database of ``dialect``: leaves out the indexes
    that exist on another dialect only."""
    def include(obj: object, name: str | None, type_: str, reflected: bool,
                compare_to: object) -> bool:
        info: dict[str, object] = getattr(obj, "info", {})
        return info.get("only_on", dialect) == dialect
    return include
