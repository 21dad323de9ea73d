"""Full-text search DDL per dialect; the index is driven by the prompt row, which mirrors
the latest version's text (content_text) and tags (tags_text).

Two versions of the index exist: 1 (migration 0001: porter stemming on SQLite, the `english`
configuration on PostgreSQL) and 2 (migration 0003), the one the code queries. Version 1 made the
two databases disagree (`the` matched 44 starter prompts on SQLite and none on PostgreSQL: stop
words; the two stemmers differ) and broke prefixes (`summariz*` missed the stem `summar`).
Version 2 indexes the same words on both, unstemmed, case-folded, accents kept: runs of letters
and decimal digits; everything else (including `-`, `_`, `.` in names) separates words.
- SQLite: unicode61 with remove_diacritics 0 and categories 'L* Nd';
- PostgreSQL: the `simple` configuration (no stop words, no stemming) over the text with every
  run of non-alphanumerics replaced by a space first, so the default parser finds plain words
  only (it would otherwise keep `example.com`, `3.14` or `/usr/bin` as one token).
repositories/prompts.py splits queries into words the same way (search_terms).

SQLite: two contentless FTS5 tables kept in step by triggers.
- prompt_fts holds every searched column, and a `facets` column of tokens for the tenant and each
  filter (category, tags, visibility, kind, enhancement), so a filtered search and its total are
  answered by the index alone, without reading one prompt row per match (100,000 prompts: a
  common word matches most of them). It records in which columns a word occurs, not where
  (detail=column): half the size and build time, cheaper prefix merges; it is not ranked.
- prompt_head_fts holds only the catalogue fields (name, title, description, tags) and the facets,
  with positions: its posting lists are short, so bm25 ranking of the prompts that match there
  stays cheap.
Version 2 adds prefix indexes of 2, 3 and 4 characters: the last word of a query always matches
as a prefix, and without them a short prefix (`co*`) merges the postings of hundreds of words
(60 ms at 100,000 prompts instead of 5 ms). They make index writes ~3x slower; longer prefixes
have few completions and merge cheaply.
Facet tokens are hex-encoded values ending in a digit; repositories/prompts.py builds the same
tokens for queries (facet_tokens)."""
from alembic import op

SEARCH_COLUMNS = ("name", "title", "description", "tags_text", "content_text")
HEAD_COLUMNS = ("name", "title", "description", "tags_text")
_OPTIONS = {
    1: "content='', tokenize='porter unicode61'",
    2: "content='', tokenize=\"unicode61 remove_diacritics 0 categories 'L* Nd'\", prefix='2 3 4'",
}
_DETAIL = {"prompt_fts": ", detail=column", "prompt_head_fts": ""}
# Columns whose change must re-index a prompt.
_FACET_SOURCES = ("tenant_id", "category", "tags", "visibility", "kind", "is_enhancement")
CURRENT = 2


def facets_sql(row: str) -> str:
    """SQL for the facet tokens of a prompt row (`new` or `old` in a trigger, `prompt` in a SELECT)."""
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


_TABLES = (("prompt_fts", SEARCH_COLUMNS, ""), ("prompt_head_fts", HEAD_COLUMNS, "_head"))


def _sqlite(version: int) -> list[str]:
    statements = []
    for table, columns, suffix in _TABLES:
        statements += [
            f"CREATE VIRTUAL TABLE {table} USING fts5({', '.join(columns)}, facets, {_OPTIONS[version]}{_DETAIL[table]})",
            f"CREATE TRIGGER prompt_fts{suffix}_ai AFTER INSERT ON prompt BEGIN {_insert(table, columns, 'new')} END",
            f"CREATE TRIGGER prompt_fts{suffix}_ad AFTER DELETE ON prompt BEGIN {_delete(table, columns, 'old')} END",
            # Only a change of an indexed column touches the index (a label or counter update does not).
            (f"CREATE TRIGGER prompt_fts{suffix}_au AFTER UPDATE OF {', '.join(columns + _FACET_SOURCES)} ON prompt "
             f"BEGIN {_delete(table, columns, 'old')} {_insert(table, columns, 'new')} END"),
            # Contentless tables start empty: index the prompts already there (none on a new database).
            (f"INSERT INTO {table}(rowid, {', '.join(columns)}, facets) "
             f"SELECT prompt.id, {', '.join(f'prompt.{c}' for c in columns)}, {facets_sql('prompt')} FROM prompt"),
        ]
    return statements


_TRIGGERS = ("prompt_fts_ai", "prompt_fts_ad", "prompt_fts_au",
             "prompt_fts_head_ai", "prompt_fts_head_ad", "prompt_fts_head_au")


def _pg_words(column: str, version: int) -> str:
    if version == 1:
        text = "replace(name, '-', ' ')" if column == "name" else column
        return f"to_tsvector('english', {text})"
    return f"to_tsvector('simple', regexp_replace({column}, '[^[:alnum:]]+', ' ', 'g'))"


def _postgres(version: int) -> list[str]:
    weighted = " || ".join(f"setweight({_pg_words(column, version)}, '{weight}')" for column, weight in (
        ("name", "A"), ("title", "A"), ("tags_text", "B"), ("description", "B"), ("content_text", "C")))
    return [f"ALTER TABLE prompt ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({weighted}) STORED",
            "CREATE INDEX ix_prompt_search ON prompt USING GIN (search_vector)"]


def create_search_index(version: int = 1) -> None:
    """Create (and fill) the search index of the given version; 1 is migration 0001's."""
    statements = _sqlite(version) if op.get_bind().dialect.name == "sqlite" else _postgres(version)
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
