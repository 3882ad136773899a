"""Migration 0012 carries every call over to the narrow ``calls`` (CDR-2, FUND-10, DIST-1,
CALL-9, RATE-3, GUARD-1), on SQLite and PostgreSQL: no JSON, the enums as SMALLINT codes.

A database is taken down to 0011 and filled with calls as 0011's code stored them (a JSON
``decision`` per row with the authorize reply, a copy of the rate and the guard's cap):
one of every status, a live authorized call with a guard cap, a pool call and a CDR's
batch-rated call. After the upgrade every column reads back as it was, the reply each
call's replay answers is the stored one, the rate read by ``rate_id`` is the copied one and
the cap is ``guard_seconds``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from sqlalchemy import JSON, Engine, SmallInteger, inspect, text
from sqlalchemy import column as col
from sqlalchemy import table as tbl

from commcredits.adapters.db import citus
from commcredits.adapters.db import tables as t
from commcredits.adapters.db.codes import CALL_CODES
from commcredits.adapters.db.migrate import alembic_config, upgrade
from commcredits.adapters.db.types import MicroAmount, UTCDateTime
from commcredits.domain.rating import Rate
from commcredits.services import calls, rates
from commcredits.services.context import Services
from tests.support import OPERATOR, make_tenant, utc

_TIMES = ("start_at", "end_at", "last_update_at")
_AMOUNTS = ("reserved", "connection_fee", "charge")
# The columns 0011 and 0012 share, in 0011's order, then 0011's JSON.
SHARED = (
    "id", "tenant_id", "call_id", "usage_id", "source", "status", "call_type",
    "user_object_id", "upn", "display_name", "user_location", "caller", "callee",
    "conference_id", "number_type", "domestic", "destination_name", "external_country",
    "start_at", "end_at", "duration", "funding", "capability", "pool_key", "pool_minutes",
    "rate_id", "currency", "reserved", "max_seconds", "granted_seconds", "used_seconds",
    "last_update_at", "connection_fee", "charge", "entry_id",
)


def _column(name: str) -> Any:
    if name in _TIMES:
        return col(name, UTCDateTime)
    if name in _AMOUNTS:
        return col(name, MicroAmount)
    return col(name)


CALLS_0011 = tbl("calls", *(_column(c) for c in SHARED), col("decision", JSON))


def _snapshot(rate: Rate) -> dict[str, Any]:
    """A rate as 0011's `rate_snapshot` copied it into each call."""
    return {
        "prefix": rate.prefix, "destination": rate.destination,
        "number_type": rate.number_type.value, "direction": rate.direction.value,
        "rate_per_minute": str(rate.rate_per_minute.amount),
        "connection_fee": str(rate.connection_fee.amount),
        "currency": rate.rate_per_minute.currency, "first_increment": rate.first_increment,
        "next_increment": rate.next_increment,
        "effective_from": rate.effective_from.isoformat(),
    }


def _allow(row_id: str, funding: str, capability: str, max_seconds: int | None,
           grant: int | None) -> dict[str, Any]:
    return {"decision": "allow", "reason": "OK", "funding": funding, "capability": capability,
            "max_seconds": max_seconds, "grant_seconds": grant, "reservation_id": row_id}


def _row(tid: str, n: int, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"{n:032x}", "tenant_id": tid, "call_id": f"c{n}", "usage_id": f"c{n}",
        "source": "live", "status": "ended", "call_type": "user_out",
        "user_object_id": "00000000-0000-0000-0000-00000000000a", "upn": "alice@contoso.com",
        "display_name": "Alice", "user_location": "US", "caller": "+12065550100",
        "callee": "+447400123456", "conference_id": None, "number_type": "mobile",
        "domestic": False, "destination_name": "United Kingdom - Mobile",
        "external_country": "GB", "start_at": utc(2026, 1, 15, 8, n), "end_at": None,
        "duration": None, "funding": "credits", "capability": "MCOPSTNPP", "pool_key": None,
        "pool_minutes": None, "rate_id": None, "currency": "USD", "reserved": Decimal(0),
        "max_seconds": None, "granted_seconds": None, "used_seconds": 0,
        "last_update_at": utc(2026, 1, 15, 8, 30), "connection_fee": None, "charge": None,
        "entry_id": None,
    }
    base.update(values)
    return base


