"""Settings from the environment (`COMMCREDITS_*`) and flags, validated when built.

Built in `bootstrap` or an entrypoint, never at import time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./commcredits.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMMCREDITS_", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL; postgresql+psycopg://… selects PostgreSQL.",
    )
    operator_key: str | None = Field(
        None, description="A secret that is accepted as the operator's API key.",
    )
    simulated_clock: bool = Field(
        False, description="Run on the simulated clock that the operator sets (SIM-1).",
    )
    seller_name: str = Field("commcredits operator", description="Seller on invoices.")
    seller_country: str = Field("United States", description="Seller's country on invoices.")
    seller_address: str = Field("", description="Seller's postal address on invoices.")
    seller_tax_id: str = Field("", description="Seller's tax id on invoices.")
    smtp_host: str | None = Field(
        None, description="SMTP server; when unset, emails are written as .eml files.",
    )
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        "starttls", description="none, starttls or ssl.",
    )
    smtp_username: str | None = Field(None, description="SMTP user name, if it needs one.")
    smtp_password: str | None = Field(None, description="SMTP password.")
    mail_from: str = Field(
        "Communications Credits <credits@commcredits.local>", description="The From address.",
    )
    outbox_dir: str = Field(
        "./outbox", description="Folder for .eml files when no SMTP server is set.",
    )
    jobs_interval_seconds: float = Field(
        30.0, description="How often `serve` runs due work in the background.",
    )
    leader_poll_seconds: float = Field(
        5.0, gt=0, description="How often `serve` takes or renews the due-work leadership "
        "(OPS-3).",
    )
    leader_lease_seconds: float = Field(
        15.0, gt=0, description="How long a SQLite leader's lease lasts without renewal; a "
        "dead leader is replaced within lease + poll seconds.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one JSON line per request and log record (OPS-4).",
    )
