"""Setting and advancing the simulated clock (SIM-1); due work runs after every move.

A move is checked whole before anything is written: the target must fall in the years
2000 to 9000 (`CLOCK_YEARS`), so no date arithmetic of the due work can overflow. The clock
is then set with a compare-and-set, and if the due work fails the clock is put back where it
was, so a refused or failed move leaves the clock as it was. Each step of the due work is
its own idempotent transaction (see `services/jobs.py`), safe to run again.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from commcredits.domain.errors import Conflict, InvalidInput
from commcredits.services.auth import Principal, require_operator
from commcredits.services.context import Services
from commcredits.services.jobs import JobReport, run_due_work

CLOCK_YEARS = (2000, 9000)


def _out_of_bounds() -> InvalidInput:
    low, high = CLOCK_YEARS
    return InvalidInput(
        "INVALID_CLOCK",
        f"The simulated clock must stay within the years {low} to {high}; choose a time "
        "in that range.",
        {"min": f"{low}-01-01T00:00:00Z", "max": f"{high}-12-31T23:59:59Z"},
    )


def clock_target(current: datetime, *, now: datetime | None, advance_seconds: Any) -> datetime:
    """Where a move would put the clock, or `InvalidInput` (INVALID_CLOCK)."""
    if (now is None) == (advance_seconds is None):
        raise InvalidInput("INVALID_CLOCK", "Send either now or advance_seconds.")
    if now is not None:
        if now.tzinfo is None:
            raise InvalidInput("INVALID_CLOCK", "now must carry a time zone, e.g. Z.")
        target = now
    else:
        if isinstance(advance_seconds, bool) \
                or not isinstance(advance_seconds, int | float | Decimal) \
                or (not isinstance(advance_seconds, int) and not math.isfinite(advance_seconds)) \
                or advance_seconds < 0:
            raise InvalidInput(
                "INVALID_CLOCK", "advance_seconds must be a number of seconds, 0 or more.",
            )
        try:
            seconds = advance_seconds if isinstance(advance_seconds, int) \
                else float(advance_seconds)
            target = current + timedelta(seconds=seconds)
        except (OverflowError, ValueError):
            raise _out_of_bounds() from None
    low, high = CLOCK_YEARS
    if not low <= target.year <= high:
        raise _out_of_bounds()
    return target


def move_clock(
    svc: Services, principal: Principal, *, now: datetime | None = None,
    advance_seconds: Any = None,
) -> tuple[datetime, JobReport]:
    require_operator(principal)
    store = svc.clock_store
    simulated, current = store.read() if store else (False, None)
    if store is None or not simulated or current is None:
        raise Conflict(
            "CLOCK_NOT_SIMULATED",
            "The clock is real. Start the service with --simulated-clock to set or advance it.",
        )
    target = clock_target(current, now=now, advance_seconds=advance_seconds)
    if not store.move(current, target):
        raise Conflict("CLOCK_MOVED", "The clock was moved by someone else meanwhile; read "
                       "it again (GET /api/v1/clock) and retry.")
    try:
        report = run_due_work(svc)
    except BaseException:
        store.move(target, current)
        raise
    return target, report
