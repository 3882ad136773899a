"""The Phone numbers and resource accounts page of the admin center (NUM-1, AUTH-1).

Every form reads and writes through `services.directory`, the same use cases as the REST
API. A form needs MANAGE_DIRECTORY (`page.require`, 403 FORBIDDEN before anything changes);
a refusal from the services is shown under the form it came from, with its stable code and
a 4xx status, and the page keeps what the admin entered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from commcredits.domain.directory import NumberType, ResourceKind
from commcredits.domain.errors import DomainError
from commcredits.entrypoints.web.common import FieldsDep, Page, PageDep, status_of
from commcredits.entrypoints.web.pages_directory import field_text, user_href
from commcredits.services import directory
from commcredits.services.auth import Action

router = APIRouter(include_in_schema=False)

def _numbers(page: Page, *, error: DomainError | None = None, where: str = "",
             form: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    tid = page.tenant_id or ""
    numbers = directory.list_numbers(page.svc, page.principal, tid)
    accounts = directory.list_resource_accounts(page.svc, page.principal, tid)
    return page.render(
        "directory/numbers.html", title="Phone numbers and resource accounts",
        active="numbers", numbers=numbers, accounts=accounts, error=error, where=where,
        form=form or {}, number_types=[t.value for t in NumberType],
        resource_kinds=[k.value for k in ResourceKind], status_code=status_code,
        user_href=lambda upn: user_href(page, upn),
    )


@router.get("/t/{tid}/numbers", response_class=HTMLResponse)
def numbers(tid: str, page: PageDep) -> HTMLResponse:
    return _numbers(page)


def _number_action(page: Page, data: dict[str, Any], where: str,
                   act: Callable[[dict[str, Any]], Any],
                   notice: Callable[[dict[str, Any]], str]) -> Response:
    """Run one numbers form; a refusal re-renders the page with the error at `where` (the
    form it came from; "row" is the numbers table, naming the number)."""
    page.require(Action.MANAGE_DIRECTORY)
    try:
        act(data)
    except DomainError as exc:
        return _numbers(page, error=exc, where=where, form=data, status_code=status_of(exc))
    return page.redirect(page.url("/numbers"), notice=notice(data))


@router.post("/t/{tid}/numbers", response_class=HTMLResponse)
def add_number(tid: str, page: PageDep, data: FieldsDep) -> Response:
    def act(d: dict[str, Any]) -> Any:
        return directory.add_number(page.svc, page.principal, tid, number=field_text(d, "number"),
                                    type=field_text(d, "type"),
                                    assigned_to=field_text(d, "assigned_to") or None)

    return _number_action(page, data, "add", act,
                                lambda d: f"Added {field_text(d, 'number')}.")


@router.post("/t/{tid}/numbers/assign", response_class=HTMLResponse)
def assign_number(tid: str, page: PageDep, data: FieldsDep) -> Response:
    def act(d: dict[str, Any]) -> Any:
        return directory.assign_number(page.svc, page.principal, tid, field_text(d, "number"),
                                       field_text(d, "assigned_to") or None)

    def notice(d: dict[str, Any]) -> str:
        to = field_text(d, "assigned_to")
        return f"Assigned {field_text(d, 'number')} to {to}." if to else \
            f"Unassigned {field_text(d, 'number')}."

    return _number_action(page, data, "row", act, notice)


@router.post("/t/{tid}/numbers/release", response_class=HTMLResponse)
def release_number(tid: str, page: PageDep, data: FieldsDep) -> Response:
    def act(d: dict[str, Any]) -> Any:
        return directory.release_number(page.svc, page.principal, tid, field_text(d, "number"))

    return _number_action(page, data, "row", act,
                                lambda d: f"Released {field_text(d, 'number')}.")


@router.post("/t/{tid}/resource-accounts", response_class=HTMLResponse)
def create_resource_account(tid: str, page: PageDep, data: FieldsDep) -> Response:
    def act(d: dict[str, Any]) -> Any:
        return directory.create_resource_account(
            page.svc, page.principal, tid, upn=field_text(d, "upn"),
            display_name=field_text(d, "display_name"), kind=field_text(d, "kind"))

    return _number_action(page, data, "account", act,
                                lambda d: f"Added the resource account {field_text(d, 'upn')}.")
