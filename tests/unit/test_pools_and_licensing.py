"""The pure rules of licensing and minute pools: SKU data, LIC-3's checks, the bulk file
format, whole minutes, domestic sets, Zone A, and the license index (hypothesis)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.domain.licensing import (
    check_assignment,
    effective,
    parse_bulk_csv,
    parse_sku,
    payg_zones,
    plan_change,
    sku_table,
)
from commcredits.domain.pool_index import DirectoryUser, Holding, LicenseIndex, locate
from commcredits.domain.pools import (
    Coverage,
    PoolKind,
    PoolRef,
    alerts_reached,
    is_domestic,
    minutes_for,
    month_bounds,
    month_of,
    parse_month,
    parse_pool_key,
    plan_for,
    split,
    zone_a,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PUBLISHED_SKU_IDS = {
    "MCOEV": "e43b5b99-8dfb-405f-9987-dc307f34bcbd",
    "MCOPSTN1": "0dab259f-bf13-4952-b7f8-7db8f131b28d",
    "MCOPSTN2": "d3b4fe1f-9992-4930-8acb-ca6ec609365e",
    "MCOMEETADV": "0c266dff-15dd-4b49-8397-2bb16070ed52",
    "MCOPSTNC": "47794cd0-f0e5-45c5-9033-2eb6b5fc84e0",
    "SPE_E5": "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
}
SKU_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://commcredits/skus")


@pytest.mark.rule("LIC-2")
def test_the_sku_table_holds_the_twelve_skus_and_e5_includes_phone_and_conferencing() -> None:
    table = sku_table()
    assert list(table) == [
        "MCOEV", "MCOPSTN1", "MCOPSTN2", "MCOPSTN5", "MCOPSTN6", "MCOPSTN8",
        "MCOPSTN_PAYG_1", "MCOPSTN_PAYG_2", "MCOMEETADV", "MCOMEETACPEA", "MCOPSTNC", "SPE_E5",
    ]
    assert table["SPE_E5"].includes == ("MCOEV", "MCOMEETADV")
    assert effective(["SPE_E5"]) == {"SPE_E5", "MCOEV", "MCOMEETADV"}
    assert table["MCOPSTNC"].capability == "MCOPSTNPP"
    assert table["MCOMEETADV"].capability == "MCOMEETADD"
    assert payg_zones()[1] == {"US", "PR", "GB", "CA"}
    assert len(payg_zones()[2]) == 28


@pytest.mark.rule("LIC-2")
def test_sku_ids_are_microsofts_where_published_and_stable_uuid5_otherwise() -> None:
    table = sku_table()
    assert len({s.sku_id for s in table.values()}) == len(table) == 12
    for sku in table.values():
        if sku.part_number in PUBLISHED_SKU_IDS:
            published = PUBLISHED_SKU_IDS[sku.part_number]
            assert (str(sku.sku_id), sku.sku_id_published) == (published, True)
        else:
            assert sku.sku_id == uuid.uuid5(SKU_NAMESPACE, sku.part_number)
            assert not sku.sku_id_published
        assert parse_sku(str(sku.sku_id).upper()) is sku is parse_sku(sku.sku_id)
        assert sku.service_plans
    assert [p.name for p in table["SPE_E5"].service_plans] == ["MCOEV", "MCOMEETADV"]


@pytest.mark.rule("POOL-2")
@pytest.mark.rule("POOL-4")
def test_the_minute_tables_and_zone_a_are_data() -> None:
    def minutes(sku: str, kind: PoolKind, region: str) -> int | None:
        plan = plan_for(sku, kind, region)
        return plan.minutes if plan else None

    assert [minutes("MCOPSTN1", PoolKind.DOMESTIC, r) for r in ("US", "CA", "DE", "MX")] == [
        3000, 3000, 1200, 1200]
    assert minutes("MCOPSTN2", PoolKind.INTERNATIONAL, "GB") == 600
    assert minutes("MCOPSTN1", PoolKind.INTERNATIONAL, "US") is None
    assert [minutes(s, PoolKind.DOMESTIC, "US") for s in ("MCOPSTN5", "MCOPSTN6", "MCOPSTN8")] \
        == [120, 240, 120]
    assert minutes("MCOMEETADV", PoolKind.DIALOUT, "*") == 60
    assert len(zone_a()) == 44 and {"US", "PR", "GB", "DE", "HK"} <= set(zone_a())
    assert "AE" not in zone_a()


@pytest.mark.rule("POOL-3")
def test_domestic_sets_make_us_and_pr_one_and_every_other_country_itself() -> None:
    assert is_domestic("US", "PR") and is_domestic("PR", "US") and is_domestic("DE", "DE")
    assert not is_domestic("DE", "AT")
    assert not is_domestic("US", "CA")


@pytest.mark.rule("LIC-3")
@pytest.mark.parametrize(("current", "add", "remove", "location", "free", "code"), [
    ((), ["MCOPSTN1"], [], "US", {"MCOPSTN1": 1}, "PHONE_LICENSE_REQUIRED"),
    (("MCOEV", "MCOPSTN1"), ["MCOPSTN5"], [], "US", {"MCOPSTN5": 1}, "CALLING_PLAN_LIMIT"),
    ((), ["MCOEV"], [], None, {"MCOEV": 1}, "USAGE_LOCATION_REQUIRED"),
    (("MCOEV",), ["MCOPSTN_PAYG_1"], [], "DE", {"MCOPSTN_PAYG_1": 1}, "PAYG_ZONE_MISMATCH"),
    (("MCOEV",), ["MCOPSTN_PAYG_2"], [], "US", {"MCOPSTN_PAYG_2": 1}, "PAYG_ZONE_MISMATCH"),
    ((), ["MCOEV"], [], "US", {"MCOEV": 0}, "NO_FREE_SEATS"),
    (("MCOEV", "MCOPSTN1"), [], ["MCOEV"], "US", {}, "PHONE_LICENSE_REQUIRED"),
    (("SPE_E5", "MCOPSTN1"), [], ["SPE_E5"], "US", {}, "PHONE_LICENSE_REQUIRED"),
])
def test_lic3_refusals(
    current: tuple[str, ...], add: list[str], remove: list[str], location: str | None,
    free: dict[str, int], code: str,
) -> None:
    with pytest.raises(DomainError) as refused:
        check_assignment(plan_change(current, add, remove), location, free)
    assert refused.value.code == code


@pytest.mark.rule("LIC-3")
@pytest.mark.parametrize(("current", "add", "remove", "location"), [
    ((), ["SPE_E5", "MCOPSTN1"], [], "US"),
    (("MCOEV", "MCOPSTN1"), ["MCOPSTN2"], ["MCOPSTN1"], "US"),
    (("MCOEV",), ["MCOPSTN_PAYG_1"], [], "PR"),
    (("MCOEV",), ["MCOPSTN_PAYG_2"], [], "DE"),
    (("MCOEV", "MCOPSTN1"), ["MCOEV"], [], "US"),  # holds it already: nothing to check
])
def test_lic3_allows(
    current: tuple[str, ...], add: list[str], remove: list[str], location: str,
) -> None:
    change = plan_change(current, add, remove)
    check_assignment(change, location, {s: 1 for s in change.added})


@pytest.mark.rule("LIC-4")
def test_a_bulk_file_may_reorder_columns_use_any_case_a_bom_and_blank_lines() -> None:
    rows = parse_bulk_csv("\ufeffAction,UPN,Sku\r\nadd,a@x.com,MCOEV\r\n\r\nremove,b@x.com,X\n")
    assert [(r.line, r.upn, r.sku, r.action) for r in rows] == [
        (2, "a@x.com", "MCOEV", "add"), (4, "b@x.com", "X", "remove")]
    with pytest.raises(InvalidInput) as refused:
        parse_bulk_csv(b"upn,sku,action\na@x.com,MCOEV,add\nb@x.com\n")
    assert (refused.value.code, refused.value.details["line"]) == ("MALFORMED_FILE", 3)


@pytest.mark.rule("POOL-5")
@pytest.mark.parametrize(("seconds", "minutes"), [(0, 0), (1, 1), (60, 1), (61, 2), (600, 10),
                                                  (601, 11)])
def test_calls_use_whole_minutes_rounded_up(seconds: int, minutes: int) -> None:
    assert minutes_for(seconds) == minutes


@pytest.mark.rule("POOL-5")
def test_a_call_needing_10_minutes_with_4_left_covers_4_and_leaves_360_seconds() -> None:
    assert split(600, 4) == (4, 360)
    assert split(541, 4) == (4, 301)
    assert split(61, 5) == (2, 0)
    assert split(61, 0) == (0, 61)


@pytest.mark.rule("POOL-5")
@given(seconds=st.integers(0, 10 * 3600), left=st.integers(-100, 1000))
def test_the_pool_and_credits_split_a_call_without_overlap_or_gap(seconds: int, left: int) -> None:
    covered, uncovered = split(seconds, left)
    assert 0 <= covered <= max(0, left)
    assert covered <= minutes_for(seconds)
    if uncovered:
        # Credits get exactly the seconds beyond the minutes the pool covered, never those.
        assert covered == max(0, left)
        assert uncovered == seconds - covered * 60 > 0
    else:
        assert covered == minutes_for(seconds)


@pytest.mark.rule("NOTE-1")
def test_dial_out_alerts_are_reached_at_80_and_100_percent() -> None:
    assert alerts_reached(95, 120) == []
    assert alerts_reached(96, 120) == [80]
    assert alerts_reached(120, 120) == [80, 100]
    assert alerts_reached(5, 0) == []


@pytest.mark.rule("POOL-1")
def test_pool_months_are_calendar_months_in_utc() -> None:
    from zoneinfo import ZoneInfo

    late = datetime(2026, 1, 31, 20, 0, tzinfo=ZoneInfo("America/New_York"))
    assert month_of(late) == "2026-02"
    assert month_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC),
                                       datetime(2027, 1, 1, tzinfo=UTC))
    for bad in ("2026-1", "2026-00", "26-01-01", None, 202601):
        with pytest.raises(InvalidInput):
            parse_month(bad)


def test_pool_keys_round_trip_and_bad_ones_are_refused() -> None:
    ref = PoolRef("MCOPSTN8", PoolKind.DOMESTIC, "US", "u1")
    assert parse_pool_key(ref.key) == ref
    for bad in ("MCOPSTN1:domestic:US:u1", "MCOPSTN8:domestic:US", "nope", 5,
                "MCOPSTN1:international:US"):
        with pytest.raises(InvalidInput):
            parse_pool_key(bad)


@pytest.mark.rule("POOL-1")
@pytest.mark.rule("LIC-5")
@given(spans=st.lists(st.tuples(st.integers(0, 50), st.one_of(st.none(), st.integers(0, 50)),
                                st.sampled_from(["US", "PR", "DE"]),
                                st.sampled_from(["MCOPSTN1", "SPE_E5", "MCOMEETADV"])),
                      max_size=30),
       probe=st.integers(-1, 52))
def test_the_license_index_counts_holders_like_a_scan(
    spans: list[tuple[int, int | None, str, str]], probe: int,
) -> None:
    """Holders at any moment equal a brute-force count; one user holding a capability twice
    (E5 and MCOMEETADV) counts once."""
    holdings = []
    for i, (start, length, location, sku) in enumerate(spans):
        begin = T0 + timedelta(hours=start)
        end = None if length is None else begin + timedelta(hours=length)
        holdings.append(Holding(f"u{i % 7}", sku, location, begin, end))
    users = [DirectoryUser(f"u{i}", f"u{i}@x.com", "US", False) for i in range(7)]
    index = LicenseIndex("v", users, holdings)
    at = T0 + timedelta(hours=probe)

    def brute(capability: str, region: str) -> int:
        return len({h.user_id for h in holdings if h.active(at)
                    and capability in effective([h.sku])
                    and (region == "*" or {"PR": "US"}.get(h.location or "", h.location)
                         == region)})

    assert index.holders("MCOPSTN1", "US", at) == brute("MCOPSTN1", "US")
    assert index.holders("MCOPSTN1", "DE", at) == brute("MCOPSTN1", "DE")
    assert index.holders("MCOMEETADV", "*", at) == brute("MCOMEETADV", "*")


@pytest.mark.rule("POOL-2")
def test_locate_names_why_no_pool_covers_a_call() -> None:
    user = DirectoryUser("u", "u@x.com", "GB", False)
    plan = LicenseIndex("v", [user], [Holding("u", "MCOEV", "GB", T0),
                                      Holding("u", "MCOPSTN1", "GB", T0)])
    later = T0 + timedelta(days=1)
    assert locate(plan, user, "FR", later).reason is Coverage.INTERNATIONAL_NOT_INCLUDED
    assert locate(plan, user, "GB", later).capacity == 1200
    assert locate(plan, user, "GB", T0 - timedelta(seconds=1)).reason \
        is Coverage.NO_CALLING_PLAN
