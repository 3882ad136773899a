"""Which rate table version rates a call (RATE-3), as `rates.TableVersions` finds it by
bisection: the newest version imported at or before the call's start, else the oldest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commcredits.services.ports import RateTableRecord
from commcredits.services.rates import TableVersions

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def table(version: int, hour: int) -> RateTableRecord:
    return RateTableRecord(version, "USD", version, T0 + timedelta(hours=hour), 1, "s", "x")


@pytest.mark.rule("RATE-3")
def test_the_newest_version_imported_by_the_start_else_the_oldest() -> None:
    # Imported out of order, two at the same moment (hour 5).
    versions = TableVersions([table(3, 5), table(1, 0), table(4, 9), table(2, 5)])
    assert versions.at(T0 - timedelta(seconds=1)).version == 1  # before every import
    assert versions.at(T0).version == 1
    assert versions.at(T0 + timedelta(hours=5) - timedelta(microseconds=1)).version == 1
    assert versions.at(T0 + timedelta(hours=5)).version == 3  # the newer of the two
    assert versions.at(T0 + timedelta(hours=9)).version == 4
    assert TableVersions([]).at(T0) is None
    assert [t.version for t in versions] == [3, 1, 4, 2]  # as listed


@pytest.mark.rule("RATE-3")
@given(st.lists(st.tuples(st.integers(1, 50), st.integers(0, 20)), min_size=1, max_size=12,
                unique_by=lambda p: p[0]),
       st.integers(-2, 22))
def test_bisection_gives_the_rules_choice(pairs: list[tuple[int, int]], hour: int) -> None:
    tables = [table(v, h) for v, h in pairs]
    at = T0 + timedelta(hours=hour)
    imported = [t for t in tables if t.imported_at <= at]
    expected = max(imported, key=lambda t: t.version) if imported \
        else min(tables, key=lambda t: t.version)
    assert TableVersions(tables).at(at) == expected
