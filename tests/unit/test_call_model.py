"""The call model (`domain.calls`): stored strings, call-type classes and the transitions of
a call's life (CALL-7, CALL-9), checked by hypothesis over random sequences of steps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commcredits.domain.calls import (
    CALL_TYPES,
    DIAL_OUT_TYPES,
    EMERGENCY_TYPES,
    FINISHED_STATUSES,
    INBOUND_TYPES,
    OPEN_STATUSES,
    OUTBOUND_TYPES,
    Call,
    CallAlreadyEnded,
    CallDenied,
    CallSource,
    CallStatus,
    CallType,
    Settlement,
)
from commcredits.domain.errors import Conflict

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def a_call(status: CallStatus = CallStatus.AUTHORIZED, used: int = 0) -> Call:
    return Call(
        id="r1", tenant_id="t1", call_id="c1", usage_id="c1", source=CallSource.LIVE,
        status=status, call_type=CallType.USER_OUT, user_object_id="u1", upn="a@x.com",
        display_name="A", user_location="US", caller="+12065550100", callee="+447400123456",
        conference_id=None, number_type="mobile", domestic=False,
        destination_name="United Kingdom", external_country="GB", start_at=T0, end_at=None,
        duration=None, funding="credits", capability="MCOPSTNPP", pool_key=None,
        pool_minutes=None, rate_id=7, currency="USD", reserved=Decimal("1.20"),
        max_seconds=3000, granted_seconds=300, used_seconds=used, last_update_at=T0,
        connection_fee=None, charge=None, entry_id=None,
        reason=None, message=None, guard_seconds=None,
    )


def test_the_enums_carry_the_strings_stored_today() -> None:
    assert [s.value for s in CallStatus] == ["authorized", "active", "ended", "expired",
                                             "denied"]
    assert {s.value for s in CallSource} == {"live", "cdr"}
    assert CallStatus("ended") is CallStatus.ENDED and CallStatus.ENDED == "ended"
    assert len(CALL_TYPES) == 22 and CallType("dr_out_user_transfer").is_outbound
    # Every call type is in exactly one class (conf_in is inbound without being in the set).
    classes = (EMERGENCY_TYPES, INBOUND_TYPES, DIAL_OUT_TYPES, OUTBOUND_TYPES,
               frozenset({CallType.CONF_IN}))
    for t in CallType:
        assert sum(t in c for c in classes) == 1, t
    assert CallType.CONF_IN.is_inbound and not CallType.CONF_OUT.is_inbound
    assert "user_out" in OUTBOUND_TYPES  # plain strings still find their member


def test_a_call_round_trips_through_its_row() -> None:
    call = a_call()
    row = call.row()
    assert Call.of_row(row) == call
    assert len(row) == len(Call.__slots__)  # every field is a column: no JSON beside them


@pytest.mark.rule("CALL-9")
@pytest.mark.rule("POOL-5")
def test_the_authorized_capability_is_the_pools_even_once_settled_on_credits() -> None:
    """A pool call's answer named the pool's capability; its settlement may record credits
    for the seconds beyond the pool, and a replayed answer still names the pool's."""
    pool = replace(a_call(), funding="pool", pool_key="MCOPSTN1:domestic:US",
                   capability="MCOPSTN1")
    settled = pool.end(400, Settlement(Decimal("0.02"), Decimal(0), 5, "MCOPSTNPP", 9), T0)
    assert (settled.capability, settled.authorized_capability) == ("MCOPSTNPP", "MCOPSTN1")
    assert a_call().authorized_capability == "MCOPSTNPP"


@pytest.mark.rule("CALL-7")
def test_update_makes_the_call_active_and_usage_never_goes_back() -> None:
    active = a_call().update(120, 420, Decimal("1.68"), T0 + timedelta(minutes=2))
    assert active.status is CallStatus.ACTIVE and active.used_seconds == 120
    again = active.update(60, 360, Decimal("1.44"), T0 + timedelta(minutes=3))
    assert again.used_seconds == 120 and again.granted_seconds == 360
    with pytest.raises(ValueError):
        active.update(100, 50, Decimal(0), T0)


