"""Who may do what (AUTH-1, AUTH-2): principals, actions per role, and tenant scoping.

A principal of one tenant asking about another tenant gets the same 404 as for a tenant that
does not exist, so nothing leaks. The role check comes after the scope check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from commcredits.domain.errors import DomainError, Forbidden, NotFound, Unauthenticated
from commcredits.domain.tenants import Role, Tenant
from commcredits.services.ports import UnitOfWork

KEY_PREFIX = "cck_"


class Action(StrEnum):
    READ_TENANT = "read the tenant"
    READ_CREDITS = "read credits and the ledger"
    FUND = "add funds"
    MANAGE_PAYMENT_METHODS = "manage payment methods"
    MANAGE_AUTO_RECHARGE = "change auto-recharge"
    READ_INVOICES = "read invoices"
    MANAGE_KEYS = "create API keys"
    READ_AUDIT = "read the audit log"
    CALL_CONTROL = "control calls"
    READ_DIRECTORY = "read users, licenses, numbers and minute pools"
    MANAGE_DIRECTORY = "manage users, licenses and numbers"
    BUY_SEATS = "buy license seats"
    MANAGE_OVERAGE = "turn post-usage overage on or off"
    MANAGE_ADMINS = "invite admins to the admin center"
    MANAGE_SPEND_GUARD = "change the spend guard (limits, blocked destinations)"
    OPERATE = "operate the service (tenants, exceptions, adjustments, clock)"


_READ = {Action.READ_TENANT, Action.READ_CREDITS, Action.READ_INVOICES, Action.READ_AUDIT,
         Action.READ_DIRECTORY}
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.GLOBAL_ADMIN: frozenset(set(Action) - {Action.OPERATE}),
    Role.BILLING_ADMIN: frozenset(_READ | {
        Action.FUND, Action.MANAGE_PAYMENT_METHODS, Action.MANAGE_AUTO_RECHARGE,
        Action.BUY_SEATS, Action.MANAGE_OVERAGE, Action.MANAGE_SPEND_GUARD,
    }),
    Role.TEAMS_ADMIN: frozenset({
        Action.READ_TENANT, Action.READ_DIRECTORY, Action.MANAGE_DIRECTORY,
    }),
    Role.READER: frozenset(_READ),
    Role.PARTNER: frozenset({
        Action.READ_TENANT, Action.READ_CREDITS, Action.READ_INVOICES, Action.FUND,
    }),
    Role.PLATFORM: frozenset({Action.CALL_CONTROL}),
    Role.OPERATOR: frozenset(Action),
}


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    tenant_id: str | None = None
    partner_id: str | None = None
    name: str = ""

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.name}" if self.name else self.role.value


OPERATOR_CLI = Principal(Role.OPERATOR, name="cli")


def hash_key(key: str) -> str:
    """API keys are 256-bit random secrets, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def authenticate(uow: UnitOfWork, key: str | None, operator_key: str | None) -> Principal:
    if not key:
        raise Unauthenticated(
            "UNAUTHENTICATED", "Send an API key as 'Authorization: Bearer <key>'.",
        )
    if operator_key and hmac.compare_digest(key.encode(), operator_key.encode()):
        return Principal(Role.OPERATOR, name="operator-key")
    record = uow.access.key_by_hash(hash_key(key))
    if record is None:
        raise Unauthenticated(
            "UNAUTHENTICATED", "The API key is not valid. Ask an admin for a new key.",
        )
    return Principal(record.role, record.tenant_id, record.partner_id, record.name)


def require_operator(principal: Principal) -> None:
    if principal.role is not Role.OPERATOR:
        raise Forbidden(
            "FORBIDDEN", "Only the service operator may do this.",
            {"role": principal.role.value},
        )


def access_refusal(uow: UnitOfWork, key: str | None, operator_key: str | None,
                   tenant_id: str | None) -> DomainError | None:
    """What a request would be refused for before its input is judged: no valid key (401),
    or a tenant it may not see (404); None when neither (ERR-1's order: 401, 404/403, 422)."""
    try:
        principal = authenticate(uow, key, operator_key)
        if tenant_id is not None:
            visible_tenant(uow, principal, tenant_id)
    except DomainError as exc:
        return exc
    return None


def tenant_not_found(tenant_id: str) -> NotFound:
    return NotFound(
        "TENANT_NOT_FOUND", f"No tenant {tenant_id!r} exists for this key.",
        {"tenant_id": tenant_id},
    )


def visible_tenant(uow: UnitOfWork, principal: Principal, tenant_id: str) -> Tenant:
    """The tenant if ``principal`` may see it at all, else NOT_FOUND (AUTH-2)."""
    tenant = uow.tenants.get(tenant_id)
    if tenant is None:
        raise tenant_not_found(tenant_id)
    if principal.role is Role.PARTNER:
        if principal.partner_id is None \
                or not uow.access.partner_bound(principal.partner_id, tenant_id):
            raise tenant_not_found(tenant_id)
    elif principal.role is not Role.OPERATOR and principal.tenant_id != tenant_id:
        raise tenant_not_found(tenant_id)
    return tenant


def authorize(uow: UnitOfWork, principal: Principal, tenant_id: str, action: Action) -> Tenant:
    """Return the tenant if ``principal`` may perform ``action`` on it, else refuse."""
    tenant = visible_tenant(uow, principal, tenant_id)
    if action not in ROLE_ACTIONS[principal.role]:
        raise Forbidden(
            "FORBIDDEN",
            f"The {principal.role.value} role may not {action.value}. Ask a global admin.",
            {"role": principal.role.value, "action": action.name.lower()},
        )
    return tenant
