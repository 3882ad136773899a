"""Issue #14: authorize, update and end are answered by `CallControlRoute`
(entrypoints/api/call_route.py), not by FastAPI's generic handler, with the same answers
(CALL-1, CALL-7, CALL-9, AUTH-1, ERR-1).

- The calls run with FastAPI's dependency solving switched off (it would fail the request).
- Every malformed body is refused with exactly the envelope FastAPI's own handler gives the
  same body model on a `DecimalJsonRoute` (the reference), after the key and the tenant.
- The routes are still documented in /openapi.json from their declarations.
- The text guard relates a request to its operation among the templates of its depth.
"""

from __future__ import annotations

import re
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from commcredits.entrypoints.api import errors, operations, routes_calls
from commcredits.entrypoints.api.bodies import Authorize, End
from commcredits.entrypoints.api.call_route import CallControlRoute
from commcredits.entrypoints.api.operations import operation_for
from commcredits.entrypoints.api.routing import api_router
from commcredits.services.context import Services
from tests.e2e.conftest import Api, assert_envelope, snapshot
from tests.integration.test_calls import GB_MOBILE, setup

CALL = {"call_id": "cr-1", "call_type": "user_out", "user": "alice0@contoso.com",
        "caller": "+12065550100", "callee": GB_MOBILE}
PATHS = {"authorize": "/api/v1/tenants/{tid}/calls/authorize",
         "update": "/api/v1/tenants/{tid}/calls/{call_id}/update",
         "end": "/api/v1/tenants/{tid}/calls/{call_id}/end"}
# (Content-Type or None, body): each is refused by body validation (422).
BAD_BODIES: list[tuple[str | None, bytes]] = [
    ("application/json", b""),
    (None, b'{"duration_seconds": 5}'),
    ("text/plain", b'{"duration_seconds": 5}'),
    ("application/json", b"not json"),
    ("application/json", b"[]"),
    ("application/json", b"{}"),
    ("application/json", b'{"duration_seconds": 5, "x": 1}'),
    ("application/json; charset=utf-8", b'{"x": 1}'),
    ("application/vnd.example+json", b'{"x": 1}'),
    ("application/json", b'{"duration_seconds": 1' + b"0" * 5000 + b"}"),
    ("application/json", b"[" * 100_000),
]


def _reference() -> TestClient:
    """FastAPI's own handler for the same body models, with the app's error handlers."""
    app = FastAPI()
    errors.install(app)
    router = api_router()

    @router.post("/end", response_model=None)
    def end(body: End) -> dict[str, Any]:
        return {}

    @router.post("/authorize", response_model=None)
    def authorize(body: Authorize) -> dict[str, Any]:
        return {}

    app.include_router(router)
    return TestClient(app)


