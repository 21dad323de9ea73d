"""The prompt Builder: combine library prompts into one new prompt through a template.

A builder template is Jinja2 source rendered in a sandbox with one variable, `parts` (a list of
{name, title, content} in the order the user chose). The parts' own `{{ placeholders }}` are data
to the builder template, so they come out as literal text and stay variables of the result."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import templating
from ..context import TenantContext
from ..errors import NotFoundError, TemplateError, ValidationError
from ..policy import Action, require
from ..resources import data_path
from ..schemas import PromptCreate, PromptPublic, parse
from .library import LibraryService

TEMPLATES_FILE = data_path("builder_templates.yaml")
DEFAULT_TEMPLATE = "sequential"
CUSTOM = "custom"
_REF_RE = re.compile(r"^(?P<name>[^@]+)@(?P<version>\d+)$")


@dataclass(frozen=True)
class BuilderTemplate:
    name: str
    title: str
    description: str
    template: str


@dataclass(frozen=True)
class BuildPart:
    name: str
    version: int
    title: str
    kind: str


@dataclass
class BuildResult:
    text: str
    variables: list[dict]  # merged declarations of the variables the text uses, in order
    tokens: int
    tokens_exact: bool
    parts: list[BuildPart]
    template: str  # a template name, or "custom"
    custom_template: str | None = None
    model: str | None = None
    cost: float | None = None  # for `model`, when the token estimate came with a price
    warnings: list[str] = field(default_factory=list)  # message keys, e.g. a template that drops parts

    @property
    def variable_names(self) -> list[str]:
        return [v["name"] for v in self.variables]

    def metadata(self) -> dict:
        """What a saved prompt records about how it was built."""
        meta = {"sources": [{"name": p.name, "version": p.version} for p in self.parts], "template": self.template}
        if self.custom_template is not None:
            meta["custom_template"] = self.custom_template
        return {"builder": meta}


@lru_cache(maxsize=4)
def _load_templates(path: Path, mtime: float) -> tuple[BuilderTemplate, ...]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return tuple(BuilderTemplate(name=str(entry["name"]), title=str(entry.get("title") or entry["name"]),
                                 description=str(entry.get("description") or ""), template=str(entry["template"]))
                 for entry in data.get("templates", []))


def parse_ref(ref: str) -> tuple[str, int | None]:
    """'name' or 'name@3' (a pinned version)."""
    ref = (ref or "").strip()
    match = _REF_RE.match(ref)
    return (match["name"], int(match["version"])) if match else (ref, None)


def merge_declarations(declarations: list[list[dict]]) -> dict[str, dict]:
    """One declaration per variable name: the first part that declares it wins, later parts only
    fill in what it left empty (description, default)."""
    merged: dict[str, dict] = {}
    for part in declarations:
        for spec in part:
            name = spec["name"]
            if name not in merged:
                merged[name] = dict(spec)
                continue
            known = merged[name]
            if not known.get("description") and spec.get("description"):
                known["description"] = spec["description"]
            if known.get("default") is None and spec.get("default") is not None:
                known["default"] = spec["default"]
                known["required"] = bool(spec.get("required", False))
    return merged


class BuilderService:
    def __init__(self, library: LibraryService, testing=None, templates_file: Path = TEMPLATES_FILE):
        self.library = library
        # The testing service counts for the chosen (or default) model and prices the text; without
        # it (or with no model at all) the offline counter gives the tokens and no cost.
        self.testing = testing
        self.templates_file = templates_file

    # --- templates -----------------------------------------------------------------------
    def templates(self, ctx: TenantContext) -> list[BuilderTemplate]:
        """The template gallery (data/builder_templates.yaml). Raises PermissionDeniedError."""
        require(ctx, Action.READ_PROMPTS)
        path = self.templates_file
        return list(_load_templates(path, path.stat().st_mtime))

    def template(self, ctx: TenantContext, name: str) -> BuilderTemplate:
        """One template by name. Raises NotFoundError, PermissionDeniedError."""
        require(ctx, Action.READ_PROMPTS)
        for item in self.templates(ctx):
            if item.name == name:
                return item
        raise NotFoundError("builder.unknown_template", name=name,
                            available=", ".join(t.name for t in self.templates(ctx)))

    # --- building (the public methods) ----------------------------------------------------
    def preview(self, ctx: TenantContext, prompt_names: list[str], template_name: str | None = None,
                custom_template: str | None = None, model: str | None = None) -> BuildResult:
        """The combined text, its variables and token count (for `model`, else the default model).
        Parts are prompt names, or "name@N" for a pinned version; a non-blank custom_template wins
        over template_name (default: sequential).

        Raises NotFoundError (prompt or template), ValidationError (no parts, bad model),
        TemplateError (custom template or result), PermissionDeniedError. A preview counts tokens
        and never calls a model, so reading prompts is all it needs."""
        require(ctx, Action.READ_PROMPTS)
        result = self._build(ctx, prompt_names, template_name, custom_template)
        result.model = model or None
        result.tokens, result.tokens_exact, result.cost = self._count(ctx, result.text, model)
        return result

    def save(self, ctx: TenantContext, name: str, prompt_names: list[str], template_name: str | None = None,
             custom_template: str | None = None, title: str = "", description: str = "", category: str = "",
             tags: list[str] | None = None, message: str = "") -> PromptPublic:
        """A new text prompt from the preview, recording its sources and template in its metadata.

        Raises NotFoundError, ValidationError (no parts, bad name...), TemplateError, DuplicateError,
        PermissionDeniedError."""
        require(ctx, Action.WRITE_PROMPTS)
        result = self._build(ctx, prompt_names, template_name, custom_template)
        data = parse(PromptCreate, {
            "name": (name or "").strip(), "kind": "text", "content": result.text, "variables": result.variables,
            "title": title or "", "description": description or "", "category": category or "",
            "tags": tags or [], "metadata": result.metadata(), "message": message or "",
        })
        return self.library.create(ctx, data)

    # --- helpers -------------------------------------------------------------------------
    def _build(self, ctx: TenantContext, prompt_names: list[str], template_name: str | None,
               custom_template: str | None) -> BuildResult:
        refs = [parse_ref(ref) for ref in prompt_names or [] if ref and ref.strip()]
        if not refs:
            raise ValidationError("builder.no_parts")
        if custom_template is not None and custom_template.strip():
            source, template = custom_template, CUSTOM
        else:
            template = template_name or DEFAULT_TEMPLATE
            source, custom_template = self.template(ctx, template).template, None
        compiled = self._compile(source)  # syntax errors first: they do not need the library
        prompts = [self.library.get(ctx, name, version=version) for name, version in refs]
        text = self._render(compiled, prompts)
        if not text.strip():
            raise ValidationError("builder.empty_result")
        variables = self._variables(text, prompts)
        warnings = [] if all(p.content.strip() in text for p in prompts if p.content.strip()) \
            else ["builder.warn_parts_missing"]
        return BuildResult(
            text=text, variables=variables, tokens=0, tokens_exact=False,
            parts=[BuildPart(p.name, p.version, p.title, p.kind) for p in prompts],
            template=template, custom_template=custom_template, warnings=warnings,
        )

    @staticmethod
    def _compile(source: str):
        # No loader: a builder template cannot include or read anything; StrictUndefined turns a
        # misspelt attribute (p.titel) into an error instead of silently empty output; the limits of
        # promptmgr/sandbox.py apply (a custom template is user input like any prompt).
        return templating.compile_template(source, "builder.template_syntax", keep_trailing_newline=False)

    @staticmethod
    def _render(compiled, prompts: list[PromptPublic]) -> str:
        # Chat prompts take part as their text ("[role]" blocks), which is what PromptPublic.content is.
        parts = [{"name": p.name, "title": p.title or p.name, "content": p.content} for p in prompts]
        return templating.render_limited(compiled, {"parts": parts}, "builder.template_unsafe",
                                         "builder.template_render")

    @staticmethod
    def _variables(text: str, prompts: list[PromptPublic]) -> list[dict]:
        try:
            used = templating.extract_variables(text)
        except TemplateError as exc:
            # The parts were valid templates, so the builder template cut one apart.
            raise TemplateError("builder.result_syntax", line=exc.params.get("line"),
                                detail=exc.params.get("detail")) from None
        merged = merge_declarations([p.variables for p in prompts])
        # Order: part by part as each declares and uses them (the union), then any name only a
        # custom template introduced. Declared names the text no longer uses are left out.
        names = [n for p in prompts for n in [v["name"] for v in p.variables] + p.used_variables]
        ordered = [n for n in dict.fromkeys(names + used) if n in used]
        return templating.normalize_declarations([merged.get(n, {"name": n}) for n in ordered])

    def _count(self, ctx: TenantContext, text: str, model: str | None) -> tuple[int, bool, float | None]:
        if self.testing is not None:
            estimate = self.testing.estimate(ctx, text=text, model=model or None)
            return estimate.tokens, estimate.exact, estimate.cost
        from ..llm.tokens import count_text

        counted = count_text(text, model)
        return counted.tokens, counted.exact, None
