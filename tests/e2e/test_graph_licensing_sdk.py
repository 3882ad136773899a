"""An admin's bulk-licensing script, written with the real msgraph-sdk, against the real
`commcredits serve` subprocess (SQLite file always, PostgreSQL when
COMMCREDITS_TEST_POSTGRES_URL is set): list subscribedSkus, page through 250 users, assign
each one Communications Credits, read back their licenseDetails, and see the REST API's
seats move by 250; then the refusals, each in Graph's error shape with our code inside,
each changing nothing (LIC-3, LIC-5, AUTH-1, ERR-1).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import pytest
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
    AssignLicensePostRequestBody,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory
from sqlalchemy import Engine

from commcredits.adapters.db.engine import make_engine
from commcredits.domain.licensing import sku_table
from tests.conftest import PG_URL, _reset_postgres, database_params
from tests.e2e.conftest import row_counts
from tests.serving import free_port, serve_subprocess

OPERATOR_KEY = "op-graph-" + secrets.token_hex(8)
OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}
MCOPSTNC = sku_table()["MCOPSTNC"].sku_id
MCOEV = sku_table()["MCOEV"].sku_id
MCOPSTN1 = sku_table()["MCOPSTN1"].sku_id
USERS = 250
T = TypeVar("T")
pytestmark = pytest.mark.filterwarnings(  # the SDK's own request builders warn on each call
    "ignore:This class is deprecated:DeprecationWarning")


class Key(AccessTokenProvider):
    """Hands the SDK one of our API keys as its bearer token."""

    def __init__(self, key: str, host: str) -> None:
        self.key, self.hosts = key, AllowedHostsValidator([host])

    async def get_authorization_token(self, uri: str,
                                      additional_authentication_context: Any = None) -> str:
        return self.key

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self.hosts


def graph(url: str, key: str) -> GraphServiceClient:
    """A GraphServiceClient aimed at our server: the SDK's own middleware pipeline, our base
    URL, and our key as the bearer token."""
    auth = BaseBearerTokenAuthenticationProvider(Key(key, urlsplit(url).netloc))
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(timeout=60))
    adapter = GraphRequestAdapter(auth, http)
    adapter.base_url = f"{url}/graph/v1.0"
    return GraphServiceClient(request_adapter=adapter)


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run the SDK's coroutine on a fresh event loop in its own thread: a session fixture
    (Playwright's sync API in tests/browser) may already run a loop on this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(cast(Any, make)())).result()


@dataclass
class Server:
    """The running `commcredits serve`, its REST API (as the operator) and its database."""

    url: str
    client: httpx.Client
    engine: Engine

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.client.post(f"/api/v1{path}", json=body, headers=OPERATOR)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(f"/api/v1{path}", headers=OPERATOR)

    def tenant(self, name: str) -> str:
        """A funded tenant (so it holds 10,000,000 MCOPSTNC seats, FUND-7)."""
        r = self.post("/tenants", {
            "name": name, "country": "US", "billing_account_type": "MOSA",
            "contacts": [{"email": "admin@contoso.com", "role": "global_admin"}]})
        assert r.status_code == 201, r.text
        tid = str(r.json()["id"])
        r = self.post(f"/tenants/{tid}/payment-methods", {
            "type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2099})
        assert r.status_code == 201, r.text
        r = self.post(f"/tenants/{tid}/credits/purchases",
                          {"amount": "100.00", "payment_method_id": r.json()["id"]})
        assert r.status_code == 201, r.text
        return tid

    def key(self, tid: str, role: str) -> str:
        r = self.post(f"/tenants/{tid}/api-keys", {"role": role, "name": role})
        assert r.status_code == 201, r.text
        return str(r.json()["key"])

    def user(self, tid: str, upn: str, location: str | None = "US") -> str:
        r = self.post(f"/tenants/{tid}/users", {
            "upn": upn, "display_name": upn.split("@")[0], "usage_location": location})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def seats(self, tid: str) -> dict[str, dict[str, int]]:
        r = self.get(f"/tenants/{tid}/subscriptions")
        assert r.status_code == 200, r.text
        return {s["sku"]: s for s in r.json()["subscriptions"]}

    def state(self, tid: str) -> dict[str, Any]:
        """What a refusal must leave alone: users, seats, the audit log, every table's rows."""
        users = self.get(f"/tenants/{tid}/users?limit=1000")
        audit = self.get(f"/tenants/{tid}/audit-log")
        return {"users": users.json(), "seats": self.seats(tid), "audit": audit.json(),
                "rows": row_counts(self.engine)}


