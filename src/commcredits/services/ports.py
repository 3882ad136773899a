"""The ports: what services need from the outside world, as Protocols.

`UnitOfWork` owns one transaction and exposes the repositories; `PaymentGateway`, `Clock`
are the other side effects. Adapters implement these; services and tests depend only on them.
The record types here are the plain rows that cross the port.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Protocol

from commcredits.domain.calls import Call, CallSource, CallStatus, CallType
from commcredits.domain.directory import (
    AssigneeKind,
    NumberType,
    PhoneNumber,
    ResourceAccount,
    ResourceKind,
    User,
)
from commcredits.domain.guard import GuardSettings, Spent
from commcredits.domain.ledger import EntryDraft, EntryKind
from commcredits.domain.lots import LotSource, LotView
from commcredits.domain.money import Money
from commcredits.domain.payments import PaymentFailure, PaymentMethod
from commcredits.domain.pool_index import DirectoryUser, Holding
from commcredits.domain.rating import Classified, Rate
from commcredits.domain.reports import Retention, UsageRecord
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


# --- Auto-recharge and notifications (issue: auto-recharge and email) ----------------------


@dataclass(frozen=True, slots=True)
class AutoRechargeRecord:
    enabled: bool
    amount: Money | None
    trigger: Money | None
    payment_method_id: str | None
    last_recharge_at: datetime | None
    last_failure_at: datetime | None
    last_failure_reason: str | None
    waiting_for_payment_method: bool


@dataclass(frozen=True, slots=True)
class RechargeRequestRecord:
    id: str
    tenant_id: str
    status: str
    amount: Money
    chain: int
    cause_entry_id: int | None
    attempt: int
    next_attempt_at: datetime
    payment_method_id: str | None
    payment_id: str | None
    failure: str | None
    lot_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: int
    tenant_id: str
    event_id: str
    kind: str
    recipients: list[str]
    subject: str
    context: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class RechargeRepository(Protocol):
    def settings(self, tenant_id: str, currency: str) -> AutoRechargeRecord | None: ...
    def save_settings(
        self, tenant_id: str, *, enabled: bool, amount: Money | None, trigger: Money | None,
        payment_method_id: str | None, at: datetime,
    ) -> None: ...
    def record_outcome(
        self, tenant_id: str, *, succeeded_at: datetime | None = None,
        failed_at: datetime | None = None, reason: str | None = None,
        waiting_for_payment_method: bool | None = None,
    ) -> None: ...
    def active_request(self, tenant_id: str, currency: str) -> RechargeRequestRecord | None: ...
    def add_request(
        self, request_id: str, tenant_id: str, amount: Money, *, chain: int,
        cause_entry_id: int | None, at: datetime,
    ) -> bool: ...
    def get_request(self, tenant_id: str, request_id: str) -> RechargeRequestRecord | None: ...
    def due_requests(self, now: datetime, wall: float) -> list[tuple[str, str]]:
        """(request id, tenant id) of every request due or with a lapsed claim, across
        tenants (read-only); each is then claimed in a transaction of its own tenant."""
        ...
    def claim(self, tenant_id: str, request_id: str, wall: float, lease_until: float,
              ) -> bool: ...
    def update_request(self, tenant_id: str, request_id: str, **fields: Any) -> None: ...
    def cancel_pending(self, tenant_id: str, at: datetime) -> int: ...
    def requests(
        self, tenant_id: str, currency: str, limit: int,
    ) -> list[RechargeRequestRecord]: ...


class OutboxRepository(Protocol):
    def enqueue(
        self, tenant_id: str, event_id: str, kind: str, recipients: list[str], subject: str,
        context: dict[str, Any], at: datetime, due: datetime,
    ) -> bool: ...
    def due(self, now: datetime, wall: float, limit: int) -> list[OutboxRecord]: ...
    def claim(self, tenant_id: str, outbox_id: int, wall: float, lease_until: float,
              ) -> bool: ...
    def mark_sent(self, tenant_id: str, outbox_id: int, at: datetime) -> None: ...
    def mark_failed(self, tenant_id: str, outbox_id: int, error: str,
                    next_attempt_at: datetime) -> None: ...
    def list(self, tenant_id: str, limit: int) -> list[OutboxRecord]: ...


class NumberClassifier(Protocol):
    """Validity, country, type and emergency status of a dialled number (CALL-2, CALL-3)."""

    def classify(self, dialled: str, from_country: str) -> Classified: ...


class Mailer(Protocol):
    """Delivers one rendered email; raises on failure so the sender retries (NOTE-2)."""

    def send(self, email: OutboxRecord) -> str: ...


# --- Directory, licenses, numbers and minute pools (LIC, NUM, POOL) ------------------------


@dataclass(frozen=True, slots=True)
class UserSearch:
    """Which users to list: `text` in the UPN, display name or number (any case); `sku` held
    (`""`: no license at all; None: any); `location` (`""`: not set; None: any); `upn` exactly
    and `upn_prefix` as the UPN's start (lower case; None: any)."""

    text: str = ""
    sku: str | None = None
    location: str | None = None
    upn: str | None = None
    upn_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class UserDraft:
    """A user as written: the stable object id, UPN (lower case) and attributes."""

    id: str
    upn: str
    display_name: str
    usage_location: str | None
    blocked: bool


