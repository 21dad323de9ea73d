"""Data access for prompts, their versions, labels and tags."""
from __future__ import annotations

import functools
import json
import re
import unicodedata

from sqlalchemy import Integer, String, bindparam, cast, column, delete, func, insert, literal_column, select, text, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Join

from ..models import Label, Prompt, PromptTag, PromptVersion, utcnow
from ..schemas import PromptQuery
from .base import Repository, scoped_statement

# Candidate words of a query: letters and digits. search_terms narrows them to what both indexes
# call a word (see migrations/search_index.py): letters and decimal digits.
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
# Rows per bulk statement: bounded memory and statement size for very large imports.
_BULK_BATCH = 5000

# SQLite search (see migrations/search_index.py for the two FTS5 tables).
# bm25 weights per column of prompt_head_fts: name, title, description, tags_text, facets (never scores).
_HEAD_BM25 = "bm25(prompt_head_fts, 10.0, 8.0, 4.0, 6.0, 0.0)"
_SEARCH_COLUMNS = "{name title description tags_text content_text}"
_HEAD_COLUMNS = "{name title description tags_text}"
# Ranking costs a few microseconds per ranked row (bm25: plus a pass over each word's postings;
# ts_rank: reading each row's tsvector), so it ranks a bounded set of the newest matches: SQLite,
# of prompts whose catalogue fields match; PostgreSQL, of all matches.
_RANK_WINDOW = 500
# The last word of a query matches as a prefix from this length on (shorter: as a word; a
# 1-character prefix would merge the postings of a good part of the vocabulary).
_PREFIX_FROM = 2
# SQLite's prefix indexes cover prefixes up to this length (migrations/search_index.py): one
# posting list, as cheap as a word. A longer prefix merges the postings of all its completions:
# cheap for most words, but a word that is itself in _EXACT_FROM of the tenant's prompts matches
# as that word instead ("clear*" over 100,000 prompts: 3x the time of "clear", for 4% more
# prompts). PostgreSQL applies the same rule, so both return the same prompts.
_INDEXED_PREFIX = 4
_EXACT_FROM = 1000
# Words a query keeps (all must match) and the part of a query read to find them.
_MAX_WORDS = 16
_MAX_QUERY_CHARS = 2000
# PostgreSQL neither indexes nor accepts a longer word: such a query matches nothing, on both.
_MAX_WORD_BYTES = 2047


def _tsquery():
    # Imported on PostgreSQL only: the dialect package costs ~40 ms of every SQLite CLI start.
    from sqlalchemy.dialects.postgresql import TSQUERY

    return TSQUERY


def _is_word_char(char: str) -> bool:
    # Letters and decimal digits, in this Python's Unicode tables and in Unicode 3.2's: SQLite's
    # unicode61 tokenizer knows only Unicode 6.1, and a character it does not call a letter would
    # split a word into a phrase (which the detail=column table refuses).
    return (unicodedata.category(char)[0] == "L" or unicodedata.category(char) == "Nd") and \
        (unicodedata.ucd_3_2_0.category(char)[0] == "L" or unicodedata.ucd_3_2_0.category(char) == "Nd")


def search_terms(query: str | None) -> list[str]:
    """Words of a user's query, lower-cased; everything else (quotes, operators, punctuation) only
    separates words, so no input can reach the full-text syntax. All words must match; the last
    one as a prefix (see PromptRepository._prefix_last)."""
    words: list[str] = []
    for candidate in _WORD_RE.finditer((query or "")[:_MAX_QUERY_CHARS].lower()):
        marked = "".join(char if _is_word_char(char) else " " for char in candidate.group())
        words += marked.split()
        if len(words) >= _MAX_WORDS:
            break
    return words[:_MAX_WORDS]


def sqlite_match(words: list[str], prefix: bool) -> str:
    """The FTS5 terms of a query's words: each a quoted string (never an operator), the last one a
    prefix when `prefix`."""
    terms = [f'"{word}"' for word in words]
    return " AND ".join(terms) + ("*" if prefix else "")