@pytest.mark.rule("CALL-7")
def test_end_settles_the_call_and_releases_the_reservation() -> None:
    done = a_call().end(61, Settlement(Decimal("0.27"), Decimal("0.01"), 0, "MCOPSTNPP", 9),
                        T0 + timedelta(seconds=61))
    assert done.status is CallStatus.ENDED and done.duration == done.used_seconds == 61
    assert done.end_at == T0 + timedelta(seconds=61) and done.reserved == 0
    assert (done.charge, done.connection_fee, done.entry_id) == (Decimal("0.27"),
                                                                  Decimal("0.01"), 9)


@pytest.mark.rule("CALL-7")
def test_expire_settles_at_the_last_reported_usage() -> None:
    expired = a_call(CallStatus.ACTIVE, used=240).expire(Settlement(), T0 + timedelta(hours=1))
    assert expired.status is CallStatus.EXPIRED and expired.duration == 240
    assert expired.end_at == T0 + timedelta(seconds=240)


@pytest.mark.rule("CALL-9")
def test_a_finished_or_denied_call_refuses_every_step_with_a_stable_code() -> None:
    for status in FINISHED_STATUSES:
        call = a_call(status)
        for step in (lambda c: c.update(1, 2, Decimal(0), T0),
                     lambda c: c.end(1, Settlement(), T0),
                     lambda c: c.expire(Settlement(), T0)):
            with pytest.raises(CallAlreadyEnded) as info:
                step(call)
            assert info.value.code == "CALL_ALREADY_ENDED"
            assert info.value.details == {"status": status.value}
    with pytest.raises(CallDenied) as denied:
        a_call(CallStatus.DENIED).end(1, Settlement(), T0)
    assert denied.value.code == "CALL_DENIED" and isinstance(denied.value, Conflict)
    assert denied.value.message == "This call was denied; it cannot be updated or ended."


STEPS = st.lists(st.one_of(
    st.tuples(st.just("update"), st.integers(0, 7200), st.integers(0, 300)),
    st.tuples(st.just("end"), st.integers(0, 86_400), st.just(0)),
    st.tuples(st.just("expire"), st.just(0), st.just(0)),
), max_size=12)


@pytest.mark.rule("CALL-7")
@pytest.mark.rule("CALL-9")
@given(start=st.sampled_from([CallStatus.AUTHORIZED, CallStatus.DENIED]), steps=STEPS)
def test_any_sequence_of_steps_follows_the_life_of_a_call(
    start: CallStatus, steps: list[tuple[str, int, int]],
) -> None:
    """Only an open call moves; it ends or expires once and then stays as it is; usage
    never decreases while open; a refusal leaves the call unchanged (frozen)."""
    call = a_call(start)
    at = T0
    for name, seconds, grant in steps:
        at += timedelta(seconds=30)
        before = call
        try:
            if name == "update":
                call = call.update(seconds, seconds + grant, Decimal(0), at)
            elif name == "end":
                call = call.end(seconds, Settlement(), at)
            else:
                call = call.expire(Settlement(), at)
        except CallDenied:
            assert before.status is CallStatus.DENIED
            continue
        except CallAlreadyEnded:
            assert before.status in FINISHED_STATUSES
            continue
        assert before.status in OPEN_STATUSES
        if name == "update":
            assert call.status is CallStatus.ACTIVE
            assert call.used_seconds == max(before.used_seconds, seconds)
        else:
            assert call.status is (CallStatus.ENDED if name == "end" else CallStatus.EXPIRED)
            assert call.reserved == 0 and call.end_at is not None
            assert call.duration == (seconds if name == "end" else before.used_seconds)
        assert (call.id, call.call_id, call.start_at) == (before.id, before.call_id, T0)
