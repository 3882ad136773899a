"""Test helpers: the ledger invariant checker and small builders shared by every tier."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, func, select

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.types import MicroAmount
from commcredits.domain.money import Money
from commcredits.domain.tenants import Role
from commcredits.services import funds, payments, tenants
from commcredits.services.auth import Principal
from commcredits.services.context import Services

OPERATOR = Principal(Role.OPERATOR, name="tests")
OPERATOR_KEY = "operator-secret-for-tests"
GOOD_CARD = "4242424242424242"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def make_tenant(svc: Services, *, kind: str = "MOSA", country: str = "US",
                billing_country: str | None = None, name: str = "Contoso",
                cloud: str | None = None) -> str:
    tenant = tenants.create_tenant(
        svc, OPERATOR, name=name, country=country, billing_account_type=kind,
        billing_country=billing_country, cloud=cloud,
        contacts=[{"email": "admin@contoso.com", "role": "global_admin"},
                  {"email": "billing@contoso.com", "role": "billing_admin"}],
    )
    return tenant.id


def add_card(svc: Services, tenant_id: str, number: str = GOOD_CARD,
             exp_month: int = 12, exp_year: int = 2099) -> str:
    return payments.add_payment_method(
        svc, OPERATOR, tenant_id, number=number, exp_month=exp_month, exp_year=exp_year,
    ).id


def buy(svc: Services, tenant_id: str, amount: str, card: str) -> funds.PurchaseResult:
    return funds.purchase(svc, OPERATOR, tenant_id, amount=amount, payment_method_id=card)


def check_ledger_invariants(engine: Engine) -> None:
    """FUND-5/6 for every tenant: balance = sum of entries = lots remaining - debt; each lot's
    remaining = amount - its allocations, never below 0; debt = sum of debt deltas, never < 0."""
    with engine.connect() as conn:
        accounts = conn.execute(select(t.credit_accounts)).all()
        for acc in accounts:
            tid = acc.tenant_id
            entries_sum = conn.execute(
                select(func.coalesce(func.sum(t.ledger_entries.c.amount), 0, type_=MicroAmount))
                .where(t.ledger_entries.c.tenant_id == tid)
            ).scalar_one()
            debt_sum = conn.execute(
                select(func.coalesce(func.sum(t.ledger_entries.c.debt_delta), 0, type_=MicroAmount))
                .where(t.ledger_entries.c.tenant_id == tid)
            ).scalar_one()
            lots_sum = Decimal(0)
            for lot in conn.execute(select(t.lots).where(t.lots.c.tenant_id == tid)):
                taken = conn.execute(
                    select(func.coalesce(
                        func.sum(t.ledger_allocations.c.amount), 0, type_=MicroAmount,
                    ))
                    .where(t.ledger_allocations.c.tenant_id == tid,
                           t.ledger_allocations.c.lot_id == lot.id)
                ).scalar_one()
                assert lot.remaining >= 0, f"lot {lot.id} below zero"
                assert lot.remaining <= lot.amount, f"lot {lot.id} above its amount"
                assert lot.amount - taken == lot.remaining, f"lot {lot.id} allocations"
                lots_sum += lot.remaining
            assert entries_sum == acc.balance, f"{tid}: entries != balance"
            assert debt_sum == acc.debt, f"{tid}: debt deltas != debt"
            assert acc.debt >= 0, f"{tid}: negative debt"
            assert lots_sum - acc.debt == acc.balance, f"{tid}: lots - debt != balance"
            check_entries_are_their_calls(conn, tid)


def check_entries_are_their_calls(conn: Connection, tenant_id: str) -> None:
    """FUND-10: every charge entry that paid calls (a live call's own entry, a CDR batch's
    bulk entry) has for amount the sum of its calls' charges, each call names an entry of
    its own tenant, and every charged call of a prepaid tenant names one. An MCA tenant's
    entry pays only the prepaid part of its calls' charges (the rest is overage, MCA-2)."""
    e, c = t.ledger_entries, t.calls
    kind = conn.execute(select(t.tenants.c.billing_account_type)
                        .where(t.tenants.c.id == tenant_id)).scalar_one()
    charged = func.coalesce(func.sum(c.c.charge), 0, type_=MicroAmount)
    rows = conn.execute(
        select(c.c.entry_id, e.c.kind, e.c.amount, e.c.tenant_id.label("entry_tenant"),
               charged.label("charged"))
        .select_from(c.outerjoin(e, (e.c.tenant_id == c.c.tenant_id) & (e.c.id == c.c.entry_id)))
        .where(c.c.tenant_id == tenant_id, c.c.entry_id.is_not(None))
        .group_by(c.c.entry_id, e.c.kind, e.c.amount, e.c.tenant_id)
    ).all()
    for r in rows:
        assert r.kind == "charge" and r.entry_tenant == tenant_id, \
            f"{tenant_id}: calls name entry {r.entry_id}, not a charge of theirs"
        if kind == "MCA":
            assert -r.amount <= r.charged, f"{tenant_id}: entry {r.entry_id} > its calls"
        else:
            assert -r.amount == r.charged, \
                f"{tenant_id}: entry {r.entry_id} is {-r.amount}, its calls {r.charged}"
    if kind != "MCA":
        unpaid = conn.execute(select(func.count()).select_from(c).where(
            c.c.tenant_id == tenant_id, c.c.entry_id.is_(None), c.c.charge > 0)).scalar_one()
        assert unpaid == 0, f"{tenant_id}: {unpaid} charged call(s) name no entry"
