"""4 processes × 50 concurrent calls against one tenant whose balance covers only some of
them (CALL-7, CALL-8, CALL-9): reservations never exceed the balance, every allowed call is
charged once, and replaying every request changes nothing."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from commcredits.adapters.clock import FixedClock
from commcredits.adapters.db import tables as t
from commcredits.bootstrap import build
from commcredits.config import Settings
from commcredits.domain.errors import DomainError
from commcredits.services import calls
from commcredits.services.context import Services
from tests.integration.test_calls import GB_MOBILE, setup
from tests.support import OPERATOR, check_ledger_invariants

pytestmark = pytest.mark.slow
PROCESSES, CALLS, THREADS = 4, 50, 8


def _one_call(svc: Services, tid: str, call_id: str) -> list[Any]:
    answers: list[Any] = []
    body = {"call_id": call_id, "call_type": "user_out", "user": "alice0@contoso.com",
            "caller": "+12065550100", "callee": GB_MOBILE}
    reply = calls.authorize(svc, OPERATOR, tid, body)
    answers.append(reply)
    if reply["decision"] != "allow":
        return answers
    granted = reply["grant_seconds"]
    used = 0
    for _ in range(3):  # the platform reports usage within its grants (CALL-7)
        used = min(used + 60, granted)
        answer = calls.update(svc, OPERATOR, tid, call_id, used)
        answers.append(answer)
        granted = used + answer["grant_seconds"]
    # The call lasts 200 s, or is cut when its grants run out.
    answers.append(calls.end(svc, OPERATOR, tid, call_id, min(200, granted)))
    return answers


def _worker(url: str, tid: str, now: datetime, worker: int, replay: bool,
            out: Any) -> None:
    rt = build(Settings(database_url=url), clock=FixedClock(now))
    svc = rt.services
    violations = 0

    def run(n: int) -> tuple[str, list[Any]]:
        nonlocal violations
        call_id = f"w{worker}-c{n}"
        answers = _one_call(svc, tid, call_id)
        with rt.engine.connect() as conn:  # one statement: one consistent snapshot
            reserved, balance = conn.execute(text(
                "SELECT (SELECT COALESCE(SUM(reserved), 0) FROM calls WHERE tenant_id = :t "
                f"AND {t.OPEN_CALL.text}), "  # the open calls' codes
                "(SELECT balance FROM credit_accounts WHERE tenant_id = :t)"), {"t": tid}).one()
        if int(reserved) > max(0, int(balance)):
            violations += 1
        return call_id, answers

    with ThreadPoolExecutor(THREADS) as pool:
        results = dict(pool.map(run, range(CALLS)))
    out.put((worker, violations, results))
    rt.close()


def _run_all(db_url: str, tid: str, now: datetime, replay: bool) -> tuple[int, dict[str, Any]]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(db_url, tid, now, w, replay, queue))
             for w in range(PROCESSES)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    violations = sum(r[1] for r in results)
    answers: dict[str, Any] = {}
    for r in results:
        answers.update(r[2])
    return violations, answers


@pytest.mark.rule("CALL-8")
@pytest.mark.rule("CALL-9")
def test_concurrent_calls_share_the_balance_and_replays_change_nothing(
    svc: Services, db_url: str, engine: Engine, clock: FixedClock,
) -> None:
    tid = setup(svc, balance="20.00")  # 200 s bills 240 s at 0.12/min = 0.48 a call
    violations, first = _run_all(db_url, tid, clock.now(), replay=False)
    assert violations == 0
    allowed = [cid for cid, a in first.items() if a[0]["decision"] == "allow"]
    denied = [cid for cid, a in first.items() if a[0]["decision"] == "deny"]
    assert allowed and denied  # the balance covered only some of the calls
    assert {first[c][0]["reason"] for c in denied} == {"INSUFFICIENT_BALANCE"}
    charged = [first[c][-1]["charge"] for c in allowed]
    with engine.connect() as conn:
        entries = conn.execute(select(func.count()).select_from(t.ledger_entries)
                               .where(t.ledger_entries.c.reference.like("call:%"))).scalar_one()
        balance = conn.execute(select(t.credit_accounts.c.balance)
                               .where(t.credit_accounts.c.tenant_id == tid)).scalar_one()
    assert entries == len(allowed)
    spent = sum(Decimal(c) for c in charged)
    assert balance == Decimal("20.00") - spent
    assert balance >= 0
    check_ledger_invariants(engine)

    violations, again = _run_all(db_url, tid, clock.now(), replay=True)
    assert violations == 0
    for call_id, answers in first.items():
        assert again[call_id][0] == answers[0]  # the same authorize answer
        if answers[0]["decision"] == "allow":
            assert again[call_id][-1] == answers[-1]  # the same end answer
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.ledger_entries)
                            .where(t.ledger_entries.c.reference.like("call:%"))
                            ).scalar_one() == entries
    with pytest.raises(DomainError):
        calls.end(svc, OPERATOR, tid, denied[0], 10)
