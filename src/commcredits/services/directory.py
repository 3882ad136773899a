"""The directory use cases (LIC-1, LIC-5, NUM-1): users, phone numbers and resource accounts.
Seats and license assignment are `services/licenses.py`.

Every write takes the tenant lock (so two admins can never hand out the same last seat),
changes the tenant's directory version (so pool caches notice, LIC-5), and is audited in
the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from commcredits.domain.directory import (
    AssigneeKind,
    NumberType,
    PhoneNumber,
    ResourceAccount,
    ResourceKind,
    User,
    check_number_fits,
    not_a_number,
    parse_blocked,
    parse_display_name,
    parse_e164,
    parse_upn,
    parse_usage_location,
)
from commcredits.domain.errors import Conflict, InvalidInput, NotFound
from commcredits.domain.licensing import (
    calling_plan,
    check_payg_zone,
)
from commcredits.domain.tenants import parse_enum
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.pools import user_not_found
from commcredits.services.ports import UnitOfWork, UserDraft, UserSearch


def lock_tenant(uow: UnitOfWork, tenant_id: str) -> None:
    uow.credits.account(tenant_id, lock=True)


def find_user(uow: UnitOfWork, tenant_id: str, key: object) -> User:
    """The user by object id or UPN; a key no user can have (empty, NUL, over 1,000
    characters) is not found without asking the database (PostgreSQL refuses NUL)."""
    if not isinstance(key, str) or not key or "\x00" in key or len(key) > 1000:
        raise user_not_found(str(key))
    found = uow.directory.user(tenant_id, key)
    if found is None:
        raise user_not_found(key)
    return found


# --- Users (LIC-1) -----------------------------------------------------------------------


def create_user(
    svc: Services, principal: Principal, tenant_id: str, *, upn: Any, display_name: Any,
    usage_location: Any = None, phone_number: Any = None, blocked: Any = False,
) -> User:
    """Add a user with a new stable object id (the Entra ObjectId of call records)."""
    draft = UserDraft(
        id=str(uuid.uuid4()), upn=parse_upn(upn), display_name=parse_display_name(display_name),
        usage_location=parse_usage_location(usage_location), blocked=parse_blocked(blocked),
    )
    number = checked_number(svc, phone_number) if phone_number is not None else None
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_DIRECTORY)
        lock_tenant(uow, tenant_id)
        if uow.directory.upn_taken(tenant_id, draft.upn):
            raise Conflict(
                "UPN_TAKEN", f"{draft.upn} is already a user or resource account in this "
                "tenant; UPNs are unique.", {"upn": draft.upn},
            )
        uow.directory.add_user(tenant_id, draft, now)
        if number is not None:
            _give_user_number(uow, tenant_id, draft.id, number, now)
        uow.directory.bump_version(tenant_id, now)
        uow.audit.add(tenant_id, now, principal.actor, "user.created", {
            "user_id": draft.id, "upn": draft.upn, "usage_location": draft.usage_location,
            "phone_number": number, "blocked": draft.blocked,
        })
        user = find_user(uow, tenant_id, draft.id)
        uow.commit()
    return user


def list_users(
    svc: Services, principal: Principal, tenant_id: str, *, limit: int = 100,
    after: str | None = None, search: UserSearch | None = None,
) -> list[User]:
    """Users ordered by UPN, a page at a time (``after`` is the last UPN of the page before),
    optionally only those matching ``search``. No user holds a NUL, so a search or ``after``
    with one finds nobody (and never reaches PostgreSQL, which refuses NUL)."""
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.READ_DIRECTORY)
        if _has_nul(after, search):
            return []
        return uow.directory.users(tenant_id, limit=max(1, min(limit, 1000)),
                                   after_upn=after.lower() if after else None, search=search)


def _has_nul(after: str | None, search: UserSearch | None) -> bool:
    texts = [after] + ([search.text, search.sku, search.location, search.upn,
                        search.upn_prefix] if search else [])
    return any(t is not None and "\x00" in t for t in texts)


def get_user(svc: Services, principal: Principal, tenant_id: str, key: str) -> User:
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.READ_DIRECTORY)
        return find_user(uow, tenant_id, key)


USER_FIELDS = ("display_name", "usage_location", "phone_number", "blocked")


def update_user(
    svc: Services, principal: Principal, tenant_id: str, key: str, changes: Mapping[str, Any],
) -> User:
    """Change some of display_name, usage_location, phone_number and blocked; a field sent as
    null clears it (usage location and phone number)."""
    unknown = sorted(set(changes) - set(USER_FIELDS))
    if unknown:
        raise InvalidInput("INVALID_FIELD", f"A user has no field {unknown[0]!r}; "
                           f"send any of {', '.join(USER_FIELDS)}.", {"fields": unknown})
    fields: dict[str, Any] = {}
    if "display_name" in changes:
        fields["display_name"] = parse_display_name(changes["display_name"])
    if "usage_location" in changes:
        fields["usage_location"] = parse_usage_location(changes["usage_location"])
    if "blocked" in changes:
        fields["blocked"] = parse_blocked(changes["blocked"])
    number: str | None = None
    if changes.get("phone_number") is not None:
        number = checked_number(svc, changes["phone_number"])
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_DIRECTORY)
        lock_tenant(uow, tenant_id)
        user = find_user(uow, tenant_id, key)
        if "usage_location" in fields and fields["usage_location"] != user.usage_location:
            _relocate(uow, tenant_id, user, fields["usage_location"], now)
        if fields:
            uow.directory.update_user(tenant_id, user.id, now, **fields)
        if "phone_number" in changes:
            if number is None:
                for held in uow.numbers.held_by(tenant_id, AssigneeKind.USER, user.id):
                    uow.numbers.assign(tenant_id, held, None, None, now)
            else:
                _give_user_number(uow, tenant_id, user.id, number, now, replace=True)
        uow.directory.bump_version(tenant_id, now)
        uow.audit.add(tenant_id, now, principal.actor, "user.updated", {
            "user_id": user.id, "upn": user.upn,
            "changes": {**fields, **({"phone_number": number} if "phone_number" in changes
                                     else {})},
        })
        updated = find_user(uow, tenant_id, user.id)
        uow.commit()
    return updated


def _relocate(
    uow: UnitOfWork, tenant_id: str, user: User, location: str | None, now: datetime,
) -> None:
    """A new usage location moves the user's licenses to that country's pools from now on;
    it cannot be cleared while the user holds licenses (LIC-1)."""
    if not user.licenses:
        return
    if location is None:
        raise Conflict(
            "USAGE_LOCATION_REQUIRED",
            "A user who holds licenses needs a usage location; remove the licenses first.",
            {"licenses": sorted(user.licenses)},
        )
    plan = calling_plan(user.licenses)
    if plan is not None:
        check_payg_zone(plan, location)
    uow.directory.relocate(tenant_id, user.id, location, now)


def _give_user_number(
    uow: UnitOfWork, tenant_id: str, user_id: str, number: str, now: datetime,
    *, replace: bool = False,
) -> None:
    """Assign a user number to a user; a number the tenant does not hold yet is added as a
    user number (LIC-1's phone number)."""
    held = uow.numbers.held_by(tenant_id, AssigneeKind.USER, user_id)
    if number in held:
        return
    existing = uow.numbers.get(tenant_id, number)
    if existing is not None and existing.assignee_id is not None:
        raise _number_assigned(existing)
    if existing is not None:
        check_number_fits(number, existing.type, AssigneeKind.USER, None, 0)
    if replace:
        for old in held:
            uow.numbers.assign(tenant_id, old, None, None, now)
    elif held:
        check_number_fits(number, NumberType.USER, AssigneeKind.USER, None, len(held))
    if existing is None:
        uow.numbers.add(tenant_id, number, NumberType.USER, now)
    uow.numbers.assign(tenant_id, number, AssigneeKind.USER, user_id, now)


def _number_assigned(existing: PhoneNumber) -> Conflict:
    return Conflict(
        "NUMBER_ASSIGNED",
        f"{existing.number} is assigned to {existing.assignee_upn}; unassign it first "
        "(a number belongs to at most one user or resource account).",
        {"number": existing.number, "assigned_to": existing.assignee_upn},
    )


# --- Resource accounts and numbers (NUM-1) -----------------------------------------------


def create_resource_account(
    svc: Services, principal: Principal, tenant_id: str, *, upn: Any, display_name: Any,
    kind: Any,
) -> ResourceAccount:
    """An auto attendant, call queue or conference bridge that numbers can be assigned to."""
    valid_upn = parse_upn(upn)
    name = parse_display_name(display_name)
    resource = parse_enum(ResourceKind, kind, "INVALID_RESOURCE_KIND", "resource account kind")
    account_id = str(uuid.uuid4())
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_DIRECTORY)
        lock_tenant(uow, tenant_id)
        if uow.directory.upn_taken(tenant_id, valid_upn):
            raise Conflict("UPN_TAKEN", f"{valid_upn} is already a user or resource account "
                           "in this tenant; UPNs are unique.", {"upn": valid_upn})
        uow.directory.add_resource_account(tenant_id, account_id, valid_upn, name, resource,
                                           now)
        uow.audit.add(tenant_id, now, principal.actor, "resource_account.created", {
            "id": account_id, "upn": valid_upn, "kind": resource.value,
        })
        account = uow.directory.resource_account(tenant_id, account_id)
        assert account is not None
        uow.commit()
    return account


