"""Seats and license assignment (LIC-2 to LIC-5): buying seats, changing one user's licenses,
and the bulk CSV (LIC-4).

Every write takes the tenant lock (so two admins can never hand out the same last seat),
changes the tenant's directory version (so pool caches notice, LIC-5), and is audited in
the same transaction, as the rest of the directory (`services/directory.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commcredits.domain.directory import User, parse_upn
from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.domain.licensing import (
    CREDITS_SKU,
    BulkAction,
    LicenseChange,
    check_assignment,
    parse_bulk_csv,
    parse_sku,
    plan_change,
    sku_table,
)
from commcredits.domain.tenants import parse_enum
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.directory import find_user, lock_tenant
from commcredits.services.pools import user_not_found
from commcredits.services.ports import LicenseWrite, UnitOfWork

MAX_SEATS_PER_PURCHASE = 1_000_000


# --- Seats (LIC-2, LIC-3) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeatCount:
    sku: str
    name: str
    purchased: int
    assigned: int

    @property
    def available(self) -> int:
        return max(0, self.purchased - self.assigned)


def _seats(uow: UnitOfWork, tenant_id: str) -> list[SeatCount]:
    purchased = uow.subscriptions.list(tenant_id)
    assigned = uow.directory.assigned_counts(tenant_id)
    table = sku_table()
    skus = sorted(set(purchased) | set(assigned), key=lambda s: list(table).index(s)
                  if s in table else len(table))
    return [
        SeatCount(s, table[s].name if s in table else s, purchased.get(s, 0), assigned.get(s, 0))
        for s in skus
    ]


def subscriptions(svc: Services, principal: Principal, tenant_id: str) -> list[SeatCount]:
    """Purchased, assigned and available seats per SKU (MCOPSTNC after the first funding)."""
    with svc.uow(readonly=True) as uow:
        authorize(uow, principal, tenant_id, Action.READ_DIRECTORY)
        return _seats(uow, tenant_id)


def buy_seats(
    svc: Services, principal: Principal, tenant_id: str, *, sku: Any, quantity: Any,
) -> SeatCount:
    """Buy seats of a SKU. Communications Credits seats are not sold: the first funding
    brings 10,000,000 of them (FUND-7)."""
    product = parse_sku(sku)
    if product.part_number == CREDITS_SKU:
        raise InvalidInput(
            "SKU_NOT_SOLD",
            "Communications Credits (MCOPSTNC) seats are not bought: the tenant's first "
            "funding adds 10,000,000 of them.", {"sku": CREDITS_SKU},
        )
    if isinstance(quantity, bool) or not isinstance(quantity, int) \
            or not 1 <= quantity <= MAX_SEATS_PER_PURCHASE:
        raise InvalidInput(
            "INVALID_QUANTITY",
            f"quantity is a whole number of seats from 1 to {MAX_SEATS_PER_PURCHASE:,}.",
            {"value": str(quantity)[:50]},
        )
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.BUY_SEATS)
        lock_tenant(uow, tenant_id)
        uow.subscriptions.add_seats(tenant_id, product.part_number, quantity, now)
        uow.audit.add(tenant_id, now, principal.actor, "subscription.purchased", {
            "sku": product.part_number, "quantity": quantity,
        })
        seat = next(s for s in _seats(uow, tenant_id) if s.sku == product.part_number)
        uow.commit()
    return seat


# --- Assignment (LIC-3, LIC-5) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LicenseResult:
    user: User
    added: list[str]
    removed: list[str]


def _sku_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput("INVALID_LICENSE_CHANGE",
                           f"{what} is a list of part numbers, e.g. [\"MCOEV\"].")
    return value


def _free(uow: UnitOfWork, tenant_id: str, change: LicenseChange) -> dict[str, int]:
    if not change.added:
        return {}
    purchased = uow.subscriptions.list(tenant_id)
    assigned = uow.directory.assigned_counts(tenant_id)
    return {s: purchased.get(s, 0) - assigned.get(s, 0) for s in change.added}


def change_licenses(
    svc: Services, principal: Principal, tenant_id: str, user_key: str, *,
    add: Any = None, remove: Any = None,
) -> LicenseResult:
    """Add and remove a user's licenses in one step: removals first, then additions, and the
    result must obey LIC-3. It counts for calls that start afterwards (LIC-5)."""
    adds, removes = _sku_list(add, "add"), _sku_list(remove, "remove")
    if not adds and not removes:
        raise InvalidInput("INVALID_LICENSE_CHANGE",
                           "Send the SKUs to add and/or remove, e.g. {\"add\": [\"MCOEV\"]}.")
    now = svc.clock.now()
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_DIRECTORY)
        lock_tenant(uow, tenant_id)
        user = find_user(uow, tenant_id, user_key)
        change = plan_change(user.licenses, adds, removes)
        check_assignment(change, user.usage_location, _free(uow, tenant_id, change))
        if change.changed:
            uow.directory.write_licenses(tenant_id, _writes(user, change), now)
            uow.directory.bump_version(tenant_id, now)
            for sku in change.removed:
                uow.audit.add(tenant_id, now, principal.actor, "license.removed",
                              {"user_id": user.id, "upn": user.upn, "sku": sku})
            for sku in change.added:
                uow.audit.add(tenant_id, now, principal.actor, "license.assigned",
                              {"user_id": user.id, "upn": user.upn, "sku": sku})
        updated = find_user(uow, tenant_id, user.id)
        uow.commit()
    return LicenseResult(updated, change.added, change.removed)


def _writes(user: User, change: LicenseChange) -> list[LicenseWrite]:
    return [LicenseWrite(user.id, s, None, added=False) for s in change.removed] + [
        LicenseWrite(user.id, s, user.usage_location, added=True) for s in change.added
    ]


@dataclass(frozen=True, slots=True)
class BulkRowResult:
    line: int
    upn: str
    sku: str
    action: str
    ok: bool
    changed: bool = False
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class BulkReport:
    rows: list[BulkRowResult]

    @property
    def applied(self) -> int:
        return sum(1 for r in self.rows if r.ok)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if not r.ok)


def bulk_licenses(
    svc: Services, principal: Principal, tenant_id: str, data: bytes | str,
) -> BulkReport:
    """LIC-4: apply a CSV of (upn, sku, action) rows in file order, each one as if sent
    alone, and report every row. A malformed file is refused whole before anything changes.
    """
    rows = parse_bulk_csv(data)
    now = svc.clock.now()
    results: list[BulkRowResult] = []
    with svc.uow() as uow:
        authorize(uow, principal, tenant_id, Action.MANAGE_DIRECTORY)
        lock_tenant(uow, tenant_id)
        users = {u.upn: u for u in uow.directory.all_users(tenant_id)}
        purchased = uow.subscriptions.list(tenant_id)
        assigned = dict(uow.directory.assigned_counts(tenant_id))
        state: dict[str, frozenset[str]] = {}
        audit: list[tuple[str, dict[str, Any]]] = []
        for row in rows:
            try:
                user = users.get(parse_upn(row.upn))
                if user is None:
                    raise user_not_found(row.upn)
                action = parse_enum(BulkAction, row.action.strip().lower(), "INVALID_ACTION",
                                    "action")
                current = state.get(user.id, user.licenses)
                one = [row.sku]
                change = plan_change(current, one if action is BulkAction.ADD else [],
                                     one if action is BulkAction.REMOVE else [])
                free = {s: purchased.get(s, 0) - assigned.get(s, 0) for s in change.added}
                check_assignment(change, user.usage_location, free)
            except DomainError as exc:
                results.append(BulkRowResult(row.line, row.upn, row.sku, row.action, False,
                                             code=exc.code, message=exc.message))
                continue
            for s in change.added:
                assigned[s] = assigned.get(s, 0) + 1
                audit.append(("license.assigned", {"user_id": user.id, "upn": user.upn,
                                                   "sku": s, "line": row.line}))
            for s in change.removed:
                assigned[s] = assigned.get(s, 0) - 1
                audit.append(("license.removed", {"user_id": user.id, "upn": user.upn,
                                                  "sku": s, "line": row.line}))
            state[user.id] = change.after
            results.append(BulkRowResult(row.line, row.upn, row.sku, action.value, True,
                                         changed=change.changed))
        by_id = {u.id: u for u in users.values()}
        writes: list[LicenseWrite] = []
        for user_id, after in state.items():  # only the net change of each user is written
            user = by_id[user_id]
            writes.extend(_writes(user, LicenseChange(user.licenses, after)))
        if writes:
            uow.directory.write_licenses(tenant_id, writes, now)
            uow.directory.bump_version(tenant_id, now)
        report = BulkReport(results)
        uow.directory.add_audit(tenant_id, now, principal.actor, [
            *audit, ("licenses.bulk", {"rows": len(rows), "applied": report.applied,
                                       "failed": report.failed}),
        ])
        uow.commit()
    return report
