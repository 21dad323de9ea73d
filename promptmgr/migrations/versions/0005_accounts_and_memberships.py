"""accounts (issue 11): users become identities, memberships carry the role per workspace; refresh-token
families, one-time links and login attempts; workspaces get an active flag and a member limit

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:30:00

Existing data migrates in place: every user row becomes a membership of its tenant with its role,
then user loses tenant_id and role. Single-user mode's local user keeps its id, so every prompt,
version, run and experiment still names the same person."""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('max_members', sa.Integer(), nullable=True))

    # The roles are set aside first: the membership table (its user_id cascades) is created after
    # "user" is rebuilt on SQLite (copied, dropped, renamed; see migrations/env.py).
    op.execute('CREATE TABLE _pm_user_role AS SELECT id, tenant_id, role, created_at FROM "user"')
    with op.batch_alter_table('user', schema=None, recreate='auto') as batch_op:
        batch_op.add_column(sa.Column('email', _STR(length=254), nullable=True))
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('mfa_secret_encrypted', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('mfa_enabled', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('mfa_last_step', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('recovery_codes', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('last_login_at', _TIME(), nullable=True))
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0'))
        batch_op.drop_index('ix_user_tenant_id')
        # The (tenant_id, username) unique constraint and the tenant foreign key go with the column.
        batch_op.drop_column('tenant_id')
        batch_op.drop_column('role')
        batch_op.create_unique_constraint('uq_user_email', ['email'])
    op.create_table('membership',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', _STR(length=16), nullable=False),
    sa.Column('created_at', _TIME(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'user_id')
    )
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_membership_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_membership_user_id'), ['user_id'], unique=False)
    op.execute('INSERT INTO membership (tenant_id, user_id, role, created_at) '
               'SELECT tenant_id, id, role, created_at FROM _pm_user_role')
    op.drop_table('_pm_user_role')

    # The server defaults stay: they fill rows written by older code paths the same way the models do.

    op.create_table('refresh_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', _STR(length=64), nullable=False),
    sa.Column('family_id', _STR(length=36), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('created_at', _TIME(), nullable=False),
    sa.Column('expires_at', _TIME(), nullable=False),
    sa.Column('rotated_at', _TIME(), nullable=True),
    sa.Column('revoked_at', _TIME(), nullable=True),
    sa.Column('address', _STR(length=64), nullable=False),
    sa.Column('user_agent', _STR(length=300), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['tenant.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_token_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refresh_token_user_id'), ['user_id'], unique=False)

    op.create_table('one_time_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', _STR(length=64), nullable=False),
    sa.Column('purpose', _STR(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=True),
    sa.Column('role', _STR(length=16), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', _TIME(), nullable=False),
    sa.Column('expires_at', _TIME(), nullable=False),
    sa.Column('used_at', _TIME(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['tenant.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('one_time_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_one_time_token_user_id'), ['user_id'], unique=False)

    op.create_table('login_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', _STR(length=254), nullable=False),
    sa.Column('address', _STR(length=64), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('created_at', _TIME(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempt_address_at', ['address', 'created_at'], unique=False)
        batch_op.create_index('ix_login_attempt_email_at', ['email', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('login_attempt')
    op.drop_table('one_time_token')
    op.drop_table('refresh_token')

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tenant_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('role', _STR(length=16), nullable=True))
    # A user in several workspaces goes back to the first one; one in none to the oldest workspace.
    op.execute('UPDATE "user" SET tenant_id = COALESCE((SELECT MIN(m.tenant_id) FROM membership m '
               'WHERE m.user_id = "user".id), (SELECT MIN(id) FROM tenant)), '
               "role = COALESCE((SELECT m.role FROM membership m WHERE m.user_id = \"user\".id "
               "ORDER BY m.tenant_id LIMIT 1), 'viewer')")
    with op.batch_alter_table('user', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint('uq_user_email', type_='unique')
        batch_op.alter_column('tenant_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('role', existing_type=_STR(length=16), nullable=False)
        batch_op.create_foreign_key('user_tenant_id_fkey', 'tenant', ['tenant_id'], ['id'])
        batch_op.create_unique_constraint('user_tenant_id_username_key', ['tenant_id', 'username'])
        batch_op.create_index('ix_user_tenant_id', ['tenant_id'], unique=False)
        for column in ('session_epoch', 'last_login_at', 'recovery_codes', 'mfa_last_step', 'mfa_enabled',
                       'mfa_secret_encrypted',
                       'active', 'email'):
            batch_op.drop_column(column)

    op.drop_table('membership')
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.drop_column('max_members')
        batch_op.drop_column('active')
