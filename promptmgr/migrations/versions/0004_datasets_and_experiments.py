"""datasets and experiments (issue 9): datasets with immutable versions, experiments, variants, cells;
run.variant widens to hold PROMPT@VERSION/MODEL names

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 07:09:57.734487
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('dataset',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('latest_version', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name')
    )
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('dataset_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dataset_id', 'number')
    )
    with op.batch_alter_table('dataset_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_version_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('experiment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=True),
    sa.Column('dataset_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('dataset_version', sa.Integer(), nullable=False),
    sa.Column('checks', sa.JSON(), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('repeats', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('concurrency', sa.Integer(), nullable=False),
    sa.Column('max_cost', sa.Float(), nullable=True),
    sa.Column('stop_early', sa.Boolean(), nullable=False),
    sa.Column('baseline', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status_key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('status_params', sa.JSON(), nullable=True),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name')
    )
    with op.batch_alter_table('experiment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_experiment_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('dataset_row',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('uid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('vars', sa.JSON(), nullable=False),
    sa.Column('expected', sa.Text(), nullable=True),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['dataset_version.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version_id', 'position')
    )
    with op.batch_alter_table('dataset_row', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_row_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('experiment_variant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('prompt_id', sa.Integer(), nullable=True),
    sa.Column('prompt_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('prompt_ref', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('version_number', sa.Integer(), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiment.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['prompt_id'], ['prompt.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('experiment_id', 'name')
    )
    with op.batch_alter_table('experiment_variant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_experiment_variant_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('experiment_cell',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('row_id', sa.Integer(), nullable=False),
    sa.Column('row_position', sa.Integer(), nullable=False),
    sa.Column('repeat', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('error_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=False),
    sa.Column('judge_cost', sa.Float(), nullable=False),
    sa.Column('judge_tokens', sa.Integer(), nullable=False),
    sa.Column('human_pass', sa.Boolean(), nullable=True),
    sa.Column('human_score', sa.Float(), nullable=True),
    sa.Column('human_comment', sa.Text(), nullable=True),
    sa.Column('human_by', sa.Integer(), nullable=True),
    sa.Column('human_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiment.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['human_by'], ['user.id'], ),
    sa.ForeignKeyConstraint(['row_id'], ['dataset_row.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.ForeignKeyConstraint(['variant_id'], ['experiment_variant.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('experiment_id', 'variant_id', 'row_id', 'repeat')
    )
    with op.batch_alter_table('experiment_cell', schema=None) as batch_op:
        batch_op.create_index('ix_cell_experiment_status', ['experiment_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_experiment_cell_tenant_id'), ['tenant_id'], unique=False)

    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.alter_column('variant',
               existing_type=sa.VARCHAR(length=64),
               type_=sqlmodel.sql.sqltypes.AutoString(length=400),
               existing_nullable=True)



def downgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.alter_column('variant',
               existing_type=sqlmodel.sql.sqltypes.AutoString(length=400),
               type_=sa.VARCHAR(length=64),
               existing_nullable=True)

    with op.batch_alter_table('experiment_cell', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experiment_cell_tenant_id'))
        batch_op.drop_index('ix_cell_experiment_status')

    op.drop_table('experiment_cell')
    with op.batch_alter_table('experiment_variant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experiment_variant_tenant_id'))

    op.drop_table('experiment_variant')
    with op.batch_alter_table('dataset_row', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_row_tenant_id'))

    op.drop_table('dataset_row')
    with op.batch_alter_table('experiment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experiment_tenant_id'))

    op.drop_table('experiment')
    with op.batch_alter_table('dataset_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_version_tenant_id'))

    op.drop_table('dataset_version')
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_tenant_id'))

    op.drop_table('dataset')
