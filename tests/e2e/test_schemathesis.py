"""Schemathesis against the real app on PostgreSQL (ERR-1): property-based requests for every
operation of the OpenAPI document, valid and invalid (positive and negative generation).

Each answer must not be a 5xx, every 4xx must be the error envelope (Graph's own shape on
the Graph endpoint), and responses must conform to the document (status codes and bodies;
`entrypoints/api/openapi.py` declares the envelope for every operation). Requests go in
as the operator or as a tenant's global admin, by turns, and half of the generated tenant
ids are replaced by the real tenant's, so requests get past "no such tenant".

The example count per operation is bounded for CI (``COMMCREDITS_SCHEMATHESIS_EXAMPLES``,
30 by default: about 3,000 requests, about a minute on 2 cores); `docs/reliability.md`
has the longer local run. Skipped without ``COMMCREDITS_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine

from commcredits.bootstrap import Runtime, build
from commcredits.config import Settings
from commcredits.entrypoints.api.app import create_app
from commcredits.services import tenants
from commcredits.services.context import Services
from tests.conftest import PG_URL, _reset_postgres
from tests.integration.test_calls import setup
from tests.support import OPERATOR, OPERATOR_KEY

EXAMPLES = int(os.environ.get("COMMCREDITS_SCHEMATHESIS_EXAMPLES", "30"))
COUNT_FILE = os.environ.get("COMMCREDITS_SCHEMATHESIS_COUNT_FILE")


class World:
    """The app, the tenant the requests may land on, and the keys they go in with."""

    def __init__(self, runtime: Runtime) -> None:
        svc = runtime.services
        self.app = create_app(runtime)
        self.tid = setup(svc)
        self.admin_key = tenants.create_api_key(svc, OPERATOR, self.tid, role="global_admin",
                                                name="schemathesis").key
        self.sent = 0
        self.statuses: Counter[int] = Counter()


@pytest.fixture(scope="module")
def pg_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """One database for the whole run: what earlier operations created stays for later."""
    if not PG_URL:
        pytest.skip("COMMCREDITS_TEST_POSTGRES_URL is not set")
    _reset_postgres(PG_URL)
    outbox = tmp_path_factory.mktemp("schemathesis") / "outbox"
    runtime = build(Settings(database_url=PG_URL, operator_key=OPERATOR_KEY,
                             outbox_dir=str(outbox), smtp_host=None))
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def world(pg_runtime: Runtime) -> Iterator[World]:
    w = World(pg_runtime)
    yield w
    if COUNT_FILE:  # for docs/reliability.md: requests sent and answers by status
        with open(COUNT_FILE, "a") as fh:
            fh.write(json.dumps({"requests": w.sent, "statuses": dict(sorted(
                w.statuses.items()))}) + "\n")


def _document() -> dict[str, Any]:
    """The app's OpenAPI document, built without a database (routes only)."""
    placeholder = Runtime(Settings(), create_engine("sqlite://"), cast(Services, None))
    document: dict[str, Any] = create_app(placeholder).openapi()
    return document


# Loaded at import (schemathesis's lazy `from_fixture` does not run on pytest 9.2: it sets
# a node attribute that pytest no longer has); each case is sent to the test's own app.
schema = schemathesis.openapi.from_dict(_document())
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=EXAMPLES, deterministic=True, database="none",
)


def _coin(case: Any, salt: str) -> int:
    seen = repr((case.path_parameters, case.query, case.body, salt)).encode()
    return hashlib.sha256(seen).digest()[0] % 2


def _assert_envelope(case: Any, response: Any) -> None:
    if not 400 <= response.status_code < 500:
        return
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), response.text
    error = body["error"]
    if case.path.startswith("/graph/"):
        assert {"code", "message"} <= set(error), response.text
        return
    assert set(body) == {"error"} and set(error) == {"code", "message", "details"}, \
        response.text
    assert error["code"] and error["message"] and isinstance(error["details"], dict), \
        response.text


@pytest.mark.rule("ERR-1")
@pytest.mark.postgres
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_schemathesis_no_5xx_every_4xx_in_the_envelope_and_the_schema_holds(
    case: Any, world: World,
) -> None:
    if case.path_parameters and "tid" in case.path_parameters and _coin(case, "tid"):
        case.path_parameters["tid"] = world.tid
    key = OPERATOR_KEY if _coin(case, "who") else world.admin_key
    # The document declares the Authorization header; the generated one is replaced by a key.
    response = case.call(app=world.app, headers={"Authorization": f"Bearer {key}"})
    world.sent += 1
    world.statuses[response.status_code] += 1
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                             response_schema_conformance])
    _assert_envelope(case, response)
