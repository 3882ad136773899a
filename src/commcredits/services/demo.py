"""The demo tenant: Contoso (US, MOSA) with two admins, a card, about a year of purchases,
charges and auto-recharges, and one lot close to expiry. Seeding runs through the real
services on a stepping clock, so the demo's ledger is what production would have written.
Before the two months of rated calls (`demo_calls`), call charges are ledger charges
without call records; from then on the only charges are those of the rated calls, so the
ledger's daily spend equals the spend report's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from commcredits.domain.money import Money
from commcredits.services import funds, payments, rates, recharge, tenants
from commcredits.services.auth import OPERATOR_CLI
from commcredits.services.context import Services
from commcredits.services.demo_calls import DAYS as CALL_DAYS
from commcredits.services.demo_calls import seed_calls
from commcredits.services.demo_clock import SteppingClock
from commcredits.services.demo_directory import seed_directory

DEMO_NAME = "Contoso"
DEMO_CARD = "4242424242424242"
DEMO_CONTACTS = [
    {"email": "megan.bowen@contoso.com", "role": "global_admin"},
    {"email": "alex.wilber@contoso.com", "role": "billing_admin"},
]
DEMO_KEY_NAME = "demo admin"  # the global-admin key seeding prints, and `admin key` rotates

@dataclass(frozen=True, slots=True)
class Demo:
    tenant_id: str
    admin_key: str | None  # only when the demo was created: keys are stored hashed
    created: bool


def find_demo_tenant(svc: Services) -> str | None:
    for tenant in tenants.list_tenants(svc, OPERATOR_CLI):
        if tenant.name == DEMO_NAME:
            return tenant.id
    return None


def seed_demo(svc: Services) -> Demo:
    """Create the demo tenant once, with its global-admin key; later runs fill in what is
    missing and hand out no key (`tenants.rotate_api_key` replaces a lost one)."""
    tenant_id = find_demo_tenant(svc)
    created = tenant_id is None
    if tenant_id is None:
        tenant_id = _create(svc, svc.clock.now())
    seed_directory(svc, tenant_id)  # users, licenses and numbers (once)
    rates.import_samples(svc, OPERATOR_CLI, only_missing=True)  # USD, EUR, GBP (once)
    seed_calls(svc, tenant_id)  # two months of calls through the CDR path (once): the
    # only use of the minute pools, so the pools report reconciles with the usage report
    key = None
    if created:
        key = tenants.create_api_key(
            svc, OPERATOR_CLI, tenant_id, role="global_admin", name=DEMO_KEY_NAME,
        ).key
    return Demo(tenant_id, key, created)


def _create(svc: Services, now: datetime) -> str:
    clock = SteppingClock(now - timedelta(days=350))
    past = replace(svc, clock=clock)
    tenant = tenants.create_tenant(
        past, OPERATOR_CLI, name=DEMO_NAME, country="US", billing_account_type="MOSA",
        contacts=DEMO_CONTACTS,
    )
    card = payments.add_payment_method(
        past, OPERATOR_CLI, tenant.id, number=DEMO_CARD, exp_month=12,
        exp_year=now.year + 3,
    )
    # The first lot (350 days old) expires in about two weeks and still holds funds.
    # Auto-recharge (add 100.00 when the balance is below 300.00) has run.
    purchases = {0: "400.00", 290: "150.00"}
    rng = random.Random(2026)
    for day in range(0, 350):
        clock.current = now - timedelta(days=350 - day, hours=-9)
        if day == 30:
            recharge.configure(past, OPERATOR_CLI, tenant.id, enabled=True, amount="100.00",
                               trigger="300.00", payment_method_id=card.id)
        if day in purchases:
            funds.purchase(
                past, OPERATOR_CLI, tenant.id, amount=purchases[day],
                payment_method_id=card.id, idempotency_key=f"demo-purchase-{day}",
            )
        if day % 3 == 1:
            cents = rng.randint(40, 260)
            if 350 - day <= CALL_DAYS:  # the days of rated calls: their charges, no other
                continue
            clock.current += timedelta(hours=rng.randint(0, 8), minutes=rng.randint(0, 59))
            funds.charge(
                past, tenant.id, Money(Decimal(cents) / 100, "USD"),
                reference=f"demo-call-{day}", idempotency_key=f"demo-call-{day}",
                description="International call (demo)",
            )
    return tenant.id
