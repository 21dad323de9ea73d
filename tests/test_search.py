"""Full-text search: the last word as a prefix, the same prompts on SQLite and PostgreSQL for any
query (the starter library, hostile syntax included), name parts for the search-backed pickers,
the order without a query, and the index migration."""
from __future__ import annotations

import random
import re
import uuid

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import create_engine, text

from promptmgr.db import Database, alembic_config
from promptmgr.repositories.prompts import postgres_tsquery, search_terms, sqlite_match
from promptmgr.schemas import PromptCreate, PromptQuery, PromptUpdate, parse
from tests.conftest import PG_ADMIN_URL

# Everything the two full-text syntaxes give a meaning to, which must stay plain words (or nothing).
HOSTILE = ['"', '""', '"summarize', 'summarize"', "'", "''", "-", "-summarize", "summarize -text", "*", "su*",
           "*su", "OR", "summarize OR text", "AND", "NOT", "NOT text", "NEAR", "NEAR(summarize text)",
           "NEAR(summarize text, 2)", "summarize NEAR text", "^summarize", "name:summarize", "{name}: text",
           "{name title}: summ", "summarize + text", "(summarize)", "(", ")", ":", ":*", "su:*", "su:*a",
           "!summarize", "summarize & text", "summarize | text", "<->", "summarize <-> text", "text:A",
           "\\", "\\'", "%", "_", "su%", "su_", ";", "'); DROP TABLE prompt; --", "\x00", "summ\x00ar",
           "\ud800", "é", "É", "café", "naïve", "日本語", "ДОМ", "x²y", "½", "١٢٣", "ﬁle", "ß", "İ",
           "e\u0301", "\u200b", "\ue000", "🙂", "a" * 3000, "é" * 1500, " ".join(["the"] * 40)]
REGRESSIONS = ["su", "summ", "summariz", "summarize", "summary", "the", "THE", "The text", "a", "an", "of",
               "write", "writing", "email", "e-mail", "code", "review code", "summarize-text", "summarize_text",
               "summarize.text", "text summarize", "sql", "json", "step by step", "plan", "translat", "enhance"]


# --- the query language ---------------------------------------------------------------------
@pytest.mark.parametrize("query, words", [
    ("Summarize the TEXT", ["summarize", "the", "text"]),
    ('NEAR("a" b) OR c* -d', ["near", "a", "b", "or", "c", "d"]),
    ("summarize-text_v2.0", ["summarize", "text", "v2", "0"]),
    ("x²y ½ e\u0301 \ue000z", ["x", "y", "e", "z"]),  # what both indexes call a word
    ("", []), (None, []), ('"*:&|!()<->', []),
])
def test_query_words_are_plain(query, words):
    assert search_terms(query) == words


def test_words_are_quoted_and_the_last_may_be_a_prefix():
    assert sqlite_match(["near", "su"], True) == '"near" AND "su"*'
    assert postgres_tsquery(["near", "su"], True) == "'near' & 'su':*"
    assert sqlite_match(["summarize", "a"], False) == '"summarize" AND "a"'
    assert postgres_tsquery(["a"], False) == "'a'"


def test_last_word_is_a_prefix_unless_short_or_itself_frequent(services, ctx, monkeypatch):
    """From 2 characters; over 4 (beyond SQLite's prefix indexes) a word that is itself in
    _EXACT_FROM of the tenant's prompts matches as that word. Same rule on both databases."""
    monkeypatch.setattr("promptmgr.repositories.prompts._EXACT_FROM", 3)
    contents = {"c1": "clear", "c2": "clear", "c3": "clearly", "r1": "rarely", "r2": "rare", "a": "a b"}
    for name, content in contents.items():
        services.library.create(ctx, parse(PromptCreate, {"name": name, "content": content}))

    def names(q):
        return sorted(p.name for p in services.library.list(ctx, PromptQuery(q=q)).items)
    assert names("clear") == ["c1", "c2", "c3"]  # 2 prompts hold "clear": a prefix
    services.library.create(ctx, parse(PromptCreate, {"name": "c4", "content": "clear"}))
    assert names("clear") == ["c1", "c2", "c4"]  # now 3 do: the word itself
    assert names("clea") == ["c1", "c2", "c3", "c4"]  # 4 characters: always a prefix
    assert names("rare") == ["r1", "r2"] and names("rarel") == ["r1"]
    assert names("a") == ["a"] and names("b a") == ["a"]  # 1 character: the word


