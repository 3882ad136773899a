"""The JSON request bodies of /api/v1, as pydantic models that `/openapi.json` documents.

Two kinds of field:

- **Described** (`described(...)`): the schema says the shape and the SPEC's bounds (an
  amount is a decimal string with at most 2 places, a role is one of the tenant roles, a
  month 1 to 12 …), but any JSON value gets through to the domain, which refuses a bad one
  with its stable code (`INVALID_AMOUNT`, `INVALID_ROLE`, `INVALID_EXPIRY` …). The domain is
  the one place a value is judged, for the API, the CLI and the admin center alike, so the
  codes never depend on the entrypoint (ERR-1). A JSON number is still taken for an amount
  (`routing` reads it as a `Decimal`).
- **Typed** (plain annotations such as ``str | None`` or ``bool``): pydantic checks them and
  a failure is `VALIDATION_ERROR`, as before.

Every model refuses unknown fields, text that is not valid Unicode, and a body that is not
JSON at all (`routing.Malformed`), with `VALIDATION_ERROR`. Schemas that need reference
tables (countries, SKUs) are built when `/openapi.json` is first asked for, not at import.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from commcredits.domain.directory import (
    MAX_DISPLAY_NAME,
    MAX_UPN,
    NumberType,
    ResourceKind,
)
from commcredits.domain.licensing import sku_table
from commcredits.domain.money import MAX_PURCHASE
from commcredits.domain.payments import PaymentMethodType
from commcredits.domain.reference import countries
from commcredits.domain.tenants import (
    CONTACT_ROLES,
    TENANT_KEY_ROLES,
    BillingAccountType,
    Channel,
    Cloud,
)
from commcredits.entrypoints.api.routing import Malformed
from commcredits.services.calls import CALL_TYPES, MAX_USED_SECONDS
from commcredits.services.licenses import MAX_SEATS_PER_PURCHASE

Schema = dict[str, Any]
MAX_NAME = 200  # tenant, partner and key names (domain.tenants.validate_name)
MAX_REASON = 500  # an adjustment's reason (services.funds.MAX_REASON)
MAX_ID = 64  # ids the service made (32 hex digits) and the platform's call ids
AMOUNT = r"^[0-9]{1,7}(\.[0-9]{1,2})?$"


def described(schema: Schema | Callable[[], Schema]) -> Any:
    """A field the domain validates; ``schema`` (or what it returns) is its OpenAPI schema."""
    def fill(target: Schema) -> None:
        target.pop("anyOf", None)  # a typed optional field: the schema below says it all
        target.update(schema() if callable(schema) else schema)

    return Field(json_schema_extra=fill)


def text(max_length: int, description: str | None = None, **more: Any) -> Any:
    schema: Schema = {"type": "string", "minLength": 1, "maxLength": max_length, **more}
    if description:
        schema["description"] = description
    return described(schema)


def one_of(values: Callable[[], list[str]] | list[str], description: str | None = None) -> Any:
    def schema() -> Schema:
        out: Schema = {"type": "string", "enum": values() if callable(values) else values}
        if description:
            out["description"] = description
        return out

    return described(schema)


def whole(minimum: int, maximum: int, description: str | None = None) -> Any:
    schema: Schema = {"type": "integer", "minimum": minimum, "maximum": maximum}
    if description:
        schema["description"] = description
    return described(schema)


def decimal_amount(description: str, *, signed: bool = False) -> Any:
    pattern = AMOUNT.replace("^", "^-?") if signed else AMOUNT
    return described({
        "type": "string", "pattern": pattern, "maxLength": 11,
        "description": f"{description} A decimal string with at most 2 decimal places, at "
                       f"most {MAX_PURCHASE:,.2f}.", "examples": ["100.00"],
    })


BOOLEAN: Schema = {"type": "boolean"}


def e164() -> Any:
    return text(16, "An E.164 phone number: + and 7 to 15 digits.",
                pattern=r"^\+[1-9][0-9]{6,14}$")


def upn() -> Any:
    return text(MAX_UPN, "A user principal name, e.g. alice@contoso.com.", format="email")


def _countries() -> list[str]:
    return sorted(countries())


def _skus() -> Schema:
    return {"type": "array", "maxItems": 50,
            "items": {"type": "string", "enum": sorted(sku_table())}}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _text_only(cls, data: Any) -> Any:
        """Refuse a body that did not parse as JSON (`routing.Malformed`), and strings that
        are not valid Unicode (lone surrogates) anywhere in a body."""
        if isinstance(data, Malformed):
            raise ValueError(f"the body is {data.reason}")

        def walk(value: Any) -> None:
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError("text must be valid Unicode") from None
            elif isinstance(value, dict):
                for k, v in value.items():
                    walk(k)
                    walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)

        walk(data)
        return data


# Tenants, keys and partners (ACCT, AUTH).


class ContactIn(Body):
    email: Annotated[Any, text(254, "An admin's email address.", format="email")]
    role: Annotated[Any, one_of([r.value for r in CONTACT_ROLES])]


class TenantCreate(Body):
    name: Annotated[Any, text(MAX_NAME)]
    country: Annotated[Any, one_of(_countries, "ISO 3166-1 alpha-2, e.g. US.")]
    billing_account_type: Annotated[Any, one_of([t.value for t in BillingAccountType])]
    billing_country: Annotated[Any, one_of(_countries, "EA: the billing country.")] = None
    currency: Annotated[Any, described({"type": "string", "pattern": "^[A-Z]{3}$",
                                        "description": "ISO 4217; default: the country's."})
                        ] = None
    cloud: Annotated[Any, one_of([c.value for c in Cloud])] = None
    contacts: Annotated[list[ContactIn], Field(max_length=100)] = []


class ApiKeyCreate(Body):
    role: Annotated[Any, one_of([r.value for r in TENANT_KEY_ROLES])]
    name: Annotated[Any, text(MAX_NAME)] = None


class EaException(Body):
    enabled: bool


class PartnerCreate(Body):
    name: Annotated[Any, text(MAX_NAME)]


class PartnerKeyCreate(Body):
    name: Annotated[Any, text(MAX_NAME)] = None


class PartnerBind(Body):
    tenant_id: Annotated[str, text(MAX_ID)]


# Payments and credits (PAY, FUND, AR).


class PaymentMethodCreate(Body):
    type: Annotated[Any, one_of([t.value for t in PaymentMethodType])] = "card"
    number: Annotated[Any, text(23, "Card: 12 to 19 digits; spaces and dashes are ignored.",
                                pattern=r"^[0-9][0-9 -]{10,21}[0-9]$")] = None
    exp_month: Annotated[Any, whole(1, 12)] = None
    exp_year: Annotated[Any, whole(2000, 2100)] = None


class PurchaseCreate(Body):
    amount: Annotated[Any, decimal_amount("The amount to add, at least the minimum.")]
    payment_method_id: Annotated[str | None, text(MAX_ID)] = None
    channel: Annotated[str | None, one_of([c.value for c in Channel])] = None


class AutoRechargeSettings(Body):
    enabled: Annotated[Any, described(BOOLEAN)]
    amount: Annotated[Any, decimal_amount("\"Add this amount\", at least the minimum.")] = None
    trigger: Annotated[Any, decimal_amount("\"When balance is below\", 0 or more.")] = None
    payment_method_id: Annotated[Any, text(MAX_ID)] = None


class AdjustmentCreate(Body):
    amount: Annotated[Any, decimal_amount("Adds a lot when positive, charges when negative.",
                                          signed=True)]
    reason: Annotated[Any, text(MAX_REASON, "Why; kept in the ledger and the audit log.")]


class ClockMove(Body):
    now: datetime | None = None
    advance_seconds: Annotated[Any, described({"type": "integer", "minimum": 0,
                                               "maximum": 100 * 366 * 86_400})] = None


# The spend guard (GUARD-1, GUARD-3).


def _limit_amount(description: str) -> Any:
    return described({
        "type": ["string", "null"], "pattern": AMOUNT, "maxLength": 11,
        "description": f"{description} A decimal string with at most 2 decimal places, more "
                       "than 0; null or absent for no limit.", "examples": ["5.00"],
    })


class SpendLimits(Body):
    user_hour: Annotated[Any, _limit_amount("Credits one user may spend per UTC hour.")] = None
    user_day: Annotated[Any, _limit_amount("Credits one user may spend per UTC day.")] = None
    tenant_day: Annotated[Any, _limit_amount("Credits the tenant may spend per UTC day.")] \
        = None
    intl_minutes_user_day: Annotated[Any, described({
        "type": ["integer", "null"], "minimum": 1, "maximum": 100_000,
        "description": "International minutes one user may call per UTC day; null for no "
                       "limit."})] = None


class SpendGuardSettings(Body):
    limits: SpendLimits | None = None
    blocked: Annotated[Any, described({
        "type": "array", "maxItems": 500,
        "items": {"type": "string", "maxLength": 16,
                  "pattern": r"^([A-Za-z]{2}|\+?[1-9][0-9]{0,14})$"},
        "description": "Blocked destinations: ISO country codes (NG) or dialling prefixes "
                       "(+234). Calls to them are denied DESTINATION_BLOCKED.",
        "examples": [["NG", "+882"]]})] = None


# Planning (PLAN-1, PLAN-2).


class WhatIfRequest(Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: Annotated[Any, Field(alias="from", json_schema_extra={
        "type": "string", "maxLength": 40, "description": "A UTC day (included), or an ISO "
        "8601 date-time.", "examples": ["2026-01-01"]})]
    end: Annotated[Any, Field(alias="to", json_schema_extra={
        "type": "string", "maxLength": 40, "description": "A UTC day (included); at most 90 "
        "days after from.", "examples": ["2026-01-31"]})]
    rate_table_version: Annotated[Any, described({
        "type": "integer", "minimum": 1,
        "description": "Re-rate with this version of the tenant's currency's rate table."})] \
        = None
    licenses: Annotated[Any, described({
        "type": "object", "maxProperties": 1000,
        "additionalProperties": {"type": "array", "maxItems": 50, "items": {"type": "string"}},
        "description": "Or: these users hold exactly these SKUs for the whole period.",
        "examples": [{"alice@contoso.com": ["MCOEV", "MCOPSTN2", "MCOPSTNC"]}]})] = None


class PlanAdviceApply(Body):
    days: Annotated[Any, whole(30, 90, "The advice's look-back in days.")] = 30


# Post-usage billing (ACCT-6, POST).


class BillingAccountChange(Body):
    billing_account_type: Annotated[Any, one_of([t.value for t in BillingAccountType])]


class OverageChange(Body):
    enabled: Annotated[Any, described(BOOLEAN)]


# Directory: users, licenses, seats, numbers, resource accounts (LIC, NUM).


class UserCreate(Body):
    upn: Annotated[Any, upn()]
    display_name: Annotated[Any, text(MAX_DISPLAY_NAME)]
    usage_location: Annotated[Any, one_of(_countries, "ISO 3166-1 alpha-2, e.g. US.")] = None
    phone_number: Annotated[Any, e164()] = None
    blocked: Annotated[Any, described(BOOLEAN)] = False


class UserUpdate(Body):
    display_name: Annotated[Any, text(MAX_DISPLAY_NAME)] = None
    usage_location: Annotated[Any, one_of(_countries, "null clears it.")] = None
    phone_number: Annotated[Any, e164()] = None
    blocked: Annotated[Any, described(BOOLEAN)] = None


class LicenseChange(Body):
    add: Annotated[Any, described(_skus)] = None
    remove: Annotated[Any, described(_skus)] = None


class SeatPurchase(Body):
    sku: Annotated[Any, one_of(lambda: sorted(sku_table()), "A license part number.")]
    quantity: Annotated[Any, whole(1, MAX_SEATS_PER_PURCHASE)]


class NumberCreate(Body):
    number: Annotated[Any, e164()]
    type: Annotated[Any, one_of([t.value for t in NumberType])]
    assigned_to: Annotated[Any, upn()] = None


class NumberAssign(Body):
    assigned_to: Annotated[Any, upn()]


class ResourceAccountCreate(Body):
    upn: Annotated[Any, upn()]
    display_name: Annotated[Any, text(MAX_DISPLAY_NAME)]
    kind: Annotated[Any, one_of([k.value for k in ResourceKind])]


# Call control (CALL-1, CALL-7).


class Authorize(Body):
    call_id: Annotated[Any, text(MAX_ID)]
    call_type: Annotated[Any, one_of(sorted(CALL_TYPES))]
    user: Annotated[Any, text(128, "The user's UPN, or the organizer's for conf_out.")] = None
    caller: Annotated[Any, text(64, "The calling number, E.164.")]
    callee: Annotated[Any, text(64, "The dialled number, E.164 or an emergency number.")]
    start: Annotated[Any, described({
        "type": "string", "format": "date-time",
        "description": "ISO 8601 with a zone, within 1 day of now; default: now."})] = None
    usage_id: Annotated[Any, text(MAX_ID)] = None
    conference_id: Annotated[Any, text(MAX_ID)] = None


class Update(Body):
    used_seconds: Annotated[Any, whole(0, MAX_USED_SECONDS, "Seconds used so far.")]


class End(Body):
    duration_seconds: Annotated[Any, whole(0, MAX_USED_SECONDS, "The call's duration.")]


def csv_body(description: str, *, json_lines: bool = False) -> dict[str, Any]:
    """`openapi_extra` for a route whose body is a CSV file (read raw, not as JSON)."""
    content: Schema = {"text/csv": {"schema": {"type": "string"}}}
    if json_lines:
        content["application/x-ndjson"] = {"schema": {"type": "string"}}
    return {"requestBody": {"required": True, "description": description,
                            "content": content}}
