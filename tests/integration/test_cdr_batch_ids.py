"""Ids of the rows a CDR chunk writes to ``(tenant_id, id)`` tables (CDR-2, DIST-1): the ids
the column default would give, one after the other, never one another tenant holds."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.cdr_repos import SqlCdrBatch
from commcredits.services.context import Services
from commcredits.services.ports import CdrBatch
from tests.support import make_tenant, utc

AT = utc(2026, 1, 15, 9, 0)


def consumptions(prefix: str, count: int) -> CdrBatch:
    return CdrBatch(calls=[], entries=[], allocations=[], lots_taken={}, pool_consumptions=[
        ("2026-01", "US:domestic", f"{prefix}{n}", 61, 2, 0, AT) for n in range(count)])


def ids(engine: Engine, tid: str) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(t.pool_consumptions.c.id)
                                 .where(t.pool_consumptions.c.tenant_id == tid)
                                 .order_by(t.pool_consumptions.c.reference)).scalars())


@pytest.mark.rule("CDR-2")
@pytest.mark.rule("DIST-1")
def test_two_chunks_of_two_tenants_number_their_pool_rows_after_the_last_id(
    svc: Services, engine: Engine,
) -> None:
    first, second = make_tenant(svc), make_tenant(svc)
    for tid, prefix, count in ((first, "a", 3), (second, "b", 4), (first, "c", 2)):
        with engine.begin() as conn:
            SqlCdrBatch(conn).write(tid, consumptions(prefix, count))
    a = ids(engine, first)
    b = ids(engine, second)
    assert len(set(a + b)) == 9
    start = a[0]
    assert a == [start, start + 1, start + 2, start + 7, start + 8]
    assert b == [start + 3, start + 4, start + 5, start + 6]
