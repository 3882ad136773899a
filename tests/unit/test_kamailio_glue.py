"""The Kamailio glue's pure parts (PLAT-1), without Kamailio: the SIP response for every
reason code the call-control domain can answer, and the call-id and number rules of the
header mapping in docs/kamailio.md. (`make test-platform` drives the real thing.)"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "integrations" / "kamailio" / "kemi_commcredits.py"
DOMAIN = ROOT / "src" / "commcredits" / "domain"

# PLAT-1's table; every other refusal answers 403.
PLAT_1 = {"INSUFFICIENT_BALANCE": 402, "TOLL_FREE_SUSPENDED": 402, "INVALID_NUMBER": 484,
          "DESTINATION_BLOCKED": 603, "SPEND_LIMIT_REACHED": 603}
# Not in PLAT-1's table: a destination with no rate is refused like a blocked one
# (docs/kamailio.md).
BEYOND_PLAT_1 = {"DESTINATION_NOT_RATED": 603}


@pytest.fixture(scope="module")
def glue() -> Any:
    """The script as app_python3 loads it; `KSR` (Kamailio's own module) is only named at
    import time, so an empty module stands in for it."""
    sys.modules.setdefault("KSR", types.ModuleType("KSR"))
    spec = importlib.util.spec_from_file_location("kemi_commcredits", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _domain_reasons() -> set[str]:
    found: set[str] = set()
    for path in DOMAIN.rglob("*.py"):
        found |= set(re.findall(r'Denied\(\s*"([A-Z_]+)"', path.read_text()))
    return found


@pytest.mark.rule("PLAT-1")
def test_every_deny_reason_has_the_sip_response_plat_1_names(glue: Any) -> None:
    reasons = _domain_reasons() | set(PLAT_1)
    assert {"INSUFFICIENT_BALANCE", "NO_CREDITS_LICENSE", "USER_BLOCKED"} <= reasons
    expected = {**PLAT_1, **BEYOND_PLAT_1}
    for reason in sorted(reasons):
        code, _ = glue.SIP_FOR_REASON.get(reason, glue.FORBIDDEN)
        assert code == expected.get(reason, 403), reason
    for reason in ("NO_CREDITS_LICENSE", "NO_CALLING_PLAN", "USER_BLOCKED"):
        assert reason not in glue.SIP_FOR_REASON  # the license and user refusals: 403


def test_long_sip_call_ids_are_hashed_to_commcredits_64_characters(glue: Any) -> None:
    assert glue.commcredits_call_id("1-2345@127.0.0.1") == "1-2345@127.0.0.1"
    long = "a" * 65
    assert len(glue.commcredits_call_id(long)) == 40
    assert glue.commcredits_call_id(long) == glue.commcredits_call_id(long)


def test_numbers_get_a_plus_and_short_numbers_stay_as_dialled(glue: Any) -> None:
    assert glue._number("447400123456") == "+447400123456"
    assert glue._number("+447400123456") == "+447400123456"
    assert glue._number("tel:+12065550100") == "+12065550100"
    assert glue._number("911") == "911"
