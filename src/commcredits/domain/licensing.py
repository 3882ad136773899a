"""Licenses (LIC-2, LIC-3, LIC-4): the SKU table, what a SKU includes, and the assignment rules.

The SKU table is data (`data/skus.csv`, as are the PAYG zones in `data/payg_zones.csv`), with
each SKU's Graph `skuId`: Microsoft's published GUID where known, else a stable uuid5. The
rules are pure functions of a user's licenses before and after a change, the user's usage
location and the tenant's free seats; they raise a `DomainError` with a stable code:

- `NO_FREE_SEATS`: every purchased seat of the SKU is assigned;
- `PHONE_LICENSE_REQUIRED`: a calling plan needs Teams Phone (MCOEV, or E5 which includes it);
- `CALLING_PLAN_LIMIT`: a user has at most one calling plan;
- `USAGE_LOCATION_REQUIRED`: no license is assigned to a user without a usage location;
- `PAYG_ZONE_MISMATCH`: a Pay-As-You-Go plan is only for users located in its zone.

`parse_bulk_csv` reads LIC-4's file (UPN, SKU, action) and refuses a malformed file whole.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

from commcredits.domain.errors import Conflict, InvalidInput
from commcredits.domain.text import read_upload

CREDITS_SKU = "MCOPSTNC"
PHONE_SKU = "MCOEV"
CONFERENCING_SKU = "MCOMEETADV"


SERVICE_PLANS = uuid.uuid5(uuid.NAMESPACE_URL, "https://commcredits/service-plans")
"""The namespace of the service plan ids (uuid5 of the plan's name); see docs/graph.md."""


class SkuKind(StrEnum):
    PHONE = "phone"
    CALLING_PLAN = "calling_plan"
    CONFERENCING = "conferencing"
    CREDITS = "credits"
    SUITE = "suite"


@dataclass(frozen=True, slots=True)
class Sku:
    """One product of LIC-2: its part number, Graph skuId, name, kind and what it includes.

    ``sku_id_published`` says whether ``sku_id`` is Microsoft's published GUID (true) or
    our stable uuid5 stand-in (false)."""

    part_number: str
    sku_id: uuid.UUID
    sku_id_published: bool
    name: str
    kind: SkuKind
    includes: tuple[str, ...]
    capability: str | None
    payg_zone: int | None

    @property
    def is_calling_plan(self) -> bool:
        return self.kind is SkuKind.CALLING_PLAN

    @property
    def is_payg(self) -> bool:
        return self.payg_zone is not None

    @property
    def service_plans(self) -> tuple[ServicePlan, ...]:
        """What the SKU switches on: a suite its included SKUs' plans, any other SKU one
        plan of its own part number (Graph's servicePlans)."""
        table = sku_table()
        names = [table[c].part_number for c in self.includes if c in table] if self.includes \
            else [self.part_number]
        return tuple(ServicePlan(uuid.uuid5(SERVICE_PLANS, n), n) for n in names)


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """A service plan of a SKU, as Graph's servicePlanInfo names it."""

    id: uuid.UUID
    name: str


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("commcredits.data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@cache
def sku_table() -> dict[str, Sku]:
    table: dict[str, Sku] = {}
    for r in _rows("skus.csv"):
        table[r["sku"]] = Sku(
            part_number=r["sku"], sku_id=uuid.UUID(r["sku_id"]),
            sku_id_published=r["sku_id_source"] == "microsoft", name=r["name"],
            kind=SkuKind(r["kind"]),
            includes=tuple(x for x in r["includes"].split(";") if x),
            capability=r["capability"] or None,
            payg_zone=int(r["payg_zone"]) if r["payg_zone"] else None,
        )
    return table


@cache
def payg_zones() -> dict[int, frozenset[str]]:
    zones: dict[int, set[str]] = {}
    for r in _rows("payg_zones.csv"):
        zones.setdefault(int(r["zone"]), set()).add(r["code"])
    return {zone: frozenset(codes) for zone, codes in zones.items()}


@cache
def _by_sku_id() -> dict[uuid.UUID, Sku]:
    return {sku.sku_id: sku for sku in sku_table().values()}


def parse_sku(value: object) -> Sku:
    """Look up a part number (case-insensitive) or a Graph skuId (a GUID), or refuse with
    UNKNOWN_SKU."""
    table = sku_table()
    if isinstance(value, uuid.UUID):
        found = _by_sku_id().get(value)
    else:
        code = value.strip().upper() if isinstance(value, str) else None
        found = table.get(code) if code is not None else None
        if found is None and code is not None and len(code) == 36:
            try:
                found = _by_sku_id().get(uuid.UUID(code))
            except ValueError:
                found = None
    if found is None:
        raise InvalidInput(
            "UNKNOWN_SKU",
            f"{value!r} is not a license part number or skuId; use one of: "
            f"{', '.join(table)}.",
            {"value": str(value)[:200], "allowed": list(table)},
        )
    return found


def effective(skus: Iterable[str]) -> frozenset[str]:
    """The SKUs a set of assigned SKUs amounts to: each one plus what it includes (E5)."""
    table = sku_table()
    out: set[str] = set()
    for code in skus:
        out.add(code)
        sku = table.get(code)
        if sku is not None:
            out.update(sku.includes)
    return frozenset(out)


def calling_plans(skus: Iterable[str]) -> list[str]:
    table = sku_table()
    return sorted(code for code in skus if code in table and table[code].is_calling_plan)


def calling_plan_code(skus: Iterable[str]) -> str | None:
    """The code of the calling plan a user's calls are made on, or None: the user's one
    plan (LIC-3), or the first by code should several be held at a moment. The one rule
    for call control, CDR batches and the pool lookup (CALL-3, POOL-2)."""
    plans = calling_plans(skus)
    return plans[0] if plans else None


def calling_plan(skus: Iterable[str]) -> Sku | None:
    """The user's one calling plan (LIC-3), or None."""
    code = calling_plan_code(skus)
    return sku_table()[code] if code else None


@dataclass(frozen=True, slots=True)
class LicenseChange:
    """The user's assigned SKUs before and after one request, and what it adds and removes."""

    before: frozenset[str]
    after: frozenset[str]

    @property
    def added(self) -> list[str]:
        return sorted(self.after - self.before)

    @property
    def removed(self) -> list[str]:
        return sorted(self.before - self.after)

    @property
    def changed(self) -> bool:
        return self.before != self.after


def plan_change(
    current: Iterable[str], add: Iterable[object], remove: Iterable[object],
) -> LicenseChange:
    """Parse a request's SKUs; removals apply first, then additions (one request, one result).

    Adding a license the user holds, or removing one the user does not hold, changes nothing.
    """
    adds = [parse_sku(x).part_number for x in add]
    removes = [parse_sku(x).part_number for x in remove]
    both = sorted(set(adds) & set(removes))
    if both:
        raise InvalidInput(
            "INVALID_LICENSE_CHANGE",
            f"{', '.join(both)} is both added and removed; send it in one list only.",
            {"skus": both},
        )
    before = frozenset(current)
    return LicenseChange(before, (before - set(removes)) | set(adds))


def check_assignment(
    change: LicenseChange, usage_location: str | None, free_seats: Mapping[str, int],
) -> None:
    """LIC-3: refuse a change whose result breaks a rule, or that needs a seat nobody has free.

    The user's rules come first (usage location, one calling plan, Teams Phone, PAYG zone),
    then the tenant's seats. ``free_seats`` holds purchased minus assigned seats per SKU.
    """
    table = sku_table()
    if change.added and usage_location is None:
        raise Conflict(
            "USAGE_LOCATION_REQUIRED",
            "Set the user's usage location (a country such as US) before assigning licenses; "
            "it decides domestic calling and the minute pool.",
            {"skus": change.added},
        )
    plans = calling_plans(change.after)
    if len(plans) > 1:
        raise Conflict(
            "CALLING_PLAN_LIMIT",
            f"A user has at most one calling plan, and this would give {', '.join(plans)}. "
            "Remove the current plan in the same request to switch plans.",
            {"calling_plans": plans},
        )
    if plans and PHONE_SKU not in effective(change.after):
        raise Conflict(
            "PHONE_LICENSE_REQUIRED",
            f"A calling plan ({plans[0]}) needs Teams Phone: assign MCOEV (or Microsoft 365 "
            "E5, which includes it) first or in the same request.",
            {"calling_plan": plans[0], "requires": [PHONE_SKU, "SPE_E5"]},
        )
    for code in plans:
        check_payg_zone(table[code], usage_location)
    for code in change.added:
        if free_seats.get(code, 0) <= 0:
            raise Conflict(
                "NO_FREE_SEATS",
                f"Every seat of {code} ({table[code].name}) is assigned. Buy more seats "
                "in the Marketplace (or `subscriptions buy`, POST /subscriptions), or remove "
                "the license from another user first.",
                {"sku": code, "available": max(0, free_seats.get(code, 0))},
            )


def check_payg_zone(plan: Sku, usage_location: str | None) -> None:
    if plan.payg_zone is None:
        return
    zone = payg_zones().get(plan.payg_zone, frozenset())
    if usage_location not in zone:
        raise Conflict(
            "PAYG_ZONE_MISMATCH",
            f"{plan.part_number} is only for users located in PAYG Zone {plan.payg_zone} "
            f"({', '.join(sorted(zone))}); this user's usage location is {usage_location}. "
            "Choose the plan of the user's zone.",
            {"sku": plan.part_number, "usage_location": usage_location,
             "zone": sorted(zone)},
        )


# --- LIC-4: bulk assignment files ---------------------------------------------------------

BULK_COLUMNS = ("upn", "sku", "action")
BULK_ACTIONS = ("add", "remove")
MAX_BULK_ROWS = 100_000


class BulkAction(StrEnum):
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class BulkRow:
    line: int
    upn: str
    sku: str
    action: str


def parse_bulk_csv(data: bytes | str) -> list[BulkRow]:
    """Read a bulk license file: UTF-8 CSV with the header ``upn,sku,action`` (any order, any
    case). A file that cannot be read that way is refused whole with ``MALFORMED_FILE``; the
    values of each row are checked later, row by row. Line numbers count the header as 1.
    """
    text = read_upload(
        data, lambda exc: _malformed(f"the file is not UTF-8 (byte {exc.start})"))
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise _malformed(f"it is not valid CSV ({exc})") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise _malformed("the header row is missing")
    header = [cell.strip().lower() for cell in rows[0]]
    if sorted(header) != sorted(BULK_COLUMNS):
        raise _malformed(
            f"the header is {','.join(rows[0])!r}; it must name exactly the columns "
            f"{','.join(BULK_COLUMNS)}",
        )
    index = {name: header.index(name) for name in BULK_COLUMNS}
    out: list[BulkRow] = []
    for number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are allowed
        if len(cells) != len(header):
            raise _malformed(
                f"line {number} has {len(cells)} fields, the header has {len(header)}",
                line=number,
            )
        out.append(BulkRow(number, *(cells[index[c]].strip() for c in BULK_COLUMNS)))
        if len(out) > MAX_BULK_ROWS:
            raise _malformed(f"it has more than {MAX_BULK_ROWS} rows; split it")
    return out


def _malformed(why: str, line: int | None = None) -> InvalidInput:
    details: dict[str, object] = {"columns": list(BULK_COLUMNS)}
    if line is not None:
        details["line"] = line
    return InvalidInput(
        "MALFORMED_FILE",
        f"The file was refused whole and nothing was changed: {why}. Send UTF-8 CSV with "
        "the header upn,sku,action and one row per change (action add or remove).",
        details,
    )
