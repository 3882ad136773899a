"""REP-4 masking and the REP-1 range as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commcredits.domain.errors import InvalidInput
from commcredits.domain.reports import is_inbound, mask_number, report_range


@pytest.mark.rule("REP-4")
@pytest.mark.parametrize(("country", "masked"), [
    *[(c, "+4930123XXX") for c in ("BE", "DE", "DK", "ES", "FI", "IT", "NL", "NO", "SE")],
    ("CH", "+493012XXXX"), ("FR", "+493012XXXX"), ("fr", "+493012XXXX"),
    ("US", "+4930123456"), ("GB", "+4930123456"),
])
def test_numbers_are_masked_by_the_tenant_country(country: str, masked: str) -> None:
    assert mask_number("+4930123456", country) == masked


@pytest.mark.rule("REP-4")
def test_inbound_call_types_end_in_in() -> None:
    assert [is_inbound(c) for c in ("user_in", "conf_in", "dr_unassigned_in", "user_out",
                                    "user_out_conf", "emergency_out")] == \
        [True, True, True, False, False, False]


@pytest.mark.rule("REP-1")
def test_a_range_of_one_year_from_29_february_ends_on_28_february() -> None:
    start = datetime(2024, 2, 29, tzinfo=UTC)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert report_range(now, None, start, datetime(2025, 2, 28, tzinfo=UTC)).end.day == 28
    with pytest.raises(InvalidInput) as refused:
        report_range(now, None, start, datetime(2025, 2, 28, 0, 0, 1, tzinfo=UTC))
    assert refused.value.code == "RANGE_TOO_LONG"
