"""PLAT-1: real SIP calls through Kamailio with the shipped configuration, SIPp as caller
and callee, commcredits on PostgreSQL; amounts read back from the HTTP API.

Sample USD rates: a GB mobile costs 0.12/min, billed per minute (60-s first and next
increments), so RATE-2 charges 0.12 per started minute. Every caller is started at once by
the `placed` fixture, so the tier lasts about as long as its longest call (125 s)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypedDict

import pytest

from commcredits.adapters.clock import FixedClock
from commcredits.bootstrap import build
from commcredits.services import directory, jobs, tenants
from tests.platform.conftest import Platform
from tests.platform.harness import (
    SCENARIOS,
    Kamailio,
    Sipp,
    caller,
    free_udp_port,
    refused_scenario,
)
from tests.serving import free_port
from tests.support import OPERATOR

GB_MOBILE = "+447400123456"
TOLL_FREE = "+18005550100"
PREMIUM = "+19005551234"


class Party(TypedDict):
    from_user: str  # the From URI's user: with @contoso.com, the UPN
    caller: str  # P-Asserted-Identity: the calling number


ALICE = Party(from_user="alice0", caller="+12065550100")  # Communications Credits
BOB = Party(from_user="bob0", caller="+12065550101")  # calling plan only
LONG_CALL_MS = 125_000
CONCURRENT = 20


@dataclass
class Placed:
    """The tenants, and the callers started together (each a SIPp UAC)."""

    tenants: dict[str, str] = field(default_factory=dict)
    callers: dict[str, Sipp] = field(default_factory=dict)
    during_concurrent: dict[str, str] = field(default_factory=dict)

    def finished(self, name: str, timeout: float = 300) -> Sipp:
        sipp = self.callers[name]
        code = sipp.wait(timeout)
        assert code == 0, f"{name}: SIPp exit {code}\n{sipp.errors()}"
        return sipp


@pytest.fixture(scope="module")
def placed(platform: Platform) -> Iterator[Placed]:
    p = Placed()
    p.tenants["intl"] = platform.tenant()
    p.tenants["low"] = platform.tenant("0.12")  # one minute of a GB mobile
    p.tenants["unlicensed"] = platform.tenant()
    p.tenants["toll_free"] = platform.tenant("0.00")
    directory.add_number(platform.svc, OPERATOR, p.tenants["toll_free"], number=TOLL_FREE,
                         type="toll_free")
    p.tenants["emergency"] = platform.tenant("0.00")
    p.tenants["shared"] = platform.tenant("5.00")
    p.tenants["refusals"] = platform.tenant()
    port, work = platform.kamailio.port, platform.work

    def place(name: str, scenario: str, callee: str, party: Party, hold_ms: int = 1000,
              calls: int = 1) -> None:
        p.callers[name] = caller(work, name, port, SCENARIOS / scenario,
                                 tenant=p.tenants[name], callee=callee, hold_ms=hold_ms,
                                 calls=calls, **party)

    place("intl", "uac.xml", GB_MOBILE, ALICE, hold_ms=LONG_CALL_MS)
    place("low", "uac_cut.xml", GB_MOBILE, ALICE)
    place("emergency", "uac.xml", "911", BOB, hold_ms=3000)
    place("shared", "uac_shared.xml", GB_MOBILE, ALICE, hold_ms=10_000, calls=CONCURRENT)
    p.callers["unlicensed"] = caller(
        work, "unlicensed", port, refused_scenario(work, 403, "NO_CREDITS_LICENSE"),
        tenant=p.tenants["unlicensed"], callee=GB_MOBILE, **BOB)
    p.callers["toll_free"] = caller(
        work, "toll_free", port, refused_scenario(work, 402, "TOLL_FREE_SUSPENDED"),
        tenant=p.tenants["toll_free"], callee=TOLL_FREE, call_type="user_in",
        from_user="+442071234567", caller="+442071234567")
    for name, code, reason, number in (("invalid", 484, "INVALID_NUMBER", "+1555"),
                                       ("premium", 603, "DESTINATION_BLOCKED", PREMIUM)):
        p.callers[name] = caller(work, name, port, refused_scenario(work, code, reason),
                                 tenant=p.tenants["refusals"], callee=number, **ALICE)
    time.sleep(5)  # the 20 shared calls are up (10 s each): their reservations are open
    p.during_concurrent = platform.credits(p.tenants["shared"])
    try:
        yield p
    finally:
        for sipp in p.callers.values():
            sipp.stop()


def _call_ids(sipp: Sipp, outcome: str = "allowed") -> list[str]:
    return re.findall(rf"OUTCOME {outcome} (\S+)", sipp.log.read_text(errors="replace"))


def _ended(platform: Platform, call_id: str) -> re.Match[str]:
    """Kamailio's log line for the end request of one call."""
    pattern = (rf"commcredits: end {re.escape(call_id)} ([\w:]+) measured=([\d.]+) "
               rf"duration=(\d+) -> (\d+) charge=([\d.]+)")
    deadline = time.monotonic() + 10
    while not (found := platform.kamailio.lines(pattern)):
        assert time.monotonic() < deadline, platform.kamailio.text()[-3000:]
        time.sleep(0.2)
    [match] = found
    return match


