"""Renders an outbox row into a MIME message from the Jinja2 templates in
`templates/email/<kind>.txt` and `.html`."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from commcredits.services.ports import OutboxRecord

_env: Environment | None = None


def environment() -> Environment:
    global _env
    if _env is None:
        _env = Environment(
            loader=PackageLoader("commcredits", "templates/email"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined, keep_trailing_newline=True,
        )
    return _env


def render(email: OutboxRecord, sender: str) -> EmailMessage:
    env = environment()
    ctx = {**email.context, "subject": email.subject}
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(email.recipients)
    message["Subject"] = email.subject
    message["Date"] = format_datetime(email.created_at)
    # The event id is in the Message-ID, so a receiver can drop a duplicate delivery.
    message["Message-ID"] = make_msgid(idstring=email.event_id.replace(":", "."),
                                       domain="commcredits.local")
    message["X-Commcredits-Event"] = email.event_id
    message.set_content(env.get_template(f"{email.kind}.txt").render(ctx))
    message.add_alternative(env.get_template(f"{email.kind}.html").render(ctx), subtype="html")
    return message