@dataclass(frozen=True, slots=True)
class LicenseWrite:
    """One license assignment change for `DirectoryRepository.write_licenses`."""

    user_id: str
    sku: str
    location: str | None
    added: bool


@dataclass(frozen=True, slots=True)
class PoolConsumptionRecord:
    pool_key: str
    month: str
    reference: str | None
    seconds: int
    minutes_covered: int
    uncovered_seconds: int
    at: datetime


class DirectoryRepository(Protocol):
    def version(self, tenant_id: str) -> str | None: ...
    def bump_version(self, tenant_id: str, at: datetime) -> str: ...
    def upn_taken(self, tenant_id: str, upn: str) -> bool: ...
    def add_user(self, tenant_id: str, user: UserDraft, at: datetime) -> None: ...
    def update_user(self, tenant_id: str, user_id: str, at: datetime, **fields: Any) -> None: ...
    def user(self, tenant_id: str, key: str) -> User | None: ...
    def users(
        self, tenant_id: str, *, limit: int, after_upn: str | None,
        search: UserSearch | None = None,
    ) -> list[User]: ...
    def all_users(self, tenant_id: str) -> list[User]: ...
    def write_licenses(
        self, tenant_id: str, changes: Sequence[LicenseWrite], at: datetime,
    ) -> None: ...
    def relocate(self, tenant_id: str, user_id: str, location: str, at: datetime) -> None: ...
    def assigned_counts(self, tenant_id: str) -> dict[str, int]: ...
    def snapshot(self, tenant_id: str) -> tuple[list[DirectoryUser], list[Holding]]: ...
    def add_audit(
        self, tenant_id: str, at: datetime, actor: str,
        entries: Sequence[tuple[str, dict[str, Any]]],
    ) -> None: ...
    def add_resource_account(
        self, tenant_id: str, account_id: str, upn: str, display_name: str,
        kind: ResourceKind, at: datetime,
    ) -> None: ...
    def resource_account(self, tenant_id: str, key: str) -> ResourceAccount | None: ...
    def resource_accounts(self, tenant_id: str) -> list[ResourceAccount]: ...


class NumberRepository(Protocol):
    def add(self, tenant_id: str, number: str, number_type: NumberType, at: datetime) -> None: ...
    def get(self, tenant_id: str, number: str) -> PhoneNumber | None: ...
    def inventory(self, tenant_id: str) -> list[PhoneNumber]: ...
    def held_by(self, tenant_id: str, kind: AssigneeKind, assignee_id: str) -> list[str]: ...
    def assign(
        self, tenant_id: str, number: str, kind: AssigneeKind | None, assignee_id: str | None,
        at: datetime,
    ) -> None: ...
    def remove(self, tenant_id: str, number: str) -> None: ...


