"""Ids of tables whose primary key is ``(tenant_id, id)`` (DIST-1, migration 0009).

SQLite numbers only a lone ``INTEGER PRIMARY KEY`` by itself; once ``tenant_id`` is part of
the key, ``id`` needs a value. `next_id` is the column default: ``nextval`` of the column's
sequence on PostgreSQL (the sequence the table always had, so ids never repeat and
concurrent writers never collide), ``max(id) + 1`` on SQLite, where writers are serialized
by ``BEGIN IMMEDIATE`` (`engine.py`), so no two transactions read the same maximum.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import literal_column
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


def sqlite_next_id_sql(table: str) -> str:
    """The SQLite expression, for statements written as text (bulk CDR inserts)."""
    return f"(SELECT coalesce(max(id), 0) + 1 FROM {table})"  # noqa: S608
