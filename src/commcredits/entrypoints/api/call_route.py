"""The route class of the three call-control operations (CALL-1, CALL-7, CALL-9): FastAPI
declares them, this class answers them.

A call-control request is the service's hot path, and FastAPI's generic request handler
(dependency solving with its sub-dependencies, the endpoint's context, the content-type
parsed by `email` for every request) cost more server CPU than the call's business logic
(docs/benchmarks.md). `CallControlRoute` keeps each operation ONE FastAPI route, declared
as any other (its path, its body model, its ``Authorization`` header and its tags are in
`/openapi.json` from the same declaration), but replaces the handler FastAPI would build with
one that does only what these endpoints need, in FastAPI's order:

1. the bearer key, by `get_api_key` (also the endpoints' declared dependency, which documents
   the header): no key is 401 before the body is looked at;
2. the body read as `routing.DecimalJsonRoute` reads it (JSON only for a JSON
   ``Content-Type``, fractions as `Decimal`, `Malformed` when it does not parse) and
   validated by FastAPI's own `request_body_to_args` against the route's body field, so a
   bad body raises the same `RequestValidationError` with the same errors (and the app's
   handler still answers 401/403/404 before 422);
3. the endpoint, called with the path parameters, ``body``, ``svc`` (the app's services) and
   ``who`` (the key) by keyword. The endpoint's signature is checked when the route is made,
   so a route that needs anything else fails at startup rather than per request.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.dependencies.utils import request_body_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic_core import PydanticUndefined
from starlette.exceptions import HTTPException

from commcredits.domain.errors import Unauthenticated
from commcredits.entrypoints.api.deps import bearer_key
from commcredits.entrypoints.api.routing import PREFIX, decimal_json, is_json_type
from commcredits.services import calls

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
FIXED = ("body", "svc", "who")  # the parameters besides the path's, by name


def get_api_key(authorization: Annotated[str | None, Header()] = None) -> calls.ApiKey:
    """The bearer key, as `deps.get_principal` reads it, not yet checked. A request with no
    key at all is refused here (401), before its body is validated; the key itself is
    checked by the service, in the request's one transaction."""
    key = bearer_key(authorization)
    if not key:
        raise Unauthenticated(
            "UNAUTHENTICATED", "Send an API key as 'Authorization: Bearer <key>'.",
        )
    return calls.ApiKey(key)


KeyDep = Annotated[calls.ApiKey, Depends(get_api_key)]


class CallControlRoute(APIRoute):
    """An `APIRoute` for an endpoint ``async (<path params>, body, svc, who) -> Response``
    (``svc``: the app's services; ``who``: `get_api_key`'s key)."""

    def get_route_handler(self) -> Handler:
        body_field = self.body_field
        path_names = tuple(param.name for param in self.dependant.path_params)
        expected = {*path_names, *FIXED}
        declared = set(inspect.signature(self.endpoint).parameters)
        if body_field is None or declared != expected:
            raise TypeError(f"{self.path}: a call-control endpoint takes exactly "
                            f"{sorted(expected)}, not {sorted(declared)}")
        endpoint = self.endpoint

        async def call_control(request: Request) -> Response:
            who = get_api_key(request.headers.get("authorization"))
            body = await _read_body(request)
            values, errors = await request_body_to_args([body_field], body,
                                                        embed_body_fields=False)
            if errors:
                raise RequestValidationError(errors, body=body)
            params = request.path_params
            response: Response = await endpoint(
                **{name: params[name] for name in path_names},
                body=values[body_field.name], svc=request.app.state.services, who=who,
            )
            return response

        return call_control


async def _read_body(request: Request) -> Any:
    """The body as FastAPI hands it to validation: nothing (empty), the parsed JSON (a JSON
    ``Content-Type``), or the bytes (any other, or no ``Content-Type``)."""
    try:
        raw = await request.body()
    except Exception as exc:  # as FastAPI answers a body that cannot be read
        raise HTTPException(status_code=400,
                            detail="There was an error parsing the body") from exc
    if not raw:
        return PydanticUndefined
    content_type = request.headers.get("content-type")
    if content_type and is_json_type(content_type):
        return decimal_json(raw)
    return raw


def call_control_router(*, tags: list[str | Enum]) -> APIRouter:
    """A router under /api/v1 whose routes are `CallControlRoute`s."""
    return APIRouter(prefix=PREFIX, route_class=CallControlRoute, tags=tags)