def list_resource_accounts(
    svc: Services, principal: Principal, tenant_id: str,
) -> list[ResourceAccount]:
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.READ_DIRECTORY)
        return uow.directory.resource_accounts(tenant_id)


def list_numbers(svc: Services, principal: Principal, tenant_id: str) -> list[PhoneNumber]:
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.READ_DIRECTORY)
        return uow.numbers.inventory(tenant_id)


def add_number(
    svc: Services, principal: Principal, tenant_id: str, *, number: Any, type: Any,
    assigned_to: Any = None,
) -> PhoneNumber:
    """Add a number to the tenant's inventory, optionally assigning it at once (NUM-1)."""
    valid = checked_number(svc, number)
    kind = parse_enum(NumberType, type, "INVALID_NUMBER_TYPE", "number type")
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_DIRECTORY)
        lock_tenant(uow, tenant_id)
        if uow.numbers.get(tenant_id, valid) is not None:
            raise Conflict("NUMBER_EXISTS", f"{valid} is already in this tenant's numbers.",
                           {"number": valid})
        uow.numbers.add(tenant_id, valid, kind, now)
        if assigned_to is not None:
            _assign_number(uow, tenant_id, valid, assigned_to, now)
        uow.audit.add(tenant_id, now, principal.actor, "number.added", {
            "number": valid, "type": kind.value, "assigned_to": assigned_to,
        })
        found = uow.numbers.get(tenant_id, valid)
        assert found is not None
        uow.commit()
    return found


