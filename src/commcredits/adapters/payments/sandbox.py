"""The built-in sandbox payment processor (PAY-3).

It behaves by card number, like a real processor's test mode, and keeps its vault (token →
outcome and expiry; never the number) and a log of charges keyed by idempotency key in its
own tables. A charge retried with the same key returns the first answer and is never made
twice (AR-4); `charges_for` lets tests count payments per key.

Like a real processor, it gives each card a fingerprint: an HMAC-SHA256 of the number under
the sandbox's own random secret (one row in `sandbox_secret`, made on first use), so the same
card gives the same fingerprint and the number cannot be recovered from it (PAY-1).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import Engine, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from commcredits.adapters.db import tables as t
from commcredits.domain.money import Money
from commcredits.domain.payments import PaymentFailure, card_brand, card_expired
from commcredits.services.ports import CardToken, GatewayCharge

SUCCEEDS = "succeeds"
OUTCOMES: dict[str, str] = {
    "4242424242424242": SUCCEEDS,
    "4000000000000002": PaymentFailure.CARD_DECLINED.value,
    "4000000000009995": PaymentFailure.INSUFFICIENT_FUNDS.value,
    "4000000000000119": PaymentFailure.PROCESSING_ERROR.value,
}

# Each charge's statements, built once.
_CHARGE_BY_KEY = select(t.sandbox_charges).where(
    t.sandbox_charges.c.idempotency_key == bindparam("key"))
_CARD = select(t.sandbox_vault).where(t.sandbox_vault.c.token == bindparam("token"))
_ADD_CHARGE = insert(t.sandbox_charges)


class SandboxGateway:
    """A payment processor that needs no network: outcomes follow the card number."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._secret: bytes | None = None

    def tokenize_card(self, digits: str, exp_month: int, exp_year: int) -> CardToken:
        token = "tok_sandbox_" + secrets.token_hex(12)
        fingerprint = hmac.new(self._key(), digits.encode(), hashlib.sha256).hexdigest()
        with self.engine.begin() as conn:
            conn.execute(insert(t.sandbox_vault).values(
                token=token, outcome=OUTCOMES.get(digits, SUCCEEDS),
                exp_month=exp_month, exp_year=exp_year,
            ))
        return CardToken(token=token, brand=card_brand(digits), last4=digits[-4:],
                         fingerprint=fingerprint)

    def _key(self) -> bytes:
        """The fingerprint secret: read once, or made once (the first writer wins a race)."""
        if self._secret is None:
            table = t.sandbox_secret
            with self.engine.begin() as conn:
                value = conn.execute(select(table.c.secret).where(table.c.id == 1)).scalar()
                if value is None:
                    try:
                        with conn.begin_nested():
                            value = secrets.token_hex(32)
                            conn.execute(insert(table).values(id=1, secret=value))
                    except IntegrityError:
                        value = conn.execute(
                            select(table.c.secret).where(table.c.id == 1)).scalar_one()
            self._secret = str(value).encode()
        return self._secret

    def charge(
        self, token: str, amount: Money, idempotency_key: str, at: datetime,
    ) -> GatewayCharge:
        with self.engine.begin() as conn:
            previous = conn.execute(_CHARGE_BY_KEY, {"key": idempotency_key}).first()
            if previous is not None:
                return _answer(previous.payment_id, previous.succeeded, previous.failure)
            card = conn.execute(_CARD, {"token": token}).first()
            if card is None:
                failure: str | None = PaymentFailure.CARD_DECLINED.value
            elif card_expired(card.exp_month, card.exp_year, at):
                failure = PaymentFailure.CARD_EXPIRED.value
            else:
                failure = None if card.outcome == SUCCEEDS else card.outcome
            payment_id = "pay_sandbox_" + secrets.token_hex(10)
            try:
                conn.execute(_ADD_CHARGE, {
                    "idempotency_key": idempotency_key, "payment_id": payment_id,
                    "token": token, "amount": amount.amount, "currency": amount.currency,
                    "succeeded": failure is None, "failure": failure, "at": at,
                })
            except IntegrityError:  # a concurrent retry with the same key won the race
                conn.rollback()
                return self.charge(token, amount, idempotency_key, at)
        return _answer(payment_id, failure is None, failure)

    def charges_for(self, idempotency_key: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(
                select(func.count()).select_from(t.sandbox_charges)
                .where(t.sandbox_charges.c.idempotency_key == idempotency_key)
            ).scalar_one())


def _answer(payment_id: str, succeeded: bool, failure: str | None) -> GatewayCharge:
    return GatewayCharge(
        payment_id=payment_id, succeeded=bool(succeeded),
        failure=PaymentFailure(failure) if failure else None,
    )
