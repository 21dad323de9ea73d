"""The prompt library: prompts, immutable versions, labels, categories, tags and search."""
from __future__ import annotations

import difflib

from sqlalchemy.exc import IntegrityError

from .. import templating
from ..templating import version_text  # noqa: F401  (moved there: the Python client renders without the services)
from ..context import TenantContext
from ..db import Database
from ..errors import ConflictError, DuplicateError, NotFoundError, ValidationError
from ..models import Prompt, PromptVersion
from ..policy import DEFAULT_PROTECTED_LABELS, Action, label_action, require
from ..repositories import PromptRepository
from ..repositories.tenants import TenantRepository
from ..schemas import (LABEL_RE, CountedName, Page, PromptCreate, PromptPublic, PromptQuery,
                       PromptSummary, PromptUpdate, VersionPublic, as_messages)
from .audit import record as audit
from .base import unit_of_work

# Built once: pydantic re-creates a parametrized generic each time it is collected (~1 ms a call).
PromptPage = Page[PromptSummary]
_CATALOGUE_FIELDS = ("title", "description", "category", "is_enhancement", "visibility")


def declared_variables(content: str, messages: list | None, declared: list[dict] | None,
                       previous: list[dict] | None = None) -> list[dict]:
    """The declarations stored with a version.

    Explicit declarations are kept as given (lint reports mismatches). Without them, every used
    variable is declared, keeping what an earlier version said about names still in use."""
    texts = templating.texts_of(content, messages)
    used = templating.extract_all(texts)  # also rejects syntax errors, with their line
    if declared is not None:
        return templating.normalize_declarations(declared)
    known = {v["name"]: v for v in previous or []}
    return templating.normalize_declarations([known.get(name, {"name": name}) for name in used])


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


