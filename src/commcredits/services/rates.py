"""Rate tables (RATE-1, RATE-3, RATE-4): import, list, and the rate book that rates calls.

- ``import_table(svc, principal, currency, data, source)`` → `RateTableInfo`: the operator
  imports a whole CSV table (format in `domain.rate_tables`) as the currency's next version;
  one bad row refuses the file, listing every bad line, and nothing is stored.
- ``list_tables(svc, principal, currency)``: the versions, oldest first.
- `RateBook` (one per process, ``svc.rate_book``): ``lookup(uow, currency, digits, at,
  direction)`` → `RatedRow` (row id, `Rate`, version) or None.

Which version rates a call (RATE-3): the newest version imported at or before ``at`` (the
moment the call started, also when it is re-rated later); a call that started before the
first import uses the oldest version. Inside a version, each row's own effective dates
apply (`RateIndex.lookup`).

Hot path: the book caches a `RateIndex` per (currency, version), built once from the
database, and the list of versions per currency. An import in this process refreshes the
list at once; other processes' imports are seen within ``refresh_seconds`` (5 s). Live
calls and CDR batches rate through the same book and the same `RateIndex`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING

from commcredits.domain.errors import InvalidInput
from commcredits.domain.rate_tables import parse_rate_csv
from commcredits.domain.rating import Direction, Rate, RateIndex
from commcredits.domain.reference import known_currency
from commcredits.services.auth import Principal, require_operator
from commcredits.services.ports import RateTableRecord, UnitOfWork

if TYPE_CHECKING:
    from commcredits.services.context import Services


@dataclass(frozen=True, slots=True)
class RateTableInfo:
    currency: str
    version: int
    rows: int
    imported_at: datetime
    source: str = ""
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class RatedRow:
    """The row that rates a call: its id in `rates`, the rate, and the table version."""

    rate_id: int
    rate: Rate
    version: int


def _info(r: RateTableRecord) -> RateTableInfo:
    return RateTableInfo(r.currency, r.version, r.rows, r.imported_at, r.source, r.sha256)


def import_table(
    svc: Services, principal: Principal, currency: str, data: bytes | str, source: str,
) -> RateTableInfo:
    """RATE-3: import ``data`` as the next version of ``currency``'s table, all or nothing.

    Rate tables are global (not a tenant's), so no tenant audit row is written; the version
    keeps its source name, import time and SHA-256."""
    require_operator(principal)
    code = known_currency(currency)
    raw = data.encode() if isinstance(data, str) else data
    if not raw.strip():
        raise InvalidInput(
            "INVALID_RATE_TABLE",
            "The rate table is empty; send the CSV with its header row as the body.",
        )
    rates = parse_rate_csv(raw, code)
    digest = hashlib.sha256(raw).hexdigest()
    with svc.uow() as uow:
        record = uow.rates.add_table(code, svc.clock.now(), source or "upload", digest, rates)
        uow.commit()
    svc.rate_book.forget_versions(code)
    return _info(record)


SAMPLE_CURRENCIES = ("USD", "EUR", "GBP")


def sample_table(currency: str) -> bytes:
    """The sample table (SAMPLE DATA: illustrative prices, not a carrier's tariff)."""
    name = f"rates/sample_{currency.lower()}.csv"
    return resources.files("commcredits.data").joinpath(name).read_bytes()


def import_samples(
    svc: Services, principal: Principal, *, only_missing: bool = False,
) -> list[RateTableInfo]:
    """Import the USD, EUR and GBP sample tables; with ``only_missing``, only for currencies
    that have no table yet (the demo)."""
    require_operator(principal)
    done = []
    for code in SAMPLE_CURRENCIES:
        if only_missing:
            with svc.uow(readonly=True) as uow:
                if uow.rates.tables(code):
                    continue
        done.append(import_table(svc, principal, code, sample_table(code),
                                 f"sample_{code.lower()}.csv (sample data)"))
    return done


def list_tables(svc: Services, principal: Principal, currency: str) -> list[RateTableInfo]:
    """Every version of ``currency``'s table, oldest first (operator only)."""
    require_operator(principal)
    code = known_currency(currency)
    with svc.uow(readonly=True) as uow:
        return [_info(r) for r in uow.rates.tables(code)]


class TableVersions:
    """A currency's versions, and which one rates a call (RATE-3): the newest imported at or
    before ``at``, else the oldest; found by bisection over the import times, as every
    call of a batch asks."""

    __slots__ = ("_at", "_best", "_oldest", "tables")

    def __init__(self, tables: list[RateTableRecord]) -> None:
        self.tables = tables
        ordered = sorted(tables, key=lambda r: r.imported_at)
        self._at = [r.imported_at for r in ordered]
        self._best: list[RateTableRecord] = []  # the newest version among the first i + 1
        for table in ordered:
            newest = self._best[-1] if self._best else None
            self._best.append(table if newest is None or table.version > newest.version
                              else newest)
        self._oldest = min(tables, key=lambda r: r.version) if tables else None

    def __iter__(self) -> Iterator[RateTableRecord]:
        return iter(self.tables)

    def at(self, at: datetime) -> RateTableRecord | None:
        i = bisect_right(self._at, at)
        return self._best[i - 1] if i else self._oldest


class _Loaded:
    """One version's `RateIndex`: one cache entry."""

    __slots__ = ("index", "version")

    def __init__(self, version: int, rows: list[tuple[int, Rate]]) -> None:
        self.version = version
        self.index = RateIndex(rows)


class RateBook:
    """A per-process cache of rate indexes, one per (currency, version) (RATE-1, RATE-3)."""

    def __init__(self, refresh_seconds: float = 5.0, max_indexes: int = 16,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.refresh_seconds = refresh_seconds
        self.max_indexes = max_indexes
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._versions: dict[str, tuple[float, TableVersions]] = {}
        self._indexes: OrderedDict[tuple[str, int], _Loaded] = OrderedDict()

    def forget_versions(self, currency: str) -> None:
        """Re-read the currency's versions on the next lookup (after an import)."""
        with self._lock:
            self._versions.pop(currency, None)

    def versions(self, uow: UnitOfWork, currency: str) -> TableVersions:
        now = self._monotonic()
        with self._lock:
            cached = self._versions.get(currency)
        if cached is not None and now - cached[0] < self.refresh_seconds:
            return cached[1]
        tables = TableVersions(uow.rates.tables(currency))
        with self._lock:
            self._versions[currency] = (now, tables)
        return tables

    def table_at(self, uow: UnitOfWork, currency: str, at: datetime) -> RateTableRecord | None:
        return self.versions(uow, currency).at(at)

    def _loaded(self, uow: UnitOfWork, table: RateTableRecord) -> _Loaded:
        key = (table.currency, table.version)
        with self._lock:
            loaded = self._indexes.get(key)
            if loaded is not None:
                self._indexes.move_to_end(key)
                return loaded
        loaded = _Loaded(table.version, uow.rates.rows(table.id, table.currency))
        with self._lock:
            self._indexes[key] = loaded
            while len(self._indexes) > self.max_indexes:
                self._indexes.popitem(last=False)
        return loaded

    def index(self, uow: UnitOfWork, table: RateTableRecord) -> RateIndex:
        """The version's `RateIndex` (read once per version, then cached)."""
        return self._loaded(uow, table).index

    def rate(self, uow: UnitOfWork, rate_id: int | None) -> Rate | None:
        """The rate of row ``rate_id`` (a stored call's, RATE-3), from the cached index of
        its version; on a miss, the version is found by the row and loaded (`index`).

        Rows of ``rates`` are never updated or deleted (`SqlRates` only inserts), so the
        row is the rate the call was authorized or rated with."""
        if rate_id is None:
            return None
        with self._lock:
            loaded = list(self._indexes.values())
        for candidate in reversed(loaded):  # most recently used first
            found = candidate.index.row(rate_id)
            if found is not None:
                return found
        table = uow.rates.table_of(rate_id)
        return None if table is None else self._loaded(uow, table).index.row(rate_id)

    def lookup_in(
        self, uow: UnitOfWork, table: RateTableRecord, digits: str, at: datetime,
        direction: Direction = Direction.OUTBOUND,
    ) -> Rate | None:
        """The row of one given version rating ``digits`` at ``at`` (a what-if, PLAN-1)."""
        found = self._loaded(uow, table).index.lookup(digits, at, direction)
        return None if found is None else found[1]

    def lookup(
        self, uow: UnitOfWork, currency: str, digits: str, at: datetime,
        direction: Direction = Direction.OUTBOUND,
    ) -> RatedRow | None:
        """The row rating a call to ``digits`` (for ``toll_free_inbound``: the caller's
        digits) that started at ``at``: longest prefix in the version in force at ``at``."""
        table = self.table_at(uow, currency, at)
        if table is None:
            return None
        loaded = self._loaded(uow, table)
        found = loaded.index.lookup(digits, at, direction)
        if found is None:
            return None
        return RatedRow(found[0], found[1], loaded.version)
