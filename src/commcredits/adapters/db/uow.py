"""The SQL unit of work: one transaction on one connection, with its repositories.

One `SqlUnitOfWork` commits only when asked and rolls back otherwise; its repositories are
made on first use. The repositories live beside it: `account_repos.py` (tenants, invoices,
payment methods, keys, audit, seats), `credit_repos.py` (accounts, lots and the ledger, the
charge hot path), and one module per area for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token
from datetime import datetime
from functools import cached_property
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    func,
    select,
)

from commcredits.adapters.clock import TRANSACTION_TIME, transaction_now
from commcredits.adapters.db.account_repos import (
    SqlAccess,
    SqlAudit,
    SqlInvoices,
    SqlPaymentMethods,
    SqlSubscriptions,
    SqlTenants,
)
from commcredits.adapters.db.calls_repos import (
    SqlCalls,
)
from commcredits.adapters.db.cdr_repos import SqlCdrBatch
from commcredits.adapters.db.credit_repos import SqlCredits
from commcredits.adapters.db.directory_repos import SqlDirectory
from commcredits.adapters.db.guard_repos import SqlGuard
from commcredits.adapters.db.hot_session import INFO_KEY, HotSession
from commcredits.adapters.db.insight_repos import SqlInsight
from commcredits.adapters.db.notify_repos import SqlOutbox, SqlRecharge
from commcredits.adapters.db.number_pool_repos import SqlNumbers, SqlPools
from commcredits.adapters.db.planning_repos import SqlPlanning
from commcredits.adapters.db.postpaid_repos import SqlPostpaid
from commcredits.adapters.db.rate_repos import SqlRates
from commcredits.adapters.db.report_repos import SqlReports
from commcredits.adapters.db.web_repos import SqlWebAccess
from commcredits.adapters.metrics import Tally

R = TypeVar("R")


def _repo(make: Callable[[SqlUnitOfWork], R]) -> cached_property[R]:
    """A repository of the unit of work, made by ``make`` when first asked for."""
    return cached_property(make)


class SqlUnitOfWork:
    """One transaction; rolls back on exit unless committed.

    Its repositories are made on first use (`functools.cached_property`), not all ~20 on
    entry: a call-control request uses three of them (docs/decisions.md). Each is made at
    most once per transaction, on this transaction's connection, and forgotten on exit."""

    def __init__(
        self, engine: Engine, *, readonly: bool = False, simulated_clock: bool = False,
    ) -> None:
        self.engine = engine
        self.readonly = readonly
        self.simulated_clock = simulated_clock
        self.postgres = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._committed = False
        self._time_token: Token[datetime | None] | None = None
        self.tally = Tally()  # OPS-1: what this transaction wrote, counted on commit

    def __enter__(self) -> SqlUnitOfWork:
        conn = self.engine.connect()
        if self.engine.dialect.name == "sqlite":
            conn = conn.execution_options(
                sqlite_begin="DEFERRED" if self.readonly else "IMMEDIATE"
            )
        conn.begin()
        self._conn = conn
        if self.simulated_clock:
            # SIM-2: the simulated time of this transaction comes from this transaction.
            self._time_token = TRANSACTION_TIME.set(transaction_now(conn))
        self._hot_session = HotSession(conn, self.postgres)
        if self.postgres:
            conn.info[INFO_KEY] = self._hot_session  # for `engine.flush_hot_session`
        return self

    @property
    def conn(self) -> Connection:
        """This transaction's connection (only between enter and exit)."""
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    tenants = _repo(lambda uow: SqlTenants(uow.conn))
    credits = _repo(lambda uow: SqlCredits(uow.conn, uow.postgres, uow._hot_session,
                                           uow.tally))
    invoices = _repo(lambda uow: SqlInvoices(uow.conn))
    payment_methods = _repo(lambda uow: SqlPaymentMethods(uow.conn))
    access = _repo(lambda uow: SqlAccess(uow.conn))
    audit = _repo(lambda uow: SqlAudit(uow.conn))
    subscriptions = _repo(lambda uow: SqlSubscriptions(uow.conn))
    recharge = _repo(lambda uow: SqlRecharge(uow.conn, uow.tally))
    outbox = _repo(lambda uow: SqlOutbox(uow.conn, uow.tally))
    calls = _repo(lambda uow: SqlCalls(uow.conn, uow._hot_session))
    directory = _repo(lambda uow: SqlDirectory(uow.conn))
    numbers = _repo(lambda uow: SqlNumbers(uow.conn))
    pools = _repo(lambda uow: SqlPools(uow.conn))
    postpaid = _repo(lambda uow: SqlPostpaid(uow.conn))
    rates = _repo(lambda uow: SqlRates(uow.conn))
    reports = _repo(lambda uow: SqlReports(uow.conn))
    insight = _repo(lambda uow: SqlInsight(uow.conn))
    cdr_batch = _repo(lambda uow: SqlCdrBatch(uow.conn, uow.tally, uow._hot_session,
                                              uow.credits.defer_batch_entry))
    web = _repo(lambda uow: SqlWebAccess(uow.conn))
    guard = _repo(lambda uow: SqlGuard(uow.conn))
    planning = _repo(lambda uow: SqlPlanning(uow.conn))

    def commit(self) -> None:
        assert self._conn is not None
        self._hot_session.commit()  # the waiting writes and COMMIT, in one round trip
        self._conn.commit()  # (then a no-op for the driver: its transaction is over)
        self._committed = True
        self.tally.committed()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        made = self.__dict__
        try:
            if "credits" in made:
                self.credits.close()
            if "calls" in made:
                self.calls.close()
            self._hot_session.close()
            self._conn.info.pop(INFO_KEY, None)
            if not self._committed:
                self._conn.rollback()
            self.tally.discard()
        finally:
            if self._time_token is not None:
                TRANSACTION_TIME.reset(self._time_token)
                self._time_token = None
            for name in _REPOSITORIES:  # made on this connection: never reused after it
                made.pop(name, None)
            self._conn.close()
            self._conn = None


_REPOSITORIES = tuple(name for name, value in vars(SqlUnitOfWork).items()
                      if isinstance(value, cached_property))


class SqlUnitOfWorkFactory:
    """Units of work on one engine; ``simulated_clock`` scopes the simulated time (SIM-2)."""

    def __init__(self, engine: Engine, *, simulated_clock: bool = False) -> None:
        self.engine = engine
        self.simulated_clock = simulated_clock

    def __call__(self, *, readonly: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, readonly=readonly,
                             simulated_clock=self.simulated_clock)


def count_rows(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
