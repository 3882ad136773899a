"""Failed admin-center sign-ins, for per-account and per-address throttling.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01 21:00:00

(Named 0007 so that it can be re-chained after another branch's 0006 at merge time.)
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commcredits.adapters.db.types

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = commcredits.adapters.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'signin_failures',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('subject', sa.String(length=64), nullable=False),
        sa.Column('at', UTC(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_signin_failures')),
    )
    with op.batch_alter_table('signin_failures', schema=None) as batch_op:
        batch_op.create_index('ix_signin_failures_scope_subject_at',
                              ['scope', 'subject', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signin_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_signin_failures_scope_subject_at')
    op.drop_table('signin_failures')
