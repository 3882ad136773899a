"""Storage for the web admin center: admin accounts, browser sessions and one-time links.

Only hashes of session tokens and sign-in links are stored (AUTH-2); the secrets themselves
live in the browser's cookie or the printed link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from commcredits.adapters.db import tables as t
from commcredits.domain.tenants import Role
from commcredits.services.ports import AdminAccountRecord, WebSessionRecord


def _account(r: Any) -> AdminAccountRecord:
    return AdminAccountRecord(
        r.id, r.email, r.name, r.password_hash, Role(r.role), r.tenant_id, r.created_at,
    )


class SqlWebAccess:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def add_account(self, account: AdminAccountRecord) -> None:
        self.conn.execute(insert(t.admin_accounts).values(
            id=account.id, email=account.email, name=account.name,
            password_hash=account.password_hash, role=account.role.value,
            tenant_id=account.tenant_id, created_at=account.created_at,
        ))

    def account_by_email(self, email: str) -> AdminAccountRecord | None:
        r = self.conn.execute(
            select(t.admin_accounts).where(t.admin_accounts.c.email == email)
        ).first()
        return _account(r) if r else None

    def account(self, account_id: str) -> AdminAccountRecord | None:
        r = self.conn.execute(
            select(t.admin_accounts).where(t.admin_accounts.c.id == account_id)
        ).first()
        return _account(r) if r else None

    def accounts(self, tenant_id: str | None) -> list[AdminAccountRecord]:
        q = select(t.admin_accounts).order_by(t.admin_accounts.c.email)
        if tenant_id is not None:
            q = q.where(t.admin_accounts.c.tenant_id == tenant_id)
        return [_account(r) for r in self.conn.execute(q)]

    def set_password(self, account_id: str, password_hash: str) -> None:
        self.conn.execute(update(t.admin_accounts).where(
            t.admin_accounts.c.id == account_id).values(password_hash=password_hash))

    def add_session(self, token_hash: str, session: WebSessionRecord, at: datetime) -> None:
        self.conn.execute(insert(t.web_sessions).values(
            token_hash=token_hash, account_id=session.account_id, key_hash=session.key_hash,
            role=session.role.value, tenant_id=session.tenant_id,
            partner_id=session.partner_id, name=session.name, csrf_token=session.csrf_token,
            created_at=at, expires_at=session.expires_at,
        ))

    def session(self, token_hash: str) -> WebSessionRecord | None:
        r = self.conn.execute(
            select(t.web_sessions).where(t.web_sessions.c.token_hash == token_hash)
        ).first()
        if r is None:
            return None
        return WebSessionRecord(
            r.account_id, r.key_hash, Role(r.role), r.tenant_id, r.partner_id, r.name,
            r.csrf_token, r.expires_at,
        )

    def delete_session(self, token_hash: str) -> None:
        self.conn.execute(delete(t.web_sessions).where(t.web_sessions.c.token_hash == token_hash))

    def purge_sessions(self, before: datetime) -> int:
        result = self.conn.execute(
            delete(t.web_sessions).where(t.web_sessions.c.expires_at < before))
        return int(result.rowcount or 0)

    def add_link(
        self, token_hash: str, account_id: str, at: datetime, expires_at: datetime,
    ) -> None:
        self.conn.execute(insert(t.signin_links).values(
            token_hash=token_hash, account_id=account_id, created_at=at, expires_at=expires_at,
        ))

    def use_link(self, token_hash: str, at: datetime) -> str | None:
        c = t.signin_links.c
        row = self.conn.execute(
            update(t.signin_links)
            .where(c.token_hash == token_hash, c.used_at.is_(None), c.expires_at > at)
            .values(used_at=at).returning(c.account_id)
        ).first()
        return str(row.account_id) if row else None

    def signin_failures(
        self, scope: str, subject: str, since: datetime,
    ) -> tuple[int, datetime | None]:
        """How many sign-ins of this subject failed since then, and when the last did."""
        f = t.signin_failures
        row = self.conn.execute(
            select(func.count(), func.max(f.c.at))
            .where(f.c.scope == scope, f.c.subject == subject, f.c.at >= since)
        ).one()
        return int(row[0]), row[1]

    def add_signin_failure(self, scope: str, subject: str, at: datetime,
                           prune_before: datetime) -> None:
        f = t.signin_failures
        self.conn.execute(delete(f).where(f.c.scope == scope, f.c.subject == subject,
                                          f.c.at < prune_before))
        self.conn.execute(insert(f).values(scope=scope, subject=subject, at=at))

    def clear_signin_failures(self, scope: str, subject: str) -> None:
        f = t.signin_failures
        self.conn.execute(delete(f).where(f.c.scope == scope, f.c.subject == subject))