def postgres_tsquery(words: list[str], prefix: bool) -> str:
    """The tsquery text of a query's words: quoted lexemes (already normalized: the cast parses no
    words, so there are no stop words or stems to disagree with the index), the last one a prefix
    when `prefix`."""
    return " & ".join(f"'{word}'" for word in words) + (":*" if prefix else "")


def _hex(value: str) -> str:
    return value.encode("utf-8").hex()


def facet_tokens(query: PromptQuery, tenant_id: int | None) -> list[str]:
    """The index tokens of a query's filters, as migrations/search_index.facets_sql writes them."""
    tokens = [] if tenant_id is None else [f"t{tenant_id}"]
    if query.category:
        tokens.append(f"c{_hex(query.category.lower())}0")
    if query.tag:
        tokens.append(f"g{_hex(query.tag.lower())}0")
    if query.visibility:
        tokens.append(f"v{_hex(query.visibility)}0")
    if query.kind:
        tokens.append(f"k{_hex(query.kind)}0")
    if query.is_enhancement is not None:
        tokens.append(f"e{int(query.is_enhancement)}")
    return tokens


class _CrossJoin(Join):
    """JOIN that SQLite must run left to right. Reading a page of prompts by id, its planner
    otherwise prefers scanning the tenant's index (it has no statistics that say every prompt
    is the tenant's) over looking up the ids: 15 ms instead of 0.3 ms at 100,000 prompts."""

    inherit_cache = True


@compiles(_CrossJoin)
def _compile_cross_join(element, compiler, **kw):
    # The left side is a table-valued function: the first " JOIN " is this join's keyword.
    return compiler.visit_join(element, **kw).replace(" JOIN ", " CROSS JOIN ", 1)


def _fts_expression(columns: str, match: str, facets: list[str]) -> str:
    # Words first: FTS5 then steps through the (longer) facet postings by skipping.
    return " AND ".join([f"{columns} : ({match})"] + [f'facets : "{token}"' for token in facets])


