"""Set-based rating for CDR batches (RATE-1, RATE-2, RATE-3, FUND-3, FUND-9): the pieces of
`domain.rating` and `domain.lots` recast for many calls at once, in integer micro-units.

- `PrefixIndex`: longest-prefix lookup over one rate table version, keyed by prefix length
  (only the lengths the table has are tried), with the chain of candidate rows memoized per
  distinct number; it answers exactly what `RateIndex.lookup` answers.
- `RateTerms` and `charge_micros`: RATE-2's charge as integer arithmetic on micro-units
  (10^-6), rounded half-up to cents exactly as `rating.charge` rounds its Decimal, so a batch
  never goes through Decimal per call; `ChargeMemo` computes each distinct (rate, seconds)
  once.
- `fifo_micros` (from `domain.lots`, re-exported): FUND-3's first-in-first-out consumption
  over mutable lot balances in micro-units; `lots.consume_fifo` runs on the same kernel.

The single-call functions stay the reference: tests check these against them over many
random inputs. Pure Python, stdlib only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from commcredits.domain.lots import LotBalance, fifo_micros
from commcredits.domain.money import to_micros
from commcredits.domain.rating import Direction, Rate, billed_seconds

__all__ = ["ChargeMemo", "LotBalance", "PrefixIndex", "RateTerms", "charge_micros",
           "fifo_micros", "micros"]

CENT_MICROS = 10_000
# charge (in cents) = (60 × fee + rate × seconds) / 600,000 with both amounts in micros.
_CENTS_DENOMINATOR = 60 * CENT_MICROS
_HALF = _CENTS_DENOMINATOR // 2


micros = to_micros  # `money.to_micros`, the one converter (the name batch code reads)


@dataclass(frozen=True, slots=True)
class RateTerms:
    """What RATE-2 needs of a rate row, in micro-units."""

    rate_micros: int
    fee_micros: int
    first: int
    next_: int

    @classmethod
    def of(cls, rate: Rate) -> RateTerms:
        return cls(micros(rate.rate_per_minute.amount), micros(rate.connection_fee.amount),
                   rate.first_increment, rate.next_increment)

    def without_fee(self) -> RateTerms:
        return RateTerms(self.rate_micros, 0, self.first, self.next_)


def charge_micros(terms: RateTerms, duration: int) -> int:
    """RATE-2 in integers: fee + rate/60 × billed seconds, half-up to cents, in micros.

    With fee F and rate R in micros and s billed seconds, the charge in cents is
    (60·F + R·s) / 600,000, exactly; adding half the denominator before the floor division
    rounds half-up (amounts are never negative). 0 s costs nothing.
    """
    seconds = billed_seconds(duration, terms.first, terms.next_)
    if seconds == 0:
        return 0
    numerator = 60 * terms.fee_micros + terms.rate_micros * seconds
    return (numerator + _HALF) // _CENTS_DENOMINATOR * CENT_MICROS


class ChargeMemo:
    """`charge_micros` computed once per distinct (terms, duration) of a batch."""

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[tuple[RateTerms, int], int] = {}

    def __call__(self, terms: RateTerms, duration: int) -> int:
        key = (terms, duration)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = charge_micros(terms, duration)
        return found


# A candidate row: (effective_from, effective_to, row id, rate).
Candidate = tuple[datetime, datetime | None, int, Rate]


class PrefixIndex:
    """Longest-prefix lookup over one rate table version, for many numbers (RATE-1).

    Rows are grouped by (direction, prefix), newest ``effective_from`` first, and the
    prefix lengths present are kept per direction, longest first. For each distinct number
    the candidate rows (longest prefix first) are computed once; a call then takes the first
    candidate in force at its start, which is `RateIndex.lookup`'s answer.
    """

    def __init__(self, rows: Iterable[tuple[int, Rate]]) -> None:
        grouped: dict[tuple[Direction, str], list[Candidate]] = {}
        for row_id, rate in rows:
            grouped.setdefault((rate.direction, rate.prefix), []).append(
                (rate.effective_from, rate.effective_to, row_id, rate))
        for candidates in grouped.values():
            # RateIndex sorts by effective_from, newest first, stably (ties keep row order).
            candidates.sort(key=lambda c: c[0], reverse=True)
        self._rows = grouped
        lengths: dict[Direction, set[int]] = {}
        for direction, prefix in grouped:
            lengths.setdefault(direction, set()).add(len(prefix))
        self._lengths = {d: sorted(ls, reverse=True) for d, ls in lengths.items()}
        self._chains: dict[tuple[Direction, str], tuple[Candidate, ...]] = {}

    def chain(self, digits: str, direction: Direction) -> tuple[Candidate, ...]:
        """Every row whose prefix starts ``digits``, longest prefix first."""
        key = (direction, digits)
        found = self._chains.get(key)
        if found is None:
            out: list[Candidate] = []
            rows = self._rows
            for length in self._lengths.get(direction, ()):
                if length <= len(digits):
                    out.extend(rows.get((direction, digits[:length]), ()))
            found = self._chains[key] = tuple(out)
        return found

    def lookup(self, digits: str, at: datetime,
               direction: Direction = Direction.OUTBOUND) -> tuple[int, Rate] | None:
        """(row id, rate) of the longest prefix with a row in force at ``at``, or None."""
        for start, end, row_id, rate in self.chain(digits, direction):
            if start <= at and (end is None or at < end):
                return row_id, rate
        return None
