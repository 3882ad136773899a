"""Fixtures of the calling-platform tier (PLAT-1): `commcredits serve` on PostgreSQL, the
SIPp callee, and Kamailio with the shipped configuration, all on free loopback ports.

The tier needs PostgreSQL (COMMCREDITS_TEST_POSTGRES_URL), `kamailio` with app_python3 and
`sipp`; without them it skips, unless COMMCREDITS_REQUIRE_PLATFORM=1 (`make test-platform`)
turns the skip into a failure. Tenants are set up in-process on the same database before the
calls are placed; everything the tests assert is read back over the HTTP API."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from commcredits.services import funds, rates
from commcredits.services.context import Services
from tests.conftest import PG_URL, _reset_postgres
from tests.platform.harness import KAMAILIO, SIPP, Kamailio, Sipp, callee, free_udp_port
from tests.serving import serve_subprocess
from tests.support import OPERATOR, OPERATOR_KEY, add_card, buy, make_tenant, usd
from tests.support_directory import add_users
from tests.support_directory import buy as buy_seats

APP_PYTHON3 = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/app_python3.so")


def _missing() -> str | None:
    if not PG_URL:
        return "COMMCREDITS_TEST_POSTGRES_URL is not set"
    if not (shutil.which(KAMAILIO) and APP_PYTHON3.exists()):
        return "kamailio with app_python3 is not installed"
    if not shutil.which(SIPP):
        return "sipp (sip-tester) is not installed"
    return None


def kamailio_env(url: str, uas_port: int, **more: str) -> dict[str, str]:
    """The glue's settings (docs/kamailio.md): commcredits, its key, the callee."""
    return {**os.environ, "COMMCREDITS_URL": url, "COMMCREDITS_API_KEY": OPERATOR_KEY,
            "COMMCREDITS_UPSTREAM": f"sip:127.0.0.1:{uas_port}", **more}


@dataclass
class Platform:
    url: str
    runtime: Runtime
    work: Path
    kamailio: Kamailio
    uas_port: int
    serve_log: Path

    @property
    def svc(self) -> Services:
        return self.runtime.services

    def kamailio_env(self, **more: str) -> dict[str, str]:
        return kamailio_env(self.url, self.uas_port, **more)

    def credits(self, tid: str) -> dict[str, str]:
        r = httpx.get(f"{self.url}/api/v1/tenants/{tid}/credits",
                      headers={"Authorization": f"Bearer {OPERATOR_KEY}"}, timeout=10)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def tenant(self, balance: str = "100.00", name: str = "Contoso") -> str:
        """A US tenant with the sample rates: alice0 holds Teams Phone, a domestic calling
        plan and Communications Credits; bob0 the same without Communications Credits."""
        svc = self.svc
        tid = make_tenant(svc, name=name)
        card = add_card(svc, tid)
        buy(svc, tid, "100.00", card)
        if balance != "100.00":
            funds.charge(svc, tid, usd("100.00") - usd(balance))
        buy_seats(svc, tid, MCOEV=5, MCOPSTN1=5)
        add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN1", "MCOPSTNC"], prefix="alice")
        add_users(svc, tid, 1, "US", ["MCOEV", "MCOPSTN1"], prefix="bob")
        return tid


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    reason = _missing()
    if reason:
        if os.environ.get("COMMCREDITS_REQUIRE_PLATFORM") == "1":
            pytest.fail(f"the platform tier cannot run: {reason}")
        pytest.skip(reason)
    assert PG_URL
    work = tmp_path_factory.mktemp("platform")
    _reset_postgres(PG_URL)
    runtime = build(Settings(database_url=PG_URL, operator_key=OPERATOR_KEY,
                             outbox_dir=str(work / "outbox"), smtp_host=None))
    rates.import_samples(runtime.services, OPERATOR, only_missing=True)
    env = {**os.environ, "COMMCREDITS_OPERATOR_KEY": OPERATOR_KEY,
           "COMMCREDITS_OUTBOX_DIR": str(work / "outbox"), "COLUMNS": "200"}
    env.pop("COMMCREDITS_SMTP_HOST", None)
    log = work / "serve.log"
    uas_port = free_udp_port()
    uas: Sipp | None = None
    kamailio: Kamailio | None = None
    try:
        with serve_subprocess(["--db", PG_URL, "--no-demo"], cwd=work, env=env,
                              log=log) as url:
            uas = callee(work, uas_port)
            # Grants are renewed every 30 s here (240 s in production) so that a 125-s call
            # shows its updates.
            kamailio = Kamailio(work, free_udp_port(),
                                kamailio_env(url, uas_port, COMMCREDITS_UPDATE_SECONDS="30"))
            kamailio.start()
            yield Platform(url, runtime, work, kamailio, uas_port, log)
    finally:
        if kamailio is not None:
            kamailio.stop()
        if uas is not None:
            uas.stop()
        runtime.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """This tier runs only when asked for by path (`make test-platform`): a plain `pytest`
    (the `make test` run) deselects it."""
    here = Path(__file__).resolve().parent
    asked = any(Path(str(arg).split("::")[0]).resolve().is_relative_to(here)
                for arg in config.args)
    if asked:
        return
    mine = [item for item in items if item.path.is_relative_to(here)]
    if mine:
        config.hook.pytest_deselected(items=mine)
        items[:] = [item for item in items if not item.path.is_relative_to(here)]
