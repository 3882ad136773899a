"""Browser fixtures: the real `commcredits serve` (SQLite, demo data) and headless Chromium.

- `site` (session): starts `commcredits serve` in a subprocess on a free port with a fresh
  SQLite file, waits for /healthz, and opens a `Runtime` on the same database so tests can
  set things up through the services (admin accounts, sign-in links, fresh tenants).
- `browser` (session): Debian's Chromium (/usr/bin/chromium) driven by Playwright with
  `executable_path`; nothing is downloaded. `.ci/run` installs the package when missing.
- `signed_in(role)` gives a new browser page signed in, through a one-time link, as a fresh
  admin account of that role in the demo tenant (or a given tenant).
- `shot(page, name)` saves a screenshot under docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from commcredits.services import payments, tenants, web_access
from commcredits.services.auth import OPERATOR_CLI
from tests.serving import serve_subprocess

CHROMIUM = os.environ.get("COMMCREDITS_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
OPERATOR_KEY = "op-browser-" + secrets.token_hex(8)
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.browser


@dataclass
class Site:
    url: str
    runtime: Runtime
    tenant_id: str
    log: Path

    @property
    def svc(self):  # type: ignore[no-untyped-def]
        return self.runtime.services

    def link(self, account_id: str) -> str:
        return f"{self.url}/signin/link/{web_access.create_sign_in_link(self.svc, account_id)}"

    def admin(self, role: str, tenant_id: str | None = None,
              password: str = "correct horse battery") -> tuple[str, str]:
        """A new admin account; returns (email, account id)."""
        email = f"{role}-{secrets.token_hex(4)}@example.com"
        account = web_access.create_admin(
            self.svc, OPERATOR_CLI, email=email, password=password, role=role,
            tenant_id=tenant_id or self.tenant_id, name=f"Test {role}",
        )
        return email, account.id

    def fresh_tenant(self, *, name: str = "Fabrikam", country: str = "US",
                     card: str | None = "4242424242424242") -> str:
        """A new empty tenant (balance 0), optionally with a working card."""
        tenant = tenants.create_tenant(
            self.svc, OPERATOR_CLI, name=name, country=country, billing_account_type="MOSA",
            contacts=[{"email": f"billing@{name.lower()}.example", "role": "billing_admin"}],
        )
        if card:
            payments.add_payment_method(self.svc, OPERATOR_CLI, tenant.id, number=card,
                                        exp_month=12, exp_year=2030)
        return tenant.id


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("site")
    db_url = f"sqlite:///{work / 'commcredits.db'}"
    log = work / "serve.log"
    env = {**os.environ, "COMMCREDITS_OPERATOR_KEY": OPERATOR_KEY,
           "COMMCREDITS_OUTBOX_DIR": str(work / "outbox"), "COLUMNS": "200"}
    env.pop("COMMCREDITS_SMTP_HOST", None)
    with serve_subprocess(["--db", db_url], cwd=work, env=env, log=log) as url:
        match = re.search(r"Demo tenant Contoso: ([0-9a-f]{32})", log.read_text())
        assert match, log.read_text()
        rt = build(Settings(database_url=db_url, operator_key=OPERATOR_KEY,
                            outbox_dir=str(work / "outbox"), smtp_host=None))
        yield Site(url, rt, match.group(1), log)
        rt.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("COMMCREDITS_REQUIRE_BROWSER") == "1":  # set by .ci/run
            pytest.fail("Chromium is required here: apt-get install chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def signed_in(site: Site, browser: object) -> Iterator[Callable[..., object]]:
    contexts: list[object] = []

    def open_as(role: str = "global_admin", tenant_id: str | None = None,
                width: int = 1280, height: int = 900) -> object:
        _, account_id = site.admin(role, tenant_id)
        context = browser.new_context(  # type: ignore[attr-defined]
            viewport={"width": width, "height": height}, accept_downloads=True,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(site.link(account_id))
        return page

    yield open_as
    for c in contexts:
        c.close()  # type: ignore[attr-defined]


def shot(page: object, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
