"""Admins > Invite (issue #11): a tenant's global admin lists the tenant's admin-center
accounts, invites a new one (email and role) and gets a one-time sign-in link for it.

- Only roles with `Action.MANAGE_ADMINS` (global admin; the operator) see the page in the
  menu; any other role is refused with 403 FORBIDDEN, also when it forces a POST (AUTH-1).
- The link is shown once, on the page that answers the POST, and never put in a URL the
  browser keeps (history, Referer). A new link can be made for any admin of the tenant.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from commcredits.domain.errors import DomainError
from commcredits.domain.tenants import CONTACT_ROLES
from commcredits.entrypoints.web.common import FormDep, Page, PageDep, status_of
from commcredits.services import web_access
from commcredits.services.auth import Action
from commcredits.services.web_access import Invitation

router = APIRouter(include_in_schema=False)

ROLE_LABELS = {
    "global_admin": "Global admin: everything in this tenant, and inviting admins",
    "billing_admin": "Billing admin: funds, auto-recharge, cards, invoices",
    "teams_admin": "Teams admin: users, licenses, phone numbers",
    "reader": "Reader: sees everything, changes nothing",
}


def _render(page: Page, *, invitation: Invitation | None = None, link_kind: str = "",
            error: DomainError | None = None, form: dict[str, str] | None = None,
            ) -> HTMLResponse:
    accounts = web_access.list_admins(page.svc, page.principal, str(page.tenant_id))
    link = None
    if invitation is not None:
        link = f"{str(page.request.base_url).rstrip('/')}/signin/link/{invitation.link_token}"
    response = page.render(
        "admin/admins.html", title="Admins", active="admins", accounts=accounts,
        invitation=invitation, link=link, link_kind=link_kind, error=error,
        form=form or {"role": "billing_admin"},
        roles=[(r.value, ROLE_LABELS[r.value]) for r in CONTACT_ROLES],
        status_code=status_of(error) if error else 200,
    )
    response.headers["Cache-Control"] = "no-store"  # the link is shown once
    return response


@router.get("/t/{tid}/admins", response_class=HTMLResponse)
def admins_page(tid: str, page: PageDep) -> HTMLResponse:
    page.require(Action.MANAGE_ADMINS)
    return _render(page)


@router.post("/t/{tid}/admins", response_class=HTMLResponse)
def invite(tid: str, page: PageDep, form: FormDep) -> HTMLResponse:
    page.require(Action.MANAGE_ADMINS)
    values = {k: form.get(k, "").strip()[:254] for k in ("email", "role", "name")}
    try:
        invitation = web_access.invite_admin(
            page.svc, page.principal, tid, email=values["email"], role=values["role"],
            name=values["name"])
    except DomainError as exc:
        return _render(page, error=exc, form=values)
    return _render(page, invitation=invitation, link_kind="invited")


@router.post("/t/{tid}/admins/{account_id}/link", response_class=HTMLResponse)
def new_link(tid: str, account_id: str, page: PageDep) -> HTMLResponse:
    page.require(Action.MANAGE_ADMINS)
    try:
        invitation = web_access.new_link_for(page.svc, page.principal, tid, account_id[:40])
    except DomainError as exc:
        return _render(page, error=exc)
    return _render(page, invitation=invitation, link_kind="link")
