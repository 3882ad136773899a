"""Every request observed once (OPS-1, OPS-4): its request id, its metrics and its log line.

`Observe` is the outermost ASGI middleware. For each HTTP request it

- takes the caller's ``X-Request-Id`` when it is a sane token (letters, digits, ``.-_:``, at
  most 128), or makes one, and returns it as ``X-Request-Id``;
- counts the request by method, route *template* (``/api/v1/tenants/{tid}/credits``, never
  the raw path, so no tenant id, number or token becomes a label) and status, and observes
  its latency;
- with ``COMMCREDITS_LOG_FORMAT=json``, logs one line on ``commcredits.access``: a JSON object
  with time, level, request id, method, route, status, duration and tenant (in text mode
  uvicorn's access log stays as it was).

`JsonFormatter` writes every log record as one JSON line and scrubs what must never reach a
log (OPS-4): API keys (``cck_…``), bearer tokens, one-time sign-in links, session cookies,
and runs of 7 or more digits (card numbers, full callee numbers) keep their first 4 digits.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commcredits.adapters.metrics import HTTP_LATENCY, HTTP_REQUESTS

access_log = logging.getLogger("commcredits.access")
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "commcredits_request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED = "unmatched"  # the route label of a request that matched no route (404)


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _VALID_ID.match(text):
                return text
            break
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    return str(path) if path else UNMATCHED


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope.get("headers", []))
        token = REQUEST_ID.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [h for h in message.get("headers", [])
                           if h[0].lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = str(scope.get("method", ""))
            route = route_template(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(elapsed)
            params = scope.get("path_params") or {}
            tenant = params.get("tid") or params.get("tenant_id")
            if access_log.isEnabledFor(logging.INFO):  # JSON logs only (`json_log_config`)
                access_log.info("%s %s %s", method, route, status, extra={
                    "request_id": rid, "method": method, "route": route, "status": status,
                    "duration_ms": round(elapsed * 1000, 3), "tenant": tenant,
                })
            REQUEST_ID.reset(token)


_SCRUB = [
    (re.compile(r"cck_[A-Za-z0-9_-]+"), "cck_[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1[redacted]"),
    (re.compile(r"(/signin/link/)[^\s?\"']+"), r"\1[redacted]"),
    (re.compile(r"(?i)(session=|csrf[_-]?token=)[^\s;\"'&]+"), r"\1[redacted]"),
    (re.compile(r"(\+?\d{4})[\d \-]{3,}\d"), r"\1[redacted]"),
]
_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "tenant")


def scrub(text: str) -> str:
    """The text without keys, tokens, sign-in links, card numbers or full phone numbers."""
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and the fields an
    access record carries; everything scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if name == "request_id" and value is None:
                value = REQUEST_ID.get()
            out[name] = value
        if record.exc_info:
            out["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def json_log_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` that writes uvicorn's and commcredits' records as JSON
    lines on stderr (uvicorn's own access log is turned off: `Observe` writes that line)."""
    handler = {"class": "logging.StreamHandler", "formatter": "default",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"default": {"()": "commcredits.entrypoints.api.observe.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            name: {"handlers": ["default"], "level": level, "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "commcredits")
        },
    }
