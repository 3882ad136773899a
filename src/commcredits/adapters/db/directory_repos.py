"""SQL repository for the directory: users, resource accounts and license assignments
(phone numbers and pool usage are in `number_pool_repos.py`).

License assignments are intervals (`assigned_at`, `removed_at`); a user's licenses are the
open ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, insert, or_, select, update

from commcredits.adapters.db import tables as t
from commcredits.domain.directory import (
    AssigneeKind,
    ResourceAccount,
    ResourceKind,
    User,
)
from commcredits.domain.pool_index import DirectoryUser, Holding
from commcredits.services.ports import LicenseWrite, UserDraft, UserSearch

U = t.users
A = t.license_assignments
N = t.phone_numbers
RA = t.resource_accounts
V = t.directory_versions
_VERSION = select(V.c.version).where(V.c.tenant_id == bindparam("tenant_id"))  # built once


class SqlDirectory:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def version(self, tenant_id: str) -> str | None:
        return self.conn.execute(_VERSION, {"tenant_id": tenant_id}).scalar_one_or_none()

    def bump_version(self, tenant_id: str, at: datetime) -> str:
        token = uuid.uuid4().hex
        changed = self.conn.execute(
            update(V).where(V.c.tenant_id == tenant_id).values(version=token, updated_at=at)
        ).rowcount
        if not changed:
            self.conn.execute(insert(V).values(tenant_id=tenant_id, version=token, updated_at=at))
        return token

    def upn_taken(self, tenant_id: str, upn: str) -> bool:
        return bool(self.conn.execute(select(or_(
            exists().where(U.c.tenant_id == tenant_id, U.c.upn == upn),
            exists().where(RA.c.tenant_id == tenant_id, RA.c.upn == upn),
        ))).scalar())

    def add_user(self, tenant_id: str, user: UserDraft, at: datetime) -> None:
        self.conn.execute(insert(U).values(
            id=user.id, tenant_id=tenant_id, upn=user.upn, display_name=user.display_name,
            usage_location=user.usage_location, blocked=user.blocked, created_at=at,
            updated_at=at,
        ))

    def update_user(self, tenant_id: str, user_id: str, at: datetime, **fields: Any) -> None:
        self.conn.execute(
            update(U).where(U.c.tenant_id == tenant_id, U.c.id == user_id)
            .values(updated_at=at, **fields)
        )

    def _users(self, tenant_id: str, rows: Sequence[Any]) -> list[User]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        licenses: dict[str, set[str]] = {}
        numbers: dict[str, str] = {}
        # One query each for the page's licenses and numbers (chunked for huge pages).
        for start in range(0, len(ids), 5000):
            chunk = ids[start:start + 5000]
            for a in self.conn.execute(
                select(A.c.user_id, A.c.sku).where(
                    A.c.tenant_id == tenant_id, A.c.user_id.in_(chunk), A.c.removed_at.is_(None),
                )
            ):
                licenses.setdefault(a.user_id, set()).add(a.sku)
            for n in self.conn.execute(
                select(N.c.assignee_id, N.c.number).where(
                    N.c.tenant_id == tenant_id, N.c.assignee_kind == AssigneeKind.USER.value,
                    N.c.assignee_id.in_(chunk),
                )
            ):
                numbers[n.assignee_id] = n.number
        return [
            User(id=r.id, tenant_id=tenant_id, upn=r.upn, display_name=r.display_name,
                 usage_location=r.usage_location, phone_number=numbers.get(r.id),
                 blocked=bool(r.blocked), licenses=frozenset(licenses.get(r.id, ())))
            for r in rows
        ]

    def user(self, tenant_id: str, key: str) -> User | None:
        row = self.conn.execute(select(U).where(
            U.c.tenant_id == tenant_id, or_(U.c.id == key, U.c.upn == key.lower()),
        )).first()
        found = self._users(tenant_id, [row]) if row else []
        return found[0] if found else None

    def users(
        self, tenant_id: str, *, limit: int, after_upn: str | None,
        search: UserSearch | None = None,
    ) -> list[User]:
        query = select(U).where(U.c.tenant_id == tenant_id)
        if after_upn is not None:
            query = query.where(U.c.upn > after_upn)
        if search is not None:
            query = query.where(*self._search(tenant_id, search))
        rows = self.conn.execute(query.order_by(U.c.upn).limit(limit)).all()
        return self._users(tenant_id, rows)

    @staticmethod
    def _search(tenant_id: str, search: UserSearch) -> list[Any]:
        where: list[Any] = []
        if search.text:
            needle = search.text.lower()
            where.append(or_(
                U.c.upn.contains(needle, autoescape=True),
                func.lower(U.c.display_name).contains(needle, autoescape=True),
                exists().where(
                    N.c.tenant_id == tenant_id, N.c.assignee_kind == AssigneeKind.USER.value,
                    N.c.tenant_id == U.c.tenant_id, N.c.assignee_id == U.c.id,
                    N.c.number.contains(needle, autoescape=True),
                ),
            ))
        if search.sku is not None:
            held = exists().where(A.c.tenant_id == tenant_id, A.c.tenant_id == U.c.tenant_id,
                                  A.c.user_id == U.c.id,
                                  A.c.removed_at.is_(None),
                                  *([A.c.sku == search.sku] if search.sku else []))
            where.append(held if search.sku else ~held)
        if search.location is not None:
            where.append(U.c.usage_location == search.location if search.location
                         else U.c.usage_location.is_(None))
        if search.upn is not None:
            where.append(U.c.upn == search.upn)
        if search.upn_prefix is not None:
            where.append(U.c.upn.startswith(search.upn_prefix, autoescape=True))
        return where

    def all_users(self, tenant_id: str) -> list[User]:
        rows = self.conn.execute(
            select(U).where(U.c.tenant_id == tenant_id).order_by(U.c.upn)
        ).all()
        if not rows:
            return []
        licenses: dict[str, set[str]] = {}
        for a in self.conn.execute(select(A.c.user_id, A.c.sku).where(
            A.c.tenant_id == tenant_id, A.c.removed_at.is_(None),
        )):
            licenses.setdefault(a.user_id, set()).add(a.sku)
        numbers = {n.assignee_id: n.number for n in self.conn.execute(
            select(N.c.assignee_id, N.c.number).where(
                N.c.tenant_id == tenant_id, N.c.assignee_kind == AssigneeKind.USER.value,
            )
        )}
        return [
            User(id=r.id, tenant_id=tenant_id, upn=r.upn, display_name=r.display_name,
                 usage_location=r.usage_location, phone_number=numbers.get(r.id),
                 blocked=bool(r.blocked), licenses=frozenset(licenses.get(r.id, ())))
            for r in rows
        ]

    def write_licenses(
        self, tenant_id: str, changes: Sequence[LicenseWrite], at: datetime,
    ) -> None:
        """Open an interval for each license added and close the open one of each removed."""
        adds = [{"tenant_id": tenant_id, "user_id": c.user_id, "sku": c.sku,
                 "usage_location": c.location, "assigned_at": at, "removed_at": None}
                for c in changes if c.added]
        removes = [{"u": c.user_id, "s": c.sku} for c in changes if not c.added]
        if removes:
            self.conn.execute(
                update(A).where(
                    A.c.tenant_id == tenant_id, A.c.user_id == bindparam("u"),
                    A.c.sku == bindparam("s"), A.c.removed_at.is_(None),
                ).values(removed_at=at),
                removes,
            )
        if adds:
            self.conn.execute(insert(A), adds)

    def relocate(self, tenant_id: str, user_id: str, location: str, at: datetime) -> None:
        open_skus = [r.sku for r in self.conn.execute(select(A.c.sku).where(
            A.c.tenant_id == tenant_id, A.c.user_id == user_id, A.c.removed_at.is_(None),
        ))]
        if not open_skus:
            return
        self.write_licenses(tenant_id, [
            LicenseWrite(user_id, sku, None, added=False) for sku in open_skus
        ], at)
        self.write_licenses(tenant_id, [
            LicenseWrite(user_id, sku, location, added=True) for sku in open_skus
        ], at)

    def assigned_counts(self, tenant_id: str) -> dict[str, int]:
        rows = self.conn.execute(
            select(A.c.sku, func.count()).where(
                A.c.tenant_id == tenant_id, A.c.removed_at.is_(None),
            ).group_by(A.c.sku)
        )
        return {r[0]: int(r[1]) for r in rows}

    def snapshot(self, tenant_id: str) -> tuple[list[DirectoryUser], list[Holding]]:
        users = [
            DirectoryUser(r.id, r.upn, r.usage_location, bool(r.blocked))
            for r in self.conn.execute(
                select(U.c.id, U.c.upn, U.c.usage_location, U.c.blocked)
                .where(U.c.tenant_id == tenant_id)
            )
        ]
        holdings = [
            Holding(r.user_id, r.sku, r.usage_location, r.assigned_at, r.removed_at)
            for r in self.conn.execute(
                select(A.c.user_id, A.c.sku, A.c.usage_location, A.c.assigned_at,
                       A.c.removed_at).where(A.c.tenant_id == tenant_id)
            )
        ]
        return users, holdings

    def add_audit(
        self, tenant_id: str, at: datetime, actor: str,
        entries: Sequence[tuple[str, dict[str, Any]]],
    ) -> None:
        """Audit many directory changes in one statement (bulk assignment)."""
        if entries:
            self.conn.execute(insert(t.audit_log), [
                {"tenant_id": tenant_id, "at": at, "actor": actor, "action": action,
                 "details": details} for action, details in entries
            ])

    def add_resource_account(
        self, tenant_id: str, account_id: str, upn: str, display_name: str,
        kind: ResourceKind, at: datetime,
    ) -> None:
        self.conn.execute(insert(RA).values(
            id=account_id, tenant_id=tenant_id, upn=upn, display_name=display_name,
            kind=kind.value, created_at=at,
        ))

    def _accounts(self, tenant_id: str, rows: Sequence[Any]) -> list[ResourceAccount]:
        numbers: dict[str, list[str]] = {}
        if rows:
            for n in self.conn.execute(
                select(N.c.assignee_id, N.c.number).where(
                    N.c.tenant_id == tenant_id,
                    N.c.assignee_kind == AssigneeKind.RESOURCE_ACCOUNT.value,
                    N.c.assignee_id.in_([r.id for r in rows]),
                ).order_by(N.c.number)
            ):
                numbers.setdefault(n.assignee_id, []).append(n.number)
        return [
            ResourceAccount(r.id, tenant_id, r.upn, r.display_name, ResourceKind(r.kind),
                            tuple(numbers.get(r.id, ())))
            for r in rows
        ]

    def resource_account(self, tenant_id: str, key: str) -> ResourceAccount | None:
        row = self.conn.execute(select(RA).where(
            RA.c.tenant_id == tenant_id, or_(RA.c.id == key, RA.c.upn == key.lower()),
        )).first()
        found = self._accounts(tenant_id, [row]) if row else []
        return found[0] if found else None

    def resource_accounts(self, tenant_id: str) -> list[ResourceAccount]:
        rows = self.conn.execute(
            select(RA).where(RA.c.tenant_id == tenant_id).order_by(RA.c.upn)
        ).all()
        return self._accounts(tenant_id, rows)
