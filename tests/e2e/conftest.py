"""End-to-end API fixtures: a TestClient over `create_app(runtime)` and small HTTP helpers.

Every helper goes through HTTP, so these tests see exactly what an API client sees. The
client does not re-raise server exceptions: a bug answers 500 here, and the tests that
assert "no 5xx" (ERR-1) can see it.

`db_url` is the suite's fixture with one change for speed: each SQLite test database is a copy
of one database migrated once per session, instead of a migration per test.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, Table, func, inspect, select

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.engine import make_engine
from commcredits.adapters.db.migrate import upgrade
from commcredits.bootstrap import Runtime
from commcredits.entrypoints.api.app import create_app
from tests.conftest import PG_URL, _reset_postgres, database_params
from tests.support import GOOD_CARD, OPERATOR_KEY

API = "/api/v1"
OPERATOR_HEADERS = {"Authorization": f"Bearer {OPERATOR_KEY}"}
DECLINED_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
PROCESSING_ERROR_CARD = "4000000000000119"
LUHN_FAILURE_CARD = "4242424242424241"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Api:
    """A thin HTTP client that speaks as the operator unless told otherwise."""

    client: TestClient

    def call(self, method: str, path: str, *, key: str | None = OPERATOR_KEY,
             headers: dict[str, str] | None = None, **kwargs: Any) -> Response:
        sent = dict(bearer(key)) if key is not None else {}
        sent.update(headers or {})
        return self.client.request(method, f"{API}{path}", headers=sent, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        if body is not None:
            kwargs["json"] = body
        return self.call("POST", path, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        if body is not None:
            kwargs["json"] = body
        return self.call("PUT", path, **kwargs)

    # Builders: each asserts success, so a broken setup fails loudly where it happens.

    def tenant(self, *, kind: str = "MOSA", country: str = "US",
               billing_country: str | None = None, cloud: str | None = None,
               name: str = "Contoso", currency: str | None = None) -> str:
        body: dict[str, Any] = {
            "name": name, "country": country, "billing_account_type": kind,
            "contacts": [{"email": "admin@contoso.com", "role": "global_admin"},
                         {"email": "billing@contoso.com", "role": "billing_admin"}],
        }
        if billing_country is not None:
            body["billing_country"] = billing_country
        if cloud is not None:
            body["cloud"] = cloud
        if currency is not None:
            body["currency"] = currency
        r = self.post("/tenants", body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def key(self, tid: str, role: str, name: str | None = None) -> str:
        r = self.post(f"/tenants/{tid}/api-keys", {"role": role, "name": name or role})
        assert r.status_code == 201, r.text
        return str(r.json()["key"])

    def card(self, tid: str, number: str = GOOD_CARD, exp_month: int = 12,
             exp_year: int = 2099, key: str | None = OPERATOR_KEY) -> str:
        r = self.post(f"/tenants/{tid}/payment-methods",
                      {"type": "card", "number": number, "exp_month": exp_month,
                       "exp_year": exp_year}, key=key)
        assert r.status_code in (200, 201), r.text  # 200: the same card, already there
        return str(r.json()["id"])

    def buy(self, tid: str, amount: Any, card: str | None, *, key: str | None = OPERATOR_KEY,
            channel: str | None = None, idempotency_key: str | None = None) -> Response:
        body: dict[str, Any] = {"amount": amount}
        if card is not None:
            body["payment_method_id"] = card
        if channel is not None:
            body["channel"] = channel
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.post(f"/tenants/{tid}/credits/purchases", body, key=key, headers=headers)

    def bought(self, tid: str, amount: Any, card: str | None, **kwargs: Any) -> dict[str, Any]:
        r = self.buy(tid, amount, card, **kwargs)
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def partner(self, name: str = "Fabrikam CSP") -> tuple[str, str]:
        r = self.post("/partners", {"name": name})
        assert r.status_code == 201, r.text
        pid = str(r.json()["id"])
        r = self.post(f"/partners/{pid}/api-keys", {"name": f"{name} key"})
        assert r.status_code == 201, r.text
        return pid, str(r.json()["key"])

    def bind(self, pid: str, tid: str) -> None:
        r = self.post(f"/partners/{pid}/tenants", {"tenant_id": tid})
        assert r.status_code == 201, r.text

    def ok(self, path: str) -> dict[str, Any]:
        r = self.get(path)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "commcredits.db"
    engine = make_engine(f"sqlite:///{path}", pool=False)
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=database_params())
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        target = tmp_path / "commcredits.db"
        with closing(sqlite3.connect(sqlite_template)) as src, \
                closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
        return f"sqlite:///{target}"
    if not PG_URL:
        pytest.skip("COMMCREDITS_TEST_POSTGRES_URL is not set")
    _reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


# State snapshots (ERR-1: a refused request changes nothing).

_TABLES: weakref.WeakKeyDictionary[Engine, list[Table]] = weakref.WeakKeyDictionary()


def _tables(engine: Engine) -> list[Table]:
    """The known tables that this database has (the schema can be ahead of a migration)."""
    if engine not in _TABLES:
        present = set(inspect(engine).get_table_names())
        _TABLES[engine] = [tb for tb in t.metadata.sorted_tables if tb.name in present]
    return _TABLES[engine]


def row_counts(engine: Engine) -> dict[str, int]:
    """How many rows every table holds (new tables are counted as soon as they exist)."""
    tables = _tables(engine)
    query = select(*[select(func.count()).select_from(tb).scalar_subquery().label(tb.name)
                     for tb in tables])
    with engine.connect() as conn:
        row = conn.execute(query).one()
    return {tb.name: int(n) for tb, n in zip(tables, row, strict=True)}


def successful_charges(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(
            select(func.count()).select_from(t.sandbox_charges)
            .where(t.sandbox_charges.c.succeeded.is_(True))
        ).scalar_one())


def snapshot(api: Api, engine: Engine, tid: str) -> dict[str, Any]:
    """What the tenant's admins can see, and how many rows every table holds."""
    return {
        "credits": api.ok(f"/tenants/{tid}/credits"),
        "ledger": api.ok(f"/tenants/{tid}/credits/ledger"),
        "invoices": api.ok(f"/tenants/{tid}/invoices"),
        "audit": api.ok(f"/tenants/{tid}/audit-log"),
        "payment_methods": api.ok(f"/tenants/{tid}/payment-methods"),
        "subscriptions": api.ok(f"/tenants/{tid}/subscriptions"),
        "rows": row_counts(engine),
    }


def assert_envelope(r: Response, status: int, code: str) -> dict[str, Any]:
    """ERR-1: the status, the stable code, a message saying what to do, details a dict."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["details"], dict), error
    result: dict[str, Any] = error
    return result
