"""Auto-recharge across processes: exactly-once after SIGKILL (AR-4) and one recharge in
flight per tenant under concurrent charges (AR-3), on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.bootstrap import build
from commcredits.config import Settings
from commcredits.domain.lots import LotSource
from commcredits.domain.money import Money
from commcredits.services import funds, queries, recharge
from commcredits.services.context import Services
from commcredits.services.notifications import list_notifications
from tests.support import OPERATOR, add_card, buy, make_tenant, usd

pytestmark = pytest.mark.slow


class CrashAfterPayment:
    """The real sandbox gateway, except the process dies right after a payment succeeds."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def tokenize_card(self, *args: Any) -> Any:
        return self.real.tokenize_card(*args)

    def charge(self, *args: Any) -> Any:
        answer = self.real.charge(*args)
        os.kill(os.getpid(), signal.SIGKILL)
        return answer


def _crashing_worker(url: str, now: datetime, outbox: str) -> None:
    rt = build(Settings(database_url=url, outbox_dir=outbox), clock=FixedClock(now))
    rt.services.gateway = CrashAfterPayment(rt.services.gateway)
    recharge.process_due(rt.services)


def sandbox_payments(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(
            select(func.count()).select_from(t.sandbox_charges)
            .where(t.sandbox_charges.c.idempotency_key.like("recharge:%"))
        ).scalar_one())


@pytest.mark.rule("AR-4")
@pytest.mark.rule("AR-6")
def test_a_worker_killed_after_payment_is_finished_by_the_next_worker_exactly_once(
    svc: Services, db_url: str, engine: Engine, clock: FixedClock, tmp_path: Any,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "60.00", card)
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="50.00",
                       payment_method_id=card)
    with svc.uow() as uow:  # queue the recharge without dispatching it in this process
        funds.charge_in(uow, tid, usd("15.00"), clock.now())
        uow.commit()

    child = mp.get_context("spawn").Process(
        target=_crashing_worker, args=(db_url, clock.now(), str(tmp_path / "outbox")),
    )
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    assert sandbox_payments(engine) == 1  # the gateway took the money …
    assert queries.credits(svc, OPERATOR, tid).balance == usd("45.00")  # … but no lot yet

    # Before the dead worker's lease lapses nobody else may take the request …
    assert recharge.process_due(svc) == 0
    # … after it, the next worker finishes the job with the same idempotency key.
    later = time.time() + recharge.LEASE_SECONDS + 1
    assert recharge.process_due(svc, wall=lambda: later) == 1

    assert sandbox_payments(engine) == 1
    view = queries.credits(svc, OPERATOR, tid)
    assert view.balance == usd("145.00")
    assert len([x for x in view.lots if x.source is LotSource.AUTO_RECHARGE]) == 1
    assert len(queries.invoices(svc, OPERATOR, tid)) == 2
    kinds = [n.kind for n in list_notifications(svc, OPERATOR, tid)]
    assert kinds == ["recharge_succeeded"]
    assert recharge.process_due(svc, wall=lambda: later + 1000) == 0


CHARGES = [Decimal("7.31"), Decimal("12.05"), Decimal("3.99"), Decimal("21.40"),
           Decimal("0.77")]
PROCESSES = 8
PER_PROCESS = 100


def _charges_for(worker: int) -> list[Decimal]:
    return [CHARGES[(worker + i) % len(CHARGES)] for i in range(PER_PROCESS)]


def _charging_worker(url: str, tid: str, now: datetime, worker: int, outbox: str) -> None:
    rt = build(Settings(database_url=url, outbox_dir=outbox), clock=FixedClock(now))
    for amount in _charges_for(worker):
        funds.charge(rt.services, tid, Money(amount, "USD"))
    rt.close()


def sequential_recharges(start: Decimal, trigger: Decimal, amount: Decimal) -> int:
    balance, count = start, 0
    for worker in range(PROCESSES):
        for charge in _charges_for(worker):
            balance -= charge
            chained = 0
            while balance < trigger and chained < 5:
                balance += amount
                chained += 1
                count += 1
    return count


@pytest.mark.rule("AR-3")
@pytest.mark.rule("AR-2")
def test_concurrent_charges_produce_exactly_the_sequential_number_of_recharges(
    svc: Services, db_url: str, engine: Engine, clock: FixedClock, tmp_path: Any,
) -> None:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "60.00", card)
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="100.00", trigger="50.00",
                       payment_method_id=card)
    ctx = mp.get_context("spawn")
    workers = [
        ctx.Process(target=_charging_worker,
                    args=(db_url, tid, clock.now(), w, str(tmp_path / "outbox")))
        for w in range(PROCESSES)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    recharge.process_due(svc)  # nothing should be left, but a worker would finish it

    expected = sequential_recharges(Decimal("60.00"), Decimal("50.00"), Decimal("100.00"))
    with engine.connect() as conn:
        statuses = conn.execute(
            select(t.recharge_requests.c.status, func.count())
            .where(t.recharge_requests.c.tenant_id == tid)
            .group_by(t.recharge_requests.c.status)
        ).all()
    assert dict(statuses) == {"succeeded": expected}
    assert sandbox_payments(engine) == expected
    total_charged = sum(sum(_charges_for(w)) for w in range(PROCESSES))
    view = queries.credits(svc, OPERATOR, tid)
    assert view.balance == usd("60.00") + usd(str(expected * 100)) - usd(str(total_charged))
    assert view.balance >= usd("50.00")


@pytest.mark.rule("AR-3")
def test_the_database_refuses_a_second_recharge_in_flight(svc: Services, engine: Engine,
                                                           clock: FixedClock) -> None:
    tid = make_tenant(svc)
    with svc.uow() as uow:
        assert uow.recharge.add_request("r1", tid, usd("100.00"), chain=1,
                                        cause_entry_id=None, at=clock.now())
        assert not uow.recharge.add_request("r2", tid, usd("100.00"), chain=1,
                                            cause_entry_id=None, at=clock.now())
        uow.commit()
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(t.recharge_requests).values(
            id="r3", tenant_id=tid, status="processing", amount=Decimal("100.00"),
            currency="USD", chain=1, attempt=1, next_attempt_at=clock.now(),
            created_at=clock.now(), updated_at=clock.now(),
        ))
