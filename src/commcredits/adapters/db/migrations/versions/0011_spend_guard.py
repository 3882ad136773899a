"""The spend guard (GUARD-1, GUARD-3): one row per tenant with optional limits and the
blocked destinations.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-02 01:00:00

(Named 0011 so that it can be re-chained after other branches' revisions at merge time.)
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commcredits.adapters.db.types

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MICROS = commcredits.adapters.db.types.MicroAmount
UTC = commcredits.adapters.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'spend_guards',
        sa.Column('tenant_id', sa.String(length=32), nullable=False),
        sa.Column('user_hour', MICROS(), nullable=True),
        sa.Column('user_day', MICROS(), nullable=True),
        sa.Column('tenant_day', MICROS(), nullable=True),
        sa.Column('intl_minutes_user_day', sa.Integer(), nullable=True),
        sa.Column('blocked', sa.JSON(), nullable=False),
        sa.Column('updated_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_spend_guards_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_spend_guards')),
    )


def downgrade() -> None:
    op.drop_table('spend_guards')
