"""SQL repository for the spend guard (GUARD-1..3): the settings row, and what counts toward
the limits, summed in SQL over the calls a period holds (`ix_calls_tenant_start`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.types import MicroAmount, UTCDateTime
from commcredits.domain.calls import CallStatus
from commcredits.domain.guard import GuardSettings, Spent, blocked_texts, from_texts

C = t.calls
G = t.spend_guards
_SPENDING = (C.c.status != CallStatus.DENIED.value,)


def _sum(condition: Any, value: Any, type_: Any = MicroAmount) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0, type_=type_)


def _spent_statement() -> Any:
    money = func.coalesce(C.c.charge, C.c.reserved)
    mine = C.c.user_object_id == bindparam("user")
    seconds = func.coalesce(C.c.duration, C.c.granted_seconds, 0)
    return select(
        _sum(and_(mine, C.c.start_at >= bindparam("hour", type_=UTCDateTime)), money)
        .label("user_hour"),
        _sum(mine, money).label("user_day"),
        func.coalesce(func.sum(money), 0, type_=MicroAmount).label("tenant_day"),
        _sum(and_(mine, C.c.domestic.is_(False), C.c.funding != "free"),
             seconds, Integer()).label("intl"),
    ).where(C.c.tenant_id == bindparam("tenant"),
            C.c.start_at >= bindparam("day", type_=UTCDateTime),
            C.c.start_at < bindparam("until", type_=UTCDateTime),
            C.c.id != bindparam("exclude"), *_SPENDING)


_SPENT = _spent_statement()


class SqlGuard:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, tenant_id: str) -> GuardSettings | None:
        row = self.conn.execute(select(G).where(G.c.tenant_id == tenant_id)).first()
        if row is None:
            return None
        return GuardSettings(
            user_hour=row.user_hour, user_day=row.user_day, tenant_day=row.tenant_day,
            intl_minutes_user_day=row.intl_minutes_user_day,
            blocked=from_texts(list(row.blocked or [])),
        )

    def put(self, tenant_id: str, settings: GuardSettings | None, at: datetime) -> None:
        if settings is None or settings.empty:
            self.conn.execute(delete(G).where(G.c.tenant_id == tenant_id))
            return
        values = {
            "user_hour": settings.user_hour, "user_day": settings.user_day,
            "tenant_day": settings.tenant_day,
            "intl_minutes_user_day": settings.intl_minutes_user_day,
            "blocked": blocked_texts(settings), "updated_at": at,
        }
        changed = self.conn.execute(
            update(G).where(G.c.tenant_id == tenant_id).values(**values)
        ).rowcount
        if not changed:
            self.conn.execute(insert(G).values(tenant_id=tenant_id, **values))

    def spent(self, tenant_id: str, user_id: str | None, hour: datetime, day: datetime,
              until: datetime, *, exclude: str | None = None) -> Spent:
        """Credits of calls started in the day (charged, or held by open calls), and the
        user's international seconds (billed or granted so far): one statement, built once
        (`_SPENT`), on the tenant's start-time index."""
        row = self.conn.execute(_SPENT, {
            "tenant": tenant_id, "user": user_id or "", "hour": hour, "day": day,
            "until": until, "exclude": exclude or "",
        }).one()
        return Spent(row.user_hour, row.user_day, row.tenant_day, int(row.intl or 0))

    def heavy_users(self, tenant_id: str, since: datetime, until: datetime,
                    floor: Decimal) -> list[tuple[str, Decimal]]:
        """(user, spend) of the users whose charged calls started in [since, until) sum to
        at least ``floor`` (GUARD-2's candidates)."""
        total = func.sum(C.c.charge, type_=MicroAmount)
        rows = self.conn.execute(
            select(C.c.user_object_id, total.label("spend"))
            .where(C.c.tenant_id == tenant_id, C.c.start_at >= since, C.c.start_at < until,
                   C.c.charge.is_not(None), C.c.user_object_id.is_not(None))
            .group_by(C.c.user_object_id)
            .having(total >= floor)
        )
        return [(r.user_object_id, r.spend) for r in rows]

    def user_charges(self, tenant_id: str, user_id: str, since: datetime,
                     until: datetime) -> list[tuple[datetime, Decimal]]:
        """(start, charge) of the user's charged calls started in [since, until)."""
        rows = self.conn.execute(
            select(C.c.start_at, C.c.charge)
            .where(C.c.tenant_id == tenant_id, C.c.user_object_id == user_id,
                   C.c.start_at >= since, C.c.start_at < until, C.c.charge.is_not(None))
        )
        return [(r.start_at, r.charge) for r in rows]
