"""How /api/v1 routes read a JSON body: numbers with a fraction or exponent become `Decimal`,
never binary floats (FUND-9), and a body that is not JSON is reported by body validation.

- ``{"amount": 50.009999999999999999}`` reaches the domain as that exact decimal, which
  `money.parse_amount` refuses for its decimal places, instead of a float that rounds to
  50.01 and would be accepted.
- A body that does not parse (bad JSON, an integer of more than 4,300 digits, nesting deeper
  than the parser's recursion) becomes `MALFORMED`, which every request model refuses
  (`bodies.Body`). FastAPI's own parse error is raised before the route's dependencies
  run; this way authentication and access (401, 403/404) are decided first, then the body
  (422), as for any other invalid body.
"""

from __future__ import annotations

import email.message
import functools
import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from enum import Enum
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

PREFIX = "/api/v1"


class Malformed:
    """The body of a request whose JSON did not parse; `reason` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Malformed({self.reason!r})"


class DecimalJsonRequest(Request):
    """A request whose `json()` reads fractions as `Decimal` and never raises."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decimal_json(await self.body())
        return self._json


_DECODER = json.JSONDecoder(parse_float=Decimal)  # `json.loads` would make one per call


def decimal_json(body: bytes) -> Any:
    """The body's JSON with fractions as `Decimal`, or `Malformed` saying why it is not
    (bytes decoded as `json.loads` decodes them)."""
    try:
        return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except json.JSONDecodeError as exc:
        return Malformed(f"not valid JSON ({exc.msg} at position {exc.pos})")
    except (ValueError, RecursionError):
        return Malformed("not JSON this service reads (too long a number or too deeply "
                         "nested)")


@functools.lru_cache(maxsize=64)
def is_json_type(content_type: str) -> bool:
    """Whether FastAPI reads a body of this ``Content-Type`` as JSON (``application/json``
    or ``application/*+json``), parsed as FastAPI parses it; cached, as clients send a few."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


class DecimalJsonRoute(APIRoute):
    """An `APIRoute` that hands its endpoint a `DecimalJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def decimal_json_handler(request: Request) -> Response:
            return await handler(DecimalJsonRequest(request.scope, request.receive))

        return decimal_json_handler


def api_router(*, tags: list[str | Enum] | None = None) -> APIRouter:
    """A router under /api/v1 whose routes read JSON bodies as `DecimalJsonRequest` does."""
    return APIRouter(prefix=PREFIX, route_class=DecimalJsonRoute, tags=tags)
