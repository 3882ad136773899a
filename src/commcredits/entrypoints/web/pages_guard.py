"""Communications Credits > Spend guard (GUARD-1, GUARD-3): the tenant's spend limits and
blocked destinations, as a plain form post (CSRF-checked by `current_page`, no script) on
the same service as `PUT /api/v1/tenants/{tid}/spend-guard`. A refusal re-renders the form
with the stable code inline and the values typed; a reader sees the settings only."""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from commcredits.domain.errors import DomainError
from commcredits.domain.guard import Limit
from commcredits.entrypoints.web.common import FormDep, Page, PageDep, status_of
from commcredits.services import guard
from commcredits.services.auth import Action

router = APIRouter(include_in_schema=False)
FIELDS = tuple(x.value for x in Limit)


def _render(page: Page, values: dict[str, str] | None = None,
            error: DomainError | None = None, status_code: int = 200) -> HTMLResponse:
    tid = str(page.tenant_id)
    settings = guard.get_settings(page.svc, page.principal, tid)
    saved = guard.as_json(settings)
    if values is None:
        values = {k: "" if v is None else str(v) for k, v in saved["limits"].items()}
        values["blocked"] = ", ".join(saved["blocked"])
    tenant = page.tenant()
    return page.render("credits/guard.html", title="Spend guard", active="credits",
                       saved=saved, v=values, error=error,
                       currency=tenant.currency if tenant else "",
                       labels={x.value: x.label for x in Limit}, status_code=status_code)


@router.get("/t/{tid}/credits/spend-guard", response_class=HTMLResponse)
def guard_page(tid: str, page: PageDep) -> HTMLResponse:
    return _render(page)


@router.post("/t/{tid}/credits/spend-guard", response_model=None)
def save_guard(tid: str, page: PageDep, form: FormDep) -> Response:
    page.require(Action.MANAGE_SPEND_GUARD)  # a reader's forced post: 403, nothing runs
    values = {k: form.get(k, "").strip()[:40] for k in FIELDS}
    values["blocked"] = form.get("blocked", "")[:8000]
    limits = {k: values[k] for k in FIELDS if values[k]}
    blocked = [x for x in re.split(r"[\s,;]+", values["blocked"]) if x]
    try:
        guard.put_settings(page.svc, page.principal, tid, limits=limits, blocked=blocked)
    except DomainError as exc:
        return _render(page, values, exc, status_of(exc))
    return page.redirect(page.url("/credits/spend-guard"), notice="Spend guard saved.")