def _balance(platform: Platform, tid: str) -> tuple[str, str]:
    credits = platform.credits(tid)
    return credits["balance"], credits["available"]


@pytest.mark.rule("PLAT-1")
@pytest.mark.rule("CALL-5")
@pytest.mark.rule("CALL-7")
@pytest.mark.rule("RATE-2")
def test_an_international_call_on_a_domestic_plan_lasts_125_s_and_is_charged_for_it(
    platform: Platform, placed: Placed,
) -> None:
    sipp = placed.finished("intl")
    [call_id] = _call_ids(sipp)
    assert platform.kamailio.lines(
        rf"authorize {re.escape(call_id)} allow credits max_seconds=14400")
    ended = _ended(platform, call_id)
    assert ended.group(1) == "dialog:end" and ended.group(4) == "200"
    assert 125 <= float(ended.group(2)) < 126
    assert ended.group(3) == "125"
    # RATE-2: 125 s bill the 60-s first increment and 1 next increment of 60 s: 180 s at
    # 0.12/min = 0.36, no connection fee.
    assert ended.group(5) == "0.36"
    assert _balance(platform, placed.tenants["intl"]) == ("99.64", "99.64")
    # The grant was renewed with update as the call went on (every 30 s in this tier).
    updates = platform.kamailio.lines(
        rf"update {re.escape(call_id)} used=(\d+) -> grant=300 final=False")
    used = [int(u.group(1)) for u in updates]
    assert len(used) == 4, used  # at 30, 60, 90 and 120 s (the timer ticks every second)
    for n, seconds in enumerate(used, start=1):
        assert 30 * n <= seconds <= 30 * n + 1, used


@pytest.mark.rule("PLAT-1")
@pytest.mark.rule("CALL-6")
@pytest.mark.rule("CALL-7")
def test_a_call_on_a_low_balance_is_cut_at_max_seconds(
    platform: Platform, placed: Placed,
) -> None:
    sipp = placed.finished("low")
    assert sipp.outcomes() == ["allowed", "cut"]  # the BYE came from Kamailio
    [call_id] = _call_ids(sipp)
    assert platform.kamailio.lines(
        rf"authorize {re.escape(call_id)} allow credits max_seconds=60")
    ended = _ended(platform, call_id)
    # Cut within 1 s of max_seconds (the dialog timer ticks once a second), billed at it.
    assert abs(float(ended.group(2)) - 60) < 1
    assert (ended.group(3), ended.group(5)) == ("60", "0.12")
    assert _balance(platform, placed.tenants["low"]) == ("0.00", "0.00")


@pytest.mark.rule("PLAT-1")
@pytest.mark.rule("CALL-5")
def test_without_a_communications_credits_license_the_caller_gets_403(
    platform: Platform, placed: Placed,
) -> None:
    sipp = placed.finished("unlicensed")  # the scenario checks the Reason header
    assert sipp.outcomes() == ["refused 403"]
    assert _balance(platform, placed.tenants["unlicensed"]) == ("100.00", "100.00")


@pytest.mark.rule("PLAT-1")
@pytest.mark.rule("NUM-2")
def test_toll_free_inbound_at_a_zero_balance_gets_402(
    platform: Platform, placed: Placed,
) -> None:
    sipp = placed.finished("toll_free")  # 402 with Reason text="TOLL_FREE_SUSPENDED"
    assert sipp.outcomes() == ["refused 402"]
    assert _balance(platform, placed.tenants["toll_free"]) == ("0.00", "0.00")


@pytest.mark.rule("PLAT-1")
@pytest.mark.rule("CALL-3")
def test_invalid_and_premium_numbers_get_484_and_603(platform: Platform, placed: Placed,
                                                     ) -> None:
    assert placed.finished("invalid").outcomes() == ["refused 484"]  # INVALID_NUMBER
    assert placed.finished("premium").outcomes() == ["refused 603"]  # DESTINATION_BLOCKED
    assert _balance(platform, placed.tenants["refusals"]) == ("100.00", "100.00")


