"""The API's operations as path patterns, from its OpenAPI document (built once per app).

Used where a request must be related to its operation before or outside routing: the text
guard names a bad path parameter and knows which operations read JSON, and a 405 answer
lists every method of the path (``Allow``), not only those of the first route that matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Operation:
    pattern: re.Pattern[str]
    methods: frozenset[str]
    json_methods: frozenset[str]


_BY_DOCUMENT: dict[int, tuple[dict[str, Any], list[Operation]]] = {}


def operations(app: Any) -> list[Operation]:
    """The operations of the app's document (shared by apps with the same document)."""
    if not hasattr(app, "openapi"):
        return []
    document: dict[str, Any] = app.openapi()
    cached = _BY_DOCUMENT.get(id(document))
    if cached is not None and cached[0] is document:
        return cached[1]
    found: list[Operation] = []
    for template, ops in document.get("paths", {}).items():
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        methods = {m.upper() for m, op in ops.items() if isinstance(op, dict)}
        json_methods = {
            m.upper() for m, op in ops.items() if isinstance(op, dict)
            and "application/json" in op.get("requestBody", {}).get("content", {})
        }
        found.append(Operation(re.compile(f"^{regex}$"), frozenset(methods),
                               frozenset(json_methods)))
    _BY_DOCUMENT[id(document)] = (document, found)
    return found


def operation_for(app: Any, path: str) -> tuple[Operation, dict[str, str]] | None:
    """The first operation whose template matches the path, with the path parameters."""
    for op in operations(app):
        match = op.pattern.match(path)
        if match:
            return op, match.groupdict()
    return None


def allowed_methods(app: Any, path: str) -> list[str]:
    """Every method the API answers on this path, for ``Allow``."""
    methods: set[str] = set()
    for op in operations(app):
        if op.pattern.match(path):
            methods |= op.methods
    return sorted(methods)
