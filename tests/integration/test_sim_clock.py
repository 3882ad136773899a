"""The simulated clock never blocks a write (SIM-2), on a SQLite file.

A unit of work holds SQLite's write lock from its BEGIN IMMEDIATE. Before SIM-2 was fixed,
reading the simulated clock inside it opened a second connection with BEGIN IMMEDIATE, which
waited for the lock that its own transaction held, and the request failed with "database is
locked".
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from commcredits.adapters.clock import DatabaseClock, DbClockStore
from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from tests.support import OPERATOR_KEY, utc

T0 = utc(2026, 3, 10, 9, 0)


class CountingStore:
    """The real clock store, counting how often the clock row is read on its own connection."""

    def __init__(self, store: DbClockStore) -> None:
        self.store = store
        self.reads = 0

    def read(self) -> tuple[bool, datetime | None]:
        self.reads += 1
        return self.store.read()

    def write(self, simulated: bool, now: datetime | None) -> None:
        self.store.write(simulated, now)


@pytest.fixture
def simulated(tmp_path: Path) -> Iterator[tuple[Runtime, CountingStore]]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'commcredits.db'}",
                        operator_key=OPERATOR_KEY, simulated_clock=True,
                        outbox_dir=str(tmp_path / "outbox"), smtp_host=None)
    rt = build(settings, migrate=True, serving=True)
    assert isinstance(rt.services.clock, DatabaseClock)
    assert rt.services.clock_store is not None
    rt.services.clock_store.write(True, T0)
    counting = CountingStore(rt.services.clock.store)
    rt.services.clock.store = counting  # type: ignore[assignment]
    yield rt, counting
    rt.close()


def timed_now(rt: Runtime) -> tuple[datetime, float]:
    """`clock.now()` from another thread (outside any unit of work), and how long it took."""
    start = time.monotonic()
    now = rt.services.clock.now()
    return now, time.monotonic() - start


@pytest.mark.rule("SIM-2")
@pytest.mark.rule("SIM-1")
def test_the_clock_answers_at_once_while_a_unit_of_work_holds_the_write_lock(
    simulated: tuple[Runtime, CountingStore],
) -> None:
    rt, store = simulated
    svc = rt.services
    with ThreadPoolExecutor(max_workers=1) as pool, svc.uow() as uow:
        # The uow began with BEGIN IMMEDIATE: it holds the write lock until it ends.
        uow.recharge.cancel_pending("no-such-tenant", T0)  # a write: no row changes
        before = store.reads
        # Inside the transaction the time comes from the transaction: no second connection.
        assert svc.clock.now() == T0
        assert store.reads == before
        # Outside it (another thread, no transaction), the clock row is read at once.
        now, took = pool.submit(timed_now, rt).result(timeout=10)
        assert now == T0
        assert took < 2.0
        assert store.reads == before + 1


@pytest.mark.rule("SIM-2")
def test_a_unit_of_work_takes_the_time_its_transaction_began_with(
    simulated: tuple[Runtime, CountingStore],
) -> None:
    rt, _ = simulated
    svc = rt.services
    with svc.uow(readonly=True) as uow:
        assert uow is not None
        assert svc.clock.now() == T0
        # The clock moves on another connection; this transaction keeps its own time.
        svc.clock_store.write(True, utc(2026, 4, 9, 9, 0))  # type: ignore[union-attr]
        assert svc.clock.now() == T0
    assert svc.clock.now() == utc(2026, 4, 9, 9, 0)
    with svc.uow():
        assert svc.clock.now() == utc(2026, 4, 9, 9, 0)
