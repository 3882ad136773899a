"""Setting and advancing the simulated clock (SIM-1); due work runs after every move."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from commcredits.domain.errors import Conflict, InvalidInput
from commcredits.services.auth import Principal, require_operator
from commcredits.services.context import Services
from commcredits.services.jobs import JobReport, run_due_work


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
    if (now is None) == (advance_seconds is None):
        raise InvalidInput("INVALID_CLOCK", "Send either now or advance_seconds.")
    if now is not None:
        if now.tzinfo is None:
            raise InvalidInput("INVALID_CLOCK", "now must carry a time zone, e.g. Z.")
        target = now
    else:
        target = _advanced(current, advance_seconds)
    store.write(True, target)
    return target, run_due_work(svc)


def _advanced(current: datetime, seconds: Any) -> datetime:
    """``current`` plus ``seconds`` (a JSON number: int, float or Decimal), or INVALID_CLOCK
    for anything else, a negative amount, or a time past the calendar (year 9999)."""
    refusal = InvalidInput(
        "INVALID_CLOCK", "advance_seconds must be a number of seconds, 0 or more, that keeps "
        "the clock within the calendar (before the year 10000).",
    )
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | Decimal):
        raise refusal
    try:
        amount = seconds if isinstance(seconds, int) else float(seconds)
        if not amount >= 0:  # also refuses NaN
            raise refusal
        return current + timedelta(seconds=amount)
    except (OverflowError, ValueError):
        raise refusal from None
