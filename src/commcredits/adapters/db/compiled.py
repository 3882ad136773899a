"""Core statements compiled once per dialect and run on the unit of work's DBAPI cursor,
and updates built once per set of columns.

The hot paths (ledger charges in `credit_repos.SqlCredits`, call control in `calls_repos.SqlCalls`)
use `Compiled` for their short statements and `CursorRunner` for the one DBAPI cursor they
keep per unit of work. `keyed_update` builds an ``UPDATE … WHERE tenant_id [AND id]`` once
per table and set of columns, for repositories whose updates take their columns as
arguments (recharge requests, payment methods).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Table, Update, bindparam, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

if TYPE_CHECKING:
    from commcredits.adapters.db.hot_session import HotSession


class Compiled:
    """A Core statement compiled once for one dialect and run on the DBAPI cursor.

    For these short statements SQLAlchemy's execution layer costs several times what the
    driver does (one account SELECT: 165 µs of CPU through `Connection.execute`, 35 µs on
    the psycopg cursor), so the hot path runs them on the unit of work's own DBAPI
    connection, inside its transaction. Values pass through the columns' bind and result
    processors (MicroAmount, UTCDateTime and the dialect's own), so what is stored and read
    is exactly what `Connection.execute` stores and reads; driver errors are not wrapped in
    SQLAlchemy's.
    """

    __slots__ = ("binds", "defaults", "names", "results", "sql")

    def __init__(
        self, stmt: Any, dialect: Dialect, column_keys: Sequence[str] | None = None,
    ) -> None:
        compiled = cast(SQLCompiler, stmt.compile(dialect=dialect, column_keys=column_keys))
        self.sql: str = compiled.string
        # qmark (SQLite) takes a tuple in this order; pyformat (psycopg) takes the dict.
        self.names = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        self.defaults = {
            name: bind.value for bind, name in compiled.bind_names.items() if not bind.required
        }
        self.binds: list[tuple[str, Callable[[Any], Any]]] = []
        for bind, name in compiled.bind_names.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.binds.append((name, process))
        self.results: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(stmt, "exported_columns", ())
        ]

    def execute(self, cursor: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        self.send(cursor, values)
        return self.rows(cursor)

    def send(self, cursor: Any, values: Mapping[str, Any]) -> None:
        """Execute on ``cursor`` (in a psycopg pipeline: queue) without reading the rows."""
        params = {**self.defaults, **values}
        for name, process in self.binds:
            params[name] = process(params[name])
        cursor.execute(self.sql, params if self.names is None else
                       tuple(params[name] for name in self.names))

    def rows(self, cursor: Any) -> list[tuple[Any, ...]]:
        """The rows of the statement last sent on ``cursor``, through the result processors."""
        if not self.results:
            return []
        processors = self.results
        return [
            tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
            for row in cursor.fetchall()
        ]


class CursorRunner:
    """A repository that runs `Compiled` statements on one DBAPI cursor of its connection,
    opened on first use and closed by the unit of work on exit."""

    conn: Connection
    _cursor: Any = None
    _session: HotSession | None = None

    def _run(self, statement: Compiled, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        if self._session is not None:
            self._session.flush()  # the writes waiting for the commit go first
        if self._cursor is None:
            self._cursor = self.conn.connection.cursor()
        return statement.execute(self._cursor, values)

    def close(self) -> None:
        """Close the DBAPI cursor (the unit of work calls this on exit)."""
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None


@lru_cache(maxsize=64)
def keyed_update(table: Table, names: tuple[str, ...], *, by_id: bool) -> Update:
    """``UPDATE table SET <names> WHERE tenant_id = :b_tenant_id [AND id = :b_id]`` for the
    columns ``names`` (``:b_<name>``), built once per set of columns. The parameters are not
    named as the columns (an UPDATE keeps those names for its SET), but the tenant's still
    says ``tenant_id``, as every tenant's statement does (DIST-1)."""
    where = [table.c.tenant_id == bindparam("b_tenant_id")]
    if by_id:
        where.append(table.c.id == bindparam("b_id"))
    return update(table).where(*where).values(
        {name: bindparam(f"b_{name}", type_=table.c[name].type) for name in names})


def keyed_params(values: dict[str, Any], **keys: Any) -> dict[str, Any]:
    """The parameters of a `keyed_update`: the keys and the new values, each as
    ``b_<name>``."""
    return {f"b_{k}": v for k, v in (keys | values).items()}
