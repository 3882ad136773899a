"""Server-side SVG charts for the admin center (no JavaScript chart library).

`balance_and_spend` draws the balance at the end of each day as a line on the left axis and
each day's spend as bars on their own right axis, so a few cents of spend stay visible next
to a balance of hundreds. Every bar and point has a <title> for hover and screen readers,
and the chart carries a text summary in its <desc>.

`for_page` gives the Home page two drawings of the same chart: a wide one, and a narrow one
for phones whose labels stay readable at 390 px (a wide SVG scaled down to a phone shrinks
its 12 px labels to 5 px). CSS shows one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from markupsafe import Markup

from commcredits.domain.insight import BalancePoint


def _fill_days(points: Sequence[BalancePoint], days: int) -> list[BalancePoint]:
    """One point per calendar day over the last `days` days (carrying the balance over)."""
    if not points:
        return []
    last = points[-1].day
    first = max(points[0].day, last - timedelta(days=days - 1))
    by_day = {p.day: p for p in points}
    balance = Decimal(0)
    for p in points:
        if p.day >= first:
            break
        balance = p.balance
    out: list[BalancePoint] = []
    day = first
    while day <= last:
        found = by_day.get(day)
        if found is not None:
            balance = found.balance
            out.append(found)
        else:
            out.append(BalancePoint(day, balance, Decimal(0)))
        day += timedelta(days=1)
    return out


def _nice(value: Decimal) -> Decimal:
    """A round axis maximum at or above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return Decimal(1)
    step = Decimal(1)
    while step * 10 <= value:
        step *= 10
    while step > value:
        step /= 10
    for m in (1, 2, 5, 10):
        if step * m >= value:
            return step * m
    return step * 10  # pragma: no cover


def for_page(points: Sequence[BalancePoint], currency: str, *, days: int = 90) -> Markup:
    """The wide and the narrow drawing, for CSS to show one (see app.css `.chart-narrow`)."""
    wide = balance_and_spend(points, currency, days=days, css_class="chart-wide")
    narrow = balance_and_spend(points, currency, days=days, width=400, height=300,
                               margin=46, ids="chart-narrow", css_class="chart-narrow")
    return wide + narrow


def balance_and_spend(points: Sequence[BalancePoint], currency: str, *, days: int = 90,
                      width: int = 860, height: int = 280, margin: int = 64,
                      ids: str = "chart", css_class: str = "") -> Markup:
    series = _fill_days(points, days)
    left, right, top, bottom = margin, margin, 30, 36
    pw, ph = width - left - right, height - top - bottom
    classes = f"balance-chart {css_class}".strip()
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{ids}-title {ids}-desc" class="{classes}">',
        f'<title id="{ids}-title">Balance and daily spend, last {days} days ({currency})'
        '</title>',
    ]
    if not series:
        parts.append(f'<desc id="{ids}-desc">No ledger entries yet.</desc>')
        parts.append(f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle" '
                     'class="label">No ledger entries yet</text></svg>')
        return Markup("".join(parts))  # noqa: S704 - built from numbers and escaped text
    bal_max = _nice(max(max(p.balance for p in series), Decimal(0)))
    bal_min = min(Decimal(0), min(p.balance for p in series))
    spend_max = _nice(max(p.spend for p in series))
    total = sum((p.spend for p in series), Decimal(0))
    n = len(series)
    slot = Decimal(pw) / n

    def yb(v: Decimal) -> float:
        return float(top + ph - (v - bal_min) / (bal_max - bal_min) * ph)

    def ys(v: Decimal) -> float:
        return float(top + ph - v / spend_max * ph)

    parts.append(
        f'<desc id="{ids}-desc">From {series[0].day} to {series[-1].day} the balance went '
        f'from {series[0].balance:.2f} to {series[-1].balance:.2f} {escape(currency)}; '
        f'{total:.2f} {escape(currency)} was spent in all.</desc>'
    )
    for frac in (0, 0.5, 1):  # grid and axis labels
        y = top + ph - frac * ph
        bal = bal_min + (bal_max - bal_min) * Decimal(str(frac))
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" '
                     'class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="label '
                     f'balance-label">{bal:,.0f}</text>')
        parts.append(f'<text x="{left + pw + 6}" y="{y + 4:.1f}" class="label spend-label">'
                     f'{spend_max * Decimal(str(frac)):,.2f}</text>')
    for i, p in enumerate(series):
        if p.spend > 0:
            x = left + float(slot * i) + float(slot) * 0.15
            y = ys(p.spend)
            parts.append(
                f'<rect class="spend" x="{x:.1f}" y="{y:.1f}" width="{float(slot) * 0.7:.1f}" '
                f'height="{top + ph - y:.1f}"><title>{p.day}: spent {p.spend:.2f} '
                f'{escape(currency)}</title></rect>')
    line = " ".join(f"{left + float(slot * i + slot / 2):.1f},{yb(p.balance):.1f}"
                    for i, p in enumerate(series))
    parts.append(f'<polyline class="balance" points="{line}"/>')
    last = series[-1]
    parts.append(f'<circle class="balance" cx="{left + float(slot * (n - 1) + slot / 2):.1f}" '
                 f'cy="{yb(last.balance):.1f}" r="3.5"><title>{last.day}: balance '
                 f'{last.balance:.2f} {escape(currency)}</title></circle>')
    parts.append(f'<text x="{left}" y="{height - 12}" class="label">{series[0].day}</text>')
    parts.append(f'<text x="{left + pw}" y="{height - 12}" text-anchor="end" class="label">'
                 f'{series[-1].day}</text>')
    parts.append('<text x="4" y="14" class="label balance-label">balance</text>')
    parts.append(f'<text x="{width - 4}" y="14" text-anchor="end" '
                 'class="label spend-label">spend/day</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built from numbers and escaped text
