"""Settling a call (CALL-7, RATE-2, POOL-5, FUND-3..6, ACCT-6): the end or expiry of a live
call as a batch of one through the one settlement.

`settle` takes the pool's minutes (`pools.consume_in`: `pools.split` and the dial-out
alerts), costs the call with `domain.settlement` (`settle_call`, `pool_cost`) and charges it
through the ledger side a CDR chunk uses (`cdr_posting.ChunkLedger`, its own entry
`call:<call id>:<usage id>`) or, for an MCA tenant, `postpaid.charge_postpaid_in`; then it
writes the call's transition (`Call.end` / `Call.expire`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from commcredits.domain.authorization import CREDITS_CAPABILITY, Funding
from commcredits.domain.calls import Call, Settlement
from commcredits.domain.money import Money, from_micros
from commcredits.domain.settlement import pool_cost, settle_call
from commcredits.domain.tenants import BillingAccountType, Tenant
from commcredits.services import pools, postpaid
from commcredits.services.cdr_posting import ChunkLedger
from commcredits.services.context import Services
from commcredits.services.ports import AutoRechargeRecord, CdrBatch, UnitOfWork
from commcredits.services.recharge import ReadSettings


def settle_in(svc: Services, uow: UnitOfWork, tenant_id: str, call: Call, duration: int,
              at: datetime, *, expire: bool = False) -> str | None:
    """Commit a call's charge (RATE-2, POOL-5) inside the caller's locked transaction; the
    call ends (or, with ``expire``, expires at its last reported usage).

    Returns the auto-recharge request the charge queued, if any.
    """
    return settle(svc, uow, tenant_id, call, duration, at, expire=expire)[0]


def settle(
    svc: Services, uow: UnitOfWork, tenant_id: str, call: Call, duration: int, at: datetime,
    *, tenant: Tenant | None = None, open_under_lock: Callable[[], None] | None = None,
    recharge: AutoRechargeRecord | None = None, expire: bool = False,
) -> tuple[str | None, Call]:
    """`settle_in`, and the call as it was written.

    ``tenant`` saves reading it again. ``open_under_lock`` (for a `_plain_credits` call,
    whose charge takes the tenant lock) checks that the call is still open once the lock is
    held, and raises otherwise. A call open under the lock has no charge yet (the charge is
    written in the same transaction as the end), so the charge skips its idempotency
    lookup; ``recharge`` is then the tenant's auto-recharge settings (None: none), read at
    the start of the request.
    """
    rate = svc.rate_book.rate(uow, call.rate_id)
    currency = call.currency
    terms = rate.terms if rate is not None else None
    if call.funding == Funding.POOL.value and call.pool_key:
        used = pools.consume_in(uow, tenant_id, call.pool_key, duration, at,
                                reference=f"call:{call.id}", call_start=call.start_at)
        # The pool's split (`domain.pools.split`, under the lock), then the one settlement.
        cost = pool_cost(used.minutes_covered, used.uncovered_seconds, terms, call.capability)
    else:
        cost = settle_call(call.funding, call.capability, terms, duration, None)
    amount = Money(from_micros(cost.amount), currency) if cost.amount else Money.zero(currency)
    fee = Money(from_micros(cost.fee), currency) if cost.fee else Money.zero(currency)
    pool_minutes, capability = cost.pool_minutes, cost.capability
    request_id: str | None = None
    entry_id: int | None = None
    if open_under_lock is not None and not amount.is_positive():  # no charge to take it
        uow.credits.account(tenant_id, lock=True)
        open_under_lock()
    if amount.is_positive():
        if tenant is None:
            tenant = uow.tenants.get(tenant_id)
        assert tenant is not None
        reference = f"call:{call.call_id}:{call.usage_id}"
        if tenant.billing_account_type is BillingAccountType.MCA:
            split = postpaid.charge_postpaid_in(
                uow, tenant_id, amount, capability=capability or CREDITS_CAPABILITY,
                country=call.external_country or tenant.country, reference=reference,
                at=at, description=f"Call {call.call_id}",
            )
            entry_id = split.entry_id
        else:
            # A batch of one through the ledger side a CDR chunk uses: its own entry.
            ledger = ChunkLedger(uow, tenant_id, at, 1, "", 0,
                                 single=(reference, f"Call {call.call_id} to {call.callee}"),
                                 locked=open_under_lock,
                                 known=ReadSettings(recharge) if open_under_lock else None)
            entry_id, request_id = ledger.charge(cost.amount)
            batch = CdrBatch([], [], [], {}, [])
            ledger.finish(batch)
            uow.cdr_batch.write(tenant_id, batch)
    settlement = Settlement(amount.amount, fee.amount, pool_minutes, capability, entry_id)
    done = call.expire(settlement, at) if expire else call.end(duration, settlement, at)
    uow.calls.update(done, Call.SETTLE_FIELDS)
    return request_id, done
