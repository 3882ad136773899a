"""Due work (SIM-1): what runs as time passes, by `commcredits jobs run`, the API clock and
the server's background loop. For now: expiry of lots (FUND-4).
"""

from __future__ import annotations

from dataclasses import dataclass

from commcredits.services.context import Services
from commcredits.services.funds import apply_expiry


@dataclass(frozen=True, slots=True)
class JobReport:
    tenants_expired: int
    lots_expired: int

    def summary(self) -> str:
        return f"expired {self.lots_expired} lot(s) in {self.tenants_expired} tenant(s)"


def run_due_work(svc: Services) -> JobReport:
    now = svc.clock.now()
    with svc.uow(readonly=True) as uow:
        due = uow.credits.tenants_with_expiry_due(now)
    lots = 0
    for tenant_id in due:
        lots += apply_expiry(svc, tenant_id)
    return JobReport(len(due), lots)
