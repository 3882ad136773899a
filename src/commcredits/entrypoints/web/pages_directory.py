"""The directory area of the admin center: Marketplace (seats), Active users (search, the
user page with its Licenses and apps tab, bulk CSV assignment) (LIC-1 to LIC-4, AUTH-1).
Phone numbers and resource accounts are `pages_numbers`.

Every page reads and writes through `services.directory`, the same use cases as the REST
API. What a role may not do is not offered (no enabled checkboxes, no forms), and a forced
POST is refused with 403 FORBIDDEN by `page.require` before anything changes. A refusal
from the services on a form is shown in words under that form, with its stable code and a
4xx status; the page keeps what the admin entered.

Search and filters on Active users go to the database (`directory.list_users` with a
`UserSearch`), a page at a time by UPN, as the API's `GET /users?q=&sku=&location=`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from commcredits.domain.directory import User
from commcredits.domain.errors import DomainError, InvalidInput
from commcredits.domain.licensing import (
    BULK_COLUMNS,
    CREDITS_SKU,
    effective,
    sku_table,
)
from commcredits.domain.reference import countries
from commcredits.entrypoints.web.common import FieldsDep, Page, PageDep, status_of
from commcredits.services import directory, licenses
from commcredits.services.auth import Action
from commcredits.services.licenses import SeatCount
from commcredits.services.ports import UserSearch

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
MAX_BULK_BYTES = 20 * 1024 * 1024  # as the API (LIC-4)


def field_text(data: dict[str, Any], key: str) -> str:
    """A form field as stripped text ("" when absent); the first of a repeated field."""
    value = data.get(key)
    if isinstance(value, list):
        value = value[0] if value else ""
    return value.strip() if isinstance(value, str) else ""


def user_href(page: Page, user: User | str, tab: str = "") -> str:
    """The admin-center link to a user's page (and `tab`)."""
    upn = user.upn if isinstance(user, User) else user
    return page.url(f"/users/{quote(upn, safe='@')}{tab}")


def _country_options() -> list[tuple[str, str]]:
    return sorted(((c.code, c.name) for c in countries().values()), key=lambda x: x[1])


# --- Marketplace (subscriptions) ---------------------------------------------------------


def _marketplace(page: Page, *, error: DomainError | None = None,
                 form: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    seats = licenses.subscriptions(page.svc, page.principal, page.tenant_id or "")
    table = sku_table()
    held = {s.sku for s in seats}
    # Every SKU shows, bought or not, so an admin sees what can be bought.
    rows = list(seats) + [SeatCount(code, sku.name, 0, 0) for code, sku in table.items()
                          if code not in held]
    buyable = [(code, sku.name) for code, sku in table.items() if code != CREDITS_SKU]
    return page.render(
        "directory/marketplace.html", title="Marketplace", active="marketplace",
        seats=rows, buyable=buyable, credits_sku=CREDITS_SKU, error=error,
        form=form or {}, status_code=status_code,
    )


@router.get("/t/{tid}/marketplace", response_class=HTMLResponse)
def marketplace(tid: str, page: PageDep) -> HTMLResponse:
    return _marketplace(page)


def _quantity(value: str) -> int | str:
    """A whole number from the form, or the text as sent (the service refuses it in words)."""
    return int(value) if value.isdigit() and len(value) <= 9 else value


@router.post("/t/{tid}/marketplace/seats", response_class=HTMLResponse)
def buy_seats(tid: str, page: PageDep, data: FieldsDep) -> Response:
    page.require(Action.BUY_SEATS)
    sku, quantity = field_text(data, "sku"), field_text(data, "quantity")
    try:
        seat = licenses.buy_seats(page.svc, page.principal, tid, sku=sku,
                           quantity=_quantity(quantity))
    except DomainError as exc:
        return _marketplace(page, error=exc, form={"sku": sku, "quantity": quantity},
                            status_code=status_of(exc))
    n = _quantity(quantity)
    return page.redirect(
        page.url("/marketplace"),
        notice=f"Bought {n} seat{'' if n == 1 else 's'} of {seat.name} ({seat.sku}): "
        f"{seat.purchased} purchased, {seat.available} available.",
    )


# --- Active users ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserQuery:
    q: str = ""
    sku: str = ""  # a part number, "none" (no license) or "" (any)
    location: str = ""  # a country code, "none" (not set) or "" (any)

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.sku or self.location)

    def params(self, **extra: str) -> str:
        values = {"q": self.q, "sku": self.sku, "location": self.location, **extra}
        return urlencode({k: v for k, v in values.items() if v})


def _user_query(request: Request) -> UserQuery:
    qp = request.query_params
    sku = (qp.get("sku") or "").strip()
    sku = sku if sku == "none" else sku.upper()
    if sku and sku != "none" and sku not in sku_table():
        sku = ""
    location = (qp.get("location") or "").strip()
    location = location if location == "none" else location.upper()
    if location and location != "none" and location not in countries():
        location = ""
    return UserQuery(q=(qp.get("q") or "").strip()[:100], sku=sku, location=location)