@pytest.fixture(scope="module", params=database_params())
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("graph-serve")
    if request.param == "sqlite":
        db_url = f"sqlite:///{work / 'commcredits.db'}"
    else:
        if not PG_URL:
            pytest.skip("COMMCREDITS_TEST_POSTGRES_URL is not set")
        _reset_postgres(PG_URL)
        db_url = PG_URL
    port = free_port()
    log = work / "serve.log"
    env = {**os.environ, "COMMCREDITS_OPERATOR_KEY": OPERATOR_KEY,
           "COMMCREDITS_OUTBOX_DIR": str(work / "outbox"), "COLUMNS": "200"}
    env.pop("COMMCREDITS_SMTP_HOST", None)
    engine = make_engine(db_url, pool=False)
    try:
        with serve_subprocess(["--db", db_url, "--no-demo", "--no-access-log"], cwd=work,
                              env=env, log=log, port=port) as url, \
                httpx.Client(base_url=url, timeout=60) as client:
            yield Server(url, client, engine)
    finally:
        engine.dispose()




def add(*sku_ids: UUID) -> AssignLicensePostRequestBody:
    return AssignLicensePostRequestBody(
        add_licenses=[AssignedLicense(sku_id=s, disabled_plans=[]) for s in sku_ids],
        remove_licenses=[])


@pytest.mark.slow
@pytest.mark.rule("LIC-3")
@pytest.mark.rule("LIC-5")
@pytest.mark.rule("AUTH-1")
def test_an_msgraph_sdk_script_licenses_250_users_with_communications_credits(
    server: Server,
) -> None:
    tid = server.tenant("Contoso Graph")
    admin = server.key(tid, "teams_admin")
    ids = {server.user(tid, f"caller{i:03d}@contoso.com") for i in range(USERS)}
    server.user(tid, "zz-other@contoso.com")  # outside the startswith filter below
    before = server.seats(tid)["MCOPSTNC"]

    async def script() -> tuple[Any, list[Any], list[int], dict[str, Any], Any]:
        client = graph(server.url, admin)
        skus = await client.subscribed_skus.get()
        params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="startswith(userPrincipalName,'caller')",
            select=["id", "userPrincipalName", "usageLocation", "assignedLicenses"], top=100)
        page = await client.users.get(RequestConfiguration(query_parameters=params))
        users: list[Any] = []
        sizes: list[int] = []
        while page is not None:
            assert page.value is not None
            users += page.value
            sizes.append(len(page.value))
            if not page.odata_next_link:
                break
            page = await client.users.with_url(page.odata_next_link).get()
        assigned = {}
        for u in users:
            assigned[u.id] = await client.users.by_user_id(u.id).assign_license.post(
                add(MCOPSTNC))
        details = {u.id: await client.users.by_user_id(u.user_principal_name)
                   .license_details.get() for u in users}
        after = await client.subscribed_skus.get()
        return skus, users, sizes, {"assigned": assigned, "details": details}, after

    began = time.monotonic()
    skus, users, sizes, out, after = run(script)
    took = time.monotonic() - began

    assert skus is not None and skus.value is not None
    credits = next(s for s in skus.value if s.sku_part_number == "MCOPSTNC")
    assert credits.sku_id == MCOPSTNC == UUID("47794cd0-f0e5-45c5-9033-2eb6b5fc84e0")
    assert credits.prepaid_units.enabled == before["purchased"] == 10_000_000
    assert credits.consumed_units == before["assigned"] == 0
    assert credits.capability_status == "Enabled"

    assert sizes == [100, 100, 50]
    assert {u.id for u in users} == ids
    upns = [u.user_principal_name for u in users]
    assert upns == sorted(upns) and all(u.usage_location == "US" for u in users)
    assert all(u.assigned_licenses == [] for u in users)

    for user_id, user in out["assigned"].items():
        assert user.id == user_id
        assert [a.sku_id for a in user.assigned_licenses] == [MCOPSTNC]
    for user_id, details in out["details"].items():
        assert details.value is not None and len(details.value) == 1, user_id
        held = details.value[0]
        assert (held.sku_id, held.sku_part_number) == (MCOPSTNC, "MCOPSTNC")
        assert held.service_plans and held.service_plans[0].provisioning_status == "Success"

    now = server.seats(tid)["MCOPSTNC"]
    assert now["assigned"] == before["assigned"] + USERS
    assert now["available"] == before["available"] - USERS
    credits_after = next(s for s in after.value if s.sku_part_number == "MCOPSTNC")
    assert credits_after.consumed_units == USERS
    print(f"\n250 users listed, licensed and read back through the msgraph-sdk in {took:.1f}s")


