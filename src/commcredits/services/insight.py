"""Insight (REP-5) and the Graph-compatible PSTN call log (REP-3): read-only use cases.

- `balance_history`: the running balance at the end of each day with ledger entries, and
  that day's charges (spend), from the ledger.
- `spend`: finished calls' charges grouped by day, user, destination country or capability,
  over UTC days like the usage report.
- `recommendation`: auto-recharge trigger and amount and the runway (`domain.insight`), from
  the ledger's charges per day and the balance.
- `pstn_calls`: one keyset page of finished calls started in a UTC range (both ends
  inclusive, at most 90 days), with the total count (read with the first page, then
  carried in the cursor).
- `balance_svg`: the balance history as a small SVG chart (polyline and daily spend bars).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from commcredits.domain import insight as calc
from commcredits.domain.errors import InvalidInput
from commcredits.domain.reference import minimum_purchase
from commcredits.domain.reports import Bound, OverRange, ReportRange, Retention, report_range
from commcredits.domain.tenants import Tenant
from commcredits.services.auth import Action, Principal, authorize
from commcredits.services.context import Services
from commcredits.services.ports import RatedCallRecord, SpendRecord

GROUPS = ("day", "user", "country", "capability")
MAX_RANGE = timedelta(days=90)
MAX_PAGE = 1000
DEFAULT_SPEND = "30d"
SPEND_PERIODS = {DEFAULT_SPEND: 30}


@dataclass(frozen=True, slots=True)
class BalanceHistory:
    tenant_id: str
    currency: str
    points: list[calc.BalancePoint]


@dataclass(frozen=True, slots=True)
class SpendReport(OverRange):
    tenant_id: str
    currency: str
    group_by: str
    window: ReportRange
    rows: list[SpendRecord]

    @property
    def total(self) -> Decimal:
        return sum((r.amount for r in self.rows), Decimal(0))


@dataclass(frozen=True, slots=True)
class CallLogCursor:
    """Where the next page of the call log starts: after the call that started at
    ``start_at`` with row ``id``; and the range's count, read with the first page."""

    start_at: datetime
    id: str
    count: int | None = None  # None: count again (a cursor from before counts were kept)


@dataclass(frozen=True, slots=True)
class CallPage:
    tenant: Tenant
    rows: list[RatedCallRecord]
    count: int
    next_cursor: CallLogCursor | None


def balance_history(svc: Services, principal: Principal, tenant_id: str) -> BalanceHistory:
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_CREDITS)
        days = uow.insight.ledger_days(tenant_id)
    return BalanceHistory(tenant_id, tenant.currency, calc.balance_history(
        (date.fromisoformat(d), net, spent) for d, net, spent in days
    ))


def spend(
    svc: Services, principal: Principal, tenant_id: str, group_by: str,
    start: Bound = None, end: Bound = None,
) -> SpendReport:
    """Spend of finished calls started in a range of UTC days, ``to`` included: by default
    the last 30 days, today included (`domain.reports.report_range`, as the usage report)."""
    if group_by not in GROUPS:
        raise InvalidInput(
            "INVALID_GROUP_BY", f"group_by must be one of {', '.join(GROUPS)}.",
            {"group_by": group_by, "allowed": list(GROUPS)},
        )
    window = report_range(svc.clock.now(), None, start, end, periods=SPEND_PERIODS,
                          default=DEFAULT_SPEND, at_most_a_year=False)
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_CREDITS)
        rows = uow.insight.spend(tenant_id, window.start, window.end, group_by)
    return SpendReport(tenant_id, tenant.currency, group_by, window, rows)


def recommendation(svc: Services, principal: Principal, tenant_id: str) -> calc.Recommendation:
    today = svc.clock.now().date()
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_CREDITS)
        days = uow.insight.ledger_days(tenant_id)
        balance = uow.credits.account(tenant_id, lock=False).balance.amount
    per_day = {date.fromisoformat(d): spent for d, _, spent in days}
    return calc.recommend(per_day, balance, today, tenant.currency,
                          minimum_purchase(tenant.currency))


