"""search: the same words on SQLite and PostgreSQL, prefix indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 03:20:00.000000
"""
from typing import Sequence, Union

from promptmgr.migrations.search_index import create_search_index, drop_search_index

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Rebuilt from the prompt rows (see search_index.py for what changed and why).
    drop_search_index()
    create_search_index(version=2)


def downgrade() -> None:
    drop_search_index()
    create_search_index(version=1)