def _old_calls(tid: str, gb: tuple[int, Rate], us: tuple[int, Rate]) -> list[dict[str, Any]]:
    """One call of every status, as 0011's code wrote them."""
    (gb_id, gb_rate), (us_id, us_rate) = gb, us
    rows = []
    # authorized, live, shortened by the spend guard to 200 s (GUARD-1)
    r = _row(tid, 1, status="authorized", rate_id=gb_id, reserved=Decimal("0.36"),
             max_seconds=200, granted_seconds=200)
    r["decision"] = {"reply": _allow(r["id"], "credits", "MCOPSTNPP", 200, 200),
                     "rate": _snapshot(gb_rate), "guard_seconds": 200}
    rows.append(r)
    # active: updated once
    r = _row(tid, 2, status="active", rate_id=gb_id, reserved=Decimal("1.20"),
             max_seconds=3000, granted_seconds=600, used_seconds=300,
             last_update_at=utc(2026, 1, 15, 8, 40))
    r["decision"] = {"reply": _allow(r["id"], "credits", "MCOPSTNPP", 3000, 300),
                     "rate": _snapshot(gb_rate)}
    rows.append(r)
    # ended on the domestic pool, partly beyond it: settled as credits (POOL-5)
    r = _row(tid, 3, status="ended", rate_id=us_id, callee="+12025550123",
             number_type="fixed", domestic=True, destination_name="United States",
             external_country="US", funding="pool", capability="MCOPSTNPP",
             pool_key="MCOPSTN1:domestic:US", pool_minutes=2, max_seconds=7200,
             granted_seconds=300, used_seconds=180, duration=180,
             end_at=utc(2026, 1, 15, 8, 6), connection_fee=Decimal(0), charge=Decimal("0.01"),
             entry_id=None)
    r["decision"] = {"reply": _allow(r["id"], "pool", "MCOPSTN1", 7200, 300),
                     "rate": _snapshot(us_rate)}
    rows.append(r)
    # expired at its last reported usage
    r = _row(tid, 4, status="expired", rate_id=gb_id, max_seconds=3000, granted_seconds=600,
             used_seconds=240, duration=240, end_at=utc(2026, 1, 15, 8, 8),
             connection_fee=Decimal(0), charge=Decimal(0))
    r["decision"] = {"reply": _allow(r["id"], "credits", "MCOPSTNPP", 3000, 300),
                     "rate": _snapshot(gb_rate)}
    rows.append(r)
    # denied (the guard's message is per tenant: kept as it was said)
    r = _row(tid, 5, status="denied", rate_id=gb_id, funding=None, capability=None,
             max_seconds=0, granted_seconds=0)
    r["decision"] = {"reply": {"decision": "deny", "reason": "SPEND_LIMIT_REACHED",
                               "message": "The spend guard's limit of 5.00 USD a day is "
                                          "reached.", "funding": None, "capability": None,
                               "max_seconds": 0, "grant_seconds": 0, "reservation_id": None},
                     "rate": _snapshot(gb_rate)}
    rows.append(r)
    # a free inbound call: no rate
    r = _row(tid, 6, status="ended", call_type="user_in", caller="+447400123456",
             callee="+12065550100", number_type="fixed", funding="free", capability="MCOEV",
             duration=60, used_seconds=60, end_at=utc(2026, 1, 15, 8, 7))
    r["decision"] = {"reply": _allow(r["id"], "free", "MCOEV", None, None), "rate": None}
    rows.append(r)
    # rated in a CDR batch: no reply, the rate copied
    r = _row(tid, 7, source="cdr", status="ended", rate_id=gb_id, duration=90,
             used_seconds=90, end_at=utc(2026, 1, 15, 8, 8, 30), connection_fee=Decimal(0),
             charge=Decimal("0.24"), last_update_at=utc(2026, 1, 15, 9))
    r["decision"] = {"reply": {}, "rate": _snapshot(gb_rate)}
    rows.append(r)
    return rows


def _down_to_0011(engine: Engine) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")


def _sample_rates(svc: Services) -> dict[str, tuple[int, Rate]]:
    rates.import_samples(svc, OPERATOR, only_missing=True)
    with svc.uow(readonly=True) as uow:
        (table,) = uow.rates.tables("USD")
        rows = uow.rates.rows(table.id, "USD")
    by_prefix = {rate.prefix: (row_id, rate) for row_id, rate in rows
                 if rate.direction.value == "outbound"}
    return {"gb": by_prefix["447"], "us": by_prefix["1"]}


