"""Full-text search DDL per dialect; the index is driven by the prompt row, which mirrors
the latest version's text (content_text) and tags (tags_text).

SQLite: two contentless FTS5 tables kept in step by triggers.
- prompt_fts holds every searched column, and a `facets` column of tokens for the tenant and each
  filter (category, tags, visibility, kind, enhancement), so a filtered search and its total are
  answered by the index alone, without reading one prompt row per match (100,000 prompts: a
  common word matches most of them). It records in which columns a word occurs, not where
  (detail=column): half the size and build time, cheaper prefix merges; it is not ranked.
- prompt_head_fts holds only the catalogue fields (name, title, description, tags) and the facets,
  with positions: its posting lists are short, so bm25 ranking of the prompts that match there
  stays cheap.
No prefix index: at 100,000 prompts one of 3-5 characters makes inserts several times slower (an
import would take minutes); a prefix search merges the postings of the word's completions instead.
Facet tokens are hex-encoded values ending in a digit, which the porter stemmer leaves alone;
repositories/prompts.py builds the same tokens for queries (facet_tokens)."""
from alembic import op

SEARCH_COLUMNS = ("name", "title", "description", "tags_text", "content_text")
HEAD_COLUMNS = ("name", "title", "description", "tags_text")
_OPTIONS = "content='', tokenize='porter unicode61'"
_DETAIL = {"prompt_fts": ", detail=column", "prompt_head_fts": ""}
# Columns whose change must re-index a prompt.
_FACET_SOURCES = ("tenant_id", "category", "tags", "visibility", "kind", "is_enhancement")


def facets_sql(row: str) -> str:
    """SQL for the facet tokens of a prompt row (`new` or `old` in a trigger)."""
    return (f"'t' || {row}.tenant_id || ' c' || hex({row}.category) || '0 v' || hex({row}.visibility) || "
            f"'0 k' || hex({row}.kind) || '0 e' || ({row}.is_enhancement != 0) || "
            f"coalesce((SELECT ' ' || group_concat('g' || hex(value) || '0', ' ') FROM json_each({row}.tags)), '')")


def _insert(table: str, columns: tuple[str, ...], row: str) -> str:
    values = ", ".join(f"{row}.{c}" for c in columns)
    return (f"INSERT INTO {table}(rowid, {', '.join(columns)}, facets) "
            f"VALUES ({row}.id, {values}, {facets_sql(row)});")


def _delete(table: str, columns: tuple[str, ...], row: str) -> str:
    # A contentless table forgets a row given exactly the values it was indexed with.
    values = ", ".join(f"{row}.{c}" for c in columns)
    return (f"INSERT INTO {table}({table}, rowid, {', '.join(columns)}, facets) "
            f"VALUES ('delete', {row}.id, {values}, {facets_sql(row)});")


def _sqlite() -> list[str]:
    statements = []
    for table, columns, suffix in (("prompt_fts", SEARCH_COLUMNS, ""), ("prompt_head_fts", HEAD_COLUMNS, "_head")):
        statements += [
            f"CREATE VIRTUAL TABLE {table} USING fts5({', '.join(columns)}, facets, {_OPTIONS}{_DETAIL[table]})",
            f"CREATE TRIGGER prompt_fts{suffix}_ai AFTER INSERT ON prompt BEGIN {_insert(table, columns, 'new')} END",
            f"CREATE TRIGGER prompt_fts{suffix}_ad AFTER DELETE ON prompt BEGIN {_delete(table, columns, 'old')} END",
            # Only a change of an indexed column touches the index (a label or counter update does not).
            (f"CREATE TRIGGER prompt_fts{suffix}_au AFTER UPDATE OF {', '.join(columns + _FACET_SOURCES)} ON prompt "
             f"BEGIN {_delete(table, columns, 'old')} {_insert(table, columns, 'new')} END"),
        ]
    return statements


_TRIGGERS = ("prompt_fts_ai", "prompt_fts_ad", "prompt_fts_au",
             "prompt_fts_head_ai", "prompt_fts_head_ad", "prompt_fts_head_au")

_POSTGRES = [
    ("ALTER TABLE prompt ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
     "setweight(to_tsvector('english', replace(name, '-', ' ')), 'A') || "
     "setweight(to_tsvector('english', title), 'A') || "
     "setweight(to_tsvector('english', tags_text), 'B') || "
     "setweight(to_tsvector('english', description), 'B') || "
     "setweight(to_tsvector('english', content_text), 'C')) STORED"),
    "CREATE INDEX ix_prompt_search ON prompt USING GIN (search_vector)",
]


def create_search_index() -> None:
    statements = _sqlite() if op.get_bind().dialect.name == "sqlite" else _POSTGRES
    for statement in statements:
        op.execute(statement)


def drop_search_index() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS prompt_head_fts")
        op.execute("DROP TABLE IF EXISTS prompt_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_prompt_search")
        op.execute("ALTER TABLE prompt DROP COLUMN IF EXISTS search_vector")