def assign_number(
    svc: Services, principal: Principal, tenant_id: str, number: Any, assigned_to: Any,
) -> PhoneNumber:
    """Assign a number to a user or resource account (by UPN), or unassign it (None)."""
    valid = _path_number(number)
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_DIRECTORY)
        lock_tenant(uow, tenant_id)
        existing = _existing_number(uow, tenant_id, valid)
        if assigned_to is None:
            uow.numbers.assign(tenant_id, valid, None, None, now)
        else:
            _assign_number(uow, tenant_id, valid, assigned_to, now)
        uow.audit.add(tenant_id, now, principal.actor, "number.assigned", {
            "number": valid, "assigned_to": assigned_to, "was": existing.assignee_upn,
        })
        found = uow.numbers.get(tenant_id, valid)
        assert found is not None
        uow.commit()
    return found


def release_number(svc: Services, principal: Principal, tenant_id: str, number: Any) -> None:
    """Remove an unassigned number from the tenant."""
    valid = _path_number(number)
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_DIRECTORY)
        lock_tenant(uow, tenant_id)
        existing = _existing_number(uow, tenant_id, valid)
        if existing.assignee_id is not None:
            raise _number_assigned(existing)
        uow.numbers.remove(tenant_id, valid)
        uow.audit.add(tenant_id, now, principal.actor, "number.released", {"number": valid})
        uow.commit()


def checked_number(svc: Services, value: Any) -> str:
    """An E.164 number that libphonenumber (the phone port) finds valid (NUM-1), or
    INVALID_PHONE_NUMBER: ``+999999999999999`` has the shape but no country."""
    number = parse_e164(value)
    if svc.phone is not None and not svc.phone.classify(number, "").valid:
        raise not_a_number(number)
    return number


def _path_number(number: Any) -> str:
    """A number from a URL: ``+14255550100`` or just its digits."""
    if isinstance(number, str) and number and not number.startswith("+"):
        number = "+" + number.strip()
    return parse_e164(number)


def _existing_number(uow: UnitOfWork, tenant_id: str, number: str) -> PhoneNumber:
    found = uow.numbers.get(tenant_id, number)
    if found is None:
        raise NotFound("NUMBER_NOT_FOUND", f"{number} is not one of this tenant's numbers; "
                       "add it first (POST /numbers).", {"number": number})
    return found


def _assign_number(
    uow: UnitOfWork, tenant_id: str, number: str, assigned_to: Any, now: datetime,
) -> None:
    existing = _existing_number(uow, tenant_id, number)
    if not isinstance(assigned_to, str):
        raise InvalidInput("INVALID_ASSIGNEE", "assigned_to is the UPN of a user or resource "
                           "account, or null to unassign.")
    key = assigned_to.strip().lower()
    user = uow.directory.user(tenant_id, key)
    account = None if user is not None else uow.directory.resource_account(tenant_id, key)
    if user is None and account is None:
        raise NotFound("ASSIGNEE_NOT_FOUND", f"No user or resource account {assigned_to!r} "
                       "in this tenant.", {"assigned_to": assigned_to[:200]})
    kind = AssigneeKind.USER if user is not None else AssigneeKind.RESOURCE_ACCOUNT
    assignee_id = user.id if user is not None else account.id if account else ""
    if existing.assignee_id == assignee_id:
        return
    if existing.assignee_id is not None:
        raise _number_assigned(existing)
    held = uow.numbers.held_by(tenant_id, kind, assignee_id)
    check_number_fits(number, existing.type, kind, account.kind if account else None,
                      len(held))
    uow.numbers.assign(tenant_id, number, kind, assignee_id, now)
