"""The API's operations as path patterns, from its OpenAPI document (built once per app),
indexed by their number of ``/`` so a request is matched against a few, not all of them.

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


@dataclass(frozen=True, slots=True)
class _Index:
    document: dict[str, Any]
    by_depth: dict[int, list[Operation]]  # by the number of "/" in the template


_BY_DOCUMENT: dict[int, _Index] = {}


def _index(app: Any) -> _Index | None:
    if not hasattr(app, "openapi"):
        return None
    document: dict[str, Any] = app.openapi()
    cached = _BY_DOCUMENT.get(id(document))
    if cached is not None and cached.document is document:
        return cached
    by_depth: dict[int, list[Operation]] = {}
    for template, ops in document.get("paths", {}).items():
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        methods = {m.upper() for m, op in ops.items() if isinstance(op, dict)}
        json_methods = {
            m.upper() for m, op in ops.items() if isinstance(op, dict)
            and "application/json" in op.get("requestBody", {}).get("content", {})
        }
        op = Operation(re.compile(f"^{regex}$"), frozenset(methods), frozenset(json_methods))
        by_depth.setdefault(template.count("/"), []).append(op)
    index = _BY_DOCUMENT[id(document)] = _Index(document, by_depth)
    return index


def candidates(app: Any, path: str) -> list[Operation]:
    """The operations whose template has as many ``/`` as the path, in document order: the
    only ones that can match it (a path parameter never holds a ``/``)."""
    index = _index(app)
    return index.by_depth.get(path.count("/"), []) if index is not None else []


def matching(app: Any, path: str) -> list[Operation]:
    """Every operation whose template matches the path, in document order."""
    return [op for op in candidates(app, path) if op.pattern.match(path)]


def operation_for(app: Any, path: str) -> tuple[Operation, dict[str, str]] | None:
    """The first operation whose template matches the path, with the path parameters."""
    for op in candidates(app, path):
        match = op.pattern.match(path)
        if match:
            return op, match.groupdict()
    return None


def allowed_methods(app: Any, path: str) -> list[str]:
    """Every method the API answers on this path, for ``Allow``."""
    methods: set[str] = set()
    for op in matching(app, path):
        methods |= op.methods
    return sorted(methods)
