"""`UnitOfWork`: one transaction exposing every repository; its factory, and the shared
simulated clock store.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Protocol

from commcredits.services.ports.accounts import (
    AccessRepository,
    AuditRepository,
    CreditRepository,
    InvoiceRepository,
    PaymentMethodRepository,
    SubscriptionRepository,
    TenantRepository,
    WebAccessRepository,
)
from commcredits.services.ports.billing import PostpaidRepository, RateRepository
from commcredits.services.ports.calls import CallRepository, CdrBatchRepository
from commcredits.services.ports.directory import (
    DirectoryRepository,
    NumberRepository,
    PoolRepository,
)
from commcredits.services.ports.insight import (
    GuardRepository,
    InsightRepository,
    PlanningRepository,
    ReportRepository,
)
from commcredits.services.ports.notify import OutboxRepository, RechargeRepository


class UnitOfWork(Protocol):
    """One transaction. Rolls back on exit unless `commit()` was called."""

    @property
    def tenants(self) -> TenantRepository: ...
    @property
    def credits(self) -> CreditRepository: ...
    @property
    def invoices(self) -> InvoiceRepository: ...
    @property
    def payment_methods(self) -> PaymentMethodRepository: ...
    @property
    def access(self) -> AccessRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def web(self) -> WebAccessRepository: ...
    @property
    def subscriptions(self) -> SubscriptionRepository: ...
    @property
    def recharge(self) -> RechargeRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def calls(self) -> CallRepository: ...
    @property
    def directory(self) -> DirectoryRepository: ...
    @property
    def numbers(self) -> NumberRepository: ...
    @property
    def pools(self) -> PoolRepository: ...
    @property
    def postpaid(self) -> PostpaidRepository: ...
    @property
    def rates(self) -> RateRepository: ...
    @property
    def reports(self) -> ReportRepository: ...
    @property
    def insight(self) -> InsightRepository: ...
    @property
    def cdr_batch(self) -> CdrBatchRepository: ...
    @property
    def guard(self) -> GuardRepository: ...
    @property
    def planning(self) -> PlanningRepository: ...

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, readonly: bool = False) -> UnitOfWork: ...


class SimulatedClockStore(Protocol):
    """The operator's simulated clock (SIM-1), shared by every process on one database."""

    def read(self) -> tuple[bool, datetime | None]: ...
    def write(self, simulated: bool, now: datetime | None) -> None: ...
    def move(self, expected: datetime, target: datetime) -> bool:
        """Set the simulated time to ``target`` if it still reads ``expected``."""
        ...
