"""Times and payment lines written for people, shared by the API's invoice HTML and the pages.

`human_time` turns a datetime or an ISO 8601 string into "1 December 2026, 20:37 UTC"; the
JSON API keeps ISO 8601 (SPEC §4), only documents meant to be read get this form.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def human_time(value: Any) -> str:
    """ "1 December 2026, 20:37 UTC" for a time, "1 December 2026" for a date; text that is
    not a time is returned as it is, and None as a dash."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text) if "T" in text or " " in text \
                else date.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        at = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return f"{at.day} {at:%B %Y, %H:%M} UTC"
    if isinstance(value, date):
        return f"{value.day} {value:%B %Y}"
    return str(value)


def payment_line(payment: dict[str, Any]) -> str:
    """How an invoice was paid, e.g. "Visa ending 4242, paid" or "Invoice, net 30, due"."""
    method = str(payment.get("method") or "")
    status = {"succeeded": "paid"}.get(str(payment.get("status")), str(payment.get("status")))
    if method == "card":
        if payment.get("brand"):
            what = f"{str(payment['brand']).title()} ending {payment.get('last4', '')}"
        else:
            what = str(payment.get("label") or "Card")
        if payment.get("auto_recharge"):
            what += " (auto-recharge)"
    elif method == "invoice":
        what = "Invoice" + (f", {payment['terms']}" if payment.get("terms") else "")
    elif method == "partner":
        what = "Paid by partner" + (f" {payment['partner']}" if payment.get("partner") else "")
    elif method == "adjustment":
        what = "Adjustment by the operator"
    else:
        what = method.title() or "—"
    return f"{what}, {status}" if status and status != "None" else what
