"""Rate tables on both databases: import, versions, the version in force for a call (RATE-3),
effective dates inside a table, all or nothing with line numbers, longest prefix, toll-free
inbound rows (RATE-4), and the sample tables."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.adapters.db.uow import count_rows
from commcredits.domain.errors import DomainError
from commcredits.domain.rating import Direction, NumberType, charge
from commcredits.domain.tenants import Role
from commcredits.services import rates
from commcredits.services.auth import Principal
from commcredits.services.context import Services
from tests.support import OPERATOR, utc

HEADER = ("prefix,destination,number_type,direction,rate_per_minute,connection_fee,"
          "first_increment,next_increment,effective_from,effective_to\n")


def table(*rows: str) -> str:
    return HEADER + "".join(r + "\n" for r in rows)


V1 = table(
    "44,United Kingdom,fixed,outbound,0.020000,0.00,60,60,2026-01-01T00:00:00Z,",
    "447,United Kingdom mobile,mobile,outbound,0.120000,0.00,60,60,2026-01-01T00:00:00Z,",
    "4479,United Kingdom mobile (79),mobile,outbound,0.150000,0.05,1,1,"
    "2026-01-01T00:00:00Z,",
)
V2 = table(
    "44,United Kingdom,fixed,outbound,0.030000,0.00,60,60,2026-01-01T00:00:00Z,",
)


@pytest.mark.rule("RATE-1")
@pytest.mark.rule("RATE-3")
def test_an_import_stores_version_1_with_every_row_and_a_second_import_is_version_2(
    svc: Services, clock: FixedClock, engine: Engine,
) -> None:
    first = rates.import_table(svc, OPERATOR, "gbp", V1, "uk.csv")
    assert (first.currency, first.version, first.rows, first.imported_at) == (
        "GBP", 1, 3, utc(2026, 1, 15, 9, 0))
    clock.set(utc(2026, 1, 20, 9, 0))
    second = rates.import_table(svc, OPERATOR, "GBP", V2.encode(), "uk-2.csv")
    assert (second.version, second.rows) == (2, 1)
    listed = rates.list_tables(svc, OPERATOR, "GBP")
    assert [(r.version, r.rows, r.source) for r in listed] == [
        (1, 3, "uk.csv"), (2, 1, "uk-2.csv")]
    assert rates.list_tables(svc, OPERATOR, "USD") == []
    assert count_rows(engine, t.rates) == 4


@pytest.mark.rule("RATE-3")
def test_a_new_version_rates_calls_started_after_its_import_and_re_rating_uses_the_old_one(
    svc: Services, clock: FixedClock,
) -> None:
    rates.import_table(svc, OPERATOR, "GBP", V1, "v1")
    book = svc.rate_book
    with svc.uow(readonly=True) as uow:  # warm the cache with version 1
        before = book.lookup(uow, "GBP", "442079460000", utc(2026, 1, 15, 10, 0))
    assert before is not None and before.version == 1
    clock.set(utc(2026, 1, 20, 9, 0))
    rates.import_table(svc, OPERATOR, "GBP", V2, "v2")
    with svc.uow(readonly=True) as uow:
        after = book.lookup(uow, "GBP", "442079460000", utc(2026, 1, 20, 9, 30))
        re_rated = book.lookup(uow, "GBP", "442079460000", utc(2026, 1, 19, 23, 59))
        early = book.lookup(uow, "GBP", "442079460000", utc(2026, 1, 10, 0, 0))
    assert after is not None and (after.version, after.rate.rate_per_minute.amount) == (
        2, Decimal("0.03"))
    assert re_rated is not None and (re_rated.version, re_rated.rate.rate_per_minute.amount) \
        == (1, Decimal("0.02"))
    # A call that started before the first import is rated with the oldest version.
    assert early is not None and early.version == 1
    # A second process (its own book) sees the same versions.
    other = rates.RateBook()
    with svc.uow(readonly=True) as uow:
        seen = other.lookup(uow, "GBP", "442079460000", utc(2026, 1, 21, 0, 0))
    assert seen is not None and seen.version == 2


@pytest.mark.rule("RATE-1")
def test_the_longest_prefix_wins_and_the_row_id_points_at_the_stored_row(
    svc: Services,
) -> None:
    rates.import_table(svc, OPERATOR, "GBP", V1, "v1")
    at = utc(2026, 1, 15, 10, 0)
    with svc.uow(readonly=True) as uow:
        fixed = svc.rate_book.lookup(uow, "GBP", "442079460000", at)
        mobile = svc.rate_book.lookup(uow, "GBP", "447700900123", at)
        mobile79 = svc.rate_book.lookup(uow, "GBP", "447912345678", at)
        nowhere = svc.rate_book.lookup(uow, "GBP", "33123456789", at)
        stored = dict(uow.rates.rows(uow.rates.tables("GBP")[0].id, "GBP"))
    assert fixed is not None and fixed.rate.prefix == "44"
    assert mobile is not None and (mobile.rate.prefix, mobile.rate.number_type) == (
        "447", NumberType.MOBILE)
    assert mobile79 is not None and mobile79.rate.prefix == "4479"
    assert nowhere is None
    assert stored[mobile79.rate_id] == mobile79.rate
    assert charge(mobile79.rate, 61).amount == Decimal("0.20")  # 0.05 + 0.15 × 61/60 = 0.2025


@pytest.mark.rule("RATE-1")
@pytest.mark.rule("RATE-3")
def test_rows_of_one_table_apply_between_their_effective_dates(svc: Services) -> None:
    rates.import_table(svc, OPERATOR, "EUR", table(
        "49,Germany,fixed,outbound,0.010000,0.00,60,60,2026-01-01T00:00:00Z,"
        "2026-03-01T00:00:00Z",
        "49,Germany,fixed,outbound,0.015000,0.00,60,60,2026-03-01T00:00:00Z,",
        "491,Germany special,fixed,outbound,0.500000,0.00,60,60,2026-06-01T00:00:00Z,",
    ), "de.csv")
    with svc.uow(readonly=True) as uow:
        def rate_at(month: int) -> Decimal:
            found = svc.rate_book.lookup(uow, "EUR", "4912345678", utc(2026, month, 1, 0, 0))
            assert found is not None
            return found.rate.rate_per_minute.amount
        assert (rate_at(2), rate_at(3), rate_at(5), rate_at(6)) == (
            Decimal("0.01"), Decimal("0.015"), Decimal("0.015"), Decimal("0.50"))
        assert svc.rate_book.lookup(uow, "EUR", "4912345678", utc(2025, 12, 31, 0, 0)) is None


@pytest.mark.rule("RATE-4")
def test_toll_free_inbound_rows_are_found_by_the_caller_prefix_and_direction(
    svc: Services,
) -> None:
    rates.import_table(svc, OPERATOR, "USD", table(
        "1,United States,fixed,outbound,0.010000,0.00,60,60,2026-01-01T00:00:00Z,",
        "1,United States caller,fixed,toll_free_inbound,0.018000,0.00,60,60,"
        "2026-01-01T00:00:00Z,",
        "447,United Kingdom mobile caller,mobile,toll_free_inbound,0.090000,0.00,60,60,"
        "2026-01-01T00:00:00Z,",
    ), "tf.csv")
    at = utc(2026, 1, 15, 10, 0)
    with svc.uow(readonly=True) as uow:
        us = svc.rate_book.lookup(uow, "USD", "14255550100", at, Direction.TOLL_FREE_INBOUND)
        uk = svc.rate_book.lookup(uow, "USD", "447700900123", at, Direction.TOLL_FREE_INBOUND)
        out = svc.rate_book.lookup(uow, "USD", "447700900123", at)
    assert us is not None and us.rate.rate_per_minute.amount == Decimal("0.018")
    assert uk is not None and (uk.rate.number_type, uk.rate.rate_per_minute.amount) == (
        NumberType.MOBILE, Decimal("0.09"))
    assert out is None


@pytest.mark.rule("RATE-3")
def test_a_table_with_bad_rows_is_refused_whole_with_every_bad_line_and_nothing_stored(
    svc: Services, engine: Engine,
) -> None:
    bad = table(
        "44,United Kingdom,fixed,outbound,0.020000,0.00,60,60,2026-01-01T00:00:00Z,",
        "+x44,Nowhere,fixed,outbound,0.02,0.00,60,60,2026-01-01T00:00:00Z,",
        "33,France,landline,outbound,0.02,0.00,60,60,2026-01-01T00:00:00Z,",
        "34,Spain,fixed,outbound,0.02,0.00,0,60,2026-01-01T00:00:00Z,",
    )
    with pytest.raises(DomainError) as exc:
        rates.import_table(svc, OPERATOR, "GBP", bad, "bad.csv")
    assert exc.value.code == "INVALID_RATE_TABLE"
    assert [e["line"] for e in exc.value.details["errors"]] == [3, 4, 5]
    assert exc.value.details["errors"][0]["error"] == "prefix must be E.164 digits without +"
    assert count_rows(engine, t.rates) == 0 and count_rows(engine, t.rate_tables) == 0


@pytest.mark.rule("RATE-3")
def test_empty_tables_unknown_currencies_and_non_operators_are_refused(
    svc: Services, engine: Engine,
) -> None:
    def code(principal: Principal, currency: str, data: str) -> str:
        with pytest.raises(DomainError) as exc:
            rates.import_table(svc, principal, currency, data, "x.csv")
        return exc.value.code

    assert code(OPERATOR, "GBP", "") == "INVALID_RATE_TABLE"
    assert code(OPERATOR, "GBP", HEADER) == "INVALID_RATE_TABLE"
    assert code(OPERATOR, "XYZ", V1) == "INVALID_CURRENCY"
    assert code(Principal(Role.GLOBAL_ADMIN, "t1"), "GBP", V1) == "FORBIDDEN"
    assert count_rows(engine, t.rate_tables) == 0


@pytest.mark.rule("RATE-1")
@pytest.mark.rule("RATE-4")
def test_the_sample_tables_cover_30_countries_a_premium_range_and_toll_free_callers(
    svc: Services, clock: FixedClock,
) -> None:
    done = rates.import_samples(svc, OPERATOR)
    assert [(r.currency, r.version) for r in done] == [("USD", 1), ("EUR", 1), ("GBP", 1)]
    assert rates.import_samples(svc, OPERATOR, only_missing=True) == []
    at = clock.now() + timedelta(minutes=1)
    for currency in rates.SAMPLE_CURRENCIES:
        with svc.uow(readonly=True) as uow:
            rows = [r for _, r in uow.rates.rows(uow.rates.tables(currency)[0].id, currency)]
            premium = svc.rate_book.lookup(uow, currency, "19005550100", at)
            toll_free = svc.rate_book.lookup(uow, currency, "442079460000", at,
                                             Direction.TOLL_FREE_INBOUND)
        countries = {r.destination.removesuffix(" mobile") for r in rows
                     if r.direction is Direction.OUTBOUND
                     and r.number_type in (NumberType.FIXED, NumberType.MOBILE)}
        assert len(countries) >= 30, currency
        assert premium is not None and premium.rate.number_type is NumberType.PREMIUM
        assert toll_free is not None and toll_free.rate.prefix == "44"
