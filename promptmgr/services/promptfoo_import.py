"""Writing a validated promptfoo import: library prompts (reused when their content already exists),
a dataset of the tests, and the experiment.

The plan is complete and valid before the first write (evaluation/promptfoo.plan); the writes go
through three services (library, datasets, experiments), each in its own transaction, so a write
that still fails (a name taken meanwhile) removes what this import wrote before re-raising."""
from __future__ import annotations

import hashlib
import json
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ..context import TenantContext
from ..errors import DuplicateError, PromptMgrError, ValidationError
from ..evaluation import promptfoo
from ..repositories.experiment_results import ExperimentResultRepository
from ..schemas import NAME_RE
from .base import unit_of_work

_SLUG = re.compile(r"[^a-z0-9._-]+")


def slug(text: str | None, limit: int = 80) -> str:
    """A name from free text (a label, a description): lower case, a-z 0-9 . _ -, or "" when nothing is left."""
    name = _SLUG.sub("-", (text or "").lower()).strip("-._")[:limit].strip("-._")
    return name if name and NAME_RE.match(name) else ""


def _message_key(messages) -> str:
    """Chat messages compared by role and text only (what promptfoo can express)."""
    flat = []
    for message in messages or []:
        parts = message.get("content") if isinstance(message, dict) else None
        parts = parts if isinstance(parts, list) else [parts]
        text = "".join(p.get("text", "") if isinstance(p, dict) else str(p or "") for p in parts)
        flat.append((message.get("role") if isinstance(message, dict) else None, text))
    return json.dumps(flat, ensure_ascii=False)


