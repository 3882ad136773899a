"""The one error envelope (ERR-1): ``{"error": {"code", "message", "details"}}``, 4xx only.

Every refusal, framework validation error, unknown route and even an unexpected failure is
answered in this shape; nothing answers with a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from commcredits.domain.errors import DomainError
from commcredits.entrypoints.api.deps import bearer_key
from commcredits.entrypoints.api.operations import allowed_methods
from commcredits.services.auth import access_refusal
from commcredits.services.context import Services

log = logging.getLogger("commcredits.api")

STATUS = {
    "invalid": 422,
    "not_found": 404,
    "forbidden": 403,
    "conflict": 409,
    "payment": 402,
    "unauthenticated": 401,
    "throttled": 429,
}


def envelope(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": message,
                           "details": jsonable_encoder(details or {})}},
        headers=headers,
    )


def _is_page(request: Request) -> bool:
    """An admin-center path, answered with an HTML page rather than the JSON envelope."""
    html = getattr(request.app.state, "html_error", None)
    return html is not None and bool(html.handles(request.url.path))


# Unknown routes: API clients are pointed to the API docs; admins on a page are not.
_HTTP_MESSAGES = {
    404: "No such resource. See /docs for the API.",
    405: "This method is not allowed here. See /docs for the API.",
}
_PAGE_MESSAGES = {
    404: "There is no page at this address. Check the link, or start again from Home.",
    405: "This page cannot do that. Go back, reload the page and try again.",
}


def answer(request: Request, status: int, code: str, message: str, details: Any = None,
            ) -> Response:
    """The envelope, or the admin center's HTML error page for its own paths."""
    html = getattr(request.app.state, "html_error", None)
    if html is not None and _is_page(request):
        response: Response = html(request, status, code, message, details)
        return response
    return envelope(status, code, message, details)


def _refused_first(request: Request) -> DomainError | None:
    """On /api/ paths, the refusal that comes before a 422: 401, or 404 for a tenant."""
    if not request.url.path.startswith("/api/"):
        return None
    svc: Services | None = getattr(request.app.state, "services", None)
    if svc is None:
        return None
    tid = request.path_params.get("tid")
    with svc.uow(readonly=True) as uow:
        return access_refusal(uow, bearer_key(request.headers.get("authorization")),
                              svc.operator_key, None if tid is None else str(tid))


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        return answer(request, STATUS[exc.kind], exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        # A bad key or another tenant's path is refused before the input is judged, on
        # every API route, without costing the routes that pass validation anything.
        refused = await run_in_threadpool(_refused_first, request)
        if refused is not None:
            return answer(request, STATUS[refused.kind], refused.code, refused.message,
                          refused.details)
        problems = [
            {"location": ".".join(str(p) for p in err.get("loc", ())), "problem": err.get("msg")}
            for err in exc.errors()
        ]
        first = problems[0] if problems else {"location": "body", "problem": "invalid"}
        return answer(
            request, 422, "VALIDATION_ERROR",
            f"The request is not valid: {first['location']}: {first['problem']}.",
            {"errors": problems},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHENTICATED"}
        code = codes.get(exc.status_code, "HTTP_ERROR")
        messages = _PAGE_MESSAGES if _is_page(request) else _HTTP_MESSAGES
        message = messages.get(exc.status_code, str(exc.detail))
        response = answer(request, exc.status_code, code, message)
        if exc.status_code == 405:  # name every method of the path, not one route's
            allowed = allowed_methods(request.app, request.url.path)
            response.headers["Allow"] = ", ".join(allowed) if allowed else \
                (exc.headers or {}).get("Allow", "")
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:  # pragma: no cover
        log.exception("unexpected error", exc_info=exc)
        return answer(request, 500, "INTERNAL_ERROR", "Something went wrong on our side. "
                        "Check whether the request took effect before you repeat it (retry "
                        "with the same Idempotency-Key where it has one), and report it if "
                        "it persists.")