def refusal(call: Callable[[], Awaitable[Any]]) -> ODataError:
    """The ODataError the SDK raises for a refusal."""
    async def attempt() -> ODataError:
        try:
            await call()
        except ODataError as exc:
            return exc
        raise AssertionError("the call was not refused")
    return run(attempt)


def assert_graph_error(exc: ODataError, status: int, graph_code: str, code: str) -> None:
    """Graph's own code on top, ours in innerError, a message saying what to do (ERR-1)."""
    assert exc.response_status_code == status
    assert exc.error is not None and exc.error.code == graph_code, exc.error
    assert exc.error.message and exc.error.message.strip()
    inner = exc.error.inner_error
    assert inner is not None and inner.additional_data["code"] == code, inner
    assert inner.request_id and inner.date is not None


@pytest.mark.rule("LIC-3")
@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("ERR-1")
def test_refusals_through_the_msgraph_sdk_carry_graphs_code_and_ours_and_change_nothing(
    server: Server,
) -> None:
    tid = server.tenant("Fabrikam Graph")
    r = server.post(f"/tenants/{tid}/subscriptions", {"sku": "MCOEV", "quantity": 1})
    assert r.status_code == 201, r.text
    r = server.post(f"/tenants/{tid}/subscriptions", {"sku": "MCOPSTN1", "quantity": 5})
    assert r.status_code == 201, r.text
    admin, reader = server.key(tid, "global_admin"), server.key(tid, "reader")
    first = server.user(tid, "first@fabrikam.com")
    second = server.user(tid, "second@fabrikam.com")
    nowhere = server.user(tid, "nowhere@fabrikam.com", location=None)
    as_admin = graph(server.url, admin)
    run(lambda: as_admin.users.by_user_id(first).assign_license.post(add(MCOEV)))
    before = server.state(tid)

    def as_(key: str) -> GraphServiceClient:
        return graph(server.url, key)

    cases: list[tuple[Callable[[], Awaitable[Any]], int, str, str]] = [
        (lambda: as_(admin).users.by_user_id(second).assign_license.post(add(MCOEV)),
         400, "Request_BadRequest", "NO_FREE_SEATS"),
        (lambda: as_(admin).users.by_user_id("nowhere@fabrikam.com").assign_license.post(
            add(MCOPSTNC)), 400, "Request_BadRequest", "USAGE_LOCATION_REQUIRED"),
        (lambda: as_(admin).users.by_user_id(second).assign_license.post(add(MCOPSTN1)),
         400, "Request_BadRequest", "PHONE_LICENSE_REQUIRED"),
        (lambda: as_(reader).users.by_user_id(second).assign_license.post(add(MCOPSTNC)),
         403, "Authorization_RequestDenied", "FORBIDDEN"),
        (lambda: as_(admin).users.by_user_id("ghost@fabrikam.com").assign_license.post(
            add(MCOPSTNC)), 404, "Request_ResourceNotFound", "USER_NOT_FOUND"),
        (lambda: as_("cck_not-a-key").users.by_user_id(second).assign_license.post(
            add(MCOPSTNC)), 401, "InvalidAuthenticationToken", "UNAUTHENTICATED"),
    ]
    for call, status, graph_code, code in cases:
        assert_graph_error(refusal(call), status, graph_code, code)
        assert server.state(tid) == before, code
    assert nowhere

    # A reader still reads: the seats and the one license the admin gave.
    skus = run(lambda: as_(reader).subscribed_skus.get())
    phone = next(s for s in skus.value if s.sku_part_number == "MCOEV")
    assert (phone.prepaid_units.enabled, phone.consumed_units) == (1, 1)
    details = run(lambda: as_(reader).users.by_user_id(first).license_details.get())
    assert [d.sku_part_number for d in details.value] == ["MCOEV"]
