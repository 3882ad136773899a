"""Two months of the demo tenant's calling, rated through the real CDR path (CDR-2) one day
at a time on a stepping clock, so that every report, the ledger, auto-recharge and the
recommendation show meaningful data, then some longer calls earlier this month, so that the
current month's minute pools (domestic, international and Audio Conferencing dial-out)
show use. These calls are the only use of the pools: every pool minute is a call in the
usage report. Runs once (when the tenant has no rated calls).
"""

from __future__ import annotations

import csv
import io
import random
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from commcredits.domain.calls import CallType
from commcredits.domain.pools import month_bounds, month_of
from commcredits.services import cdrs
from commcredits.services.auth import OPERATOR_CLI
from commcredits.services.context import Services
from commcredits.services.demo_clock import SteppingClock

DAYS = 58
DOMAIN = "contoso.com"
HEADER = ["Call ID", "UPN", "Call Type", "Caller ID", "Destination Number", "Start Time",
          "Duration Seconds", "Conference ID", "UsageId"]
# (user, their number, destinations they call): domestic ones use the pools; the rest,
# and every call of the pay-as-you-go user, go to credits.
CALLERS = [
    ("megan.bowen", "+14255550101", ["+12025550123", "+33142685300", "+447400123456"]),
    ("alex.wilber", "+14255550102", ["+12025550123", "+447400123456", "+4930123456"]),
    ("adele.vance", "+14255550103", ["+12025550123"]),
    ("lee.gu", "+14255550104", ["+12025550123"]),
    ("diego.siciliani", "+442079460109", ["+442071234567", "+4930123456"]),
    ("grady.archie", "+442079460110", ["+442071234567", "+447400123456"]),
    ("pradeep.gupta", "+4930901820112", ["+4930123456", "+919876543210", "+12025550123"]),
    ("johanna.lorenz", "+4930901820111", ["+4930123456"]),
]
TOLL_FREE = "+18005550100"
TOLL_FREE_CALLERS = ["+442071234567", "+4930123456", "+12065550100"]
# This month's longer calls, spread from the first of the month to an hour ago:
# (user, their number, destination, seconds, a meeting dial-out?)
THIS_MONTH = [
    ("megan.bowen", "+14255550101", "+12025550123", 1810, False),
    ("megan.bowen", "+14255550101", "+33142685300", 905, False),
    ("alex.wilber", "+14255550102", "+17872345678", 2461, False),
    ("lee.gu", "+14255550104", "+12025550123", 3605, False),
    ("joni.sherman", "+17875550107", "+12025550123", 1202, False),
    ("lynne.robbins", "+442079460108", "+442071234567", 1499, False),
    ("diego.siciliani", "+442079460109", "+4930123456", 630, False),
    ("johanna.lorenz", "+4930901820111", "+4930123456", 2750, False),
    ("pradeep.gupta", "+4930901820112", "+919876543210", 1140, False),
    ("lee.gu", "+14255550180", "+442071234567", 2400, True),
    ("pradeep.gupta", "+14255550180", "+4930123456", 3000, True),
    ("megan.bowen", "+14255550180", "+81312345678", 1260, True),
]


def seed_calls(svc: Services, tenant_id: str) -> int:
    """Rate about 8 calls a day for the last two months; returns how many were rated."""
    now = svc.clock.now()
    with svc.uow(readonly=True) as uow:
        if uow.reports.count(tenant_id, now - timedelta(days=400), now + timedelta(days=1),
                             user=None, call_type=None, capability=None):
            return 0
    rng = random.Random(7)
    rated = 0
    for day in range(DAYS, 0, -1):
        start = (now - timedelta(days=day)).replace(hour=8, minute=0, second=0,
                                                    microsecond=0)
        rows = []
        for n in range(rng.randint(5, 10)):
            at = start + timedelta(minutes=rng.randint(0, 9 * 60))
            if rng.random() < 0.2:
                caller = rng.choice(TOLL_FREE_CALLERS)
                rows.append([f"demo-{day}-{n}", "", CallType.USER_IN.value, caller, TOLL_FREE,
                             _iso(at), str(rng.randint(60, 1200))])
                continue
            user, number, destinations = rng.choice(CALLERS)
            rows.append([f"demo-{day}-{n}", f"{user}@{DOMAIN}", CallType.USER_OUT.value, number,
                         rng.choice(destinations), _iso(at), str(rng.randint(20, 1500))])
        rated += _rate(svc, tenant_id, rows, start + timedelta(hours=10))
    for row in _this_month(now):  # each rated on its own day, a few minutes after it ends
        ended = datetime.fromisoformat(row[5].replace("Z", "+00:00")) + timedelta(
            seconds=int(row[6]) + 300)
        rated += _rate(svc, tenant_id, [row], min(ended, now))
    return rated


def _this_month(now: datetime) -> list[list[str]]:
    """`THIS_MONTH` as CDR rows, each ending before an hour ago."""
    start, _ = month_bounds(month_of(now))
    rows = []
    for i, (user, number, destination, seconds, dial_out) in enumerate(THIS_MONTH):
        span = max(0.0, (now - start).total_seconds() - 3600 - seconds)
        at = start + timedelta(seconds=span * (i + 1) / (len(THIS_MONTH) + 1))
        rows.append([f"demo-month-{i}", f"{user}@{DOMAIN}",
                     "user_out_conf" if dial_out else "user_out", number, destination,
                     _iso(at.replace(microsecond=0)), str(seconds),
                     f"demo-meeting-{i}" if dial_out else ""])
    return rows


def _guid(tenant_id: str, name: str) -> str:
    """A GUID, as Microsoft's call, usage and conference ids are, the same for each name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:commcredits-demo:{tenant_id}:{name}"))


def _rate(svc: Services, tenant_id: str, rows: list[list[str]], at: datetime) -> int:
    """Rate ``rows`` as one CDR file imported at ``at``; how many were accepted. Each row's
    name (``demo-…``) becomes its Call ID and UsageId GUIDs, and a meeting's name its
    Conference ID."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for name, *fields in rows:
        row = [_guid(tenant_id, f"call:{name}"), *fields]
        row += [""] * (len(HEADER) - 1 - len(row))
        if row[7]:
            row[7] = _guid(tenant_id, f"conference:{row[7]}")
        writer.writerow([*row, _guid(tenant_id, f"usage:{name}")])
    that_time = replace(svc, clock=SteppingClock(at))
    return cdrs.import_cdrs(that_time, OPERATOR_CLI, tenant_id, buffer.getvalue()).accepted


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")

