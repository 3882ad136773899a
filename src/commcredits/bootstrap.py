"""Wires settings and adapters into the services: the composition root.

`build(settings)` makes the engine, the unit-of-work factory, the payment gateway and the
clock, and returns a `Runtime` that entrypoints hold on to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from commcredits.adapters.clock import DatabaseClock, DbClockStore, SystemClock
from commcredits.adapters.db.engine import make_engine
from commcredits.adapters.db.uow import SqlUnitOfWorkFactory
from commcredits.adapters.email.senders import FolderMailer, SmtpMailer
from commcredits.adapters.numbers import PhoneNumbers
from commcredits.adapters.payments.sandbox import SandboxGateway
from commcredits.config import Settings
from commcredits.domain.invoices import Party
from commcredits.services.context import Services
from commcredits.services.ports import Clock, Mailer


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    services: Services

    def close(self) -> None:
        self.engine.dispose()


def make_mailer(settings: Settings) -> Mailer:
    """SMTP when COMMCREDITS_SMTP_HOST is set, else .eml files in a folder (NOTE-3)."""
    if settings.smtp_host:
        return SmtpMailer(
            settings.smtp_host, settings.smtp_port, security=settings.smtp_security,
            username=settings.smtp_username, password=settings.smtp_password,
            sender=settings.mail_from,
        )
    return FolderMailer(Path(settings.outbox_dir), sender=settings.mail_from)


def build(
    settings: Settings, *, clock: Clock | None = None, migrate: bool = False,
    serving: bool = False,
) -> Runtime:
    """Wire a runtime. ``serving`` means this process decides real vs simulated time."""
    engine = make_engine(settings.database_url)
    if migrate:  # imported here: Alembic is about 0.1 s of start-up that most commands skip
        from commcredits.adapters.db.migrate import upgrade

        upgrade(engine)
    store = DbClockStore(engine)
    if clock is None:
        simulated, now = store.read()
        if settings.simulated_clock and not simulated:
            store.write(True, now or datetime.now(UTC))
            simulated = True
        elif serving and not settings.simulated_clock and simulated:
            store.write(False, now)
            simulated = False
        # Every process on a simulated database reads the shared clock; others need no query.
        clock = DatabaseClock(store) if simulated else SystemClock()
    services = Services(
        uow=SqlUnitOfWorkFactory(engine, simulated_clock=isinstance(clock, DatabaseClock)),
        clock=clock,
        gateway=SandboxGateway(engine),
        seller=Party(settings.seller_name, settings.seller_country, settings.seller_address,
                     settings.seller_tax_id),
        clock_store=store,
        operator_key=settings.operator_key,
        mailer=make_mailer(settings),
        phone=PhoneNumbers(),
    )
    return Runtime(settings, engine, services)