# --- one library of each kind ----------------------------------------------------------------
def _build(url: str, home, load_starter: bool = True):
    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings

    services = build_services(Settings(home=home, database_url=url, load_starter=False))
    return services, services.local_context(load_starter=load_starter)


@pytest.fixture(scope="module")
def starter(tmp_path_factory, request):
    """The starter library on SQLite and on a throw-away PostgreSQL database: {dialect: (services, ctx)}."""
    request.getfixturevalue("pg_url")  # starts the server, or skips as the other PostgreSQL tests do
    name = f"promptmgr_search_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    home = tmp_path_factory.mktemp("search")
    built = {"sqlite": _build(f"sqlite:///{home / 'starter.db'}", home / "a"),
             "postgresql": _build(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", home / "b")}
    yield built
    for services, _ in built.values():
        services.db.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _found(services, ctx, q: str, **filters) -> tuple[int, set[str]]:
    page = services.library.list(ctx, PromptQuery(q=q, limit=100, **filters))
    assert len(page.items) == page.total  # the starter library fits on one page
    return page.total, {p.name for p in page.items}


def _assert_same(starter, q: str, **filters) -> set[str]:
    (total, names), (pg_total, pg_names) = (_found(*starter[d], q, **filters) for d in ("sqlite", "postgresql"))
    assert (total, names) == (pg_total, pg_names), f"{q!r}: SQLite {sorted(names)} / PostgreSQL {sorted(pg_names)}"
    return names


def _vocabulary(starter) -> list[str]:
    """Every word of the indexed fields of the starter library."""
    services, _ = starter["sqlite"]
    with services.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT name, title, description, tags_text, content_text FROM prompt")).all()
    return sorted({word for row in rows for field in row for chunk in field.split() for word in search_terms(chunk)})


@pytest.mark.postgres
def test_prefixes_find_the_summarize_prompts_on_both(starter):
    for q in ("su", "summ", "summariz", "SUMMARIZ", "summarize-te"):
        assert "summarize-text" in _assert_same(starter, q), q
    assert {"summarize-text", "executive-summary"} <= _assert_same(starter, "summar")


@pytest.mark.postgres
def test_stop_words_match_the_same_prompts_on_both(starter):
    assert len(_assert_same(starter, "the")) >= 40  # PostgreSQL's english configuration found none
    assert _assert_same(starter, "of the") and _assert_same(starter, "and")


@pytest.mark.postgres
@pytest.mark.parametrize("q", REGRESSIONS + HOSTILE)
def test_same_prompts_on_both_and_syntax_is_plain_words(starter, q):
    _assert_same(starter, q)
    _assert_same(starter, q, category="writing")
    _assert_same(starter, q, is_enhancement=False)


@pytest.mark.postgres
def test_every_word_and_short_prefix_of_the_library_finds_the_same_prompts(starter):
    vocabulary = _vocabulary(starter)
    assert len(vocabulary) > 500
    queries = set(vocabulary) | {w[:2] for w in vocabulary} | {w[:3] for w in vocabulary}
    for q in sorted(queries):
        assert _assert_same(starter, q) or len(q) < 2, q  # a word of the library finds its prompt


@pytest.mark.postgres
@hsettings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_query_finds_the_same_prompts_on_both(starter, data):
    vocabulary = _vocabulary_cache(starter)
    piece = st.one_of(
        st.sampled_from(vocabulary),
        st.sampled_from(vocabulary).map(lambda w: w[:max(1, len(w) // 2)]),
        st.sampled_from(vocabulary).map(str.upper),
        st.sampled_from(HOSTILE),
        st.text(max_size=8),
    )
    separator = st.sampled_from([" ", "  ", "-", "_", ".", ",", '"', "'", "*", ":", "(", ")", " OR ", " NEAR ",
                                 " AND ", " -", "&", "|", "!", "\t", "\n", "/", "@"])
    parts = data.draw(st.lists(st.tuples(piece, separator), min_size=1, max_size=4))
    q = "".join(word + sep for word, sep in parts)[:-1] if data.draw(st.booleans()) else \
        "".join(word + sep for word, sep in parts)
    _assert_same(starter, q)


_VOCABULARY: list[str] = []


def _vocabulary_cache(starter) -> list[str]:
    if not _VOCABULARY:
        _VOCABULARY.extend(_vocabulary(starter))
    return _VOCABULARY


# --- the pickers: any prompt by a prefix of its name -------------------------------------------
_PARTS = ["summarize", "summary", "text", "email", "translate", "review", "code", "sql", "query", "plan",
          "weekly", "report", "draft", "blog", "post", "tweet", "story", "poem", "json", "yaml", "api", "doc",
          "test", "unit", "bug", "fix", "data", "chart", "meeting", "notes", "v2", "x", "gpt4o", "en", "de"]


def _names(count: int) -> list[str]:
    rng, names = random.Random(7), set()
    while len(names) < count:
        parts = rng.sample(_PARTS, rng.randint(1, 3))
        names.add("".join(p + rng.choice("-_.") for p in parts[:-1]) + parts[-1])
    return sorted(names)


def _all_matches(services, ctx, q: str) -> set[str]:
    names, offset = set(), 0
    while True:
        page = services.library.list(ctx, PromptQuery(q=q, limit=100, offset=offset))
        names |= {p.name for p in page.items}
        offset += 100
        if offset >= page.total:
            return names


def test_every_prompt_is_found_by_the_prefixes_of_its_name(services, ctx):
    names = _names(200)
    for i, name in enumerate(names):
        services.library.create(ctx, parse(PromptCreate, {"name": name, "content": f"Prompt number {i}."}))
    for name in names:
        # Typing the name: 2 characters into each part, each whole part, each separator after it (a
        # 1-character last word matches as a word, not a prefix: see PromptRepository._prefix_last).
        cuts = {len(name)}
        for part in re.finditer(r"[a-z0-9]+", name):
            cuts |= {part.start() + 2, part.end(), part.end() + 1} if len(part.group()) >= 2 else {part.end() + 1}
        for prefix in sorted({name[:k] for k in cuts if 2 <= k <= len(name)}):
            page = services.library.list(ctx, PromptQuery(q=prefix, limit=20))
            found = {p.name for p in page.items} if page.total <= 20 else _all_matches(services, ctx, prefix)
            assert name in found, prefix
        assert name in {p.name for p in services.library.list(ctx, PromptQuery(q=name, limit=20)).items}
    assert _all_matches(services, ctx, "summ") == {n for n in names if "summ" in n}


# --- the order without a query -----------------------------------------------------------------
def test_without_a_query_relevance_lists_the_last_updated_first(services, ctx):
    for name in ("enhance-a", "first", "second"):
        services.library.create(ctx, parse(PromptCreate, {"name": name, "content": name}))
    services.library.update(ctx, "first", parse(PromptUpdate, {"content": "edited"}))
    for query in (PromptQuery(), PromptQuery(q="  "), PromptQuery(q='"*'), PromptQuery(sort="updated")):
        assert [p.name for p in services.library.list(ctx, query).items] == ["first", "second", "enhance-a"]


# --- the migration re-indexes what is there ---------------------------------------------------
def test_index_migration_reindexes_existing_prompts(db_url, tmp_path):
    services, ctx = _build(db_url, tmp_path / "home", load_starter=False)
    services.library.create(ctx, parse(PromptCreate, {"name": "summarize-text", "content": "The text."}))
    summ = PromptQuery(q="summariz")
    assert services.library.list(ctx, summ).total == 1
    command.downgrade(alembic_config(db_url), "0001")  # the stemmed index of 0001, rebuilt from the rows
    with services.db.engine.connect() as conn:
        old = ("SELECT count(*) FROM prompt_fts WHERE prompt_fts MATCH 'summar'" if services.db.dialect == "sqlite"
               else "SELECT count(*) FROM prompt WHERE search_vector @@ to_tsquery('english', 'summarize')")
        assert conn.execute(text(old)).scalar() == 1
    Database(db_url).upgrade()
    assert services.library.list(ctx, summ).total == 1
    assert services.library.list(ctx, PromptQuery(q="the")).total == 1
    services.db.dispose()
