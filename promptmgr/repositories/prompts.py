"""Data access for prompts, their versions, labels and tags."""
from __future__ import annotations

import re

from sqlalchemy import column, delete, func, insert, literal_column, table, text, update
from ..models import Label, Prompt, PromptTag, PromptVersion, User, utcnow
from ..schemas import PromptQuery
from .base import Repository

_FTS = table("prompt_fts", column("rowid"))
# bm25 weights per FTS column: name, title, description, tags_text, content_text.
_BM25 = "bm25(prompt_fts, 10.0, 8.0, 4.0, 6.0, 1.0)"
_WORD_RE = re.compile(r"\w+", re.UNICODE)
# Rows per bulk statement: bounded memory and statement size for very large imports.
_BULK_BATCH = 5000


def search_terms(query: str | None) -> list[str]:
    """Words of a user's query; everything else (quotes, operators) is dropped so no input can
    break the FTS syntax. Each word matches as a prefix, all words must match."""
    return _WORD_RE.findall((query or "").lower())[:16]


class PromptRepository(Repository):
    # --- prompts -------------------------------------------------------------------------
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
        return self.session.exec(self._scoped(User, User.username).where(User.id == user_id)).first() or ""

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
        statement = self._scoped(Prompt)
        count_statement = self._scoped(Prompt, func.count())
        terms = search_terms(query.q)
        rank = None
        if terms:
            statement, count_statement, rank = self._match(statement, count_statement, terms)
        for condition in self._filters(query):
            statement = statement.where(condition)
            count_statement = count_statement.where(condition)
        statement = statement.order_by(*self._order(query.sort, rank)).limit(query.limit).offset(query.offset)
        total = self.session.exec(count_statement).one()
        return list(self.session.exec(statement).all()), total

    def _match(self, statement, count_statement, terms):
        if self.session.get_bind().dialect.name == "sqlite":
            fts_query = " AND ".join(f'"{term}"*' for term in terms)
            match = text("prompt_fts MATCH :fts_query").bindparams(fts_query=fts_query)
            join = _FTS.c.rowid == Prompt.id
            return (statement.join(_FTS, join).where(match), count_statement.join(_FTS, join).where(match),
                    literal_column(_BM25).asc())
        ts_query = func.to_tsquery("english", " & ".join(f"{term}:*" for term in terms))
        vector = literal_column("prompt.search_vector")
        match = vector.op("@@")(ts_query)
        return statement.where(match), count_statement.where(match), func.ts_rank(vector, ts_query).desc()

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
    def _order(sort: str, rank) -> list:
        if sort == "relevance" and rank is not None:
            return [rank, Prompt.id]
        return {
            "name": [Prompt.name],
            "title": [Prompt.title, Prompt.name],
            "created": [Prompt.created_at.desc(), Prompt.id.desc()],
        }.get(sort, [Prompt.updated_at.desc(), Prompt.id.desc()])

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
