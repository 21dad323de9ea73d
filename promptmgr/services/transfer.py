"""Import and export of a whole library (prompts, every version, labels) as JSON or YAML.

The document format is also the starter library's (data/starter_library.yaml)."""
from __future__ import annotations

import json
import keyword
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from .. import templating
from ..context import TenantContext
from ..db import Database
from ..errors import ValidationError
from ..models import utcnow
from ..policy import Action, require
from ..repositories import PromptRepository
from ..schemas import LABEL_RE, ImportReport, PromptCreate, PromptUpdate, check_line, check_text, parse
from .audit import record as audit
from .library import LibraryService, declared_variables, version_text

FORMAT = "promptmgr-library"
FORMAT_VERSION = 1
ConflictPolicy = Literal["skip", "overwrite", "rename"]
CONFLICT_POLICIES = ("skip", "overwrite", "rename")


# YAML aliases let a few hundred bytes stand for hundreds of megabytes (a list of nine aliases of a
# list of nine aliases...). The loader keeps them as shared references; expanding them is what
# costs, so the loaded data is walked once and refused when repeats pass this budget.
ALIAS_BUDGET = 10_000


def _yaml():
    import yaml

    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader), getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _check_expansion(data) -> None:
    seen: set[int] = set()
    repeats, stack = 0, [data]
    while stack:
        item = stack.pop()
        if isinstance(item, (dict, list)):
            if id(item) in seen:
                repeats += len(item) + 1
                if repeats > ALIAS_BUDGET:
                    raise ValidationError("limits.yaml_aliases", limit=ALIAS_BUDGET)
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
            if isinstance(item, dict):
                stack.extend(key for key in item if isinstance(key, (dict, list)))


def safe_yaml_load(text: str):
    """YAML through the safe loader, refusing alias bombs. Raises yaml errors and ValidationError."""
    yaml, loader, _ = _yaml()
    data = yaml.load(text, Loader=loader)
    if "&" in text:  # no anchor, no alias: nothing to expand
        _check_expansion(data)
    return data


def check_document_size(size: int) -> None:
    from ..config import active_settings

    limit = active_settings().max_document_bytes
    if size > limit:
        raise ValidationError("limits.document_too_large", size=size, limit=limit)


def load_document(text: str, fmt: str | None = None) -> dict:
    """Parse JSON or YAML (by fmt, else by the first character). Raises ValidationError."""
    check_document_size(len(text.encode("utf-8", "surrogatepass")))
    try:
        if fmt == "json" or (fmt is None and text.lstrip().startswith("{")):
            data = json.loads(text)
        else:
            data = safe_yaml_load(text)
    except ValidationError:
        raise
    except RecursionError:
        raise ValidationError("limits.document_nesting") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise ValidationError("errors.bad_document", detail=str(exc)) from None
    except Exception as exc:  # yaml.YAMLError and friends
        raise ValidationError("errors.bad_document", detail=(str(exc).splitlines() or [""])[0]) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("prompts"), list):
        raise ValidationError("errors.bad_document", detail=f"expected a '{FORMAT}' document with a 'prompts' list")
    version = data.get("format_version", FORMAT_VERSION)
    if type(version) is not int or version != FORMAT_VERSION:
        raise ValidationError("limits.format_version", version=str(version)[:20], supported=FORMAT_VERSION)
    return data


def dump_document(data: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=1, default=str)
    yaml, _, dumper = _yaml()
    return yaml.dump(data, Dumper=dumper, allow_unicode=True, sort_keys=False, width=1000)


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise ValidationError("errors.bad_extension", path=str(path))


# Most templates use no jinja syntax but `{{ name }}`. Their variables can be read with a regular
# expression: parsing with jinja costs ~0.5 ms a version, most of a 100,000-prompt import. Anything
# else (blocks, filters, comments, special names) goes through jinja, which also reports errors.
_PLAIN_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OTHER_SYNTAX = re.compile(r"\{[{%#\x00]|\x00\}")
_SPECIAL_NAMES = frozenset(keyword.kwlist) | {"true", "false", "none", "self", "loop", "caller", "varargs",
                                              "kwargs", "super", "range", "dict", "lipsum", "cycler",
                                              "joiner", "namespace"}


def _plain_variables(texts: list[str]) -> list[str] | None:
    """The variables of templates made only of text and `{{ name }}`; None for any other template."""
    found: dict[str, None] = {}
    for text in texts:
        names: list[str] = []
        rest = _PLAIN_VARIABLE.sub(lambda match, found=names: found.append(match.group(1)) or "\x00", text)
        if _OTHER_SYNTAX.search(rest) or any(name in _SPECIAL_NAMES for name in names):
            return None
        unique = list(dict.fromkeys(names))
        if len(unique) > 1:
            # The order templating.extract_variables gives (first mention anywhere), in one pass.
            first: dict[str, int] = {}
            for match in re.finditer(rf"(?<![\w.])({'|'.join(map(re.escape, unique))})(?!\w)", text):
                first.setdefault(match.group(1), match.start())
            unique.sort(key=lambda name: first.get(name, len(text)))
        for name in unique:
            found.setdefault(name)
    return list(found)


