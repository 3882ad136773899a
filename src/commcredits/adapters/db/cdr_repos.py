"""SQL repository for CDR batches (CDR-1, CDR-2): the set-based writes of rated calls.

One chunk of rated CDRs is written in the caller's transaction with a handful of
statements instead of several per call:

- the duplicate check: the chunk's call ids in one query, as one array (PostgreSQL) or one
  JSON array (SQLite), probed id by id;
- the charged calls' single-call ledger keys, checked in one query (an interrupted
  attempt's charge sends the chunk to the single-call path);
- ledger entry ids reserved up front (SQLite: after ``max(id)``, under the write lock that
  every writing unit of work holds; PostgreSQL: a block of ``nextval`` from the column's
  sequence), so allocations can name their entry without a round trip per entry;
- the ``calls``, ``ledger_entries`` (the chunk's few bulk charges, FUND-10),
  ``ledger_allocations`` and ``pool_consumptions`` rows with one DBAPI ``executemany`` per
  table on SQLite and ``COPY … FROM STDIN`` on PostgreSQL, and one ``UPDATE`` per lot
  touched.

Values are converted exactly as the columns' types convert them (`MicroAmount` takes the
integers as they are, `UTCDateTime` stores naive UTC through the dialect's own processor,
`Coded` columns take their codes from `codes.encoder`),
so what `SqlCalls` and `SqlCredits` read back is what the single-call path would have
stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, text, update

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.calls_repos import prefetched_entry_id
from commcredits.adapters.db.codes import CALL_CODES, encoder
from commcredits.adapters.db.hot_session import HotSession
from commcredits.adapters.db.keys import next_id, numbered_by_next_id
from commcredits.adapters.metrics import LEDGER_ENTRIES, Tally
from commcredits.domain.errors import Conflict
from commcredits.services.ports import CALL_ROW_COLUMNS, CdrBatch

_ENTRY_COLUMNS = ("id", "tenant_id", "kind", "amount", "debt_delta", "at", "reference",
                  "description", "lot_id", "idempotency_key")
_ALLOCATION_COLUMNS = ("tenant_id", "entry_id", "lot_id", "amount")
_CONSUMPTION_COLUMNS = ("tenant_id", "month", "pool_key", "reference", "seconds",
                        "minutes_covered", "uncovered_seconds", "at")
_ENCODE = tuple((CALL_ROW_COLUMNS.index(name), encoder(name)) for name in CALL_CODES)
# The same codes as plain lookups (None stays None), for the rows of a batch.
_CODES = tuple((CALL_ROW_COLUMNS.index(name), {None: None, **codes})
               for name, codes in CALL_CODES.items())
# PostgreSQL: one array per chunk, looked up id by id through the unique indexes. ``OFFSET 0``
# keeps the subquery a per-id index probe: before the first ANALYZE of a freshly filled
# table the planner would otherwise read every row of the tenant for each chunk.
_PG_EXISTING = text("""
SELECT x.id, c.usage_id FROM unnest(CAST(:ids AS TEXT[])) AS x(id)
CROSS JOIN LATERAL (SELECT usage_id FROM calls
                    WHERE tenant_id = :t AND call_id = x.id OFFSET 0) AS c
""")
_PG_KEYS_TAKEN = text("""
SELECT 1 FROM unnest(CAST(:keys AS TEXT[])) AS k(key)
WHERE EXISTS (SELECT 1 FROM ledger_entries
              WHERE tenant_id = :t AND idempotency_key = k.key OFFSET 0)
