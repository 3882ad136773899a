"""The edge check for text no store takes (ERR-1): one ASGI middleware for every request.

A NUL character or a lone surrogate in a path parameter, a query parameter, a JSON body
(field names included) or a form is answered with 422 ``INVALID_INPUT`` naming it
(``details.param`` or ``details.field``) before any route runs, so no such text reaches a
service or the database. Uploaded files are checked by their one reader instead
(`domain.text.read_upload`), which names the line.

The cost for good requests is small: path and query are scanned for ``\\x00`` (the only bad
character they can decode to besides a surrogate), and a body is parsed again only when it
holds a ``\\u`` escape (JSON) or a ``%00``/NUL (forms). On an API path, a request with no
valid key is still answered 401 first, as every other refusal (AUTH-1).

A tenant id in an API path longer than any tenant's (`TENANT_ID_LENGTH`) is answered 404
``TENANT_NOT_FOUND`` here too, as the routes would: on Citus a value wider than the
distribution column cannot even be routed to a shard (DIST-1), so it never reaches a
statement.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commcredits.domain.errors import DomainError, InvalidInput, NotFound
from commcredits.domain.tenants import TENANT_ID_LENGTH
from commcredits.domain.text import bad_text_refusal, find_bad_text, text_problem
from commcredits.entrypoints.api import errors
from commcredits.entrypoints.api.graph_odata import graph_refusal
from commcredits.entrypoints.api.operations import matching, operation_for
from commcredits.services.auth import authenticate, tenant_not_found

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class TextGuard:
    """Refuse NUL characters and lone surrogates in path, query, JSON and form input."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _path_problem(scope) or _tenant_problem(scope) or _query_problem(scope)
        if refusal is None and scope["method"] in BODY_METHODS:
            kind = _body_kind(scope)
            if kind is not None and _body_is_checked(scope, kind):
                body = await _read_body(receive)  # uploads are not buffered: not checked here
                refusal = _body_problem(kind, body)
                receive = _replay(body, receive)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        answer: DomainError = await _unauthenticated(scope) or refusal
        if str(scope["path"]).startswith("/graph/"):  # Graph's own error shape there
            response: Response = graph_refusal(answer)
        else:
            response = errors.answer(request, errors.STATUS[answer.kind], answer.code,
                                     answer.message, answer.details)
        await response(scope, receive, send)


def _path_problem(scope: Scope) -> InvalidInput | None:
    path: str = scope["path"]
    problem = text_problem(path)
    if problem is None:
        return None
    name = "path"
    found = operation_for(scope.get("app"), path)
    if found is not None:
        name = next((k for k, v in found[1].items() if text_problem(v)), name)
    return bad_text_refusal("path parameter", repr(name), problem, param=name)


def _tenant_problem(scope: Scope) -> NotFound | None:
    """TENANT_NOT_FOUND for an API path whose tenant segment no tenant id can be."""
    path: str = scope["path"]
    if not path.startswith("/api/"):
        return None
    at = path.find("/tenants/")
    if at < 0:
        return None
    tenant_id = path[at + len("/tenants/"):].split("/", 1)[0]
    return tenant_not_found(tenant_id) if len(tenant_id) > TENANT_ID_LENGTH else None


def _reads_json(scope: Scope) -> bool:
    """Whether the API operation of this request reads its body as JSON (uploads do not:
    their one reader checks them, by line)."""
    found = matching(scope.get("app"), scope["path"])
    return not found or any(scope["method"] in op.json_methods for op in found)


def _query_problem(scope: Scope) -> InvalidInput | None:
    raw: bytes = scope.get("query_string", b"")
    if not raw or (b"%00" not in raw and b"\x00" not in raw):
        return None
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        problem = text_problem(name) or text_problem(value)
        if problem:
            return bad_text_refusal("query parameter", repr(name), problem, param=name)
    return None


def _body_kind(scope: Scope) -> str | None:
    """'json' or 'form' for bodies that may carry such text; None for uploads and the rest."""
    content_type = ""
    for key, value in scope["headers"]:
        if key == b"content-type":
            content_type = value.decode("latin-1").lower()
            break
    if not content_type or "json" in content_type:
        return "json"  # FastAPI reads a body without a content type as JSON too
    if content_type.startswith("application/x-www-form-urlencoded"):
        return "form"
    return None


def _body_is_checked(scope: Scope, kind: str) -> bool:
    """JSON bodies of operations that read JSON, and forms of the admin center."""
    api = str(scope["path"]).startswith(("/api/", "/graph/"))
    if kind == "form":
        return not api
    return not api or _reads_json(scope)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _body_problem(kind: str, body: bytes) -> InvalidInput | None:
    if kind == "json":
        if b"\\u" not in body:
            return None  # an unescaped NUL is not JSON, and the route refuses it
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            return None  # not JSON: the route answers (a validation error, or an upload)
        found = find_bad_text(value)
        if found is None:
            return None
        where, what = found
        return bad_text_refusal("field", repr(where), what, field=where)
    if b"%00" not in body and b"\x00" not in body:
        return None
    for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
        problem = text_problem(name) or text_problem(value)
        if problem:
            return bad_text_refusal("form field", repr(name), problem, field=name)
    return None


async def _unauthenticated(scope: Scope) -> DomainError | None:
    """On an API or Graph path, the refusal for a missing or unknown key, which comes
    first."""
    path: str = scope["path"]
    if not path.startswith(("/api/", "/graph/")):
        return None
    services = scope["app"].state.services
    key = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                key = text[7:].strip()
            break

    def check() -> None:
        with services.uow(readonly=True) as uow:
            authenticate(uow, key, services.operator_key)

    try:
        await run_in_threadpool(check)
    except DomainError as exc:
        return exc
    return None
