"""The services' dependencies, wired once by `commcredits.bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass

from commcredits.domain.invoices import Party
from commcredits.services.ports import (
    Clock,
    Mailer,
    PaymentGateway,
    SimulatedClockStore,
    UnitOfWorkFactory,
)


@dataclass
class Services:
    uow: UnitOfWorkFactory
    clock: Clock
    gateway: PaymentGateway
    seller: Party
    clock_store: SimulatedClockStore | None = None
    operator_key: str | None = None
    mailer: Mailer | None = None