def _send(client: TestClient, path: str, content_type: str | None, body: bytes,
          key: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = client.post(path, content=body, headers=headers)
    return r.status_code, r.json()


@pytest.mark.rule("CALL-1")
@pytest.mark.rule("CALL-7")
@pytest.mark.rule("CALL-9")
def test_call_control_runs_without_fastapi_dependency_solving(
    api: Api, svc: Services, monkeypatch: pytest.MonkeyPatch,
) -> None:
    tid = setup(svc)
    platform = api.key(tid, "platform")

    async def no_solving(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("FastAPI's dependency solving ran")

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", no_solving)
    r = api.post(f"/tenants/{tid}/calls/authorize", CALL, key=platform)
    assert r.status_code == 200, r.text
    assert (r.json()["decision"], r.json()["grant_seconds"]) == ("allow", 300)
    r = api.post(f"/tenants/{tid}/calls/cr-1/update", {"used_seconds": 300}, key=platform)
    assert r.json() == {"grant_seconds": 300, "final": False, "status": "active"}
    r = api.post(f"/tenants/{tid}/calls/cr-1/end", {"duration_seconds": 361}, key=platform)
    assert r.status_code == 200, r.text
    assert (r.json()["charge"], r.json()["currency"]) == ("0.84", "USD")
    monkeypatch.undo()
    assert api.ok(f"/tenants/{tid}/credits")["balance"] == "99.16"
    routes = {getattr(r, "path", None): r for r in routes_calls.control.routes}
    assert sorted(routes) == sorted(PATHS.values())
    assert all(isinstance(route, CallControlRoute) for route in routes.values())


@pytest.mark.rule("AUTH-1")
@pytest.mark.rule("ERR-1")
def test_bad_bodies_are_refused_as_fastapi_refuses_them_after_key_and_tenant(
    api: Api, svc: Services, engine: Engine, subtests: pytest.Subtests,
) -> None:
    tid = setup(svc)
    platform = api.key(tid, "platform")
    stranger = api.key(setup(svc), "platform")
    reference = _reference()
    before = snapshot(api, engine, tid)
    for path, model in ((f"/api/v1/tenants/{tid}/calls/c-1/end", "end"),
                        (f"/api/v1/tenants/{tid}/calls/authorize", "authorize")):
        for content_type, body in BAD_BODIES:
            with subtests.test(path=path, content_type=content_type, body=body[:40]):
                expected = _send(reference, f"/api/v1/{model}", content_type, body, None)
                assert expected[0] == 422
                assert expected[1]["error"]["code"] == "VALIDATION_ERROR"
                assert _send(api.client, path, content_type, body, platform) == expected
                status, answer = _send(api.client, path, content_type, body, stranger)
                assert (status, answer["error"]["code"]) == (404, "TENANT_NOT_FOUND")
                status, answer = _send(api.client, path, content_type, body, None)
                assert (status, answer["error"]["code"]) == (401, "UNAUTHENTICATED")
    assert snapshot(api, engine, tid) == before


@pytest.mark.rule("ERR-1")
def test_a_malformed_body_names_the_problem(api: Api, svc: Services) -> None:
    tid = setup(svc)
    platform = api.key(tid, "platform")
    r = api.post(f"/tenants/{tid}/calls/c-1/end", content=b"", key=platform)
    body = assert_envelope(r, 422, "VALIDATION_ERROR")
    assert body["details"]["errors"] == [{"location": "body",
                                                   "problem": "Field required"}]
    r = api.post(f"/tenants/{tid}/calls/c-1/end", content=b'{"duration_seconds": 5, "x": 1}',
                 key=platform, headers={"Content-Type": "application/json"})
    body = assert_envelope(r, 422, "VALIDATION_ERROR")
    assert body["details"]["errors"] == [{"location": "body.x",
                                                   "problem": "Extra inputs are not permitted"}]


def test_openapi_documents_the_three_operations_from_their_declarations(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    for name, path in PATHS.items():
        op = spec["paths"][path]["post"]
        assert op["tags"] == ["call control"], name
        assert [p["name"] for p in op["parameters"]] == [
            *(p.strip("{}") for p in path.split("/") if p.startswith("{")), "authorization"]
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{name.capitalize()}"


@pytest.mark.rule("ERR-1")
def test_operations_are_matched_among_templates_of_the_same_depth(api: Api) -> None:
    """The text guard and the ``Allow`` header match a path only against the templates with
    as many ``/``: every template's own path finds its operation among them, and a path of
    another depth finds none of it."""
    app = api.client.app
    spec = api.client.get("/openapi.json").json()
    for template, ops in spec["paths"].items():
        path = re.sub(r"\{\w+\}", "x1", template)
        methods = {m.upper() for m in ops}
        found = operations.matching(app, path)
        assert found and any(op.methods == methods for op in found), template
        assert methods <= set(operations.allowed_methods(app, path)), template
        assert operation_for(app, path) is not None, template
        assert not any(op.pattern.match(path + "/x1") for op in found), template
    assert operations.matching(app, "/api/v1/tenants/x1/calls/x1/end/x1") == []
    assert operations.allowed_methods(app, "/api/v1/tenants/x1/calls/x1/end") == ["POST"]