class PoolRepository(Protocol):
    def check(self, tenant_id: str, month: str, pool_key: str) -> tuple[str | None, int]:
        """The directory version and a pool's minutes used, in one read (the hot path)."""
        ...
    def used(self, tenant_id: str, month: str, pool_key: str) -> int: ...
    def usage(self, tenant_id: str, month: str) -> dict[str, int]: ...
    def add_usage(
        self, tenant_id: str, month: str, pool_key: str, minutes: int, at: datetime,
    ) -> None: ...
    def consumption(self, tenant_id: str, reference: str) -> PoolConsumptionRecord | None: ...
    def record(self, tenant_id: str, row: PoolConsumptionRecord) -> None: ...


# --- Rate tables (RATE-1, RATE-3) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateTableRecord:
    """One imported version of a currency's rate table."""

    id: int
    currency: str
    version: int
    imported_at: datetime
    rows: int
    source: str
    sha256: str


class RateRepository(Protocol):
    def add_table(
        self, currency: str, imported_at: datetime, source: str, sha256: str,
        rates: Sequence[Rate],
    ) -> RateTableRecord:
        """Store the next version of ``currency``'s table with all its rows (bulk insert)."""
        ...
    def tables(self, currency: str) -> list[RateTableRecord]:
        """Every version of ``currency``'s table, oldest first."""
        ...
    def rows(self, table_id: int, currency: str) -> list[tuple[int, Rate]]:
        """The rows of one version as ``(row id, Rate)``."""
        ...
    def in_force(self, currency: str, at: datetime) -> RateTableRecord | None:
        """The newest version imported at or before ``at``, else the oldest (RATE-3)."""
        ...
    def table_of(self, rate_id: int) -> RateTableRecord | None:
        """The version that row ``rate_id`` belongs to."""
        ...


# --- Post-usage billing for MCA tenants (ACCT-6, POST-1, POST-2) ---------------------------


@dataclass(frozen=True, slots=True)
class TenantBillingRecord:
    """A tenant's post-usage settings. `updated_at` is when overage was last turned on or
    off: while `overage_enabled` is false, overage stays off until the 1st of the month after
    it (POST-2)."""

    overage_enabled: bool
    postpaid_since: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OverageLineRecord:
    id: int
    month: str
    capability: str
    country: str
    amount: Money
    reference: str
    at: datetime


@dataclass(frozen=True, slots=True)
class OverageStatementRecord:
    month: str
    invoice_id: str | None
    total: Money
    issued_at: datetime


class PostpaidRepository(Protocol):
    def billing(self, tenant_id: str) -> TenantBillingRecord | None: ...
    def set_postpaid_since(self, tenant_id: str, since: datetime | None, at: datetime) -> None:
        """Creates the row (overage on) when missing; keeps `updated_at` of an existing one."""
        ...
    def set_overage(self, tenant_id: str, enabled: bool, at: datetime) -> None: ...
    def line_by_reference(
        self, tenant_id: str, reference: str, currency: str,
    ) -> OverageLineRecord | None: ...
    def add_line(
        self, tenant_id: str, month: str, capability: str, country: str, amount: Money,
        reference: str, at: datetime,
    ) -> None: ...
    def lines(self, tenant_id: str, month: str, currency: str) -> list[OverageLineRecord]: ...
    def statement(
        self, tenant_id: str, month: str, currency: str,
    ) -> OverageStatementRecord | None: ...
    def add_statement(
        self, tenant_id: str, month: str, invoice_id: str | None, total: Money,
        issued_at: datetime,
    ) -> None: ...
    def unbilled_months(self, before_month: str) -> list[tuple[str, str]]:
        """(tenant id, month) with overage lines, month < before_month, and no statement."""
        ...


@dataclass(frozen=True, slots=True)
class CallControlFacts:
    """What one call-control request reads before the tenant lock, in one round trip: the
    API key (by hash), the tenant, its directory version, its auto-recharge settings, and
    the stored call if there is one."""

    key: ApiKeyRecord | None
    tenant: Tenant | None
    directory_version: str | None
    auto_recharge: AutoRechargeRecord | None
    call: Call | None