def pstn_calls(
    svc: Services, principal: Principal, tenant_id: str, start: datetime, end: datetime,
    *, top: int = MAX_PAGE, after: CallLogCursor | None = None,
) -> CallPage:
    """Finished calls started in [start, end] (UTC, inclusive), ``top`` at a time (REP-3).

    The range is counted with its first page and the count travels in the cursor, so
    following the pages reads each call once, not the whole range again per page."""
    if end < start:
        raise InvalidInput("INVALID_RANGE", "fromDateTime must not be after toDateTime.",
                           {"fromDateTime": start.isoformat(), "toDateTime": end.isoformat()})
    if end - start > MAX_RANGE:
        raise InvalidInput(
            "RANGE_TOO_LARGE", "The range from fromDateTime to toDateTime may be at most 90 "
            "days; ask for shorter ranges.",
            {"fromDateTime": start.isoformat(), "toDateTime": end.isoformat(), "max_days": 90},
        )
    if not 1 <= top <= MAX_PAGE:
        raise InvalidInput("INVALID_TOP", f"$top must be between 1 and {MAX_PAGE}.",
                           {"top": top})
    with svc.uow(readonly=True) as uow:
        tenant = authorize(uow, principal, tenant_id, Action.READ_DIRECTORY)
        kept = Retention(svc.clock.now(), tenant.country)
        position = (after.start_at, after.id) if after is not None else None
        rows = uow.insight.calls_page(tenant_id, start, end, position, top + 1, kept)
        count = after.count if after is not None and after.count is not None \
            else uow.insight.count_calls(tenant_id, start, end, kept)
    more = len(rows) > top
    rows = rows[:top]
    cursor = CallLogCursor(rows[-1].start_at, rows[-1].id, count) if more else None
    return CallPage(tenant, rows, count, cursor)


def balance_svg(history: BalanceHistory, width: int = 800, height: int = 300) -> str:
    """The balance as a polyline and each day's spend as a bar (`class="spend"`), with axis
    labels: hand-written SVG text, one bar per day with spend."""
    left, right, top, bottom = 70, 20, 20, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    points = history.points
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f"<title>Balance history of {escape(history.tenant_id)} ({history.currency})</title>",
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
        f'y2="{top + plot_h}" stroke="#333"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" '
        'stroke="#333"/>',
    ]
    if points:
        first, last = points[0].day, points[-1].day
        span = max(1, (last - first).days + 1)
        high = max([Decimal(1)] + [max(p.balance, p.spend) for p in points])
        low = min([Decimal(0)] + [p.balance for p in points])
        scale = Decimal(plot_h) / (high - low)
        slot = Decimal(plot_w) / span

        def y(value: Decimal) -> str:
            return f"{top + plot_h - (value - low) * scale:.1f}"

        for p in points:
            if p.spend > 0:
                x = left + slot * (p.day - first).days
                bar = p.spend * scale
                parts.append(
                    f'<rect class="spend" x="{x + slot / 10:.1f}" y="{y(p.spend)}" '
                    f'width="{slot * 8 / 10:.1f}" height="{bar:.1f}" fill="#f0a040">'
                    f"<title>{p.day.isoformat()}: spent {p.spend:.2f}</title></rect>"
                )
        line = " ".join(
            f"{left + slot * ((p.day - first).days + Decimal('0.5')):.1f},{y(p.balance)}"
            for p in points
        )
        parts.append(f'<polyline class="balance" points="{line}" fill="none" '
                     'stroke="#2060c0" stroke-width="2"/>')
        parts += [
            f'<text class="label" x="{left}" y="{height - 15}">{first.isoformat()}</text>',
            f'<text class="label" x="{left + plot_w}" y="{height - 15}" text-anchor="end">'
            f"{last.isoformat()}</text>",
            f'<text class="label" x="{left - 5}" y="{top + 5}" text-anchor="end">'
            f"{high:.2f}</text>",
            f'<text class="label" x="{left - 5}" y="{top + plot_h}" text-anchor="end">'
            f"{low:.2f}</text>",
        ]
    else:
        parts.append(f'<text class="label" x="{width // 2}" y="{height // 2}" '
                     'text-anchor="middle">No ledger entries yet</text>')
    parts.append(f'<text class="label" x="5" y="{top + plot_h // 2}">{history.currency}'
                 "</text></svg>")
    return "\n".join(parts)
