"""Payment methods: a card fingerprint (the same card is not added twice) and removal.

- `payment_methods.fingerprint`: the processor's keyed hash of the card number (PAY-1: the
  number itself is never stored); null for invoice accounts and for cards added earlier.
- `payment_methods.removed_at`: a removed method can no longer pay; the row stays, so past
  invoices and the audit log still make sense.
- `payment_methods.last_paid_at`, `last_failed_at`: when the method last paid, and last
  failed to; Add funds offers the card that last worked.
- `sandbox_secret`: the built-in sandbox processor's key for those fingerprints.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commcredits.adapters.db.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = commcredits.adapters.db.types.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table('payment_methods', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('removed_at', UTC(), nullable=True))
        batch_op.add_column(sa.Column('last_paid_at', UTC(), nullable=True))
        batch_op.add_column(sa.Column('last_failed_at', UTC(), nullable=True))
    op.create_table(
        'sandbox_secret',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('secret', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_secret')),
    )


def downgrade() -> None:
    op.drop_table('sandbox_secret')
    with op.batch_alter_table('payment_methods', schema=None) as batch_op:
        batch_op.drop_column('last_failed_at')
        batch_op.drop_column('last_paid_at')
        batch_op.drop_column('removed_at')
        batch_op.drop_column('fingerprint')
