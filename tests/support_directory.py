"""Builders for directory and pool tests: seats, users with licenses, and pool questions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from commcredits.services import directory, licenses, pools
from commcredits.services.context import Services
from tests.support import OPERATOR


def buy(svc: Services, tid: str, **seats: int) -> None:
    for sku, quantity in seats.items():
        licenses.buy_seats(svc, OPERATOR, tid, sku=sku, quantity=quantity)


def add_users(
    svc: Services, tid: str, count: int, location: str | None, skus: Sequence[str] = (),
    *, prefix: str = "user", start: int = 0,
) -> list[str]:
    """``count`` users named prefix<N>@contoso.com in ``location``, each given ``skus`` (one
    bulk file for all of them)."""
    upns = [f"{prefix}{i}@contoso.com" for i in range(start, start + count)]
    for upn in upns:
        directory.create_user(svc, OPERATOR, tid, upn=upn, display_name=upn.split("@")[0],
                              usage_location=location)
    if skus:
        rows = "".join(f"{upn},{sku},add\n" for upn in upns for sku in skus)
        report = licenses.bulk_licenses(svc, OPERATOR, tid, "upn,sku,action\n" + rows)
        assert report.failed == 0, [r for r in report.rows if not r.ok][:3]
    return upns


def quote(svc: Services, tid: str, user: str, destination: str, at: datetime,
          *, dial_out: bool = False) -> pools.PoolQuote:
    return pools.minutes_left(svc, tid, user, destination, at, dial_out=dial_out)


def left(svc: Services, tid: str, user: str, destination: str, at: datetime,
         *, dial_out: bool = False) -> int | None:
    return quote(svc, tid, user, destination, at, dial_out=dial_out).minutes_left


def call(svc: Services, tid: str, user: str, destination: str, seconds: int, at: datetime,
         *, dial_out: bool = False, reference: str | None = None) -> pools.PoolConsumption:
    """Quote, then use the pool for one finished call, as call rating will."""
    q = quote(svc, tid, user, destination, at, dial_out=dial_out)
    assert q.pool_key is not None, q
    return pools.consume(svc, tid, q.pool_key, seconds, at, reference=reference)