def _find_users(page: Page, query: UserQuery, after: str | None) -> tuple[list[User], bool]:
    """One page of matching users after the UPN `after`, and whether more follow."""
    search = UserSearch(
        text=query.q,
        sku=None if not query.sku else ("" if query.sku == "none" else query.sku),
        location=None if not query.location else (
            "" if query.location == "none" else query.location),
    )
    found = directory.list_users(page.svc, page.principal, page.tenant_id or "",
                                 limit=PAGE_SIZE + 1, after=after, search=search)
    return found[:PAGE_SIZE], len(found) > PAGE_SIZE


def _users_context(page: Page, query: UserQuery, after: str | None) -> dict[str, Any]:
    found, more = _find_users(page, query, after)
    return {
        "users": found, "query": query, "after": after,
        "next_href": (page.url("/users") + "?" + query.params(after=found[-1].upn))
        if more and found else None,
        "first_href": page.url("/users") + ("?" + query.params() if query.filtered else ""),
        "skus": list(sku_table().values()), "countries": _country_options(),
        "user_href": lambda u: user_href(page, u), "error": None, "form": {},
    }


@router.get("/t/{tid}/users", response_class=HTMLResponse)
def users(tid: str, request: Request, page: PageDep) -> HTMLResponse:
    query = _user_query(request)
    after = (request.query_params.get("after") or "").strip()[:200] or None
    context = _users_context(page, query, after)
    if page.is_htmx and request.headers.get("HX-History-Restore-Request") != "true":
        return page.partial("directory/_user_results.html", **context)
    return page.render("directory/users.html", title="Active users", active="users",
                       **context)


# Bulk comes before /users/{user} so that "bulk" is never read as a UPN.
def _bulk(page: Page, *, report: licenses.BulkReport | None = None,
          error: DomainError | None = None, filename: str = "",
          status_code: int = 200) -> HTMLResponse:
    return page.render(
        "directory/bulk.html", title="Bulk license assignment", active="users",
        report=report, error=error, filename=filename, columns=BULK_COLUMNS,
        skus=list(sku_table().values()), status_code=status_code,
        user_href=lambda upn: user_href(page, upn),
    )


@router.get("/t/{tid}/users/bulk", response_class=HTMLResponse)
def bulk_form(tid: str, page: PageDep) -> HTMLResponse:
    return _bulk(page)


@router.post("/t/{tid}/users/bulk", response_class=HTMLResponse)
async def bulk_upload(tid: str, request: Request, page: PageDep) -> HTMLResponse:
    page.require(Action.MANAGE_DIRECTORY)
    form = await request.form()
    upload = form.get("file")
    pasted = form.get("csv")
    data: bytes = b""
    filename = ""
    if isinstance(upload, UploadFile) and upload.filename:
        filename = upload.filename
        data = await upload.read(MAX_BULK_BYTES + 1)
    elif isinstance(pasted, str) and pasted.strip():
        filename = "pasted text"
        data = pasted.encode("utf-8")
    if not data:
        error = InvalidInput("MALFORMED_FILE", "Choose a CSV file (or paste its text) with "
                             "the header upn,sku,action; nothing was changed.")
    elif len(data) > MAX_BULK_BYTES:
        error = InvalidInput("MALFORMED_FILE", "The file is larger than 20 MB and was "
                             "refused whole; split it into smaller files.")
    else:
        return await run_in_threadpool(_bulk_apply, page, tid, data, filename)
    return await run_in_threadpool(_bulk, page, error=error, filename=filename,
                                   status_code=status_of(error))


def _bulk_apply(page: Page, tid: str, data: bytes, filename: str) -> HTMLResponse:
    try:
        report = licenses.bulk_licenses(page.svc, page.principal, tid, data)
    except DomainError as exc:
        return _bulk(page, error=exc, filename=filename, status_code=status_of(exc))
    return _bulk(page, report=report, filename=filename)


def _licenses_context(page: Page, user: User) -> dict[str, Any]:
    seats = {s.sku: s for s in licenses.subscriptions(page.svc, page.principal,
                                                       page.tenant_id or "")}
    included = effective(user.licenses) - user.licenses
    rows = []
    for code, sku in sku_table().items():
        seat = seats.get(code)
        rows.append({
            "sku": sku, "held": code in user.licenses, "included": code in included,
            "available": seat.available if seat else 0,
            "purchased": seat.purchased if seat else 0,
        })
    return {"rows": rows}


