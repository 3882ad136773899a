"""Browser hardening for every answer: framing refused, a Content-Security-Policy, and the
one-time sign-in link's token kept out of the access log.

The policy fits the admin center as it is: scripts and styles come from `/static` only
(HTMX is vendored; the pages' own script is `/static/app.js`, with no inline script, event
handler attribute, ``hx-on`` or ``javascript:`` link, and HTMX's ``allowEval`` and inline
indicator styles are turned off in `base.html`'s ``htmx-config``). Inline ``style``
attributes are allowed (``style-src-attr``): the report bars set their widths that way, and
a style attribute cannot run script. FastAPI's `/docs` and `/redoc` load Swagger UI and
ReDoc from a CDN with an inline script, so they get framing protection but not this policy.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The API's printable invoice (`?format=html`) is one standalone document with its own
# <style>: it may use inline styles, and still runs no script.
INVOICE_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self';", "style-src 'self' 'unsafe-inline';")
NO_POLICY_PATHS = ("/docs", "/redoc")
HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Add the hardening headers to every HTTP answer that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        policy = None if path.startswith(NO_POLICY_PATHS) else CONTENT_SECURITY_POLICY.encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in HEADERS if h[0] not in present)
                if policy is not None and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", policy))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_LINK = re.compile(r"(/signin/link/)[^\s?\"]+")


class RedactSignInLinks(logging.Filter):
    """Replace the token of ``/signin/link/<token>`` in uvicorn's access log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args: Any = record.args
        if isinstance(args, tuple) and any(isinstance(a, str) and "/signin/link/" in a
                                           for a in args):
            record.args = tuple(_LINK.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in args)
        elif isinstance(record.msg, str) and "/signin/link/" in record.msg:
            record.msg = _LINK.sub(r"\1[redacted]", record.msg)
        return True


def redact_access_log() -> None:
    """Install `RedactSignInLinks` on uvicorn's access logger (once per process)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSignInLinks) for f in logger.filters):
        logger.addFilter(RedactSignInLinks())
