"""Request bodies. Money fields are `Any` on purpose: the domain parses them, so that text,
NaN or 1e400 get the same INVALID_AMOUNT refusal from every entrypoint (FUND-2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from commcredits.entrypoints.api.routing import Malformed


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


class ContactIn(Body):
    email: Any
    role: Any


class TenantCreate(Body):
    name: Any
    country: Any
    billing_account_type: Any
    billing_country: Any = None
    currency: Any = None
    cloud: Any = None
    contacts: list[ContactIn] = []


class ApiKeyCreate(Body):
    role: Any
    name: Any = None


class PaymentMethodCreate(Body):
    type: Any = "card"
    number: Any = None
    exp_month: Any = None
    exp_year: Any = None


class PurchaseCreate(Body):
    amount: Any
    payment_method_id: str | None = None
    channel: str | None = None


class AutoRechargeSettings(Body):
    enabled: Any
    amount: Any = None
    trigger: Any = None
    payment_method_id: Any = None


class AdjustmentCreate(Body):
    amount: Any
    reason: Any


class EaException(Body):
    enabled: bool


class PartnerCreate(Body):
    name: Any


class PartnerKeyCreate(Body):
    name: Any = None


class PartnerBind(Body):
    tenant_id: str


class ClockMove(Body):
    now: datetime | None = None
    advance_seconds: Any = None
