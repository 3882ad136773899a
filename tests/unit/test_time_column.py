"""`UTCDateTime`: every time goes in as aware UTC and comes back as the same aware UTC time,
on SQLite through its one-step reader and on PostgreSQL through the driver's datetime. Lot
expiry (FUND-4) happens at an exact stored time, so a time read back must be exactly it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from commcredits.adapters.db.types import UTCDateTime

SQLITE = sqlite.dialect()
POSTGRES = postgresql.psycopg.dialect()
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(9000, 12, 31),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                  timezone(timedelta(hours=-8))]))


def _processors(dialect: Any) -> tuple[Any, Any]:
    impl = UTCDateTime().dialect_impl(dialect)
    return impl.bind_processor(dialect), impl.result_processor(dialect, None)


@pytest.mark.rule("FUND-4")
@given(moments)
def test_a_time_stored_on_sqlite_reads_back_as_the_same_aware_utc_time(moment: datetime) -> None:
    store, read = _processors(SQLITE)
    stored = store(moment)
    assert isinstance(stored, str)  # SQLite keeps DATETIME's text
    back = read(stored)
    assert back == moment and back.tzinfo is UTC
    # What SQLAlchemy's own SQLite parser and then `replace(tzinfo=UTC)` give: the same.
    parse = DateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)
    assert parse is not None
    assert parse(stored).replace(tzinfo=UTC) == back


@pytest.mark.rule("FUND-4")
def test_sqlite_text_in_other_forms_and_nulls_still_read() -> None:
    _, read = _processors(SQLITE)
    assert read(None) is None
    assert read("2026-01-15 09:00:00") == datetime(2026, 1, 15, 9, tzinfo=UTC)
    assert read("2026-01-15 09:00:00.5") == datetime(2026, 1, 15, 9, 0, 0, 500_000, tzinfo=UTC)


@pytest.mark.rule("FUND-4")
@given(moments)
def test_a_time_read_from_postgresql_is_aware_utc(moment: datetime) -> None:
    store, read = _processors(POSTGRES)
    naive = moment.astimezone(UTC).replace(tzinfo=None)  # what psycopg hands back
    assert (store(moment) if store else naive) == naive
    back = read(naive)
    assert back == moment and back.tzinfo is UTC


@pytest.mark.rule("CDR-2")
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                               timezone(timedelta(hours=-8))])))
def test_a_cdr_batch_stores_the_text_the_column_stores(moment: datetime) -> None:
    """The bulk writer's own formatting of a time (`cdr_repos._sqlite_text`) is exactly what
    `UTCDateTime` binds on SQLite, so a CDR's times read back as a live call's do."""
    from commcredits.adapters.db.cdr_repos import _sqlite_text

    store, _ = _processors(SQLITE)
    assert _sqlite_text(moment) == store(moment)
    assert _sqlite_text(None) is None