class CallRepository(Protocol):
    """Calls (`domain.calls.Call`) with their reservations and rated usage."""

    def control_facts(self, tenant_id: str, key_hash: str | None, call_id: str,
                      usage_id: str, *, charging: bool = False) -> CallControlFacts:
        """The facts of a call-control request; ``charging`` (an end) may also read ahead
        what a ledger charge needs."""
        ...
    def reservations(self, tenant_id: str, currency: str, call_id: str,
                     usage_id: str) -> tuple[Money, bool]:
        """What open reservations hold, and whether the call is stored (under the lock)."""
        ...
    def status(self, tenant_id: str, row_id: str) -> CallStatus | None: ...
    def display_name(self, tenant_id: str, user_id: str) -> str | None: ...
    def get(self, tenant_id: str, call_id: str, usage_id: str) -> Call | None: ...
    def add(self, call: Call) -> None: ...
    def update(self, call: Call, fields: Sequence[str]) -> None:
        """Write these fields of the call (those its last transition changed)."""
        ...
    def reserved(self, tenant_id: str, currency: str, *, exclude: str | None = None) -> Money: ...
    def stale(self, cutoff: datetime) -> list[tuple[str, str]]: ...


# --- CDR batches (CDR-1, CDR-2): set-based writes of rated calls ---------------------------

# The columns of a rated call row, in the order `CdrBatch.calls` rows carry them: amounts in
# integer micro-units, times timezone-aware UTC.
CALL_ROW_COLUMNS = (
    "id", "tenant_id", "call_id", "usage_id", "source", "status", "call_type",
    "user_object_id", "upn", "display_name", "user_location", "caller", "callee",
    "conference_id", "number_type", "domestic", "destination_name", "external_country",
    "start_at", "end_at", "duration", "funding", "capability", "pool_key", "pool_minutes",
    "rate_id", "currency", "reserved", "max_seconds", "granted_seconds", "used_seconds",
    "last_update_at", "connection_fee", "charge", "entry_id", "reason", "message",
    "guard_seconds",
)


@dataclass(slots=True)
class CdrBatch:
    """What one chunk of rated CDRs writes, in one transaction (rows as tuples).

    - ``calls``: rows in `CALL_ROW_COLUMNS` order;
    - ``entries``: (id, kind, amount µ, debt_delta µ, at, reference, description,
      idempotency_key), ids from `CdrBatchRepository.reserve_entry_ids`;
    - ``allocations``: (entry id, lot id, amount µ);
    - ``lots_taken``: lot id → micros taken from it;
    - ``pool_consumptions``: (month, pool key, reference, seconds, minutes covered,
      uncovered seconds, at);
    - ``call_keys``: the ledger idempotency keys the charged calls would have on the
      single-call path; one already taken refuses the chunk (`Conflict`).

    Entries are bulk charges (FUND-10): each call row's ``entry_id`` names the one that paid
    it.
    """

    calls: list[tuple[Any, ...]]
    entries: list[tuple[Any, ...]]
    allocations: list[tuple[int, int, int]]
    lots_taken: dict[int, int]
    pool_consumptions: list[tuple[Any, ...]]
    call_keys: list[str] = field(default_factory=list)


class CdrBatchRepository(Protocol):
    def existing(self, tenant_id: str, call_ids: Sequence[str]) -> set[tuple[str, str]]:
        """(call id, usage id) of the tenant's calls among ``call_ids``."""
        ...
    def reserve_entry_ids(self, tenant_id: str, count: int) -> list[int]:
        """``count`` new ledger entry ids for the tenant's chunk, increasing (the caller
        holds the tenant lock)."""
        ...
    def write(self, tenant_id: str, batch: CdrBatch) -> None:
        """Store the chunk; a unique key already taken raises `Conflict` (nothing kept)."""
        ...


# --- Insight and Graph call logs (REP-3, REP-5) --------------------------------------------