def _user_page(page: Page, user: User, tab: str, *, error: DomainError | None = None,
               checked: set[str] | None = None, form: dict[str, Any] | None = None,
               status_code: int = 200) -> HTMLResponse:
    context: dict[str, Any] = {"user": user, "tab": tab, "error": error, "form": form or {},
                               "countries": _country_options(),
                               "account_href": user_href(page, user),
                               "licenses_href": user_href(page, user, "/licenses")}
    if tab == "licenses":
        context.update(_licenses_context(page, user))
        context["checked"] = checked if checked is not None else set(user.licenses)
    numbers = [n for n in directory.list_numbers(page.svc, page.principal, page.tenant_id or "")
               if n.assignee_id == user.id] if tab == "account" else []
    context["numbers"] = numbers
    title = ("Licenses and apps" if tab == "licenses" else "Account") + f" · {user.display_name}"
    return page.render("directory/user.html", title=title, active="users",
                       status_code=status_code, **context)


@router.get("/t/{tid}/users/{user}", response_class=HTMLResponse)
def user_account(tid: str, user: str, page: PageDep) -> HTMLResponse:
    found = directory.get_user(page.svc, page.principal, tid, user)
    return _user_page(page, found, "account")


@router.get("/t/{tid}/users/{user}/licenses", response_class=HTMLResponse)
def user_licenses(tid: str, user: str, page: PageDep) -> HTMLResponse:
    found = directory.get_user(page.svc, page.principal, tid, user)
    return _user_page(page, found, "licenses")


@router.post("/t/{tid}/users/{user}/licenses", response_class=HTMLResponse)
def save_licenses(tid: str, user: str, page: PageDep, data: FieldsDep) -> Response:
    """Save the Licenses and apps tab: the ticked boxes are what the user should hold."""
    page.require(Action.MANAGE_DIRECTORY)
    ticked = data.get("sku", [])
    wanted = {s.strip().upper() for s in (ticked if isinstance(ticked, list) else [ticked])
              if isinstance(s, str) and s.strip()}
    found = directory.get_user(page.svc, page.principal, tid, user)
    add = sorted(wanted - found.licenses)
    remove = sorted(found.licenses - wanted)
    href = user_href(page, found, "/licenses")
    if not add and not remove:
        return page.redirect(href, notice="No changes to save.")
    try:
        result = licenses.change_licenses(page.svc, page.principal, tid,
                             found.id, add=add, remove=remove)
    except DomainError as exc:
        return _user_page(page, found, "licenses", error=exc, checked=wanted,
                          status_code=status_of(exc))
    table = sku_table()
    parts = []
    if result.added:
        parts.append("assigned " + ", ".join(table[s].name for s in result.added))
    if result.removed:
        parts.append("removed " + ", ".join(table[s].name for s in result.removed))
    return page.redirect(href, notice=f"Saved: {'; '.join(parts)}. "
                         "It counts for calls that start from now on.")


@router.post("/t/{tid}/users/{user}", response_class=HTMLResponse)
def save_account(tid: str, user: str, page: PageDep, data: FieldsDep) -> Response:
    """Save the Account tab: display name, usage location, phone number, blocked."""
    page.require(Action.MANAGE_DIRECTORY)
    found = directory.get_user(page.svc, page.principal, tid, user)
    changes: dict[str, Any] = {}
    name = field_text(data, "display_name")
    if name != found.display_name:
        changes["display_name"] = name
    location = field_text(data, "usage_location").upper() or None
    if location != found.usage_location:
        changes["usage_location"] = location
    phone = field_text(data, "phone_number") or None
    if phone != found.phone_number:
        changes["phone_number"] = phone
    blocked = field_text(data, "blocked") == "on"
    if blocked != found.blocked:
        changes["blocked"] = blocked
    if not changes:
        return page.redirect(user_href(page, found), notice="No changes to save.")
    try:
        directory.update_user(page.svc, page.principal, tid, found.id, changes)
    except DomainError as exc:
        return _user_page(page, found, "account", error=exc, form=data,
                          status_code=status_of(exc))
    return page.redirect(user_href(page, found), notice="Saved the user's details.")


@router.post("/t/{tid}/users", response_class=HTMLResponse)
def create_user(tid: str, page: PageDep, data: FieldsDep) -> Response:
    page.require(Action.MANAGE_DIRECTORY)
    try:
        user = directory.create_user(page.svc, page.principal, tid, upn=field_text(data, "upn"),
            display_name=field_text(data, "display_name"),
            usage_location=field_text(data, "usage_location").upper() or None,
            phone_number=field_text(data, "phone_number") or None,
        )
    except DomainError as exc:
        context = {**_users_context(page, UserQuery(), None), "error": exc, "form": data}
        return page.render("directory/users.html", title="Active users", active="users",
                           status_code=status_of(exc), **context)
    return page.redirect(user_href(page, user, "/licenses"),
                         notice=f"Added {user.upn}. Now choose the licenses.")
