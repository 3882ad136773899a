"""The two mailers: SMTP (STARTTLS, SSL or plain, with credentials) and a folder of .eml
files for installations without SMTP (NOTE-3)."""

from __future__ import annotations

import smtplib
import ssl
from pathlib import Path

from commcredits.adapters.email.render import render
from commcredits.services.ports import OutboxRecord


class SmtpMailer:
    def __init__(
        self, host: str, port: int, *, security: str = "none", username: str | None = None,
        password: str | None = None, sender: str, timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.sender, self.timeout = username, password, sender, \
            timeout

    def send(self, email: OutboxRecord) -> str:
        message = render(email, self.sender)
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)
        return f"smtp://{self.host}:{self.port}"


class FolderMailer:
    """Writes each email as `<outbox id>-<kind>.eml`; rewriting the same file is harmless."""

    def __init__(self, folder: Path, *, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, email: OutboxRecord) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{email.id:08d}-{email.kind}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(render(email, self.sender)))
        tmp.replace(path)
        return str(path)