class PromptfooImporter:
    def __init__(self, db, services):
        self.db = db
        self.services = services  # the composition root: library, providers, datasets, experiments

    def _repo(self, ctx: TenantContext):
        return unit_of_work(self.db, ctx, ExperimentResultRepository)

    def run(self, ctx: TenantContext, path: Path, name: str | None = None) -> dict:
        config, folder = promptfoo.load_config(path)
        configured = {p.base_url: p.name for p in self.services.providers.list(ctx)}
        plan = promptfoo.plan(config, folder, configured)
        name = self._experiment_name(ctx, name, plan, path)
        prompts = self._prompt_refs(ctx, plan)
        return self._write(ctx, name, plan, prompts, path)

    # --- naming ----------------------------------------------------------------------------
    def _experiment_name(self, ctx: TenantContext, name: str | None, plan: promptfoo.Plan, path: Path) -> str:
        with self._repo(ctx) as repo:
            if name is not None:
                if not isinstance(name, str) or not NAME_RE.match(name):
                    raise ValidationError("results.bad_name", name=str(name)[:100])
                if repo.experiment(name) is not None:
                    raise DuplicateError("results.experiment_exists", name=name)
                if repo.dataset_exists(name):
                    raise DuplicateError("results.dataset_exists", name=name)
                return name
            base = slug(plan.description, 60) or slug(path.resolve().parent.name, 60) or "promptfoo"
            candidate, n = base, 2
            while repo.experiment(candidate) is not None or repo.dataset_exists(candidate):
                candidate, n = f"{base}-{n}", n + 1
            return candidate

    def _prompt_refs(self, ctx: TenantContext, plan: promptfoo.Plan) -> list[dict]:
        """For each planned prompt: an existing prompt version with the same content ("reused"), or the
        name and fields of a new prompt, validated now so that writing it cannot fail on its input."""
        from .. import templating
        from ..schemas import PromptCreate, parse

        refs, taken = [], set()
        with self._repo(ctx) as repo:
            chat_index = None
            for planned in plan.prompts:
                found = None
                if planned.content is not None:
                    found = next(((n, v) for n, v, messages in repo.versions_with_text(planned.content)
                                  if messages is None), None)
                else:
                    if chat_index is None:
                        chat_index = {}
                        for n, v, messages in repo.chat_versions():
                            chat_index.setdefault(_message_key(messages), (n, v))
                    found = chat_index.get(_message_key(planned.messages))
                if found is not None:
                    refs.append({"ref": f"{found[0]}@{found[1]}", "name": found[0], "version": found[1], "new": False})
                    continue
                text = planned.content if planned.content is not None else _message_key(planned.messages)
                digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
                candidates = [slug(planned.label)] if slug(planned.label) else []
                candidates.append(f"pf-{digest[:10]}")
                prompt_name = next((c for c in candidates if c not in taken and not repo.prompt_exists(c)), None)
                n = 2
                while prompt_name is None:
                    candidate = f"pf-{digest[:10]}-{n}"
                    prompt_name = candidate if candidate not in taken and not repo.prompt_exists(candidate) else None
                    n += 1
                taken.add(prompt_name)
                try:
                    # Compiled, not only parsed: a Nunjucks-only filter (`dump`) is refused here, not per cell.
                    for text in templating.texts_of(planned.content, planned.messages):
                        templating.compile_template(text)
                    data = parse(PromptCreate, {
                        "name": prompt_name, "kind": "text" if planned.content is not None else "chat",
                        "content": planned.content, "messages": planned.messages,
                        "title": (planned.label or "")[:200], "message": "Imported from a promptfoo config",
                        "description": f"promptfoo: {planned.origin}"[:1000]})
                except PromptMgrError as exc:
                    raise ValidationError("results.pf_at", where=planned.origin, detail=exc) from None
                refs.append({"ref": f"{prompt_name}@1", "name": prompt_name, "version": 1, "new": True, "data": data})
        return refs

    # --- writing ---------------------------------------------------------------------------
    def _write(self, ctx: TenantContext, name: str, plan: promptfoo.Plan, prompts: list[dict], path: Path) -> dict:
        created_prompts: list[str] = []
        dataset_written = False
        try:
            for ref in prompts:
                if ref["new"] and ref["name"] not in created_prompts:
                    self.services.library.create(ctx, ref["data"])
                    created_prompts.append(ref["name"])
            with tempfile.TemporaryDirectory(prefix="promptmgr-pf-") as folder:
                rows_file = Path(folder) / f"{name}.jsonl"
                write_rows(rows_file, plan.rows)
                self.services.datasets.add(ctx, name, rows_file, description=f"promptfoo: {path.name}"[:300],
                                           format="jsonl")
                dataset_written = True
            refs = list(dict.fromkeys(ref["ref"] for ref in prompts))
            experiment = self.services.experiments.create(
                ctx, name, dataset=name, dataset_version=None, prompts=refs, models=plan.models,
                checks=plan.checks, params=plan.params or None, repeats=plan.repeats,
                concurrency=plan.concurrency or 8, description=plan.description, threshold=plan.threshold,
                config={"source": "promptfoo", "promptfoo_providers": plan.provider_ids,
                        "imported_at": datetime.now(timezone.utc).isoformat()})
        except BaseException:
            self._undo(ctx, name if dataset_written else None, created_prompts)
            raise
        return {"experiment": name, "dataset": name, "rows": len(plan.rows),
                "prompts": [{"ref": ref["ref"], "created": ref["new"]} for ref in prompts],
                "models": plan.models, "checks": [check.name for check in plan.checks],
                "variants": [variant.name for variant in getattr(experiment, "variants", []) or []]}

    def _undo(self, ctx: TenantContext, dataset: str | None, prompts: list[str]) -> None:
        if dataset is not None:
            try:
                self.services.datasets.remove(ctx, dataset)
            except PromptMgrError:
                pass  # nothing else to do: the original error is the one to report
        for prompt in prompts:
            try:
                self.services.library.delete(ctx, prompt)
            except PromptMgrError:
                pass


def write_rows(path: Path, rows: list[dict]) -> None:
    """The tests as a JSONL dataset file: one promptfoo-shaped test a line (vars, expected, description)."""
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            line = {"vars": row["vars"]}
            if row.get("expected") is not None:
                line["expected"] = row["expected"]
            if (row.get("metadata") or {}).get("description"):
                line["description"] = row["metadata"]["description"]
            out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
