"""The same Idempotency-Key sent many times at once (FUND-8, ERR-1).

Twenty threads wait at a barrier and then send the same purchase with the same key through
the ASGI app; each request runs in the server's thread pool on its own database connection,
so the purchases really race. Exactly one lot, one invoice and one processor charge may
result, and every answer is the first one: 201 for the winner, 200 with ``replayed: true``
for each repeat, never a 5xx.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from httpx import Response
from sqlalchemy import Engine, func, select

from commcredits.adapters.db import tables as t
from tests.e2e.conftest import Api, successful_charges

REPEATS = 20


@pytest.mark.rule("FUND-8")
@pytest.mark.rule("ERR-1")
def test_twenty_concurrent_purchases_with_one_key_make_one_lot_and_answer_the_first_result(
    api: Api, engine: Engine,
) -> None:
    tid = api.tenant()
    card = api.card(tid)
    barrier = threading.Barrier(REPEATS)

    def send(_: int) -> Response:
        barrier.wait(timeout=30)
        return api.buy(tid, "75.00", card, idempotency_key="same-key-20-times")

    with ThreadPoolExecutor(REPEATS) as pool:
        answers = list(pool.map(send, range(REPEATS)))

    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * (REPEATS - 1) + [201], [r.text for r in answers]
    bodies = [r.json() for r in answers]
    first = next(b for r, b in zip(answers, bodies, strict=True) if r.status_code == 201)
    assert first["replayed"] is False
    for r, body in zip(answers, bodies, strict=True):
        if r.status_code == 200:
            assert body == {**first, "replayed": True}
    with engine.connect() as conn:
        lots = conn.execute(select(func.count()).select_from(t.lots)
                            .where(t.lots.c.tenant_id == tid)).scalar_one()
        invoices = conn.execute(select(func.count()).select_from(t.invoices)
                                .where(t.invoices.c.tenant_id == tid)).scalar_one()
    assert (lots, invoices) == (1, 1)
    assert successful_charges(engine) == 1
    credits = api.ok(f"/tenants/{tid}/credits")
    assert credits["balance"] == "75.00"
