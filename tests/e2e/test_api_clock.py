"""Moving the simulated clock through the API (SIM-1, ERR-1).

A refused move changes nothing: a time outside the years 2000 to 9000 is refused with
``INVALID_CLOCK`` before anything is written, and when the due work after a move fails,
the clock is put back where it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from commcredits.entrypoints.api.app import create_app
from commcredits.services import clock as clock_service
from tests.e2e.conftest import Api, assert_envelope, row_counts
from tests.support import OPERATOR_KEY, utc

START = "2026-01-15T09:00:00Z"


@pytest.fixture
def sim(db_url: str, tmp_path: Path) -> Iterator[tuple[Api, Runtime]]:
    settings = Settings(database_url=db_url, operator_key=OPERATOR_KEY, simulated_clock=True,
                        outbox_dir=str(tmp_path / "outbox"), smtp_host=None)
    runtime = build(settings)
    assert runtime.services.clock_store is not None
    runtime.services.clock_store.write(True, utc(2026, 1, 15, 9, 0))
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            yield Api(client), runtime
    finally:
        runtime.close()


def _clock(api: Api) -> dict[str, object]:
    return api.ok("/clock")


@pytest.mark.rule("SIM-1")
@pytest.mark.rule("ERR-1")
@pytest.mark.parametrize("body", [
    {"now": "0001-01-01T00:00:00Z"},
    {"now": "1999-12-31T23:59:59Z"},
    {"now": "9001-01-01T00:00:00Z"},
    {"now": "9999-12-31T23:59:59Z"},
    {"advance_seconds": 10**12},
    {"advance_seconds": 1e300},
    {"advance_seconds": 10**400},
])
def test_a_clock_move_outside_the_years_2000_to_9000_is_refused_and_moves_nothing(
    sim: tuple[Api, Runtime], body: dict[str, object],
) -> None:
    api, runtime = sim
    before = row_counts(runtime.engine)
    error = assert_envelope(api.post("/clock", body), 422, "INVALID_CLOCK")
    assert "2000" in error["message"] and "9000" in error["message"]
    assert _clock(api) == {"now": START, "simulated": True}
    assert row_counts(runtime.engine) == before


@pytest.mark.rule("SIM-1")
def test_the_clock_moves_within_the_bounds(sim: tuple[Api, Runtime]) -> None:
    api, _ = sim
    r = api.post("/clock", {"now": "9000-12-31T23:59:59Z"})
    assert r.status_code == 200, r.text
    assert _clock(api) == {"now": "9000-12-31T23:59:59Z", "simulated": True}
    r = api.post("/clock", {"now": "2000-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    r = api.post("/clock", {"advance_seconds": 86400})
    assert r.status_code == 200, r.text
    assert _clock(api) == {"now": "2000-01-02T00:00:00Z", "simulated": True}


@pytest.mark.rule("SIM-1")
@pytest.mark.rule("ERR-1")
def test_when_due_work_fails_after_a_move_the_clock_stays_where_it_was(
    sim: tuple[Api, Runtime], monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, runtime = sim

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("due work failed")

    monkeypatch.setattr(clock_service, "run_due_work", broken)
    before = row_counts(runtime.engine)
    r = api.post("/clock", {"now": "2027-06-01T00:00:00Z"})
    assert r.status_code == 500
    assert _clock(api) == {"now": START, "simulated": True}
    assert row_counts(runtime.engine) == before
