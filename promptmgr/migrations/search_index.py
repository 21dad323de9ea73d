"""Full-text search DDL per dialect; the index is driven by the prompt row, which mirrors
the latest version's text (content_text) and tags (tags_text)."""
from alembic import op

SEARCH_COLUMNS = ("name", "title", "description", "tags_text", "content_text")

_SQLITE = [
    "CREATE VIRTUAL TABLE prompt_fts USING fts5(name, title, description, tags_text, content_text, "
    "content='prompt', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER prompt_fts_ai AFTER INSERT ON prompt BEGIN "
    "INSERT INTO prompt_fts(rowid, name, title, description, tags_text, content_text) "
    "VALUES (new.id, new.name, new.title, new.description, new.tags_text, new.content_text); END",
    "CREATE TRIGGER prompt_fts_ad AFTER DELETE ON prompt BEGIN "
    "INSERT INTO prompt_fts(prompt_fts, rowid, name, title, description, tags_text, content_text) "
    "VALUES ('delete', old.id, old.name, old.title, old.description, old.tags_text, old.content_text); END",
    # Only a change of a searched column touches the index (a label or counter update does not).
    "CREATE TRIGGER prompt_fts_au AFTER UPDATE OF name, title, description, tags_text, content_text "
    "ON prompt BEGIN "
    "INSERT INTO prompt_fts(prompt_fts, rowid, name, title, description, tags_text, content_text) "
    "VALUES ('delete', old.id, old.name, old.title, old.description, old.tags_text, old.content_text); "
    "INSERT INTO prompt_fts(rowid, name, title, description, tags_text, content_text) "
    "VALUES (new.id, new.name, new.title, new.description, new.tags_text, new.content_text); END",
]

_POSTGRES = [
    "ALTER TABLE prompt ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', replace(name, '-', ' ')), 'A') || "
    "setweight(to_tsvector('english', title), 'A') || "
    "setweight(to_tsvector('english', tags_text), 'B') || "
    "setweight(to_tsvector('english', description), 'B') || "
    "setweight(to_tsvector('english', content_text), 'C')) STORED",
    "CREATE INDEX ix_prompt_search ON prompt USING GIN (search_vector)",
]


def create_search_index() -> None:
    statements = _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRES
    for statement in statements:
        op.execute(statement)


def drop_search_index() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("prompt_fts_ai", "prompt_fts_ad", "prompt_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS prompt_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_prompt_search")
        op.execute("ALTER TABLE prompt DROP COLUMN IF EXISTS search_vector")
