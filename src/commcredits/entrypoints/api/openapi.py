"""The OpenAPI document says what the API really answers (ERR-1): every refusal is the error
envelope, so the document declares it for every operation, in place of FastAPI's default
422 ``HTTPValidationError`` (which this API never sends), and as ``4XX``. The Graph endpoint
refuses in Graph's own shape (REP-3) and declares that as well.

Schemathesis (`tests/e2e/test_schemathesis.py`) checks responses against this document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string", "minLength": 1},
            "message": {"type": "string", "minLength": 1},
            "details": {"type": "object"},
        },
    }},
}
GRAPH_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "innerError": {"type": "object"}},
    }},
}
_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}
_GRAPH_REF = {"anyOf": [_REF, {"$ref": "#/components/schemas/GraphError"}]}


# Documents by the routes they were built from: every app `create_app` makes has the same
# routes, and building one takes a fifth of a second (tests make an app per test).
_DOCUMENTS: dict[tuple[Any, ...], dict[str, Any]] = {}


def _routes_key(app: FastAPI) -> tuple[Any, ...]:
    """The app's routes: flat routes by path, included routers by their router object."""
    return (app.title, app.version, app.description, tuple(
        getattr(r, "path", None) or id(getattr(r, "original_router", r)) for r in app.routes))


def install(app: FastAPI) -> None:
    """Build the document once, with the error envelope declared for every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            key = _routes_key(app)
            if key not in _DOCUMENTS:
                document = get_openapi(title=app.title, version=app.version,
                                       description=app.description, routes=app.routes)
                _DOCUMENTS[key] = with_envelope(document)
            app.openapi_schema = _DOCUMENTS[key]
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_envelope(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["ErrorEnvelope"] = ENVELOPE
    schemas["GraphError"] = GRAPH_ERROR
    for path, operations in document.get("paths", {}).items():
        error = _GRAPH_REF if path.startswith("/graph/") else _REF
        for op in operations.values():
            if not isinstance(op, dict):
                continue
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            responses["4XX"] = {
                "description": "Refused: the error envelope (ERR-1)",
                "content": {"application/json": {"schema": error}},
            }
    return document
