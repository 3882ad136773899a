"""`domain.reports.report_range`, the one reading of a report's range (REP-1, REP-5):
whole UTC days with `to` included, periods of whole days ending today, exact date-times."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from commcredits.domain.errors import InvalidInput
from commcredits.domain.reports import report_range

NOW = datetime(2026, 2, 20, 10, 30, tzinfo=UTC)


def days(start: object = None, end: object = None, period: str | None = None) -> tuple[
        str, str, str]:
    found = report_range(NOW, period, start, end)  # type: ignore[arg-type]
    return found.first_day.isoformat(), found.last_day.isoformat(), found.describe()


@pytest.mark.rule("REP-1")
@pytest.mark.parametrize(("start", "end", "period", "first", "last"), [
    (None, None, None, "2026-02-14", "2026-02-20"),  # the default: 7 days, today included
    (None, None, "28d", "2026-01-24", "2026-02-20"),
    ("2026-02-19", "2026-02-19", None, "2026-02-19", "2026-02-19"),  # one day
    (date(2026, 2, 1), date(2026, 2, 3), None, "2026-02-01", "2026-02-03"),
    ("2026-02-01", None, None, "2026-02-01", "2026-02-20"),  # through today
    (None, "2026-02-10", None, "2026-02-04", "2026-02-10"),  # 7 days ending on `to`
])
def test_ranges_are_whole_utc_days_with_both_ends_included(
    start: object, end: object, period: str | None, first: str, last: str,
) -> None:
    assert days(start, end, period) == \
        (first, last, f"from {first} to {last} (UTC days, both included)")


@pytest.mark.rule("REP-1")
def test_a_day_runs_to_the_next_midnight_and_a_date_time_to_is_not_included() -> None:
    day = report_range(NOW, None, "2026-02-19", "2026-02-19")
    assert (day.start, day.end) == (datetime(2026, 2, 19, tzinfo=UTC),
                                    datetime(2026, 2, 20, tzinfo=UTC))
    exact = report_range(NOW, None, "2026-02-19T08:00:00Z", "2026-02-19T09:30:00+01:00")
    assert (exact.start, exact.end) == (datetime(2026, 2, 19, 8, tzinfo=UTC),
                                        datetime(2026, 2, 19, 8, 30, tzinfo=UTC))
    assert exact.describe() == "from 2026-02-19 08:00:00 to 2026-02-19 08:30:00 UTC"


@pytest.mark.rule("REP-1")
@pytest.mark.parametrize(("start", "end", "code"), [
    ("2026-02-20", "2026-02-19", "INVALID_RANGE"),
    ("2026-02-19T08:00:00Z", "2026-02-19T08:00:00Z", "INVALID_RANGE"),  # empty
    ("19/02/2026", None, "INVALID_DATE"),
    ("2025-02-20", "2026-02-20", "RANGE_TOO_LONG"),  # 366 days
])
def test_an_empty_unreadable_or_too_long_range_is_refused(
    start: str, end: str | None, code: str,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        report_range(NOW, None, start, end)
    assert refused.value.code == code
    assert report_range(NOW, None, "2025-02-21", "2026-02-20").last_day == date(2026, 2, 20)
