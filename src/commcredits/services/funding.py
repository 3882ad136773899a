"""Creating a funded lot inside a locked account: the lot, its ledger entries (with debt
settlement), the invoice and FUND-7's seats. Shared by purchases, adjustments and
auto-recharge.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from commcredits.domain.invoices import InvoiceLine, Party, build_invoice_document, invoice_number
from commcredits.domain.ledger import EntryKind, funding_entries
from commcredits.domain.lots import LotSource
from commcredits.domain.money import Money
from commcredits.domain.reference import country
from commcredits.domain.tenants import Tenant
from commcredits.services.account import AccountWriter
from commcredits.services.context import Services
from commcredits.services.ports import InvoiceRecord, LotRecord, UnitOfWork

CREDITS_SKU = "MCOPSTNC"
CREDITS_FREE_SEATS = 10_000_000


def fund_in(
    svc: Services, uow: UnitOfWork, tenant: Tenant, money: Money, source: LotSource,
    key: str | None, *, payment: dict[str, Any], description: str, actor: str, channel: str,
) -> tuple[LotRecord, InvoiceRecord, Money]:
    """Create the lot, its ledger entries and its invoice; the caller commits.

    Returns the lot, the invoice and the balance afterwards.
    """
    writer = AccountWriter(uow, tenant.id, svc.clock.now())
    writer.apply_due_expiry()
    lot_id, _ = writer.add_lot(money, source, key)
    seq = writer.next_invoice_seq()
    number = invoice_number(tenant.id, seq)
    kind = EntryKind.ADJUSTMENT if source is LotSource.ADJUSTMENT else EntryKind.PURCHASE
    writer.write(
        funding_entries(lot_id, money, writer.debt, kind=kind, reference=number,
                        description=f"{description} ({source.value})"),
        lot_id=lot_id, idempotency_key=key,
    )
    invoice_id = uuid.uuid4().hex
    buyer = Party(tenant.name, country(tenant.country).name)
    document = build_invoice_document(
        number=number, seq=seq, issued_at=writer.now, seller=svc.seller, buyer=buyer,
        lines=[InvoiceLine(description, Decimal(1), money)], currency=tenant.currency,
        payment=payment,
    )
    document["lot_id"] = lot_id
    document["source"] = source.value
    uow.invoices.add(tenant.id, invoice_id, seq, number, writer.now, money, lot_id, document)
    uow.credits.link_invoice(tenant.id, lot_id, invoice_id)
    if writer.first_funded_at is None:
        writer.first_funded_at = writer.now
        uow.subscriptions.add_seats(tenant.id, CREDITS_SKU, CREDITS_FREE_SEATS, writer.now)
    writer.save()
    uow.audit.add(tenant.id, writer.now, actor, "credits.funded", {
        "amount": money.format(), "currency": money.currency, "source": source.value,
        "lot_id": lot_id, "invoice": number, "channel": channel,
    })
    lot = uow.credits.lot_by_key(tenant.id, key, tenant.currency) if key else None
    if lot is None:
        lot = next(x for x in uow.credits.lots(tenant.id, tenant.currency) if x.id == lot_id)
    invoice = uow.invoices.get(tenant.id, invoice_id, tenant.currency)
    assert invoice is not None
    return lot, invoice, writer.balance
