"""Tenants, credit accounts, lots, the ledger, invoices, payment methods, keys, audit,
seats and the admin center's web access: the record types and repository Protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from commcredits.domain.ledger import EntryDraft, EntryKind
from commcredits.domain.lots import LotSource, LotView
from commcredits.domain.money import Money
from commcredits.domain.payments import PaymentFailure, PaymentMethod
from commcredits.domain.tenants import BillingAccountType, Contact, Role, Tenant


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class CardToken:
    token: str
    brand: str
    last4: str
    # The same card number always gives the same fingerprint (like a real processor's), so a
    # card added twice is found without storing its number (PAY-1).
    fingerprint: str


@dataclass(frozen=True, slots=True)
class GatewayCharge:
    """The processor's answer to one charge attempt."""

    payment_id: str
    succeeded: bool
    failure: PaymentFailure | None = None


class PaymentGateway(Protocol):
    def tokenize_card(self, digits: str, exp_month: int, exp_year: int) -> CardToken: ...

    def charge(
        self, token: str, amount: Money, idempotency_key: str, at: datetime,
    ) -> GatewayCharge:
        """Charge once per idempotency key: a retry returns the first answer (AR-4)."""
        ...


@dataclass(frozen=True, slots=True)
class AccountState:
    """The tenant's credit aggregate row, read under lock for writes."""

    tenant_id: str
    currency: str
    balance: Money
    debt: Money
    next_expiry_at: datetime | None
    invoice_seq: int
    first_funded_at: datetime | None
    version: int


@dataclass(frozen=True, slots=True)
class LotRecord:
    id: int
    amount: Money
    remaining: Money
    purchased_at: datetime
    expires_at: datetime
    source: LotSource
    invoice_id: str | None

    def view(self) -> LotView:
        return LotView(self.id, self.purchased_at, self.expires_at, self.remaining)


@dataclass(frozen=True, slots=True)
class AllocationRecord:
    lot_id: int
    amount: Money


@dataclass(frozen=True, slots=True)
class EntryRecord:
    id: int
    kind: EntryKind
    amount: Money
    debt_delta: Money
    at: datetime
    reference: str | None
    description: str
    lot_id: int | None
    allocations: tuple[AllocationRecord, ...]


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    id: str
    number: str
    seq: int
    issued_at: datetime
    total: Money
    lot_id: int | None
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    tenant_id: str | None
    partner_id: str | None
    role: Role
    name: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    details: dict[str, Any]


class TenantRepository(Protocol):
    def add(self, tenant: Tenant, contacts: Sequence[Contact], at: datetime) -> None: ...
    def get(self, tenant_id: str) -> Tenant | None: ...
    def contacts(self, tenant_id: str) -> list[Contact]: ...
    def set_ea_exception(self, tenant_id: str, value: bool) -> None: ...
    def set_billing_account_type(self, tenant_id: str, value: BillingAccountType) -> None: ...
    def list(self) -> list[Tenant]: ...


class CreditRepository(Protocol):
    def create_account(self, tenant_id: str, currency: str) -> None: ...
    def account(self, tenant_id: str, *, lock: bool) -> AccountState: ...
    def save_account(
        self, state: AccountState, *, balance: Money, debt: Money,
        next_expiry_at: datetime | None, invoice_seq: int, first_funded_at: datetime | None,
    ) -> None: ...
    def open_lots(self, tenant_id: str, currency: str) -> list[LotView]: ...
    def lots(self, tenant_id: str, currency: str) -> list[LotRecord]: ...
    def add_lot(
        self, tenant_id: str, amount: Money, purchased_at: datetime, expires_at: datetime,
        source: LotSource, idempotency_key: str | None,
    ) -> int: ...
    def link_invoice(self, tenant_id: str, lot_id: int, invoice_id: str) -> None: ...
    def lot_by_key(self, tenant_id: str, key: str, currency: str) -> LotRecord | None: ...
    def write_entries(
        self, tenant_id: str, drafts: Sequence[EntryDraft], at: datetime,
        *, lot_id: int | None = None, idempotency_key: str | None = None,
    ) -> list[int]: ...
    def entry_by_key(self, tenant_id: str, key: str, currency: str) -> EntryRecord | None: ...
    def last_charge_id(self, tenant_id: str) -> int | None:
        """The id of the tenant's newest charge entry (None before the first)."""
        ...
    def ledger(
        self, tenant_id: str, currency: str, *, limit: int, before_id: int | None,
    ) -> list[EntryRecord]: ...
    def tenants_with_expiry_due(self, at: datetime) -> list[str]: ...
    def lots_expiring(
        self, start: datetime, end: datetime,
    ) -> list[tuple[str, int, Decimal, datetime, datetime]]: ...