@dataclass(frozen=True, slots=True)
class RatedCallRecord:
    """One finished (ended or expired) rated call, as the Graph PSTN call log shows it: a
    projection of its `Call`."""

    id: str
    call_id: str
    usage_id: str
    source: CallSource
    call_type: CallType
    user_object_id: str | None
    upn: str | None
    display_name: str | None
    user_location: str | None
    caller: str
    callee: str
    conference_id: str | None
    number_type: str | None
    domestic: bool | None
    destination_name: str | None
    external_country: str | None
    start_at: datetime
    end_at: datetime | None
    duration: int | None
    capability: str | None
    currency: str
    connection_fee: Decimal | None
    charge: Decimal | None

    @classmethod
    def of(cls, call: Call) -> RatedCallRecord:
        return cls(
            id=call.id, call_id=call.call_id, usage_id=call.usage_id, source=call.source,
            call_type=call.call_type, user_object_id=call.user_object_id, upn=call.upn,
            display_name=call.display_name, user_location=call.user_location,
            caller=call.caller, callee=call.callee, conference_id=call.conference_id,
            number_type=call.number_type, domestic=call.domestic,
            destination_name=call.destination_name, external_country=call.external_country,
            start_at=call.start_at, end_at=call.end_at, duration=call.duration,
            capability=call.capability, currency=call.currency,
            connection_fee=call.connection_fee, charge=call.charge,
        )


@dataclass(frozen=True, slots=True)
class SpendRecord:
    """Spend of one group (a day, user, destination country or capability)."""

    key: str
    calls: int
    seconds: int
    amount: Decimal


class InsightRepository(Protocol):
    def ledger_days(self, tenant_id: str) -> list[tuple[str, Decimal, Decimal]]:
        """Per UTC day (YYYY-MM-DD), oldest first: the net ledger amount and the charges."""
        ...
    def spend(
        self, tenant_id: str, start: datetime, end: datetime, group_by: str,
    ) -> list[SpendRecord]:
        """Finished calls started in [start, end) grouped by day, user, country or
        capability."""
        ...
    def count_calls(self, tenant_id: str, start: datetime, end: datetime,
                    retention: Retention | None = None) -> int: ...
    def calls_page(
        self, tenant_id: str, start: datetime, end: datetime,
        after: tuple[datetime, str] | None, limit: int, retention: Retention | None = None,
    ) -> list[RatedCallRecord]:
        """Finished calls started in [start, end], ordered by (start, id), after a cursor."""
        ...


class GuardRepository(Protocol):
    """The spend guard's settings and what counts toward its limits (GUARD-1..3)."""

    def get(self, tenant_id: str) -> GuardSettings | None: ...
    def put(self, tenant_id: str, settings: GuardSettings | None, at: datetime) -> None: ...
    def spent(self, tenant_id: str, user_id: str | None, hour: datetime, day: datetime,
              until: datetime, *, exclude: str | None = None) -> Spent: ...
    def heavy_users(self, tenant_id: str, since: datetime, until: datetime,
                    floor: Decimal) -> list[tuple[str, Decimal]]: ...
    def user_charges(self, tenant_id: str, user_id: str, since: datetime,
                     until: datetime) -> list[tuple[datetime, Decimal]]: ...


class PlanningRepository(Protocol):
    """Finished calls of a period, in start order, for re-rating (PLAN-1, PLAN-2)."""

    def finished_calls(self, tenant_id: str, since: datetime, until: datetime) -> list[Call]:
        ...


class ReportRepository(Protocol):
    """Finished calls for the PSTN usage report (REP-1), read a page at a time."""

    def usage(
        self, tenant_id: str, start: datetime, end: datetime, *, user: str | None,
        call_type: str | None, capability: str | None, after: tuple[datetime, str] | None,
        limit: int, retention: Retention | None = None,
    ) -> list[UsageRecord]:
        """Ended or expired calls with start in [start, end), ordered by (start, id), after
        the keyset ``after``; at most ``limit``; only those ``retention`` still keeps."""
        ...
    def count(
        self, tenant_id: str, start: datetime, end: datetime, *, user: str | None,
        call_type: str | None, capability: str | None, retention: Retention | None = None,
    ) -> int: ...
