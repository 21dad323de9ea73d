"""Migration 0005 (accounts): a 0004 database with data keeps working in place. Users become
identities, their tenant and role become memberships, every row that names a user still does."""
from __future__ import annotations

from datetime import datetime, timezone

from alembic import command
from sqlalchemy import text

from promptmgr.bootstrap import Services
from promptmgr.config import Settings
from promptmgr.db import SCHEMA_HEAD, Database, alembic_config


def _fill_0004(db: Database) -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO tenant (id, slug, name, default_locale, settings, created_at) VALUES "
                          "(1, 'local', 'Local library', 'en', '{}', :t), (2, 'team', 'Team', 'de', '{}', :t)"),
                     {"t": now})
        conn.execute(text('INSERT INTO "user" (id, tenant_id, username, display_name, role, password_hash, locale, '
                          "preferences, created_at) VALUES "
                          "(1, 1, 'local', 'local', 'owner', NULL, 'fr', '{\"theme\": \"dark\"}', :t), "
                          "(2, 2, 'ada', 'Ada', 'editor', NULL, NULL, '{}', :t)"), {"t": now})
        conn.execute(text("INSERT INTO prompt (id, tenant_id, name, title, description, category, tags, tags_text, "
                          "is_enhancement, visibility, kind, owner_id, meta, latest_version, content_text, created_at, "
                          "updated_at) VALUES (1, 1, 'greet', '', '', '', '[]', '', false, 'private', 'text', 1, '{}', "
                          "1, 'Hi', :t, :t)"), {"t": now})
        conn.execute(text("INSERT INTO prompt_version (id, tenant_id, prompt_id, number, content, variables, "
                          "author_id, author, message, created_at) VALUES (1, 1, 1, 1, 'Hi', '[]', 1, 'local', '', :t)"),
                     {"t": now})
        if db.dialect == "postgresql":  # explicit ids: move the sequences past them
            for table in ("tenant", "user", "prompt", "prompt_version"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), 10)"))


def test_a_0004_database_with_data_migrates_in_place(db_url, tmp_path):
    db = Database(db_url)
    command.downgrade(alembic_config(db_url), "base") if db.current_revision() else None
    command.upgrade(alembic_config(db_url), "0004")
    _fill_0004(db)

    db.upgrade()

    assert db.current_revision() == SCHEMA_HEAD
    with db.engine.connect() as conn:
        members = conn.execute(text("SELECT tenant_id, user_id, role FROM membership ORDER BY user_id")).all()
        users = conn.execute(text('SELECT id, username, email, active, session_epoch, locale FROM "user" '
                                  "ORDER BY id")).all()
        owner = conn.execute(text("SELECT owner_id FROM prompt WHERE id = 1")).scalar()
        tenants = conn.execute(text("SELECT slug, active, max_members FROM tenant ORDER BY id")).all()
        if db.dialect == "sqlite":
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    assert [tuple(m) for m in members] == [(1, 1, "owner"), (2, 2, "editor")]
    assert [tuple(u) for u in users] == [(1, "local", None, True, 0, "fr"), (2, "ada", None, True, 0, None)]
    assert owner == 1
    assert [tuple(t) for t in tenants] == [("local", True, None), ("team", True, None)]

    # Single-user mode goes on as before: the same local user, owner, with their library and settings.
    services = Services(Settings(home=tmp_path / "home", database_url=db_url, load_starter=False), db)
    ctx = services.local_context(load_starter=False)
    assert (ctx.tenant_id, ctx.user_id, ctx.role, ctx.locale) == (1, 1, "owner", "fr")
    assert services.library.get(ctx, "greet").content == "Hi"
    assert services.library.history(ctx, "greet")[0].author == "local"
    assert services.admin.preferences(ctx)["theme"] == "dark"
    db.dispose()


def test_a_fresh_single_user_start_makes_an_owner_membership(services):
    ctx = services.local_context(load_starter=False)
    with services.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT tenant_id, user_id, role FROM membership")).all()
    assert [tuple(r) for r in rows] == [(ctx.tenant_id, ctx.user_id, "owner")]
    assert services.local_context(load_starter=False) == ctx
