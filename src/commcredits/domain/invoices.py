"""Invoices (FUND-8): numbered sequentially per tenant, immutable once issued.

An invoice is built here as a plain document (seller, buyer, lines, totals, payment); the
service stores it whole and never changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from commcredits.domain.money import Money


@dataclass(frozen=True, slots=True)
class Party:
    name: str
    country: str
    address: str = ""
    tax_id: str = ""


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Money

    @property
    def amount(self) -> Money:
        return Money(self.unit_price.amount * self.quantity, self.unit_price.currency).round_cents()


def invoice_number(tenant_id: str, seq: int) -> str:
    """Sequential within a tenant and unique across tenants (64 bits of the tenant id),
    e.g. ``CC-1A2B3C4D5E6F7081-000007``."""
    return f"CC-{tenant_id[:16].upper()}-{seq:06d}"


def build_invoice_document(
    *, number: str, seq: int, issued_at: datetime, seller: Party, buyer: Party,
    lines: list[InvoiceLine], currency: str, payment: dict[str, Any],
) -> dict[str, Any]:
    """The immutable invoice document: every figure as a decimal string."""
    total = Money.zero(currency)
    for line in lines:
        total = total + line.amount
    return {
        "number": number,
        "sequence": seq,
        "issued_at": issued_at.isoformat(),
        "currency": currency,
        "seller": _party(seller),
        "buyer": _party(buyer),
        "lines": [
            {
                "description": line.description,
                "quantity": f"{line.quantity:f}",
                "unit_price": line.unit_price.format(),
                "amount": line.amount.format(),
            }
            for line in lines
        ],
        "subtotal": total.format(),
        "tax": "0.00",
        "total": total.format(),
        "payment": payment,
        "status": "paid" if payment.get("status") == "succeeded" else "due",
    }


def _party(p: Party) -> dict[str, str]:
    return {"name": p.name, "country": p.country, "address": p.address, "tax_id": p.tax_id}