class PromptRepository(Repository):
    # --- prompts -------------------------------------------------------------------------
    def resolve(self, name: str, version: int | None = None,
                label: str | None = None) -> tuple[Prompt, PromptVersion, dict[str, int], str] | None:
        """The prompt at `label`'s version, else `version`, else its latest, with all its labels and
        its owner's name, in one query (the REST API's hot path). None when the prompt or that
        version is missing; a missing label resolves to `version` or the latest (the caller checks)."""
        rows = self._run(_resolve_statement(), name=name, version=version, label=label).all()
        if not rows:
            return None
        prompt, row, owner = rows[0][:3]
        labels = {label_name: number for *_, label_name, number in rows if label_name is not None}
        return prompt, row, labels, owner or ""

    def get(self, name: str) -> Prompt | None:
        return self.session.exec(self._scoped(Prompt).where(Prompt.name == name)).first()

    def names(self) -> set[str]:
        return set(self.session.exec(self._scoped(Prompt, Prompt.name)).all())

    def add(self, prompt: Prompt) -> Prompt:
        self._own(prompt)
        self.session.flush()
        return prompt

    def delete(self, prompt: Prompt) -> None:
        # Children first: SQLite's FK cascade needs the pragma, Postgres the constraint; explicit
        # deletes work the same on both.
        for model in (PromptTag, Label, PromptVersion):
            self.session.exec(delete(model).where(model.prompt_id == prompt.id))
        self.session.delete(prompt)
        self.session.flush()

    def advance_version(self, prompt: Prompt, expected: int, fields: dict) -> bool:
        """Compare-and-set of latest_version: False when someone else moved it first."""
        result = self.session.exec(
            update(Prompt)
            .where(Prompt.id == prompt.id, Prompt.latest_version == expected)
            .values(latest_version=expected + 1, updated_at=utcnow(), **fields)
        )
        return result.rowcount == 1

    def update_fields(self, prompt: Prompt, fields: dict) -> None:
        self.session.exec(update(Prompt).where(Prompt.id == prompt.id).values(updated_at=utcnow(), **fields))

    def username(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        return self._member_name(user_id)

    def latest_version_number(self, prompt: Prompt) -> int:
        return self.session.exec(self._scoped(Prompt, Prompt.latest_version).where(Prompt.id == prompt.id)).one()

    # --- versions --------------------------------------------------------------------------
    def version(self, prompt: Prompt, number: int) -> PromptVersion | None:
        return self.session.exec(
            self._scoped(PromptVersion).where(PromptVersion.prompt_id == prompt.id, PromptVersion.number == number)
        ).first()

    def versions(self, prompt: Prompt) -> list[PromptVersion]:
        return list(self.session.exec(
            self._scoped(PromptVersion).where(PromptVersion.prompt_id == prompt.id).order_by(PromptVersion.number)
        ).all())

    def add_version(self, version: PromptVersion) -> PromptVersion:
        self._own(version)
        self.session.flush()
        return version

    # --- labels ----------------------------------------------------------------------------
    def labels(self, prompt: Prompt) -> dict[str, int]:
        rows = self.session.exec(
            self._scoped(Label, Label.name, Label.version_number).where(Label.prompt_id == prompt.id).order_by(Label.name)
        ).all()
        return {name: number for name, number in rows}

    def set_label(self, prompt: Prompt, name: str, number: int) -> None:
        label = self.session.exec(
            self._scoped(Label).where(Label.prompt_id == prompt.id, Label.name == name)
        ).first()
        if label is None:
            self._own(Label(prompt_id=prompt.id, name=name, version_number=number))
        else:
            label.version_number = number
            label.updated_at = utcnow()
            self.session.add(label)
        self.session.flush()

    def remove_label(self, prompt: Prompt, name: str) -> bool:
        label = self.session.exec(
            self._scoped(Label).where(Label.prompt_id == prompt.id, Label.name == name)
        ).first()
        if label:
            self.session.delete(label)
        return label is not None

    # --- tags ------------------------------------------------------------------------------
    def set_tags(self, prompt: Prompt, tags: list[str]) -> None:
        self.session.exec(delete(PromptTag).where(PromptTag.prompt_id == prompt.id))
        for tag in tags:
            self._own(PromptTag(prompt_id=prompt.id, tag=tag))

    def tag_counts(self) -> list[tuple[str, int]]:
        count = func.count().label("n")
        return list(self.session.exec(
            self._scoped(PromptTag, PromptTag.tag, count).group_by(PromptTag.tag).order_by(count.desc(), PromptTag.tag)
        ).all())

    def category_counts(self) -> list[tuple[str, int]]:
        count = func.count().label("n")
        return list(self.session.exec(
            self._scoped(Prompt, Prompt.category, count).where(Prompt.category != "")
            .group_by(Prompt.category).order_by(count.desc(), Prompt.category)
        ).all())

    # --- listing and search ----------------------------------------------------------------
    def query(self, query: PromptQuery) -> tuple[list[Prompt], int]:
        """One page of prompts matching the filters and the full-text query, and the total."""
        terms = search_terms(query.q)
        if any(len(word.encode("utf-8")) > _MAX_WORD_BYTES for word in terms):
            return [], 0
        sqlite = self.session.get_bind().dialect.name == "sqlite"
        if terms and sqlite:
            return self._search_sqlite(query, terms)
        statement = self._scoped(Prompt)
        count_statement = self._scoped(Prompt, func.count())
        rank = None
        if terms:
            statement, count_statement, rank = self._match(statement, count_statement, terms)
        for condition in self._filters(query):
            statement = statement.where(condition)
            count_statement = count_statement.where(condition)
        total = self.session.exec(count_statement).one()
        if rank is not None and query.sort == "relevance":
            return self._ranked_window(statement, rank, query), total
        statement = statement.order_by(*self._order(query.sort)).limit(query.limit).offset(query.offset)
        return list(self.session.exec(statement).all()), total

    def _ranked_window(self, matches, rank, query: PromptQuery) -> list[Prompt]:
        """PostgreSQL relevance order: the newest _RANK_WINDOW matches by ts_rank (weights favour
        name and title), then the older ones newest first. ts_rank reads each row's tsvector, so
        ranking every match of a common word took ~250 ms at 100,000 prompts."""
        end = query.offset + query.limit
        ids: list[int] = []
        if query.offset < _RANK_WINDOW:
            window = (matches.with_only_columns(Prompt.id, rank.label("rank"))
                      .order_by(Prompt.id.desc()).limit(_RANK_WINDOW).subquery())
            ids = list(self.session.execute(select(window.c.id).order_by(window.c.rank.desc(), window.c.id)
                                            .offset(query.offset).limit(query.limit)).scalars())
        rows = {p.id: p for p in self.session.exec(self._scoped(Prompt).where(Prompt.id.in_(ids)))} if ids else {}
        page = [rows[i] for i in ids if i in rows]
        if end > _RANK_WINDOW:  # the window's rows are the first _RANK_WINDOW in this order
            start = max(query.offset, _RANK_WINDOW)
            page += self.session.exec(matches.order_by(Prompt.id.desc()).offset(start).limit(end - start)).all()
        return page

    def _match(self, statement, count_statement, terms):
        """PostgreSQL: the generated tsvector column, its GIN index, ts_rank (higher is better)."""
        ts_query = cast(postgres_tsquery(terms, self._prefix_last(terms, None)), _tsquery())
        vector = literal_column("prompt.search_vector")
        match = vector.op("@@")(ts_query)
        return statement.where(match), count_statement.where(match), func.ts_rank(vector, ts_query)

    # --- SQLite full-text search -----------------------------------------------------------
    def _search_sqlite(self, query: PromptQuery, words: list[str]) -> tuple[list[Prompt], int]:
        """The total and the page come from the FTS5 index alone (filters are facet tokens); only
        the page's rows are read, through _scoped like every other query.

        Relevance order: prompts whose name, title, description or tags hold every word, by bm25
        with those fields' weights (the newest _RANK_WINDOW of them); then the other matches (a
        word only in the content), newest first."""
        tenant = None if self._sole_tenant() else self.ctx.tenant_id
        match = sqlite_match(words, self._prefix_last(words, tenant))
        facets = facet_tokens(query, tenant)
        everything = _fts_expression(_SEARCH_COLUMNS, match, facets)
        total = self._fts("SELECT count(*) FROM prompt_fts WHERE prompt_fts MATCH :q", q=everything).scalar()
        if not total or query.offset >= total:
            return [], total
        if query.sort != "relevance":
            matches = text("SELECT rowid FROM prompt_fts WHERE prompt_fts MATCH :q").bindparams(q=everything)
            statement = (self._scoped(Prompt).where(Prompt.id.in_(matches.columns(column("rowid"))))
                         .order_by(*self._order(query.sort)).limit(query.limit).offset(query.offset))
            return list(self.session.exec(statement).all()), total
        ids = self._ranked_ids(everything, _fts_expression(_HEAD_COLUMNS, match, facets),
                               query.offset + query.limit)[query.offset:]
        wanted = func.json_each(json.dumps(ids)).table_valued("value").alias("wanted")
        page = self._scoped(Prompt).select_from(_CrossJoin(wanted, Prompt.__table__, Prompt.id == wanted.c.value))
        rows = {p.id: p for p in self.session.exec(page)}
        return [rows[i] for i in ids if i in rows], total

    def _ranked_ids(self, everything: str, head: str, end: int) -> list[int]:
        """The first `end` matching ids in relevance order (see _search_sqlite)."""
        ranked = list(self._fts(
            f"SELECT rowid FROM (SELECT rowid, {_HEAD_BM25} AS score FROM prompt_head_fts "
            "WHERE prompt_head_fts MATCH :q ORDER BY rowid DESC LIMIT :n) ORDER BY score, rowid LIMIT :end",
            q=head, n=_RANK_WINDOW, end=end).scalars())
        if end <= len(ranked):
            return ranked
        # All of the window is in `ranked` (it holds fewer than `end`); at most len(ranked) of the
        # newest `end` matches are among them.
        seen = set(ranked)
        rest = self._fts("SELECT rowid FROM prompt_fts WHERE prompt_fts MATCH :q ORDER BY rowid DESC LIMIT :n",
                         q=everything, n=end)
        return (ranked + [rowid for rowid, in rest if rowid not in seen])[:end]

    def _prefix_last(self, words: list[str], tenant: int | None) -> bool:
        """Whether the last word matches as a prefix (see _PREFIX_FROM, _EXACT_FROM). `tenant`: the
        SQLite index's tenant token, None when it needs none."""
        word = words[-1]
        if len(word) < _PREFIX_FROM:
            return False
        if len(word) <= _INDEXED_PREFIX:
            return True
        if self.session.get_bind().dialect.name == "sqlite":
            match = _fts_expression(_SEARCH_COLUMNS, f'"{word}"', facet_tokens(PromptQuery(), tenant))
            frequent = self._fts("SELECT count(*) FROM (SELECT 1 FROM prompt_fts WHERE prompt_fts MATCH :q LIMIT :n)",
                                 q=match, n=_EXACT_FROM).scalar()
        else:
            matches = (self._scoped(Prompt, Prompt.id).where(literal_column("prompt.search_vector").op("@@")(
                cast(postgres_tsquery([word], False), _tsquery()))).limit(_EXACT_FROM).subquery())
            frequent = self.session.execute(select(func.count()).select_from(matches)).scalar()
        return frequent < _EXACT_FROM

    def _fts(self, sql: str, **params):
        return self.session.execute(text(sql), params)

    def _sole_tenant(self) -> bool:
        """True when every prompt in the database is the caller's tenant's: the index then needs
        no tenant token (a second pass over the postings). The rows are still read through
        _scoped. Two index probes: the lowest and the highest tenant_id."""
        lowest = select(func.min(Prompt.tenant_id)).scalar_subquery()
        highest = select(func.max(Prompt.tenant_id)).scalar_subquery()
        low, high = self.session.execute(select(lowest, highest)).one()
        return low is None or low == high == self.ctx.tenant_id

    def _filters(self, query: PromptQuery) -> list:
        conditions = []
        if query.category:
            conditions.append(Prompt.category == query.category.lower())
        if query.tag:
            conditions.append(Prompt.id.in_(
                self._scoped(PromptTag, PromptTag.prompt_id).where(PromptTag.tag == query.tag.lower())))
        if query.visibility:
            conditions.append(Prompt.visibility == query.visibility)
        if query.is_enhancement is not None:
            conditions.append(Prompt.is_enhancement == query.is_enhancement)
        if query.kind:
            conditions.append(Prompt.kind == query.kind)
        return conditions

    @staticmethod
    def _order(sort: str) -> list:
        """ORDER BY of the sorts other than relevance (without a search, relevance is recency)."""
        return {
            "name": [Prompt.name],
            "title": [Prompt.title, Prompt.name],
            "created": [Prompt.created_at.desc(), Prompt.id],
        }.get(sort, [Prompt.updated_at.desc(), Prompt.id])  # one import: its file order

    # --- export --------------------------------------------------------------------------
    def all_prompts(self) -> list[Prompt]:
        return list(self.session.exec(self._scoped(Prompt).order_by(Prompt.name)).all())

    def all_versions(self) -> dict[int, list[PromptVersion]]:
        grouped: dict[int, list[PromptVersion]] = {}
        rows = self.session.exec(self._scoped(PromptVersion).order_by(PromptVersion.prompt_id, PromptVersion.number))
        for version in rows:
            grouped.setdefault(version.prompt_id, []).append(version)
        return grouped

    def all_labels(self) -> dict[int, dict[str, int]]:
        grouped: dict[int, dict[str, int]] = {}
        for prompt_id, name, number in self.session.exec(
                self._scoped(Label, Label.prompt_id, Label.name, Label.version_number).order_by(Label.name)):
            grouped.setdefault(prompt_id, {})[name] = number
        return grouped

    # --- bulk import -----------------------------------------------------------------------
    def bulk_insert(self, prompts: list[dict], versions_by_name: dict[str, list[dict]],
                    labels_by_name: dict[str, dict[str, int]]) -> None:
        """Insert many new prompts with their versions, tags and labels in a few statements."""
        for start in range(0, len(prompts), _BULK_BATCH):
            self._insert_batch(prompts[start:start + _BULK_BATCH], versions_by_name, labels_by_name)

    def _insert_batch(self, prompts: list[dict], versions_by_name: dict[str, list[dict]],
                      labels_by_name: dict[str, dict[str, int]]) -> None:
        # Core executemany, not ORM bulk inserts with RETURNING: on SQLite those run one statement
        # per row. The new ids are then read back by name (unique per tenant).
        connection = self.session.connection()
        connection.execute(insert(Prompt.__table__), [self._owned_dict(p) for p in prompts])
        names = [p["name"] for p in prompts]
        ids: dict[str, int] = {}
        for start in range(0, len(names), 500):
            ids.update((name, prompt_id) for prompt_id, name in self.session.exec(
                self._scoped(Prompt, Prompt.id, Prompt.name).where(Prompt.name.in_(names[start:start + 500]))))
        version_rows, tag_rows, label_rows = [], [], []
        now = utcnow()
        for prompt in prompts:
            prompt_id = ids[prompt["name"]]
            version_rows += [self._owned_dict({**v, "prompt_id": prompt_id}) for v in versions_by_name[prompt["name"]]]
            tag_rows += [self._owned_dict({"prompt_id": prompt_id, "tag": tag}) for tag in prompt["tags"]]
            label_rows += [self._owned_dict({"prompt_id": prompt_id, "name": name, "version_number": number,
                                             "updated_at": now})
                           for name, number in labels_by_name.get(prompt["name"], {}).items()]
        for model, batch in ((PromptVersion, version_rows), (PromptTag, tag_rows), (Label, label_rows)):
            if batch:
                connection.execute(insert(model.__table__), batch)


@functools.cache
def _resolve_statement():
    """Built once (see scoped_statement): prompt, version, owner's name, then one row per label."""
    from sqlalchemy.orm import aliased, defer

    from ..models import Membership, User

    wanted = aliased(Label)  # the asked label; the outer join below lists them all
    label_version = (select(wanted.version_number)
                     .where(wanted.tenant_id == Prompt.tenant_id, wanted.prompt_id == Prompt.id,
                            wanted.name == bindparam("label", type_=String))
                     .correlate(Prompt).scalar_subquery())
    number = func.coalesce(label_version, bindparam("version", type_=Integer), Prompt.latest_version)
    return (scoped_statement(Prompt, Prompt, PromptVersion, User.username, Label.name, Label.version_number)
            .join(PromptVersion, (PromptVersion.tenant_id == Prompt.tenant_id) & (PromptVersion.prompt_id == Prompt.id)
                  & (PromptVersion.number == number))
            .outerjoin(Label, (Label.tenant_id == Prompt.tenant_id) & (Label.prompt_id == Prompt.id))
            # The owner by name only while a member of this workspace (as _member_name).
            .outerjoin(Membership, (Membership.tenant_id == Prompt.tenant_id) & (Membership.user_id == Prompt.owner_id))
            .outerjoin(User, User.id == Membership.user_id)
            .where(Prompt.name == bindparam("name", type_=String))
            .order_by(Label.name)
            .options(defer(Prompt.content_text)))  # the search copy of the text: not shown
