"""Tenants, billing accounts and who may buy credits (ACCT-1 to ACCT-5).

The purchase policy is a pure function of the tenant, the kind of principal buying, and the
channel; it raises a `PolicyRefusal` whose message names the way out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from commcredits.domain.errors import InvalidInput, PolicyRefusal
from commcredits.domain.reference import country, known_currency

E = TypeVar("E", bound=StrEnum)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class BillingAccountType(StrEnum):
    MOSA = "MOSA"
    CSP = "CSP"
    EA = "EA"
    MCA = "MCA"


class Cloud(StrEnum):
    COMMERCIAL = "commercial"
    GCC = "gcc"


class Role(StrEnum):
    GLOBAL_ADMIN = "global_admin"
    BILLING_ADMIN = "billing_admin"
    TEAMS_ADMIN = "teams_admin"
    READER = "reader"
    PARTNER = "partner"
    PLATFORM = "platform"
    OPERATOR = "operator"


CONTACT_ROLES = (Role.GLOBAL_ADMIN, Role.BILLING_ADMIN, Role.TEAMS_ADMIN, Role.READER)
TENANT_KEY_ROLES = (*CONTACT_ROLES, Role.PLATFORM)


class Channel(StrEnum):
    DIRECT = "direct"
    WEB_DIRECT_OFFER = "web_direct_offer"


class Buyer(StrEnum):
    """Who is paying: the tenant itself (its admins or the operator) or a bound partner."""

    TENANT = "tenant"
    PARTNER = "partner"


WEB_DIRECT_OFFERS = {
    Cloud.COMMERCIAL: "MS-AZR-0017P Communications Credits (web direct)",
    Cloud.GCC: "MS-AZR-USGOV-0017P Communications Credits (web direct, GCC)",
}


@dataclass(frozen=True, slots=True)
class Contact:
    email: str
    role: Role


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    country: str
    currency: str
    billing_account_type: BillingAccountType
    billing_country: str
    cloud: Cloud
    ea_region_exception: bool = False


def parse_enum(enum: type[E], value: object, code: str, what: str) -> E:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise InvalidInput(
            code, f"{value!r} is not a valid {what}; use one of: {allowed}.",
            {"value": str(value), "allowed": [e.value for e in enum]},
        ) from None


def is_text(value: object) -> bool:
    """A string that is valid Unicode text (no lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_email(value: object) -> str:
    if not is_text(value) or not _EMAIL_RE.match(str(value)) or len(str(value)) > 254:
        raise InvalidInput(
            "INVALID_EMAIL", f"{value!r} is not an email address.", {"value": str(value)},
        )
    return str(value).lower()


def validate_name(value: object) -> str:
    if not is_text(value) or not str(value).strip() or len(str(value)) > 200:
        raise InvalidInput(
            "INVALID_NAME", "A name is required and must be at most 200 characters.",
        )
    return str(value).strip()


def new_tenant_fields(
    *, name: object, country_code: object, billing_account_type: object,
    billing_country: object | None, currency: object | None, cloud: object | None,
) -> tuple[str, str, str, BillingAccountType, str, Cloud]:
    """Validate a new tenant; the currency defaults to the country's (ACCT-1)."""
    valid_name = validate_name(name)
    home = country(country_code)
    billing = country(billing_country) if billing_country is not None else home
    account = parse_enum(
        BillingAccountType, billing_account_type, "INVALID_BILLING_ACCOUNT_TYPE",
        "billing account type",
    )
    cur = known_currency(currency) if currency is not None else home.currency
    cl = parse_enum(Cloud, cloud if cloud is not None else "commercial", "INVALID_CLOUD", "cloud")
    return valid_name, home.code, cur, account, billing.code, cl


def check_can_purchase(tenant: Tenant, buyer: Buyer, channel: Channel) -> None:
    """Refuse a purchase the billing account does not allow (ACCT-2 to ACCT-5)."""
    kind = tenant.billing_account_type
    if kind is BillingAccountType.MCA:
        raise PolicyRefusal(
            "POSTPAID_ACCOUNT",
            "This tenant has an MCA (post-usage) billing account: it cannot buy credits, and "
            "usage beyond its plans is billed monthly after use.",
        )
    if kind is BillingAccountType.CSP and buyer is Buyer.TENANT \
            and channel is not Channel.WEB_DIRECT_OFFER:
        offer = WEB_DIRECT_OFFERS[tenant.cloud]
        raise PolicyRefusal(
            "CSP_PARTNER_MUST_FUND",
            "This tenant buys through a Cloud Solution Provider: ask your partner to fund "
            "Communications Credits on your behalf, or buy them yourself through the "
            f"web-direct offer \"{offer}\" by sending channel \"web_direct_offer\".",
            {"web_direct_offer": offer, "channel": Channel.WEB_DIRECT_OFFER.value},
        )
    if kind is BillingAccountType.EA and tenant.country != tenant.billing_country \
            and not tenant.ea_region_exception:
        raise PolicyRefusal(
            "EA_REGION_MISMATCH",
            f"The tenant's country ({tenant.country}) differs from its Enterprise Agreement "
            f"billing address country ({tenant.billing_country}), so credits cannot be "
            "bought here. Open a support request; an operator can grant a region exception.",
            {"country": tenant.country, "billing_country": tenant.billing_country},
        )


TENANT_ID_LENGTH = 32  # a tenant id is 32 hex characters (`uuid4().hex`), its column's width
