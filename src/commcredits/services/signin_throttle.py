"""Throttling failed admin-center sign-ins, per account and per client address (AUTH-1).

Failures are stored in the database (`signin_failures`), so every worker of `serve
--workers N` sees the same count. The policy (`docs/decisions.md`):

- an account (keyed by a hash of the email, known or not) may fail `ACCOUNT_FREE` times in
  `WINDOW`; an address, which many people may share, `ADDRESS_FREE` times (failures are
  counted over `WINDOW` plus `MAX_DELAY`, so a long wait does not forget them);
- past that, every further attempt is refused with ``SIGNIN_THROTTLED`` (429) until the
  last failure plus a delay that doubles with each failure, from `FIRST_DELAY` up to
  `MAX_DELAY`, whether or not its password is right; a refused attempt checks no password
  and counts no failure;
- a successful sign-in clears the account's failures and its address's.

Sign-ins run on the wall clock, as sessions do (a simulated clock a year ahead must not
unlock an account).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from commcredits.domain.errors import Throttled
from commcredits.services.context import Services

WINDOW = timedelta(minutes=15)
ACCOUNT_FREE = 5
ADDRESS_FREE = 20
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
LOOKBACK = WINDOW + MAX_DELAY

ACCOUNT = "account"
ADDRESS = "address"


def subjects(email: str | None, address: str | None) -> list[tuple[str, str, int]]:
    """(scope, subject, failures allowed) for an attempt: the account and the address."""
    found: list[tuple[str, str, int]] = []
    if email is not None:
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        found.append((ACCOUNT, digest, ACCOUNT_FREE))
    if address:
        found.append((ADDRESS, address[:64], ADDRESS_FREE))
    return found


def delay_after(failures: int, free: int) -> timedelta:
    """How long to wait after the last failure, once more than ``free`` have failed."""
    if failures < free:
        return timedelta(0)
    doublings = min(failures - free, 16)
    return min(MAX_DELAY, FIRST_DELAY * (1 << doublings))


def check(svc: Services, email: str | None, address: str | None, now: datetime) -> None:
    """Refuse with ``SIGNIN_THROTTLED`` while the account or the address must wait."""
    wait = timedelta(0)
    scope_hit = ""
    with svc.uow(readonly=True) as uow:
        for scope, subject, free in subjects(email, address):
            count, last = uow.web.signin_failures(scope, subject, now - LOOKBACK)
            if last is None:
                continue
            left = last + delay_after(count, free) - now
            if left > wait:
                wait, scope_hit = left, scope
    if wait > timedelta(0):
        seconds = math.ceil(wait.total_seconds())
        who = "this account" if scope_hit == ACCOUNT else "your network address"
        raise Throttled(
            "SIGNIN_THROTTLED",
            f"Too many failed sign-ins for {who}. Wait {seconds} seconds and try again, or "
            "ask a global admin to reset your password.",
            {"retry_after_seconds": seconds, "scope": scope_hit},
        )


def failed(svc: Services, email: str | None, address: str | None, now: datetime) -> None:
    """Record one failed attempt for the account and the address."""
    with svc.uow() as uow:
        for scope, subject, _ in subjects(email, address):
            uow.web.add_signin_failure(scope, subject, now, prune_before=now - LOOKBACK)
        uow.commit()


def succeeded(svc: Services, email: str | None, address: str | None) -> None:
    """Forget the failures of the account and the address after a good sign-in."""
    with svc.uow() as uow:
        for scope, subject, _ in subjects(email, address):
            uow.web.clear_signin_failures(scope, subject)
        uow.commit()
