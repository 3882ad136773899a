"""Two months of the demo tenant's calling, rated through the real CDR path (CDR-2) one day
at a time on a stepping clock, so that every report, the ledger, auto-recharge and the
recommendation show meaningful data. Runs once (when the tenant has no rated calls).
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import replace
from datetime import datetime, timedelta

from commcredits.domain.calls import CallType
from commcredits.services import cdrs
from commcredits.services.auth import OPERATOR_CLI
from commcredits.services.context import Services
from commcredits.services.demo_clock import SteppingClock

DAYS = 58
DOMAIN = "contoso.com"
HEADER = ["Call ID", "UPN", "Call Type", "Caller ID", "Destination Number", "Start Time",
          "Duration Seconds"]
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
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(HEADER)
        writer.writerows(rows)
        end_of_day = start + timedelta(hours=10)
        that_day = replace(svc, clock=SteppingClock(end_of_day))
        report = cdrs.import_cdrs(that_day, OPERATOR_CLI, tenant_id, buffer.getvalue())
        rated += report.accepted
    return rated


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")

