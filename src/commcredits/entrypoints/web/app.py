"""Mount the admin center on the FastAPI app: static files, page routers, HTML errors."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from commcredits.entrypoints.web import (
    common,
    pages_admin,
    pages_admins,
    pages_credits,
    pages_directory,
    pages_guard,
    pages_home,
    pages_numbers,
    pages_planning,
    pages_reports,
    pages_signin,
)
from commcredits.entrypoints.web.common import SignInRequired

# Page routers, in nav order. Each module owns one area of the admin center.
ROUTERS = [pages_signin.router, pages_home.router, pages_credits.router,
           pages_directory.router, pages_numbers.router, pages_reports.router, pages_admin.router,
           pages_admins.router, pages_guard.router,
           pages_planning.router]


class _HtmlErrors:
    """Called by the API's error handlers for admin-center paths (see api/errors.py)."""

    @staticmethod
    def handles(path: str) -> bool:
        return common.is_web_path(path)

    def __call__(self, request: Request, status: int, code: str, message: str,
                 details: Any = None) -> HTMLResponse:
        return common.error_page(request, status, code, message,
                                 details if isinstance(details, dict) else None)


FAVICON = "/static/favicon.svg"


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(packages=[("commcredits", "static")]), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        """Browsers ask for /favicon.ico on pages without an icon link (/docs, JSON)."""
        return RedirectResponse(FAVICON, status_code=308)
    app.state.html_error = _HtmlErrors()

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, _: SignInRequired) -> Response:
        return common.sign_in_redirect(request)

    for router in ROUTERS:
        app.include_router(router)
