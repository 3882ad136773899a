"""Bulk charge entries of CDR batches as pure functions (FUND-10, FUND-3)."""

from __future__ import annotations

import pytest

from commcredits.domain.postings import MAX_CALLS, Posting, ends_entry


@pytest.mark.rule("FUND-10")
def test_a_posting_sums_its_calls_and_merges_allocations_in_fifo_order() -> None:
    posting = Posting(7)
    posting.add(300, [(1, 300)], 0)
    posting.add(500, [(1, 200), (2, 300)], 0)
    posting.add(400, [(2, 100)], 300)
    assert (posting.amount, posting.shortfall, posting.calls) == (1_200, 300, 3)
    assert posting.allocation_rows() == [(7, 1, 500), (7, 2, 400)]
    assert not posting.full


@pytest.mark.rule("FUND-10")
@pytest.mark.rule("NOTE-1")
@pytest.mark.rule("AR-2")
def test_an_entry_ends_at_the_depletion_point_a_queued_recharge_or_its_10000th_call() -> None:
    assert ends_entry(100, 0, recharge_queued=False, full=False)  # 0 or less: depleted
    assert ends_entry(100, -5, recharge_queued=False, full=False)
    assert not ends_entry(0, -5, recharge_queued=False, full=False)  # already at 0
    assert not ends_entry(100, 1, recharge_queued=False, full=False)
    assert ends_entry(100, 50, recharge_queued=True, full=False)
    assert ends_entry(100, 50, recharge_queued=False, full=True)
    posting = Posting(1)
    for _ in range(MAX_CALLS):
        posting.add(1, [(1, 1)], 0)
    assert MAX_CALLS == 10_000 and posting.full
