"""The clock the demo seeding steps through the past with, so that every record is written
by the real services at the time it would have happened."""

from __future__ import annotations

from datetime import datetime


class SteppingClock:
    """A `Clock` that stays where the seeding puts it (``current``)."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current
