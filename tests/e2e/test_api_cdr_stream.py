"""The CDR upload route streams its body (CDR-3): a body larger than one chunk of rows and
than the in-memory spool is read as it arrives and imported chunk by chunk, with the same
answer as ever."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from commcredits.entrypoints.api import routes_calls
from commcredits.services import cdrs, funds
from commcredits.services.context import Services
from tests.e2e.conftest import Api
from tests.integration.test_calls import GB_MOBILE, setup
from tests.support import OPERATOR

HEADER = "Call ID,UPN,Call Type,Caller ID,Destination Number,Start Time,Duration Seconds\n"


def body(n: int, bad_line: int) -> bytes:
    """``n`` data rows (one a copy of the first, one with a bad start) after the header."""
    lines = [HEADER]
    for i in range(n - 1):
        start = "yesterday" if i + 2 == bad_line else \
            f"2026-01-15T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        lines.append(f"s{i},alice0@contoso.com,user_out,+12065550100,{GB_MOBILE},{start},60\n")
    lines.append(lines[1])  # the same call again: a duplicate
    return "".join(lines).encode()


def pieces(data: bytes, size: int = 65_536) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.rule("CDR-3")
@pytest.mark.rule("CDR-1")
def test_a_body_larger_than_a_chunk_is_streamed_and_counted_right(
    api: Api, svc: Services, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(routes_calls, "SPOOL_BYTES", 65_536)
    tid = setup(svc)
    funds.adjust(svc, OPERATOR, tid, amount="10000.00", reason="a large balance")
    n, bad = cdrs.CHUNK + 2_000, cdrs.CHUNK + 500
    data = body(n, bad)
    assert len(data) > routes_calls.SPOOL_BYTES  # the spool goes to disk
    before = api.ok(f"/tenants/{tid}/credits")["balance"]
    r = api.post(f"/tenants/{tid}/cdrs", content=pieces(data),
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) == {"accepted", "duplicates", "rejected", "rejected_total"}
    assert (answer["accepted"], answer["duplicates"], answer["rejected_total"]) == (n - 2, 1, 1)
    assert [(x["line"], x["reason"]) for x in answer["rejected"]] == [(bad, "INVALID_CDR")]
    spent = float(before) - float(api.ok(f"/tenants/{tid}/credits")["balance"])
    assert round(spent, 2) == round(0.12 * (n - 2), 2)
    again = api.post(f"/tenants/{tid}/cdrs", content=pieces(data),
                     headers={"Content-Type": "text/csv"}).json()
    assert (again["accepted"], again["duplicates"], len(again["rejected"])) == (0, n - 1, 1)
