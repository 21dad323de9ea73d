"""analytics indexes (issue 10): the dashboard aggregates runs in the database

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-03 10:30:00

ix_run_analytics covers every column the totals, timeline, by-model and by-prompt queries read,
so SQLite answers them from the index instead of scanning rows that carry inputs and outputs;
its leading (tenant_id, created_at) serves the period filter. ix_run_latency keeps each model's
uncached latencies in order: an exact percentile is one short walk along it (see
repositories/analytics.py); it covers the by-model totals too, which then need no sort. ix_run_prompt does the same for the
totals by prompt."""
from typing import Sequence, Union

from alembic import op

revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ANALYTICS_COLUMNS = ['tenant_id', 'created_at', 'model', 'prompt_name', 'cached', 'error_code', 'prompt_tokens',
                     'completion_tokens', 'cost', 'latency_ms', 'experiment_id']
LATENCY_COLUMNS = ['tenant_id', 'model', 'cached', 'latency_ms', 'created_at', 'prompt_tokens', 'completion_tokens',
                   'cost', 'error_code', 'experiment_id']
PROMPT_COLUMNS = ['tenant_id', 'prompt_name', 'created_at', 'prompt_tokens', 'completion_tokens', 'cost', 'cached',
                  'error_code', 'experiment_id']


def upgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.create_index('ix_run_analytics', ANALYTICS_COLUMNS, unique=False)
        batch_op.create_index('ix_run_latency', LATENCY_COLUMNS, unique=False)
        batch_op.create_index('ix_run_prompt', PROMPT_COLUMNS, unique=False)


def downgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index('ix_run_prompt')
        batch_op.drop_index('ix_run_latency')
        batch_op.drop_index('ix_run_analytics')