@pytest.mark.rule("PLAT-1")
@pytest.mark.rule("CALL-2")
def test_when_commcredits_does_not_answer_only_emergency_calls_go_through(
    platform: Platform, placed: Placed,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proxy = Kamailio(platform.work, free_udp_port(),
                     platform.kamailio_env(COMMCREDITS_URL=dead, COMMCREDITS_TIMEOUT="1"))
    proxy.start()
    try:
        tid = placed.tenants["refusals"]
        down = caller(platform.work, "down", proxy.port,
                      refused_scenario(platform.work, 503, "COMMCREDITS_UNAVAILABLE"),
                      tenant=tid, callee=GB_MOBILE, **ALICE)
        sos = caller(platform.work, "down-911", proxy.port, SCENARIOS / "uac.xml", tenant=tid,
                     callee="112", hold_ms=1000, **BOB)
        for sipp in (down, sos):
            assert sipp.wait(60) == 0, sipp.errors()
        assert down.outcomes() == ["refused 503"]
        assert sos.outcomes() == ["allowed"]
    finally:
        proxy.stop()


@pytest.mark.rule("PLAT-1")
@pytest.mark.rule("CALL-2")
def test_an_emergency_call_without_license_or_balance_is_allowed_and_free(
    platform: Platform, placed: Placed,
) -> None:
    sipp = placed.finished("emergency")
    [call_id] = _call_ids(sipp)
    assert platform.kamailio.lines(rf"authorize {re.escape(call_id)} allow free "
                                   r"max_seconds=None")
    ended = _ended(platform, call_id)
    assert (ended.group(3), ended.group(5)) == ("3", "0.00")
    assert _balance(platform, placed.tenants["emergency"]) == ("0.00", "0.00")


@pytest.mark.rule("PLAT-1")
@pytest.mark.rule("CALL-8")
def test_concurrent_calls_share_the_balance_and_never_reserve_more(
    platform: Platform, placed: Placed,
) -> None:
    sipp = placed.finished("shared")
    outcomes = sipp.outcomes()
    # 5.00 at 0.12/min: eight calls reserve a 300-s grant (0.60 each, 4.80), a ninth the one
    # minute the 0.20 left can pay (0.12), and the other eleven find 0.08: 402.
    assert (outcomes.count("allowed"), outcomes.count("refused 402")) == (9, 11)
    assert (placed.during_concurrent["balance"], placed.during_concurrent["available"]) \
        == ("5.00", "0.08")
    charges = [_ended(platform, cid).group(5) for cid in _call_ids(sipp)]
    assert charges == ["0.12"] * 9  # 10 s each: one minute
    assert _balance(platform, placed.tenants["shared"]) == ("3.92", "3.92")


@pytest.mark.rule("PLAT-1")
@pytest.mark.rule("CALL-7")
def test_a_kamailio_crash_loses_no_call_the_stale_reservation_expires(
    platform: Platform, placed: Placed,
) -> None:
    tid = platform.tenant(name="Fabrikam")
    key = tenants.create_api_key(platform.svc, OPERATOR, tid, role="platform", name="sbc").key
    # The expiry job below settles every stale call: let the other scenarios finish first.
    for other in placed.callers.values():
        other.wait(300)
    # A second Kamailio, with a platform key of this tenant's own, renewing every 2 s.
    proxy = Kamailio(platform.work, free_udp_port(), platform.kamailio_env(
        COMMCREDITS_UPDATE_SECONDS="2", COMMCREDITS_API_KEY="",
        COMMCREDITS_TENANT_KEYS=f"{tid}={key}"))
    proxy.start()
    try:
        sipp = caller(platform.work, "crash", proxy.port, SCENARIOS / "uac.xml", tenant=tid,
                      callee=GB_MOBILE, hold_ms=120_000, **ALICE)
        deadline = time.monotonic() + 30
        while len(proxy.lines(r"update \S+ used=\d+ -> grant=300 final=False")) < 2:
            assert time.monotonic() < deadline, proxy.text()[-3000:]
            time.sleep(0.2)
        proxy.kill()  # every Kamailio process at once: the dialog is gone
        sipp.stop()
        proxy.start()  # back, knowing nothing of the call
        # Its last grant is held: a few seconds used plus 300 granted, 6 minutes, 0.72.
        assert _balance(platform, tid) == ("100.00", "99.28")
        # Two grant periods (600 s) later, commcredits' own job settles the call at its last
        # reported usage: a few seconds, one minute, 0.12 (the job `commcredits serve` runs).
        now = platform.svc.clock.now()
        later = build(platform.runtime.settings, clock=FixedClock(now + timedelta(seconds=601)))
        try:
            assert jobs.run_due_work(later.services).calls_expired == 1
        finally:
            later.close()
        assert _balance(platform, tid) == ("99.88", "99.88")
    finally:
        proxy.stop()
