"""The tenant's directory (LIC-1, NUM-1): users, resource accounts and phone numbers.

Pure validation of what admins send, and the rule of NUM-1: a number is assigned to at most
one user or resource account, of a type that fits it. Users and resource accounts share one
UPN namespace in a tenant, as they do in Entra ID, so a number's ``assigned_to`` is a UPN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from commcredits.domain.errors import Conflict, InvalidInput
from commcredits.domain.reference import country

_UPN_RE = re.compile(r"^[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")
_E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")
MAX_UPN = 113  # Entra ID: 64 for the user name, 48 for the domain, plus '@'
MAX_DISPLAY_NAME = 256


class NumberType(StrEnum):
    USER = "user"
    SERVICE = "service"
    TOLL_FREE = "toll_free"


class ResourceKind(StrEnum):
    AUTO_ATTENDANT = "auto_attendant"
    CALL_QUEUE = "call_queue"
    CONFERENCE_BRIDGE = "conference_bridge"


class AssigneeKind(StrEnum):
    USER = "user"
    RESOURCE_ACCOUNT = "resource_account"


@dataclass(frozen=True, slots=True)
class User:
    """A user of LIC-1. ``id`` is the stable Entra ObjectId (a UUID) written in call records."""

    id: str
    tenant_id: str
    upn: str
    display_name: str
    usage_location: str | None
    phone_number: str | None
    blocked: bool
    licenses: frozenset[str]


@dataclass(frozen=True, slots=True)
class ResourceAccount:
    id: str
    tenant_id: str
    upn: str
    display_name: str
    kind: ResourceKind
    phone_numbers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    number: str
    type: NumberType
    assignee_kind: AssigneeKind | None
    assignee_id: str | None
    assignee_upn: str | None


def parse_upn(value: object) -> str:
    """A UPN in email syntax, compared without case (LIC-1)."""
    if not isinstance(value, str) or len(value.strip()) > MAX_UPN \
            or not _UPN_RE.match(value.strip()):
        raise InvalidInput(
            "INVALID_UPN",
            f"{value!r} is not a user principal name; write it like an email address, "
            "e.g. megan.bowen@contoso.com.",
            {"value": str(value)[:200]},
        )
    return value.strip().lower()


def parse_display_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_DISPLAY_NAME:
        raise InvalidInput(
            "INVALID_DISPLAY_NAME",
            f"A display name is required and has at most {MAX_DISPLAY_NAME} characters.",
        )
    return value.strip()


def parse_usage_location(value: object) -> str | None:
    """An ISO 3166-1 alpha-2 country from the country table, or None to leave it unset."""
    if value is None:
        return None
    try:
        return country(value).code
    except InvalidInput:
        raise InvalidInput(
            "INVALID_USAGE_LOCATION",
            f"{value!r} is not a usage location; send an ISO 3166-1 alpha-2 country code "
            "such as US, GB or DE.",
            {"value": str(value)[:50]},
        ) from None


def parse_e164(value: object) -> str:
    """An E.164 number, ``+`` and 7 to 15 ASCII digits; spaces, dots, dashes and brackets
    are dropped. Whether the number exists in its country's plan is the phone port's
    question (`services.directory.checked_number`)."""
    if isinstance(value, str):
        compact = re.sub(r"[\s.\-()]", "", value)
        if _E164_RE.fullmatch(compact):
            return compact
    raise InvalidInput(
        "INVALID_PHONE_NUMBER",
        f"{value!r} is not an E.164 phone number; write it with + and the country code, "
        "e.g. +14255550100.",
        {"value": str(value)[:50]},
    )


def not_a_number(value: str) -> InvalidInput:
    """INVALID_PHONE_NUMBER for a well-formed E.164 number that no numbering plan has."""
    return InvalidInput(
        "INVALID_PHONE_NUMBER",
        f"{value} is not a valid phone number in any country's numbering plan; check the "
        "country code and the digits.",
        {"value": value[:50]},
    )


def parse_blocked(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("INVALID_VALUE", "blocked must be true or false.")
    return value


def check_number_fits(
    number: str, number_type: NumberType, kind: AssigneeKind,
    resource: ResourceKind | None, numbers_held: int,
) -> None:
    """NUM-1: user numbers go to users (one each); service and toll-free numbers go to
    resource accounts. An auto attendant or call queue answers on one number, a conference
    bridge on as many as it needs."""
    if kind is AssigneeKind.USER:
        if number_type is not NumberType.USER:
            raise Conflict(
                "NUMBER_TYPE_MISMATCH",
                f"{number} is a {number_type.value} number; users get user numbers. Assign "
                "it to a resource account (auto attendant, call queue or conference bridge).",
                {"number": number, "type": number_type.value},
            )
        if numbers_held:
            raise Conflict(
                "ASSIGNEE_HAS_NUMBER",
                "This user already has a phone number; unassign it first.",
                {"number": number},
            )
        return
    if number_type is NumberType.USER:
        raise Conflict(
            "NUMBER_TYPE_MISMATCH",
            f"{number} is a user number; resource accounts get service or toll-free numbers.",
            {"number": number, "type": number_type.value},
        )
    if resource is not ResourceKind.CONFERENCE_BRIDGE and numbers_held:
        raise Conflict(
            "ASSIGNEE_HAS_NUMBER",
            f"This {resource.value if resource else 'resource account'} already answers on a "
            "number; unassign it first.",
            {"number": number},
        )