class LibraryService:
    def __init__(self, db: Database):
        self.db = db

    def _repo(self, ctx: TenantContext, write: bool = False):
        return unit_of_work(self.db, ctx, PromptRepository, write=write)

    @staticmethod
    def _require(repo: PromptRepository, name: str) -> Prompt:
        # A name no prompt can have (NUL, lone surrogate) is not looked up: PostgreSQL would refuse it.
        prompt = repo.get(name) if _storable(name) else None
        if prompt is None:
            raise NotFoundError(what="prompt", name=name)
        return prompt

    @staticmethod
    def _require_version(repo: PromptRepository, prompt: Prompt, number: int) -> PromptVersion:
        version = repo.version(prompt, number)
        if version is None:
            raise NotFoundError(what="version", name=f"{prompt.name}@{number}")
        return version

    # --- reading -------------------------------------------------------------------------
    def get(self, ctx: TenantContext, name: str, version: int | None = None,
            label: str | None = None) -> PromptPublic:
        """A prompt at its latest version, a given version or a label. Raises NotFoundError."""
        require(ctx, Action.READ_PROMPTS)
        with self._repo(ctx) as repo:
            found = repo.resolve(name, version, label) if _storable(name) else None
            if found is not None and (label is None or label in found[2]):
                return self._public(*found)
            # Something is missing: say precisely what.
            prompt = self._require(repo, name)
            if label is not None and label not in repo.labels(prompt):
                raise NotFoundError(what="label", name=f"{name}:{label}")
            raise NotFoundError(what="version", name=f"{name}@{version or prompt.latest_version}")

    def list(self, ctx: TenantContext, query: PromptQuery | None = None) -> Page[PromptSummary]:
        """A page of prompts, filtered, full-text searched when query.q is set, and the total."""
        require(ctx, Action.READ_PROMPTS)
        query = query or PromptQuery()
        with self._repo(ctx) as repo:
            rows, total = repo.query(query)
            items = [PromptSummary.model_validate(row, from_attributes=True) for row in rows]
        return PromptPage(items=items, total=total, limit=query.limit, offset=query.offset)

    def history(self, ctx: TenantContext, name: str) -> list[VersionPublic]:
        """Every version, oldest first, with the labels pointing at it. Raises NotFoundError."""
        require(ctx, Action.READ_PROMPTS)
        with self._repo(ctx) as repo:
            prompt = self._require(repo, name)
            by_version: dict[int, list[str]] = {}
            for label, number in repo.labels(prompt).items():
                by_version.setdefault(number, []).append(label)
            return [VersionPublic(number=v.number, content=v.content, messages=v.messages, variables=v.variables,
                                  author=v.author, message=v.message, created_at=v.created_at,
                                  labels=by_version.get(v.number, []))
                    for v in repo.versions(prompt)]

    def diff(self, ctx: TenantContext, name: str, old: int, new: int) -> str:
        """Unified diff between two versions. Raises NotFoundError."""
        require(ctx, Action.READ_PROMPTS)
        with self._repo(ctx) as repo:
            prompt = self._require(repo, name)
            a, b = (self._require_version(repo, prompt, n) for n in (old, new))
        return "\n".join(difflib.unified_diff(
            version_text(a.content, a.messages).splitlines(), version_text(b.content, b.messages).splitlines(),
            fromfile=f"{name}@v{old}", tofile=f"{name}@v{new}", lineterm="",
        ))

    def categories(self, ctx: TenantContext) -> list[CountedName]:
        """Categories with their prompt counts. Raises PermissionDeniedError."""
        require(ctx, Action.READ_PROMPTS)
        with self._repo(ctx) as repo:
            return [CountedName(name=n, count=c) for n, c in repo.category_counts()]

    def tags(self, ctx: TenantContext) -> list[CountedName]:
        """Tags with their prompt counts. Raises PermissionDeniedError."""
        require(ctx, Action.READ_PROMPTS)
        with self._repo(ctx) as repo:
            return [CountedName(name=n, count=c) for n, c in repo.tag_counts()]

    def render(self, ctx: TenantContext, name: str, values: dict | None = None, version: int | None = None,
               label: str | None = None) -> PromptPublic:
        """The prompt with its variables filled in. Raises NotFoundError, ValidationError, TemplateError."""
        require(ctx, Action.READ_PROMPTS)
        prompt = self.get(ctx, name, version=version, label=label)
        content, messages = templating.render(prompt.content, prompt.messages, prompt.variables, values)
        return prompt.model_copy(update={"content": content if messages is None else version_text("", messages),
                                         "messages": messages})

    # --- writing -------------------------------------------------------------------------
    def create(self, ctx: TenantContext, data: PromptCreate) -> PromptPublic:
        """A new prompt at version 1. Raises DuplicateError, ValidationError, TemplateError."""
        require(ctx, Action.WRITE_PROMPTS)
        content, messages = self._content_of(data.kind, data.content, data.messages)
        variables = declared_variables(content, messages, data.variables)
        tags = data.tags or []
        try:
            with self._repo(ctx, write=True) as repo:
                if repo.get(data.name) is not None:
                    raise DuplicateError(what="prompt", name=data.name)
                prompt = repo.add(Prompt(
                    name=data.name, title=data.title or "", description=data.description or "",
                    category=data.category or "", tags=tags, tags_text=" ".join(tags),
                    is_enhancement=bool(data.is_enhancement), visibility=data.visibility or "private",
                    kind=data.kind, owner_id=ctx.user_id, meta=data.metadata or {},
                    content_text=version_text(content, messages),
                ))
                repo.set_tags(prompt, tags)
                version = repo.add_version(PromptVersion(
                    prompt_id=prompt.id, number=1, content=content, messages=messages, variables=variables,
                    author_id=ctx.user_id, author=repo.username(repo.ctx.user_id), message=data.message or "",
                ))
                audit(repo.session, ctx, "prompt.create", ("prompt", prompt.name),
                      after={"version": 1, "kind": prompt.kind, **{f: getattr(prompt, f) for f in _CATALOGUE_FIELDS},
                             "tags": tags})
                return self._public(prompt, version, {}, version.author)
        except IntegrityError:  # a concurrent create of the same name won the race
            raise DuplicateError(what="prompt", name=data.name) from None

    def update(self, ctx: TenantContext, name: str, data: PromptUpdate) -> PromptPublic:
        """Change catalogue fields and/or make a new version from data.base_version.

        Raises NotFoundError, ConflictError (stale base_version), ValidationError, TemplateError."""
        require(ctx, Action.WRITE_PROMPTS)
        with self._repo(ctx, write=True) as repo:
            before, after = self.apply_update(repo, name, data)
            audit(repo.session, ctx, "prompt.update", ("prompt", name), before, after)
        return self.get(ctx, name)

    def apply_update(self, repo: PromptRepository, name: str, data: PromptUpdate) -> tuple[dict, dict]:
        """update() inside a caller's unit of work (an import applies many in one transaction).
        Content identical to the latest version makes no new version. Returns what changed: the
        changed fields' (and the version's) values before and after."""
        require(repo.ctx, Action.WRITE_PROMPTS)
        prompt = self._require(repo, name)
        old = {"version": prompt.latest_version, "meta": prompt.meta, "tags": list(prompt.tags or []),
               **{f: getattr(prompt, f) for f in _CATALOGUE_FIELDS}}
        fields = {f: getattr(data, f) for f in _CATALOGUE_FIELDS if getattr(data, f) is not None}
        if data.metadata is not None:
            fields["meta"] = data.metadata
        if data.tags is not None:
            fields.update(tags=data.tags, tags_text=" ".join(data.tags))
            repo.set_tags(prompt, data.tags)
        new_version = None
        if data.changes_content():
            current = self._require_version(repo, prompt, prompt.latest_version)
            content, messages = self._content_of(
                prompt.kind,
                data.content if data.content is not None else (current.content if data.messages is None else None),
                data.messages if data.messages is not None else (current.messages if data.content is None else None),
            )
            variables = declared_variables(content, messages, data.variables, current.variables)
            if (content, messages, variables) != (current.content, current.messages, current.variables):
                new_version = (content, messages, variables)
        if new_version:
            self._new_version(repo, prompt, data.base_version or prompt.latest_version, *new_version,
                              data.message, fields)
        elif fields:
            repo.update_fields(prompt, fields)
        repo.session.refresh(prompt)
        new = {"version": prompt.latest_version, "meta": prompt.meta, "tags": list(prompt.tags or []),
               **{f: getattr(prompt, f) for f in _CATALOGUE_FIELDS}}
        changed = [f for f in old if old[f] != new[f]]
        return {f: old[f] for f in changed}, {f: new[f] for f in changed}

    def restore(self, ctx: TenantContext, name: str, number: int, base_version: int | None = None) -> PromptPublic:
        """Make an old version's content the newest version. Raises NotFoundError, ConflictError."""
        require(ctx, Action.WRITE_PROMPTS)
        with self._repo(ctx, write=True) as repo:
            prompt = self._require(repo, name)
            old = self._require_version(repo, prompt, number)
            latest = prompt.latest_version
            self._new_version(repo, prompt, base_version or prompt.latest_version, old.content, old.messages,
                              old.variables, f"Restore version {number}", {})
            audit(repo.session, ctx, "prompt.restore", ("prompt", name), {"version": latest},
                  {"version": latest + 1, "restored_from": number})
        return self.get(ctx, name)

    def set_label(self, ctx: TenantContext, name: str, label: str, version: int | None = None) -> dict[str, int]:
        """Point a label at a version (the latest by default). Raises NotFoundError, ValidationError,
        PermissionDeniedError (a protected label needs an admin)."""
        require(ctx, label_action(label, self._protected_labels(ctx)))
        self._check_label(label)
        with self._repo(ctx, write=True) as repo:
            prompt = self._require(repo, name)
            number = self._require_version(repo, prompt, version or prompt.latest_version).number
            previous = repo.labels(prompt).get(label)
            repo.set_label(prompt, label, number)
            audit(repo.session, ctx, "prompt.label_set", ("prompt", name), {"label": label, "version": previous},
                  {"label": label, "version": number})
            return repo.labels(prompt)

    def remove_label(self, ctx: TenantContext, name: str, label: str) -> dict[str, int]:
        """Raises NotFoundError when the prompt or the label does not exist, ValidationError for an
        empty label, PermissionDeniedError (a protected label needs an admin)."""
        require(ctx, label_action(label, self._protected_labels(ctx)))
        if not (label or "").strip():
            raise ValidationError("limits.label_required")
        with self._repo(ctx, write=True) as repo:
            prompt = self._require(repo, name)
            previous = repo.labels(prompt).get(label) if _storable(label) else None
            if not _storable(label) or not repo.remove_label(prompt, label):
                raise NotFoundError(what="label", name=f"{name}:{label}")
            repo.session.flush()
            audit(repo.session, ctx, "prompt.label_remove", ("prompt", name), {"label": label, "version": previous},
                  {"label": label, "version": None})
            return repo.labels(prompt)

    def delete(self, ctx: TenantContext, name: str) -> None:
        """Delete a prompt with all its versions and labels. Raises NotFoundError."""
        require(ctx, Action.WRITE_PROMPTS)
        with self._repo(ctx, write=True) as repo:
            prompt = self._require(repo, name)
            before = {"version": prompt.latest_version, "labels": repo.labels(prompt), "title": prompt.title}
            repo.delete(prompt)
            audit(repo.session, ctx, "prompt.delete", ("prompt", name), before=before)

    def _protected_labels(self, ctx: TenantContext) -> tuple[str, ...]:
        """The labels only admins may move: the tenant's setting `protected_labels`, else production."""
        with self.db.session() as session:
            tenant = TenantRepository(session).by_id(ctx.tenant_id)
        configured = (tenant.settings or {}).get("protected_labels") if tenant is not None else None
        return tuple(configured) if isinstance(configured, (list, tuple)) else DEFAULT_PROTECTED_LABELS

    # --- helpers -------------------------------------------------------------------------
    @staticmethod
    def _check_label(label: str) -> None:
        if not (label or "").strip():
            raise ValidationError("limits.label_required")
        if not LABEL_RE.match(label):
            raise ValidationError("errors.bad_label", name=label)

    def _new_version(self, repo: PromptRepository, prompt: Prompt, base: int, content: str,
                     messages: list | None, variables: list[dict], message: str, fields: dict) -> None:
        # Optimistic concurrency: the version counter only moves if it still equals the version
        # the edit started from, so of two concurrent edits of one base exactly one wins.
        if base != prompt.latest_version or not repo.advance_version(
                prompt, base, {**fields, "content_text": version_text(content, messages)}):
            current = repo.latest_version_number(prompt)
            raise ConflictError(name=prompt.name, current=current, expected=base)
        try:
            with repo.session.begin_nested():
                repo.add_version(PromptVersion(
                    prompt_id=prompt.id, number=base + 1, content=content, messages=messages, variables=variables,
                    author_id=repo.ctx.user_id, author=repo.username(repo.ctx.user_id), message=message or "",
                ))
        except IntegrityError:
            raise ConflictError(name=prompt.name, current=base + 1, expected=base) from None

    @staticmethod
    def _content_of(kind: str, content: str | None, messages: list | None) -> tuple[str, list | None]:
        """The content and messages a version stores: messages as JSON dicts of ChatMessage."""
        if kind == "chat":
            if not messages:
                raise ValidationError("errors.chat_needs_messages")
            return "", [m.model_dump(exclude_none=True) for m in as_messages(messages)]
        if messages:
            raise ValidationError("errors.text_has_messages")
        if not (content or "").strip():
            raise ValidationError("errors.empty_content")
        return content, None

    @staticmethod
    def _public(prompt: Prompt, version: PromptVersion, labels: dict[str, int], owner: str) -> PromptPublic:
        texts = templating.texts_of(version.content, version.messages)
        return PromptPublic(
            **PromptSummary.model_validate(prompt, from_attributes=True).model_dump(),
            version=version.number, content=version_text(version.content, version.messages),
            messages=version.messages, variables=version.variables,
            used_variables=templating.extract_all(texts), version_message=version.message,
            version_author=version.author, version_created_at=version.created_at, labels=labels,
            metadata=prompt.meta, owner=owner,
        )