def _forget_calls(engine: Engine) -> None:
    """The charged calls were written without their entries: gone before the fixture's
    ledger check (FUND-10) reads them."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM calls"))


def _skip_on_citus(engine: Engine) -> None:
    with engine.connect() as conn:
        if citus.is_citus(conn):
            pytest.skip("0011's calls are written straight into the tables; Citus runs 0012 "
                        "on empty tables in test_citus")


@pytest.mark.rule("CDR-2")
@pytest.mark.rule("FUND-10")
@pytest.mark.rule("CALL-9")
@pytest.mark.rule("RATE-3")
@pytest.mark.rule("GUARD-1")
def test_migration_0012_carries_every_call_over(svc: Services, engine: Engine) -> None:
    """Every shared column reads back as 0011 stored it; the replayed reply is the stored
    one (a live call's); the rate by ``rate_id`` is the copied one; the cap is a column."""
    _skip_on_citus(engine)
    tid = make_tenant(svc)
    sample = _sample_rates(svc)
    _down_to_0011(engine)
    old = _old_calls(tid, sample["gb"], sample["us"])
    with engine.begin() as conn:
        conn.execute(CALLS_0011.insert(), old)
    upgrade(engine)

    columns = {c["name"]: c for c in inspect(engine).get_columns("calls")}
    assert "decision" not in columns
    assert {"reason", "message", "guard_seconds"} <= set(columns)
    for name in CALL_CODES:  # the enums as SMALLINT codes
        assert isinstance(columns[name]["type"], SmallInteger), (name, columns[name]["type"])
    with engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT call_id, source, status, call_type, funding, number_type FROM calls "
            "ORDER BY call_id")).all()
    assert [tuple(r) for r in stored] == [  # codes.py: the one table of codes
        ("c1", 1, 1, 1, 2, 2), ("c2", 1, 2, 1, 2, 2), ("c3", 1, 3, 1, 1, 1),
        ("c4", 1, 4, 1, 2, 2), ("c5", 1, 5, 1, None, 2), ("c6", 1, 3, 15, 4, 1),
        ("c7", 2, 3, 1, 2, 2),
    ]
    with svc.uow(readonly=True) as uow:
        got = {r["call_id"]: uow.calls.get(tid, r["call_id"], r["usage_id"]) for r in old}
        rate_of = {r["call_id"]: svc.rate_book.rate(uow, r["rate_id"]) for r in old}
    for r in old:
        call = got[r["call_id"]]
        assert call is not None
        assert {k: getattr(call, k) for k in SHARED} == {k: r[k] for k in SHARED}, r["call_id"]
        snapshot = r["decision"]["rate"]
        rate = rate_of[r["call_id"]]
        assert (_snapshot(rate) if rate is not None else None) == snapshot, r["call_id"]
        if r["source"] == "live":
            assert calls.answer(call) == r["decision"]["reply"], r["call_id"]
        assert call.guard_seconds == r["decision"].get("guard_seconds"), r["call_id"]
    denied = got["c5"]
    assert denied is not None
    assert (denied.reason, denied.message) == (
        "SPEND_LIMIT_REACHED", "The spend guard's limit of 5.00 USD a day is reached.")
    assert [c.guard_seconds for c in got.values() if c is not None] \
        == [200, None, None, None, None, None, None]
    _forget_calls(engine)


@pytest.mark.rule("CALL-8")
def test_migration_0012_indexes_only_open_calls(svc: Services, engine: Engine) -> None:
    """``ix_calls_tenant_open`` is partial: it holds the authorized and active calls, and
    the reservation sum is read through it."""
    _skip_on_citus(engine)
    tid = make_tenant(svc)
    sample = _sample_rates(svc)
    _down_to_0011(engine)
    with engine.begin() as conn:
        conn.execute(CALLS_0011.insert(), _old_calls(tid, sample["gb"], sample["us"]))
    upgrade(engine)
    (index,) = [i for i in inspect(engine).get_indexes("calls")
                if i["name"] == "ix_calls_tenant_open"]
    assert index["column_names"] == ["tenant_id", "last_update_at"]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = conn.execute(text("SELECT sql FROM sqlite_master "
                                    "WHERE name = 'ix_calls_tenant_open'")).scalar_one()
            assert sql.endswith(f"WHERE {t.OPEN_CALL.text}"), sql
            plan = " ".join(str(r[-1]) for r in conn.execute(text(
                "EXPLAIN QUERY PLAN SELECT sum(reserved) FROM calls WHERE tenant_id = :t "
                f"AND {t.OPEN_CALL.text}"), {"t": tid}))
            assert "ix_calls_tenant_open" in plan, plan
        else:
            sql = conn.execute(text("SELECT indexdef FROM pg_indexes "
                                    "WHERE indexname = 'ix_calls_tenant_open'")).scalar_one()
            assert "WHERE (status = ANY (ARRAY[1, 2]))" in sql, sql
    assert t.OPEN_CALL.text == "status IN (1, 2)"  # authorized, active (codes.STATUS)
    with svc.uow(readonly=True) as uow:
        held = uow.calls.reserved(tid, "USD")
    assert held.amount == Decimal("1.56")  # 0.36 + 1.20: the two open calls
    _forget_calls(engine)


@pytest.mark.rule("RATE-3")
@pytest.mark.rule("CDR-2")
@pytest.mark.parametrize(("change", "refusal"), [
    ({"rate_id": None}, "no rate_id"),
    ({"call_type": "aa_in"}, r"calls.call_type holds values without a code: \['aa_in'\]"),
    ({"number_type": "service"}, r"calls.number_type .* \['service'\]"),
])
def test_migration_0012_refuses_what_it_would_lose(
    svc: Services, engine: Engine, change: dict[str, Any], refusal: str,
) -> None:
    """A row whose JSON holds a rate but has no ``rate_id``, or a value without a code,
    stops the migration before any change: the database stays at 0011 with its JSON."""
    _skip_on_citus(engine)
    tid = make_tenant(svc)
    sample = _sample_rates(svc)
    _down_to_0011(engine)
    lost = {**_old_calls(tid, sample["gb"], sample["us"])[3], **change}
    with engine.begin() as conn:
        conn.execute(CALLS_0011.insert(), [lost])
    with pytest.raises(RuntimeError, match=refusal):
        upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() \
            == "0011"
        assert "decision" in {c["name"] for c in inspect(conn).get_columns("calls")}
        conn.execute(text("DELETE FROM calls"))
        conn.commit()
    upgrade(engine)  # emptied: the fixture's ledger check runs on the newest schema

