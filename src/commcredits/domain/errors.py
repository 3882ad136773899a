"""Refusals: every `DomainError` carries a stable code, a message saying what to do, and details.

The `kind` tells an entrypoint which family of status to answer with; the domain itself knows
nothing about HTTP.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

ErrorKind = Literal[
    "invalid", "not_found", "forbidden", "conflict", "payment", "unauthenticated",
    "throttled",
]


class DomainError(Exception):
    """A refusal with a stable code. Nothing has been changed when one is raised."""

    kind: ClassVar[ErrorKind] = "invalid"

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}


class InvalidInput(DomainError):
    """The request itself is malformed or out of range."""

    kind = "invalid"


class NotFound(DomainError):
    """The resource does not exist, or belongs to another tenant (AUTH-2)."""

    kind = "not_found"


class PolicyRefusal(DomainError):
    """The account's type or settings do not allow the operation (ACCT-3..5)."""

    kind = "forbidden"


class Conflict(DomainError):
    """The operation conflicts with the current state."""

    kind = "conflict"


class PaymentFailed(DomainError):
    """The payment processor refused the charge (PAY-2, PAY-3)."""

    kind = "payment"

    def __init__(
        self, code: str, message: str, details: dict[str, Any] | None = None,
        *, retryable: bool = False,
    ) -> None:
        super().__init__(code, message, details)
        self.retryable = retryable


class Unauthenticated(DomainError):
    """No valid credentials were presented."""

    kind = "unauthenticated"


class Throttled(DomainError):
    """Too many failed attempts: wait ``details["retry_after_seconds"]`` and try again."""

    kind = "throttled"


class Forbidden(DomainError):
    """The principal's role does not allow the operation (AUTH-1)."""

    kind = "forbidden"


class CurrencyMismatch(InvalidInput):
    """Two amounts in different currencies were combined (FUND-9)."""

    def __init__(self, left: str, right: str) -> None:
        super().__init__(
            "CURRENCY_MISMATCH",
            f"Amounts in {left} and {right} cannot be combined; use one currency.",
            {"currencies": [left, right]},
        )
