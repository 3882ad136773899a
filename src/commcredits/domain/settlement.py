"""Settling a rated call (RATE-2, POOL-5, FUND-9, CALL-7): the one function from a call's
funding, rate, duration and the minutes its pool has left to what it costs, in integer
micro-units, for live calls ended or expired and for CDR batches alike (CDR-2).

- a pool call uses the pool's rounded-up minutes (`pools.split`); the seconds the pool could
  not cover are charged at the rate without its connection fee, on credits;
- a credits or post-usage call is charged `rating.charge_micros` of its duration, and keeps
  the connection fee as its own column;
- anything else (free, emergency, included inbound, a 0-second call) costs nothing.

Pure Python, stdlib only. The ledger side (FIFO over lots, debt, the depletion email and the
auto-recharge point, FUND-3..6, FUND-10) is `domain.lots` and `domain.postings`.
"""

from __future__ import annotations

from dataclasses import dataclass

from commcredits.domain.authorization import CREDITS_CAPABILITY, Funding
from commcredits.domain.pools import split
from commcredits.domain.rating import RateTerms, charge_micros

__all__ = ["CallCharge", "pool_cost", "settle_call"]


@dataclass(frozen=True, slots=True)
class CallCharge:
    """What one call costs: ``amount`` (micros, the ledger charge) of which ``fee`` is the
    connection fee, the pool minutes it used and the seconds the pool left to credits."""

    amount: int = 0
    fee: int = 0
    pool_minutes: int = 0
    uncovered_seconds: int = 0
    capability: str | None = None


def settle_call(funding: str | None, capability: str | None, terms: RateTerms | None,
                duration: int, pool_left: int | None) -> CallCharge:
    """A call's cost. ``pool_left`` is the minutes left in the call's pool (None: the call
    has no pool); ``terms`` None: the call has no rate."""
    if funding == Funding.POOL.value and pool_left is not None:
        return pool_cost(*split(duration, pool_left), terms, capability)
    if funding in (Funding.CREDITS.value, Funding.POST_USAGE.value) and terms is not None \
            and duration > 0:
        return CallCharge(charge_micros(terms, duration), terms.fee_micros,
                          capability=capability)
    return CallCharge(capability=capability)


def pool_cost(covered: int, uncovered: int, terms: RateTerms | None,
              capability: str | None) -> CallCharge:
    """A pool call's cost once the pool split it (`pools.split`): the uncovered seconds at
    the rate without its fee, on credits."""
    if uncovered and terms is not None:
        return CallCharge(charge_micros(terms.without_fee(), uncovered), 0, covered,
                          uncovered, CREDITS_CAPABILITY)
    return CallCharge(0, 0, covered, uncovered, capability)
