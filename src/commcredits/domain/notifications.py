"""What admins are emailed about (NOTE-1), who gets it, and each email's subject.

Bodies are rendered from templates by the email adapter; the domain decides the event, its
stable id (so the same event is never queued twice) and the subject.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from commcredits.domain.money import Money
from commcredits.domain.tenants import Contact, Role

NOTIFIED_ROLES = (Role.GLOBAL_ADMIN, Role.BILLING_ADMIN)
EXPIRY_WARNING_DAYS = 30


class NotificationKind(StrEnum):
    RECHARGE_SUCCEEDED = "recharge_succeeded"
    RECHARGE_FAILED = "recharge_failed"
    BALANCE_DEPLETED = "balance_depleted"
    FUNDS_EXPIRING = "funds_expiring"
    FUNDS_EXPIRED = "funds_expired"
    DIALOUT_POOL_80 = "dialout_pool_80"
    DIALOUT_POOL_100 = "dialout_pool_100"
    SPEND_LIMIT_REACHED = "spend_limit_reached"  # GUARD-1
    SPEND_ANOMALY = "spend_anomaly"  # GUARD-2


def balance_depleted(before: Money | int, after: Money | int) -> bool:
    """NOTE-1: a charge that takes a positive balance to zero or below is emailed about,
    once per such charge (the event id is the entry's). Both charging paths ask this: a
    single charge in Money, a CDR batch in integer micro-units."""
    if isinstance(before, Money) and isinstance(after, Money):
        return before.is_positive() and not after.is_positive()
    assert isinstance(before, int) and isinstance(after, int)
    return before > 0 >= after


def depleted_event(entry_id: int, balance: Money) -> tuple[str, dict[str, Any]]:
    """The balance-depleted email's event id and context, for the charge ``entry_id``."""
    return f"balance-depleted:{entry_id}", {"balance": balance.format()}


def recipients(contacts: Iterable[Contact]) -> list[str]:
    """Global and billing admins, each once (NOTE-1)."""
    return sorted({c.email for c in contacts if c.role in NOTIFIED_ROLES})


def subject(kind: NotificationKind, ctx: dict[str, Any]) -> str:
    tenant = ctx.get("tenant_name", "")
    match kind:
        case NotificationKind.RECHARGE_SUCCEEDED:
            return f"{tenant}: auto-recharge added {ctx['amount']} {ctx['currency']} " \
                   "to Communications Credits"
        case NotificationKind.RECHARGE_FAILED:
            return f"{tenant}: auto-recharge failed ({ctx['reason']}); update the payment method"
        case NotificationKind.BALANCE_DEPLETED:
            return f"{tenant}: Communications Credits balance is {ctx['balance']} " \
                   f"{ctx['currency']}; calls charged per minute have stopped"
        case NotificationKind.FUNDS_EXPIRING:
            return f"{tenant}: {ctx['remaining']} {ctx['currency']} of Communications Credits " \
                   f"expire on {ctx['expires_on']}"
        case NotificationKind.FUNDS_EXPIRED:
            return f"{tenant}: {ctx['amount']} {ctx['currency']} of Communications Credits " \
                   "expired"
        case NotificationKind.DIALOUT_POOL_80:
            return f"{tenant}: 80% of the Audio Conferencing dial-out minutes for " \
                   f"{ctx['month']} are used ({ctx['used']} of {ctx['capacity']})"
        case NotificationKind.DIALOUT_POOL_100:
            return f"{tenant}: the Audio Conferencing dial-out minutes for {ctx['month']} " \
                   "are used up; dial-out is now charged to Communications Credits"
        case NotificationKind.SPEND_LIMIT_REACHED:
            return f"{tenant}: the spend guard's limit of {ctx['limit_label']} " \
                   f"({ctx['limit']}) is reached for {ctx['subject']}"
        case NotificationKind.SPEND_ANOMALY:
            return f"{tenant}: unusual calling spend by {ctx['upn']}: {ctx['last_hour']} " \
                   f"{ctx['currency']} in one hour"
    raise AssertionError(kind)  # pragma: no cover