def _declared(content: str, messages: list | None, declared: list[dict] | None) -> list[dict]:
    """declared_variables() for a new prompt, without jinja for plain templates."""
    used = _plain_variables(templating.texts_of(content, messages))
    if used is None:
        return declared_variables(content, messages, declared)
    return templating.normalize_declarations(declared if declared is not None else [{"name": n} for n in used])


def _text_field(raw: dict, name: str) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError("limits.not_text", field_key=f"limits.fields.{name}")
    return value


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat()


def _when(value, now: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if value:
        try:
            return _when(datetime.fromisoformat(str(value)), now)
        except ValueError:
            raise ValidationError("errors.invalid", detail=f"bad date {value!r}") from None
    return now


def _shown_name(name) -> str:
    """An entry's name for an error message: any value, cut short and without control characters."""
    if not isinstance(name, str):
        return "?"
    return "".join(ch if ch.isprintable() else "?" for ch in name[:100]) or "?"


class TransferService:
    def __init__(self, db: Database, library: LibraryService):
        self.db = db
        self.library = library

    def export(self, ctx: TenantContext) -> dict:
        """The whole library as a document. Raises PermissionDeniedError."""
        require(ctx, Action.EXPORT)
        with self.db.session() as session:
            repo = PromptRepository(session, ctx)
            prompts, versions, labels = repo.all_prompts(), repo.all_versions(), repo.all_labels()
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "exported_at": _iso(utcnow()), "prompts": [{
            "name": p.name, "title": p.title, "description": p.description, "category": p.category,
            "tags": p.tags, "is_enhancement": p.is_enhancement, "visibility": p.visibility, "kind": p.kind,
            "metadata": p.meta, "labels": labels.get(p.id, {}),
            "created_at": _iso(p.created_at), "updated_at": _iso(p.updated_at),
            "versions": [{
                "number": v.number,
                **({"messages": v.messages} if v.messages is not None else {"content": v.content}),
                "variables": v.variables, "message": v.message, "author": v.author,
                "created_at": _iso(v.created_at),
            } for v in versions.get(p.id, [])],
        } for p in prompts]}

    def import_(self, ctx: TenantContext, document: dict, on_conflict: ConflictPolicy = "skip") -> ImportReport:
        """Add a document's prompts. The whole document is validated first and written in one
        transaction: on any error nothing is written. Raises ValidationError, PermissionDeniedError
        (overwriting needs an admin)."""
        # Validated before the write transaction opens: SQLite's write lock is held only to write.
        entries = self._checked(ctx, document, on_conflict)
        with self.db.session(write=True) as session:
            return self._write(session, ctx, entries, on_conflict)

    def import_into(self, session, ctx: TenantContext, document: dict, on_conflict: ConflictPolicy = "skip"
                    ) -> ImportReport:
        """import_() inside a caller's transaction (the first start loads the starter library in the
        transaction that creates the tenant). Raises ValidationError, PermissionDeniedError."""
        return self._write(session, ctx, self._checked(ctx, document, on_conflict), on_conflict)

    def _checked(self, ctx: TenantContext, document: dict, on_conflict: str) -> list:
        """The policy check and the validated entries of a document, before anything is written."""
        require(ctx, Action.IMPORT_OVERWRITE if on_conflict == "overwrite" else Action.IMPORT)
        if on_conflict not in CONFLICT_POLICIES:
            raise ValidationError("errors.bad_conflict_policy", policy=on_conflict,
                                  allowed=", ".join(CONFLICT_POLICIES))
        now = utcnow()  # one moment for the whole import: undated entries keep the document's order
        return [self._validated(i, raw, now) for i, raw in enumerate(document.get("prompts", []))]

    def _write(self, session, ctx: TenantContext, entries: list, on_conflict: str) -> ImportReport:
        report, overwrites = ImportReport(), []
        repo = PromptRepository(session, ctx)
        repo.bulk_insert(*self._plan(ctx, entries, repo.names(), on_conflict, report, overwrites))
        # Overwrites are versioned like any edit, in the same transaction as the rest.
        for prompt, versions in overwrites:
            latest = versions[-1]
            self.library.apply_update(repo, prompt["name"], parse(PromptUpdate, {
                "content": latest["content"] if latest["messages"] is None else None,
                "messages": latest["messages"], "variables": latest["variables"],
                "message": latest["message"] or "Imported",
                **{f: prompt[f] for f in ("title", "description", "category", "tags", "is_enhancement",
                                          "visibility")},
                "metadata": prompt["meta"],
            }))
            report.updated.append(prompt["name"])
        audit(session, ctx, "library.import", ("library", ""),
              after={"on_conflict": on_conflict, "created": report.created, "updated": report.updated,
                     "renamed": [f"{a} -> {b}" for a, b in report.renamed], "skipped": len(report.skipped)})
        return report

    def _plan(self, ctx: TenantContext, entries: list, names: set[str], on_conflict: str, report: ImportReport,
              overwrites: list) -> tuple[list[dict], dict[str, list[dict]], dict[str, dict[str, int]]]:
        """The rows bulk_insert takes for validated entries, applying the conflict policy.
        `names` (taken names) grows with the document's own, so duplicates inside it conflict too."""
        new_prompts, new_versions, new_labels = [], {}, {}
        for prompt, versions, labels in entries:
            name = prompt["name"]
            if name in names:
                if on_conflict == "skip":
                    report.skipped.append(name)
                    continue
                if on_conflict == "overwrite":
                    overwrites.append((prompt, versions))
                    continue
                prompt = {**prompt, "name": self._free_name(name, names)}
                report.renamed.append((name, prompt["name"]))
            else:
                report.created.append(name)
            names.add(prompt["name"])
            new_prompts.append({**prompt, "owner_id": ctx.user_id})
            new_versions[prompt["name"]] = [{**v, "author_id": ctx.user_id} for v in versions]
            new_labels[prompt["name"]] = labels
        return new_prompts, new_versions, new_labels

    @staticmethod
    def _free_name(name: str, taken: set[str]) -> str:
        n = 2
        while f"{name[:95]}-{n}" in taken:
            n += 1
        return f"{name[:95]}-{n}"

    @staticmethod
    def _validated(index: int, raw, now: datetime) -> tuple[dict, list[dict], dict[str, int]]:
        """One document entry as rows to insert; any problem names the entry."""
        where = raw.get("name") if isinstance(raw, dict) else None
        try:
            if not isinstance(raw, dict):
                raise ValidationError("errors.invalid", detail="each prompt must be a mapping")
            raw_versions = raw.get("versions") or []
            if not raw_versions:
                raise ValidationError("errors.invalid", detail="a prompt needs at least one version")
            if not isinstance(raw_versions, list):
                raise ValidationError("errors.invalid", detail="versions must be a list")
            # Every field goes through the same schema (and limits) as the editor and the CLI.
            fields = parse(PromptCreate, {
                "name": raw.get("name", ""), "kind": raw.get("kind", "text"), "title": raw.get("title", ""),
                "description": raw.get("description", ""), "category": raw.get("category", ""),
                "tags": raw.get("tags") or [], "is_enhancement": raw.get("is_enhancement", False),
                "visibility": raw.get("visibility", "private"), "metadata": raw.get("metadata") or {},
                "content": "x",
            })
            versions = []
            for expected, v in enumerate(raw_versions, start=1):
                number = v.get("number", expected) if isinstance(v, dict) else None
                if type(number) is not int or number != expected:  # `true` is not 1
                    raise ValidationError("errors.invalid", detail=f"versions must be numbered 1, 2, 3... (at {expected})")
                checked = parse(PromptCreate, {"name": fields.name, "kind": fields.kind, "content": v.get("content"),
                                               "messages": v.get("messages"), "variables": v.get("variables"),
                                               "message": _text_field(v, "message")})
                content, messages = LibraryService._content_of(fields.kind, checked.content, checked.messages)
                author = check_line(_text_field(v, "author"), "author", 100)
                versions.append({
                    "number": expected, "content": content, "messages": messages,
                    "variables": _declared(content, messages, checked.variables),
                    "message": checked.message, "author": author, "created_at": _when(v.get("created_at"), now),
                })
            labels = raw.get("labels") or {}
            if not isinstance(labels, dict):
                raise ValidationError("errors.invalid", detail="labels must map a name to an existing version number")
            for label, number in labels.items():
                if not isinstance(label, str) or not label.strip():
                    raise ValidationError("limits.label_required")
                if not LABEL_RE.match(label):
                    raise ValidationError("errors.bad_label", name=check_text(label, "label"))
                if type(number) is not int or not 1 <= number <= len(versions):
                    raise ValidationError("errors.invalid",
                                          detail="labels must map a name to an existing version number")
        except ValidationError as exc:
            # The entry's own problem, translated in the caller's language when the error is shown.
            raise ValidationError("errors.bad_import_entry", index=index + 1, name=_shown_name(where),
                                  detail=exc) from None
        latest = versions[-1]
        created_at = _when(raw.get("created_at") or versions[0]["created_at"], now)
        prompt = {
            "name": fields.name, "title": fields.title, "description": fields.description,
            "category": fields.category, "tags": fields.tags, "tags_text": " ".join(fields.tags),
            "is_enhancement": fields.is_enhancement, "visibility": fields.visibility, "kind": fields.kind,
            "meta": fields.metadata, "latest_version": len(versions),
            "content_text": version_text(latest["content"], latest["messages"]),
            "created_at": created_at, "updated_at": _when(raw.get("updated_at") or latest["created_at"], now),
        }
        return prompt, versions, {str(k): v for k, v in labels.items()}
