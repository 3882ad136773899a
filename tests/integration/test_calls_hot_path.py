"""The call-control hot path keeps every guarantee (CALL-7, CALL-8, CALL-9, AR-2, AUTH-1), on
both databases: racing twins of one request charge once and answer alike, the cached display
name follows a rename, an API key is checked inside the request's own transaction, and a
call's charge still triggers auto-recharge with the settings read before the lock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from commcredits.adapters.db import tables as t
from commcredits.domain.errors import DomainError
from commcredits.services import calls, directory, queries, recharge, tenants
from commcredits.services.context import Services
from tests.integration.test_calls import GB_MOBILE, auth, setup
from tests.support import OPERATOR, add_card

BODY = {"call_type": "user_out", "user": "alice0@contoso.com", "caller": "+12065550100",
        "callee": GB_MOBILE}


def _race(fn: Any, n: int = 6) -> list[Any]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: fn(), range(n)))


@pytest.mark.rule("CALL-9")
@pytest.mark.rule("CALL-8")
def test_racing_twins_of_authorize_and_end_store_one_call_and_charge_it_once(
    svc: Services, engine: Engine,
) -> None:
    tid = setup(svc)
    replies = _race(lambda: calls.authorize(svc, OPERATOR, tid, {**BODY, "call_id": "twin"}))
    assert all(r == replies[0] for r in replies) and replies[0]["decision"] == "allow"
    ends = _race(lambda: calls.end(svc, OPERATOR, tid, "twin", 61))
    assert all(e == ends[0] for e in ends) and ends[0]["charge"] == "0.24"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.calls)).scalar_one() == 1
        charges = conn.execute(select(func.count()).select_from(t.ledger_entries)
                               .where(t.ledger_entries.c.kind == "charge")).scalar_one()
    assert charges == 1
    assert queries.credits(svc, OPERATOR, tid).balance.format() == "99.76"


def test_a_renamed_user_gets_the_new_display_name_on_the_next_call(
    svc: Services, engine: Engine,
) -> None:
    tid = setup(svc)
    auth(svc, tid, "before", GB_MOBILE)
    directory.update_user(svc, OPERATOR, tid, "alice0@contoso.com",
                          {"display_name": "Alice Renamed"})
    auth(svc, tid, "after", GB_MOBILE)
    with engine.connect() as conn:
        names = dict(conn.execute(select(t.calls.c.call_id, t.calls.c.display_name)).all())
    assert names["after"] == "Alice Renamed"
    assert names["before"] != "Alice Renamed"


@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("AUTH-2")
def test_call_control_checks_the_api_key_in_its_own_transaction(svc: Services) -> None:
    tid = setup(svc)
    other = setup(svc)
    platform = tenants.create_api_key(svc, OPERATOR, tid, role="platform", name="sbc").key
    reader = tenants.create_api_key(svc, OPERATOR, tid, role="reader", name="r").key
    stranger = tenants.create_api_key(svc, OPERATOR, other, role="platform", name="x").key
    reply = calls.authorize(svc, calls.ApiKey(platform), tid, {**BODY, "call_id": "k1"})
    assert reply["decision"] == "allow"
    assert calls.end(svc, calls.ApiKey(platform), tid, "k1", 61)["charge"] == "0.24"
    for who, code in ((calls.ApiKey(None), "UNAUTHENTICATED"),
                      (calls.ApiKey("cck_not-a-key"), "UNAUTHENTICATED"),
                      (calls.ApiKey(stranger), "TENANT_NOT_FOUND"),
                      (calls.ApiKey(reader), "FORBIDDEN")):
        with pytest.raises(DomainError) as refused:
            calls.authorize(svc, who, tid, {**BODY, "call_id": "k2"})
        assert refused.value.code == code
        with pytest.raises(DomainError) as refused:
            calls.end(svc, who, tid, "k1", 61)
        assert refused.value.code == code
    with pytest.raises(DomainError) as refused:  # the body is checked after the key
        calls.authorize(svc, calls.ApiKey("cck_not-a-key"), tid, {"call_id": "k3"})
    assert refused.value.code == "UNAUTHENTICATED"
    with pytest.raises(DomainError) as refused:
        calls.authorize(svc, calls.ApiKey(platform), tid, {"call_id": "k3"})
    assert refused.value.code == "INVALID_CALL"


@pytest.mark.rule("AR-2")
def test_a_call_that_takes_the_balance_below_the_trigger_recharges_once(svc: Services) -> None:
    tid = setup(svc)
    card = add_card(svc, tid)
    recharge.configure(svc, OPERATOR, tid, enabled=True, amount="50.00", trigger="99.90",
                       payment_method_id=card)
    auth(svc, tid, "ar1", GB_MOBILE)
    assert calls.end(svc, OPERATOR, tid, "ar1", 61)["charge"] == "0.24"
    assert queries.credits(svc, OPERATOR, tid).balance.format() == "149.76"
    assert calls.end(svc, OPERATOR, tid, "ar1", 61)["charge"] == "0.24"  # a replay
    assert queries.credits(svc, OPERATOR, tid).balance.format() == "149.76"