LIMIT 1
""")
# SQLite: the same probes with the ids as one JSON array (``json_each``), one statement per
# chunk whatever its size, each id looked up through the unique index (no expanding ``IN``
# rendered again per call, no split at SQLite's parameter limit).
_SQLITE_EXISTING = text("""
SELECT call_id, usage_id FROM calls
WHERE tenant_id = :t AND call_id IN (SELECT value FROM json_each(:ids))
""")
_SQLITE_KEYS_TAKEN = text("""
SELECT 1 FROM ledger_entries
WHERE tenant_id = :t AND idempotency_key IN (SELECT value FROM json_each(:keys))
LIMIT 1
""")
_TAKE = (
    update(t.lots).where(t.lots.c.tenant_id == bindparam("tenant"), t.lots.c.id == bindparam("lot"))
    .values(remaining=t.lots.c.remaining - bindparam("taken", type_=t.lots.c.remaining.type))
)


_DUPLICATE = "duplicate key value violates unique constraint"


class SqlCdrBatch:
    def __init__(self, conn: Connection, tally: Tally | None = None,
                 session: HotSession | None = None,
                 defer_entry: Callable[[str, CdrBatch], bool] | None = None) -> None:
        """``session`` and ``defer_entry``: call control's hot path on PostgreSQL, where a
        live call's end (a batch of one) takes the entry id the session read under the lock
        and lets its one entry wait for the commit (`SqlCredits.defer_batch_entry`)."""
        self.conn = conn
        self._session = session
        self._defer_entry = defer_entry
        self.tally = tally or Tally()  # OPS-1: ledger entries, counted on commit
        self.postgres = conn.dialect.name == "postgresql"
        dialect = conn.dialect
        impl = t.calls.c.start_at.type.dialect_impl(dialect)
        process = impl.bind_processor(dialect)
        self._time: Callable[[datetime | None], Any] = (
            process if process is not None else _naive_utc)
        if process is not None and all(process(v) == _sqlite_text(v) for v in _PROBES):
            self._time = _sqlite_text  # the same text, several times faster
        self._quote = dialect.identifier_preparer.quote

    def _driver(self) -> Any:
        return self.conn.connection.driver_connection

    def existing(self, tenant_id: str, call_ids: Sequence[str]) -> set[tuple[str, str]]:
        if self.postgres:
            return {(r[0], r[1]) for r in self.conn.execute(_PG_EXISTING, {
                "t": tenant_id, "ids": list(dict.fromkeys(call_ids))})}
        ids = json.dumps(list(dict.fromkeys(call_ids)))
        return {(r[0], r[1]) for r in self.conn.execute(_SQLITE_EXISTING,
                                                        {"t": tenant_id, "ids": ids})}

    def reserve_entry_ids(self, tenant_id: str, count: int) -> list[int]:
        if count <= 0:
            return []
        if count == 1 and self._session is not None:
            got = self._session.take(prefetched_entry_id(tenant_id))
            if got is not None:
                ((entry_id,),) = got
                return [int(entry_id)]
        if self.postgres:
            rows = self.conn.execute(text(
                "SELECT nextval(pg_get_serial_sequence('ledger_entries', 'id')) "
                "FROM generate_series(1, :n)"), {"n": count}).scalars().all()
            return sorted(int(v) for v in rows)
        last = self.conn.execute(text("SELECT coalesce(max(id), 0) FROM ledger_entries")) \
            .scalar_one()
        first = int(last) + 1
        return list(range(first, first + count))

    def write(self, tenant_id: str, batch: CdrBatch) -> None:
        if self._defer_entry is not None and self._defer_entry(tenant_id, batch):
            return
        slow = self._time
        seen: dict[datetime, Any] = {}

        def conv(value: datetime) -> Any:  # `now` recurs on every row: convert it once
            found = seen.get(value)
            if found is None:
                found = seen[value] = slow(value)
            return found

        start_i = CALL_ROW_COLUMNS.index("start_at")
        end_i = CALL_ROW_COLUMNS.index("end_at")
        update_i = CALL_ROW_COLUMNS.index("last_update_at")
        calls = []
        for row in batch.calls:
            values = list(row)
            values[start_i] = slow(values[start_i])
            values[end_i] = slow(values[end_i])
            values[update_i] = conv(values[update_i])
            try:
                for i, codes in _CODES:  # the enums as their codes (`codes.Coded`)
                    values[i] = codes[values[i]]
            except KeyError:
                for i, encode in _ENCODE:
                    encode(row[i])  # refuses the unknown value with its column's name
                raise
            calls.append(values)
        entries = [
            (entry_id, tenant_id, kind, amount, debt, conv(at), reference, description, None,
             key)
            for entry_id, kind, amount, debt, at, reference, description, key in batch.entries
        ]
        allocations = [(tenant_id, e, lot, amount) for e, lot, amount in batch.allocations]
        consumptions = [
            (tenant_id, month, key, reference, seconds, covered, uncovered, conv(at))
            for month, key, reference, seconds, covered, uncovered, at
            in batch.pool_consumptions
        ]
        # A call whose single-call ledger key is already taken (a charge an interrupted
        # attempt made outside the CDR path) refuses the chunk, as a unique key taken does;
        # the caller rolls back and applies its records one by one.
        if batch.call_keys and self._keys_taken(tenant_id, batch.call_keys):
            raise Conflict("CDR_BATCH_CONFLICT",
                           "A call of this chunk is already charged; it is applied one "
                           "record at a time.")
        # Entries before what refers to them, as the foreign keys expect.
        try:
            self._insert(t.ledger_entries, _ENTRY_COLUMNS, entries)
            self._insert(t.ledger_allocations, _ALLOCATION_COLUMNS, allocations)
            self._insert(t.calls, CALL_ROW_COLUMNS, calls)
            self._insert(t.pool_consumptions, _CONSUMPTION_COLUMNS, consumptions)
        except self.conn.dialect.dbapi.Error as exc:  # type: ignore[union-attr]
            # A unique key's refusal: IntegrityError, or on Citus the worker's, which a COPY
            # into a distributed table hands back as an internal error (XX000) in
            # PostgreSQL's own words.
            integrity = self.conn.dialect.dbapi.IntegrityError  # type: ignore[union-attr]
            if not isinstance(exc, integrity) and _DUPLICATE not in str(exc):
                raise
            raise Conflict("CDR_BATCH_CONFLICT",
                           "A row of this chunk is already stored; it is applied one record "
                           "at a time.") from exc
        for entry in batch.entries:
            self.tally.add(LEDGER_ENTRIES, str(entry[1]))
        if batch.lots_taken:
            self.conn.execute(_TAKE, [{"tenant": tenant_id, "lot": lot, "taken": taken}
                                      for lot, taken in batch.lots_taken.items()])

    def _keys_taken(self, tenant_id: str, keys: Sequence[str]) -> bool:
        """Whether any of ``keys`` is a ledger idempotency key of the tenant (one indexed
        probe per key, through ``uq_ledger_tenant_key``)."""
        if self.postgres:
            return self.conn.execute(_PG_KEYS_TAKEN, {"t": tenant_id, "keys": list(keys)}) \
                .first() is not None
        return self.conn.execute(_SQLITE_KEYS_TAKEN,
                                 {"t": tenant_id, "keys": json.dumps(list(keys))}) \
            .first() is not None

    def _insert(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) \
            -> None:
        if not rows:
            return
        names = ", ".join(self._quote(c) for c in columns)
        cursor = self._driver().cursor()
        try:
            if self.postgres:
                with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns)
                if "id" not in columns and numbered_by_next_id(table):
                    # (tenant_id, id) keys: each row's id is the column default's own
                    # expression, max(id) + 1, read from ix_<table>_id (migration 0013).
                    names = f"id, {names}"
                    marks = f"{next_id(table.name).compile(dialect=self.conn.dialect)}, {marks}"
                cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})",  # noqa: S608
                                   rows)
        finally:
            cursor.close()


_PROBES = (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, 999_999,
                                                               tzinfo=UTC),
           datetime(2026, 6, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))))


def _sqlite_text(value: datetime | None) -> str | None:
    """What `UTCDateTime` + SQLite's DATETIME store: naive UTC, with microseconds
    (``isoformat(" ", "microseconds")``, from a cached date and time-of-day parts: a batch
    converts two or three times per row, and ``isoformat`` was the larger cost)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return (_day_text(value.toordinal()) + _HOUR_MINUTE[value.hour * 60 + value.minute]
            + _SECOND[value.second] + f"{value.microsecond:06d}")


@lru_cache(maxsize=4096)
def _day_text(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat() + " "


_HOUR_MINUTE = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECOND = tuple(f"{s:02d}." for s in range(60))


def _naive_utc(value: datetime | None) -> datetime | None:
    """`UTCDateTime`'s bind step, for drivers that take datetimes as they are."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None)
