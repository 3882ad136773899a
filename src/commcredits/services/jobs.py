"""Due work (SIM-1): what runs as time passes, by `commcredits jobs run`, `commcredits worker`,
the API clock and the server's background loop:

- expiry of lots (FUND-4) and the "funds expire within 30 days" warning, once per lot;
- auto-recharge requests that are due: first tries, retries and lapsed claims (AR-2..AR-5);
- month-end overage statements of MCA tenants (POST-1);
- stale call reservations, settled at their last reported usage (CALL-7);
- anomaly emails about unusual calling spend (GUARD-2, `services.guard`);
- email delivery from the outbox (NOTE-2).

Every step is safe to run in several processes at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from commcredits.domain.money import Money
from commcredits.domain.notifications import EXPIRY_WARNING_DAYS, NotificationKind
from commcredits.services.calls import expire_stale
from commcredits.services.context import Services
from commcredits.services.funds import apply_expiry
from commcredits.services.guard import notify_anomalies
from commcredits.services.notifications import deliver_due, notify
from commcredits.services.postpaid import issue_statements
from commcredits.services.recharge import process_due


@dataclass(frozen=True, slots=True)
class JobReport:
    tenants_expired: int
    lots_expired: int
    expiry_warnings: int = 0
    recharges: int = 0
    emails_sent: int = 0
    emails_failed: int = 0
    statements: int = 0
    calls_expired: int = 0
    anomaly_emails: int = 0  # GUARD-2

    def summary(self) -> str:
        return (
            f"expired {self.lots_expired} lot(s) in {self.tenants_expired} tenant(s), "
            f"{self.expiry_warnings} expiry warning(s), {self.recharges} recharge(s) "
            f"processed, {self.statements} overage statement(s) issued, "
            f"{self.calls_expired} stale call(s) settled, {self.emails_sent} email(s) sent"
            + (f", {self.emails_failed} to retry" if self.emails_failed else "")
        )


def warn_expiring(svc: Services) -> int:
    """NOTE-1: email once per lot that expires within 30 days and still holds funds."""
    now = svc.clock.now()
    with svc.uow(readonly=True) as uow:
        soon = uow.credits.lots_expiring(now, now + timedelta(days=EXPIRY_WARNING_DAYS))
    queued = 0
    for tenant_id, lot_id, remaining, purchased_at, expires_at in soon:
        with svc.uow() as uow:
            tenant = uow.tenants.get(tenant_id)
            assert tenant is not None
            balance = uow.credits.account(tenant_id, lock=False).balance
            if notify(uow, tenant_id, NotificationKind.FUNDS_EXPIRING,
                      f"funds-expiring:{lot_id}", {
                          "remaining": Money(remaining, tenant.currency).format(),
                          "lot_id": lot_id, "balance": balance.format(),
                          "purchased_on": purchased_at.date().isoformat(),
                          "expires_on": expires_at.date().isoformat(),
                      }, now):
                queued += 1
            uow.commit()
    return queued


def run_due_work(svc: Services, *, deliver: bool = True) -> JobReport:
    now = svc.clock.now()
    with svc.uow(readonly=True) as uow:
        due = uow.credits.tenants_with_expiry_due(now)
    lots = 0
    for tenant_id in due:
        lots += apply_expiry(svc, tenant_id)
    warnings = warn_expiring(svc)
    calls_expired = expire_stale(svc)
    recharges = process_due(svc)
    statements = issue_statements(svc)
    anomalies = notify_anomalies(svc)
    sent = failed = 0
    if deliver and svc.mailer is not None:
        delivery = deliver_due(svc, svc.mailer)
        sent, failed = delivery.sent, delivery.failed
    return JobReport(len(due), lots, warnings, recharges, sent, failed, statements,
                     calls_expired, anomalies)
