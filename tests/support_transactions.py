"""Test helper: record, per database transaction, every statement the driver ran and the
tenants it named (DIST-1: every writing transaction touches one tenant).

The recorder sits under SQLAlchemy, at the psycopg cursor: the hot paths run `Compiled`
statements on the DBAPI cursor and in pipelines (`adapters/db/compiled.py`,
`hot_session.py`), which SQLAlchemy's ``before_cursor_execute`` never sees. A transaction
starts with the first statement sent while the connection is idle (psycopg then sends
BEGIN itself), and runs until the connection is idle again (a COMMIT or ROLLBACK, through
the cursor or the connection); what it touched is read from the bound values, so nothing
here trusts the code under test to say which tenant it meant.

PostgreSQL only (psycopg 3): SQLite numbers ids by ``max(id) + 1`` over every tenant's rows
under its single writer lock (`adapters/db/keys.py`), which is not a shard question.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg import pq
from sqlalchemy import Engine, event

from commcredits.adapters.db import citus
from commcredits.adapters.db import tables as t

TENANT_TABLES = frozenset(tb.name for tb in t.metadata.sorted_tables if citus.tenant_owned(tb))
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
_FOR_UPDATE = re.compile(r"\bFOR\s+(NO\s+KEY\s+)?UPDATE\b", re.IGNORECASE)
_TABLE = re.compile(r'\b(?:FROM|JOIN|UPDATE|INTO)\s+"?([a-z_][a-z0-9_]*)"?', re.IGNORECASE)
_END = re.compile(r"^\s*(COMMIT|ROLLBACK)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: Mapping[str, Any] | Sequence[Any] | None

    @property
    def writes(self) -> bool:
        return bool(_WRITE.match(self.sql) or _FOR_UPDATE.search(self.sql))

    @property
    def tables(self) -> set[str]:
        return {name.lower() for name in _TABLE.findall(self.sql)}

    @property
    def tenant_tables(self) -> set[str]:
        """The tenant-owned (on Citus: distributed) tables the statement names."""
        return self.tables & TENANT_TABLES

    def values(self) -> Iterator[Any]:
        """Every bound value, arrays flattened."""
        yield from _flat(self.params.values() if isinstance(self.params, Mapping)
                         else self.params or ())

    def names_tenant(self, tenant_ids: Iterable[str]) -> bool:
        """A ``…tenant_id…`` parameter bound to one of ``tenant_ids``, and nothing else."""
        if not isinstance(self.params, Mapping):
            return False
        known = set(tenant_ids)
        bound = [set(_flat([v])) for k, v in self.params.items() if "tenant_id" in k]
        return bool(bound) and all(b and b <= known for b in bound)


@dataclass(slots=True)
class Transaction:
    statements: list[Statement] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return any(s.writes for s in self.statements)

    def tenants(self, tenant_ids: Iterable[str]) -> set[str]:
        """The known tenants whose id any statement of the transaction bound."""
        known = set(tenant_ids)
        return {v for s in self.statements for v in s.values()
                if isinstance(v, str) and v in known}

    @property
    def tables(self) -> set[str]:
        return set().union(*(s.tables for s in self.statements))


def _flat(values: Iterable[Any]) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list | tuple):
            yield from _flat(value)
        else:
            yield value


class Recorder:
    """The transactions run on an engine's connections while `recording` is open."""

    def __init__(self) -> None:
        self.transactions: list[Transaction] = []
        self._open: dict[int, Transaction] = {}

    def sent(self, conn: Any, sql: str, params: Any) -> None:
        if _END.match(sql):
            self._open.pop(id(conn), None)
            return
        if conn.info.transaction_status == pq.TransactionStatus.IDLE \
                or id(conn) not in self._open:
            self._open[id(conn)] = Transaction()
            self.transactions.append(self._open[id(conn)])
        self._open[id(conn)].statements.append(Statement(sql, _copy(params)))

    def writing(self) -> list[Transaction]:
        return [tx for tx in self.transactions if tx.writes]


def _copy(params: Any) -> Any:
    if isinstance(params, Mapping):
        return dict(params)
    return list(params) if params is not None else None


def _recording_cursor(base: type, recorder: Recorder) -> type:
    class RecordingCursor(base):  # type: ignore[misc]
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            recorder.sent(self.connection, str(query), params)
            return super().execute(query, params, **kwargs)

        def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
            rows = list(params_seq)
            for params in rows or [None]:
                recorder.sent(self.connection, str(query), params)
            return super().executemany(query, rows, **kwargs)

    return RecordingCursor


@contextmanager
def recording(engine: Engine) -> Iterator[Recorder]:
    """Record every statement of every connection the engine checks out meanwhile."""
    assert engine.dialect.name == "postgresql", "the recorder reads psycopg's cursors"
    recorder = Recorder()
    engine.dispose()  # connections made before recording would escape it

    def checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not getattr(dbapi_connection, "_recorded", False):
            dbapi_connection.cursor_factory = _recording_cursor(
                dbapi_connection.cursor_factory, recorder)
            dbapi_connection._recorded = True

    event.listen(engine, "checkout", checkout)
    try:
        yield recorder
    finally:
        event.remove(engine, "checkout", checkout)
        engine.dispose()
