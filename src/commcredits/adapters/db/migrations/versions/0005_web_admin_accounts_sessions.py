"""Web admin center: admin accounts, browser sessions and one-time sign-in links.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 01:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commcredits.adapters.db.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = commcredits.adapters.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'admin_accounts',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('password_hash', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('tenant_id', sa.String(length=32), nullable=True),
        sa.Column('created_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_admin_accounts_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_accounts')),
        sa.UniqueConstraint('email', name=op.f('uq_admin_accounts_email')),
    )
    with op.batch_alter_table('admin_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_accounts_tenant_id'), ['tenant_id'],
                              unique=False)
    op.create_table(
        'web_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.String(length=32), nullable=True),
        sa.Column('key_hash', sa.String(length=64), nullable=True),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('tenant_id', sa.String(length=32), nullable=True),
        sa.Column('partner_id', sa.String(length=32), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTC(), nullable=False),
        sa.Column('expires_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['admin_accounts.id'],
                                name=op.f('fk_web_sessions_account_id_admin_accounts')),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_web_sessions')),
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_expires_at'), ['expires_at'],
                              unique=False)
    op.create_table(
        'signin_links',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.String(length=32), nullable=False),
        sa.Column('created_at', UTC(), nullable=False),
        sa.Column('expires_at', UTC(), nullable=False),
        sa.Column('used_at', UTC(), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['admin_accounts.id'],
                                name=op.f('fk_signin_links_account_id_admin_accounts')),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_signin_links')),
    )


def downgrade() -> None:
    op.drop_table('signin_links')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_expires_at'))
    op.drop_table('web_sessions')
    with op.batch_alter_table('admin_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_accounts_tenant_id'))
    op.drop_table('admin_accounts')
