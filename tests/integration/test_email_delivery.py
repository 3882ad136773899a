"""Email through a real SMTP server on loopback (aiosmtpd) and as .eml files (NOTE-2, NOTE-3)."""

from __future__ import annotations

import contextlib
import email
import socket
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from commcredits.adapters.email.senders import FolderMailer, SmtpMailer
from commcredits.services import funds
from commcredits.services.context import Services
from commcredits.services.notifications import deliver_due, list_notifications
from tests.support import OPERATOR, add_card, buy, make_tenant, usd


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox, port
    with contextlib.suppress(Exception):  # already stopped by the test
        controller.stop()


def deplete(svc: Services) -> str:
    tid = make_tenant(svc)
    card = add_card(svc, tid)
    buy(svc, tid, "50.00", card)
    funds.charge(svc, tid, usd("50.00"))
    return tid


@pytest.mark.rule("NOTE-3")
@pytest.mark.rule("NOTE-1")
def test_emails_arrive_over_smtp_with_recipients_and_subject(
    svc: Services, smtp: tuple[Controller, Inbox, int],
) -> None:
    _, inbox, port = smtp
    tid = deplete(svc)
    mailer = SmtpMailer("127.0.0.1", port, security="none", sender="credits@example.com")
    assert deliver_due(svc, mailer).sent == 1
    [(rcpt, message)] = inbox.messages
    assert rcpt == ["admin@contoso.com", "billing@contoso.com"]
    assert message["Subject"] == (
        "Contoso: Communications Credits balance is 0.00 USD; calls charged per minute "
        "have stopped"
    )
    assert message["To"] == "admin@contoso.com, billing@contoso.com"
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Balance now: 0.00 USD" in text
    assert "add funds" in text
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "<strong>0.00 USD</strong>" in html
    [row] = list_notifications(svc, OPERATOR, tid)
    assert row.status == "sent"


@pytest.mark.rule("NOTE-2")
def test_an_smtp_outage_delays_email_but_loses_none_and_sends_it_once(
    svc: Services, smtp: tuple[Controller, Inbox, int],
) -> None:
    controller, inbox, port = smtp
    tid = deplete(svc)
    controller.stop()
    mailer = SmtpMailer("127.0.0.1", port, security="none", sender="credits@example.com",
                        timeout=2)
    delivery = deliver_due(svc, mailer)
    assert (delivery.sent, delivery.failed) == (0, 1)
    [row] = list_notifications(svc, OPERATOR, tid)
    assert row.status == "retrying"
    assert row.last_error
    # Still queued: nothing is due again before its back-off …
    assert deliver_due(svc, mailer).sent == 0

    restarted = Controller(inbox, hostname="127.0.0.1", port=port)
    restarted.start()
    try:
        later = time.time() + 3600
        assert deliver_due(svc, mailer, wall=lambda: later).sent == 1
        assert deliver_due(svc, mailer, wall=lambda: later + 7200).sent == 0
    finally:
        restarted.stop()
    assert len(inbox.messages) == 1
    [row] = list_notifications(svc, OPERATOR, tid)
    assert row.status == "sent"


@pytest.mark.rule("NOTE-2")
def test_the_same_event_is_queued_only_once(svc: Services, clock: Any) -> None:
    from commcredits.domain.notifications import NotificationKind
    from commcredits.services.notifications import notify

    tid = make_tenant(svc)
    with svc.uow() as uow:
        first = notify(uow, tid, NotificationKind.BALANCE_DEPLETED, "balance-depleted:1",
                       {"balance": "0.00"}, clock.now())
        second = notify(uow, tid, NotificationKind.BALANCE_DEPLETED, "balance-depleted:1",
                        {"balance": "0.00"}, clock.now())
        uow.commit()
    assert (first, second) == (True, False)
    assert len(list_notifications(svc, OPERATOR, tid)) == 1


@pytest.mark.rule("NOTE-3")
def test_without_smtp_emails_are_written_as_eml_files(svc: Services, tmp_path: Path) -> None:
    deplete(svc)
    folder = tmp_path / "eml"
    assert deliver_due(svc, FolderMailer(folder, sender="credits@example.com")).sent == 1
    [path] = sorted(folder.glob("*.eml"))
    assert path.name.endswith("-balance_depleted.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "admin@contoso.com, billing@contoso.com"
    assert "balance is 0.00 USD" in message["Subject"]
