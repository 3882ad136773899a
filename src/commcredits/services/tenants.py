"""Tenants, their admin contacts, API keys, partners and the EA exception (ACCT-1, ACCT-4,
AUTH-1, AUTH-2). Every change is written to the audit log in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from commcredits.domain.errors import InvalidInput, NotFound, PolicyRefusal
from commcredits.domain.tenants import (
    CONTACT_ROLES,
    TENANT_KEY_ROLES,
    BillingAccountType,
    Contact,
    Role,
    Tenant,
    new_tenant_fields,
    parse_email,
    parse_enum,
    validate_name,
)
from commcredits.services.auth import (
    Action,
    Principal,
    authorize,
    hash_key,
    new_key,
    require_operator,
    tenant_not_found,
)
from commcredits.services.context import Services


@dataclass(frozen=True, slots=True)
class NewKey:
    id: str
    key: str
    role: Role
    name: str


def parse_contacts(raw: Any) -> list[Contact]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidInput("INVALID_CONTACTS", "contacts must be a list of {email, role}.")
    contacts = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidInput("INVALID_CONTACTS", "Each contact needs an email and a role.")
        role = parse_enum(Role, item.get("role"), "INVALID_ROLE", "contact role")
        if role not in CONTACT_ROLES:
            raise InvalidInput(
                "INVALID_ROLE", f"A contact's role is one of: "
                f"{', '.join(r.value for r in CONTACT_ROLES)}.",
            )
        contacts.append(Contact(parse_email(item.get("email")), role))
    return contacts


def create_tenant(
    svc: Services, principal: Principal, *, name: Any, country: Any, billing_account_type: Any,
    billing_country: Any = None, currency: Any = None, cloud: Any = None, contacts: Any = None,
) -> Tenant:
    require_operator(principal)
    valid_name, home, cur, account, billing, cl = new_tenant_fields(
        name=name, country_code=country, billing_account_type=billing_account_type,
        billing_country=billing_country, currency=currency, cloud=cloud,
    )
    people: Sequence[Contact] = parse_contacts(contacts)
    tenant = Tenant(uuid.uuid4().hex, valid_name, home, cur, account, billing, cl)
    now = svc.clock.now()
    with svc.uow() as uow:
        uow.tenants.add(tenant, people, now)
        uow.credits.create_account(tenant.id, cur)
        uow.audit.add(tenant.id, now, principal.actor, "tenant.created", {
            "name": valid_name, "country": home, "currency": cur,
            "billing_account_type": account.value, "billing_country": billing,
            "cloud": cl.value, "contacts": [c.email for c in people],
        })
        uow.commit()
    return tenant


def list_tenants(svc: Services, principal: Principal) -> list[Tenant]:
    require_operator(principal)
    with svc.uow(readonly=True) as uow:
        return uow.tenants.list()


def set_ea_exception(svc: Services, principal: Principal, tenant_id: str, value: bool) -> Tenant:
    """ACCT-4: an operator lets an EA tenant buy despite the billing-region mismatch."""
    require_operator(principal)
    if not isinstance(value, bool):
        raise InvalidInput("INVALID_VALUE", "ea_region_exception must be true or false.")
    with svc.uow() as uow:
        tenant = authorize(uow, principal, tenant_id, Action.OPERATE)
        uow.tenants.set_ea_exception(tenant_id, value)
        uow.audit.add(tenant_id, svc.clock.now(), principal.actor, "tenant.ea_exception", {
            "ea_region_exception": value,
        })
        uow.commit()
    return replace(tenant, ea_region_exception=value)


def create_api_key(
    svc: Services, principal: Principal, tenant_id: str, *, role: Any, name: Any,
) -> NewKey:
    """A tenant key for one of the tenant roles; the secret is shown once and stored hashed."""
    parsed = parse_enum(Role, role, "INVALID_ROLE", "role")
    if parsed not in TENANT_KEY_ROLES:
        raise InvalidInput(
            "INVALID_ROLE",
            f"A tenant key's role is one of: {', '.join(r.value for r in TENANT_KEY_ROLES)}. "
            "Partner keys are created by the operator under /partners.",
        )
    label = validate_name(name if name is not None else parsed.value)
    key = new_key()
    key_id = uuid.uuid4().hex
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_KEYS)
        uow.access.add_key(key_id, hash_key(key), key[:10], tenant_id=tenant_id,
                           partner_id=None, role=parsed, name=label, at=now)
        uow.audit.add(tenant_id, now, principal.actor, "api_key.created", {
            "key_id": key_id, "role": parsed.value, "name": label,
        })
        uow.commit()
    return NewKey(key_id, key, parsed, label)


@dataclass(frozen=True, slots=True)
class RotatedKey:
    key: NewKey
    revoked: int


def rotate_api_key(
    svc: Services, principal: Principal, tenant_id: str, *, role: Any, name: Any,
) -> RotatedKey:
    """A new key for the role and name, in the transaction that revokes (deletes) the tenant's
    earlier keys of that role and name: the issuer's previous key stops working at once.
    Keys are stored hashed (AUTH-2), so a lost key is replaced, never shown again."""
    parsed = parse_enum(Role, role, "INVALID_ROLE", "role")
    if parsed not in TENANT_KEY_ROLES:
        raise InvalidInput("INVALID_ROLE", "Only tenant roles have keys to rotate.")
    label = validate_name(name)
    key = new_key()
    key_id = uuid.uuid4().hex
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_KEYS)
        revoked = uow.access.revoke_keys(tenant_id, parsed, label)
        uow.access.add_key(key_id, hash_key(key), key[:10], tenant_id=tenant_id,
                           partner_id=None, role=parsed, name=label, at=now)
        uow.audit.add(tenant_id, now, principal.actor, "api_key.rotated", {
            "key_id": key_id, "role": parsed.value, "name": label, "revoked": revoked,
        })
        uow.commit()
    return RotatedKey(NewKey(key_id, key, parsed, label), len(revoked))


def create_partner(svc: Services, principal: Principal, *, name: Any) -> str:
    require_operator(principal)
    partner_id = uuid.uuid4().hex
    with svc.uow() as uow:
        uow.access.add_partner(partner_id, validate_name(name), svc.clock.now())
        uow.commit()
    return partner_id


def create_partner_key(svc: Services, principal: Principal, partner_id: str, name: Any) -> NewKey:
    require_operator(principal)
    key = new_key()
    key_id = uuid.uuid4().hex
    with svc.uow() as uow:
        partner = uow.access.partner_name(partner_id)
        if partner is None:
            raise NotFound("PARTNER_NOT_FOUND", f"No partner {partner_id!r}.")
        label = validate_name(name if name is not None else partner)
        uow.access.add_key(key_id, hash_key(key), key[:10], tenant_id=None,
                           partner_id=partner_id, role=Role.PARTNER, name=label,
                           at=svc.clock.now())
        uow.commit()
    return NewKey(key_id, key, Role.PARTNER, label)


def bind_partner(svc: Services, principal: Principal, partner_id: str, tenant_id: str) -> None:
    """Let a partner fund a tenant on its behalf (ACCT-3)."""
    require_operator(principal)
    with svc.uow() as uow:
        if uow.access.partner_name(partner_id) is None:
            raise NotFound("PARTNER_NOT_FOUND", f"No partner {partner_id!r}.")
        tenant = uow.tenants.get(tenant_id)
        if tenant is None:
            raise tenant_not_found(tenant_id)
        if tenant.billing_account_type is not BillingAccountType.CSP:
            raise PolicyRefusal(
                "PARTNER_REQUIRES_CSP",
                "Partners fund only tenants that buy through a Cloud Solution Provider (CSP); "
                f"this tenant's billing account is {tenant.billing_account_type.value}.",
            )
        uow.access.bind_partner(partner_id, tenant_id)
        uow.audit.add(tenant_id, svc.clock.now(), principal.actor, "partner.bound", {
            "partner_id": partner_id,
        })
        uow.commit()
