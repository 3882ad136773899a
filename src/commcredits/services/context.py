"""The services' dependencies, wired once by `commcredits.bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass, field

from commcredits.domain.invoices import Party
from commcredits.services.ports import (
    Clock,
    Mailer,
    NumberClassifier,
    PaymentGateway,
    SimulatedClockStore,
    UnitOfWorkFactory,
)
from commcredits.services.rates import RateBook


@dataclass
class Services:
    uow: UnitOfWorkFactory
    clock: Clock
    gateway: PaymentGateway
    seller: Party
    clock_store: SimulatedClockStore | None = None
    operator_key: str | None = None
    mailer: Mailer | None = None
    phone: NumberClassifier | None = None
    rate_book: RateBook = field(default_factory=RateBook)
