"""The schema upgrades itself; the start-up shortcut knows alembic's head; models match migrations."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from promptmgr import models, models_audit, models_experiments  # noqa: F401
from promptmgr.db import SCHEMA_HEAD, Database, alembic_config


def test_schema_head_constant_is_alembic_head(db_url):
    assert ScriptDirectory.from_config(alembic_config(db_url)).get_current_head() == SCHEMA_HEAD


def test_upgrade_downgrade_upgrade_and_models_match(db_url):
    db = Database(db_url)
    db.upgrade()
    assert db.current_revision() == SCHEMA_HEAD
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # The search index objects are created by raw DDL and are not in the metadata; the experiment
    # queue's tables are procrastinate's own schema (applied by the worker tests on PostgreSQL).
    assert [d for d in diff if "fts" not in str(d) and "search" not in str(d) and "procrastinate" not in str(d)] == []
    command.downgrade(alembic_config(db_url), "base")
    assert db.current_revision() is None
    db.upgrade()
    assert db.current_revision() == SCHEMA_HEAD
    db.dispose()