class InvoiceRepository(Protocol):
    def add(
        self, tenant_id: str, invoice_id: str, seq: int, number: str, issued_at: datetime,
        total: Money, lot_id: int | None, document: dict[str, Any],
    ) -> None: ...
    def get(self, tenant_id: str, invoice_id: str, currency: str) -> InvoiceRecord | None: ...
    def list(self, tenant_id: str, currency: str) -> list[InvoiceRecord]: ...


class PaymentMethodRepository(Protocol):
    def add(self, method: PaymentMethod, at: datetime) -> None: ...
    def get(self, tenant_id: str, method_id: str) -> PaymentMethod | None:
        """The method, or None when it does not exist in the tenant or was removed."""
        ...
    def list(self, tenant_id: str) -> list[PaymentMethod]: ...
    def find_card(
        self, tenant_id: str, fingerprint: str, exp_month: int, exp_year: int,
    ) -> PaymentMethod | None: ...
    def remove(self, tenant_id: str, method_id: str, at: datetime) -> None: ...
    def record_payment(
        self, tenant_id: str, method_id: str, at: datetime, *, succeeded: bool,
    ) -> None: ...


class AccessRepository(Protocol):
    def add_key(
        self, key_id: str, key_hash: str, prefix: str, *, tenant_id: str | None,
        partner_id: str | None, role: Role, name: str, at: datetime,
    ) -> None: ...
    def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...
    def revoke_keys(self, tenant_id: str, role: Role, name: str) -> list[str]:
        """Delete the tenant's keys with this role and name; their ids, oldest id first."""
        ...
    def add_partner(self, partner_id: str, name: str, at: datetime) -> None: ...
    def partner_name(self, partner_id: str) -> str | None: ...
    def bind_partner(self, partner_id: str, tenant_id: str) -> None: ...
    def partner_bound(self, partner_id: str, tenant_id: str) -> bool: ...


class AuditRepository(Protocol):
    def add(
        self, tenant_id: str, at: datetime, actor: str, action: str, details: dict[str, Any],
    ) -> None: ...
    def list(self, tenant_id: str, limit: int) -> list[AuditRecord]: ...


class SubscriptionRepository(Protocol):
    def add_seats(self, tenant_id: str, sku: str, quantity: int, at: datetime) -> None: ...
    def list(self, tenant_id: str) -> dict[str, int]: ...


@dataclass(frozen=True, slots=True)
class AdminAccountRecord:
    id: str
    email: str
    name: str
    password_hash: str
    role: Role
    tenant_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WebSessionRecord:
    account_id: str | None
    key_hash: str | None
    role: Role
    tenant_id: str | None
    partner_id: str | None
    name: str
    csrf_token: str
    expires_at: datetime


class WebAccessRepository(Protocol):
    """Admin accounts, browser sessions and one-time sign-in links (web admin center)."""

    def add_account(self, account: AdminAccountRecord) -> None: ...
    def account_by_email(self, email: str) -> AdminAccountRecord | None: ...
    def account(self, account_id: str) -> AdminAccountRecord | None: ...
    def accounts(self, tenant_id: str | None) -> list[AdminAccountRecord]: ...
    def set_password(self, account_id: str, password_hash: str) -> None: ...
    def add_session(self, token_hash: str, session: WebSessionRecord, at: datetime) -> None: ...
    def session(self, token_hash: str) -> WebSessionRecord | None: ...
    def delete_session(self, token_hash: str) -> None: ...
    def purge_sessions(self, before: datetime) -> int: ...
    def add_link(
        self, token_hash: str, account_id: str, at: datetime, expires_at: datetime,
    ) -> None: ...
    def use_link(self, token_hash: str, at: datetime) -> str | None:
        """Mark an unused, unexpired link used and return its account id (once only)."""
        ...
    def signin_failures(
        self, scope: str, subject: str, since: datetime,
    ) -> tuple[int, datetime | None]:
        """How many sign-ins of this subject failed since ``since``, and the last one's time."""
        ...
    def add_signin_failure(self, scope: str, subject: str, at: datetime,
                           prune_before: datetime) -> None: ...
    def clear_signin_failures(self, scope: str, subject: str) -> None: ...
