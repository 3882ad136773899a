"""Setting and advancing the simulated clock (SIM-1); due work runs after every move."""

from __future__ import annotations

from datetime import datetime, timedelta
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
        if isinstance(advance_seconds, bool) or not isinstance(advance_seconds, int | float) \
                or advance_seconds < 0:
            raise InvalidInput(
                "INVALID_CLOCK", "advance_seconds must be a number of seconds, 0 or more.",
            )
        target = current + timedelta(seconds=advance_seconds)
    store.write(True, target)
    return target, run_due_work(svc)
