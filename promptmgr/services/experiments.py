"""Experiment definitions: a dataset version, variants (prompt versions x models), checks and the
cells the runner will work through. Running is services/experiment_runs.py; results
services/experiment_results.py.

create() resolves everything up front (prompt labels and "latest" to version numbers, models to
providers) and writes the experiment, its variants and every cell in one transaction, inserting
cells in chunks so 100,000 rows x several variants stay in bounded memory."""
from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError

from ..context import TenantContext
from ..db import Database
from ..errors import ConflictError, DuplicateError, NotFoundError, ValidationError
from ..evaluation.spec import MAX_CHECKS, CheckSpec
from ..models import utcnow
from ..models_experiments import Experiment, Variant
from ..policy import Action, require
from ..repositories import PromptRepository
from ..repositories.datasets import DatasetRepository
from ..repositories.experiments import ExperimentRepository
from ..schemas import NAME_RE, check_data
from ..schemas_experiments import CellCounts, ExperimentPublic, VariantPublic
from .audit import record as audit
from .base import unit_of_work
from .datasets import DatasetService, check_description, check_name

MAX_PROMPTS = 20
MAX_MODELS = 20
MAX_VARIANTS = 100
MAX_REPEATS = 100
MAX_CONCURRENCY = 256
MAX_CELLS = 5_000_000
MAX_SEED = 2**31 - 1
# Cells per INSERT ... SELECT statement (made by the database: bounded by its own memory, not ours).
CELL_CHUNK = 50_000
_REF_RE = re.compile(r"^(?P<name>[^@:]+)(?:@(?P<version>[^@:]*)|:(?P<label>[^@:]*))?$")


def parse_prompt_ref(text: str) -> tuple[str, int | None, str | None, str]:
    """"P", "P@3", "P:production" -> (name, version, label, prompt_ref). Raises ValidationError."""
    match = _REF_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None or not NAME_RE.match(match["name"]):
        raise ValidationError("experiments.bad_prompt_ref", ref=str(text)[:120])
    if match["version"] is not None:
        if not match["version"].isdigit() or not 1 <= int(match["version"]) <= 10**9:
            raise ValidationError("experiments.bad_prompt_ref", ref=text[:120])
        return match["name"], int(match["version"]), None, f"@{int(match['version'])}"
    if match["label"] is not None:
        if not match["label"]:
            raise ValidationError("experiments.bad_prompt_ref", ref=text[:120])
        return match["name"], None, match["label"], f":{match['label']}"
    return match["name"], None, None, "latest"


def _bounded(value, name: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValidationError("experiments.out_of_range", field=name, low=low, high=high, value=str(value)[:40])
    return value


class ExperimentService:
    def __init__(self, db: Database, library, datasets: DatasetService, providers):
        self.db = db
        self.library = library
        self.datasets = datasets
        self.providers = providers

    def _repo(self, ctx: TenantContext, write: bool = False):
        return unit_of_work(self.db, ctx, ExperimentRepository, write=write)

    @staticmethod
    def _require(repo: ExperimentRepository, name: str) -> Experiment:
        experiment = repo.by_name(name) if isinstance(name, str) and NAME_RE.match(name) else None
        if experiment is None:
            raise NotFoundError("experiments.not_found", name=str(name)[:100])
        return experiment

    # --- writing -------------------------------------------------------------------------
    def create(self, ctx: TenantContext, name: str, *, dataset: str, dataset_version: int | None = None,
               prompts: list[str], models: list[str], checks: list[str | CheckSpec] | None = None,
               params: dict | None = None, repeats: int = 1, seed: int = 0, concurrency: int = 8,
               baseline: str | None = None, description: str = "", threshold: float | None = None,
               config: dict | None = None, max_cost: float | None = None) -> ExperimentPublic:
        """A draft experiment with its variants (prompts x models) and every cell pending.
        Raises ValidationError, NotFoundError (dataset, prompt, version, label), DuplicateError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        check_name(name)
        description = check_description(description)
        repeats = _bounded(repeats, "repeats", 1, MAX_REPEATS)
        concurrency = _bounded(concurrency, "concurrency", 1, MAX_CONCURRENCY)
        seed = _bounded(seed, "seed", 0, MAX_SEED)
        threshold = self._threshold(threshold)
        max_cost = self._max_cost(max_cost)
        specs = self._checks(checks or [])
        params = self._params(params)
        config = check_data(dict(config or {}), "metadata")
        prompts, models = self._list(prompts, "prompts", MAX_PROMPTS), self._list(models, "models", MAX_MODELS)
        if len(prompts) * len(models) > MAX_VARIANTS:
            raise ValidationError("experiments.too_many_variants", limit=MAX_VARIANTS)
        resolved = [self._resolve_prompt(ctx, ref) for ref in prompts]
        for model in models:
            self._check_model(ctx, model)
        if config.get("judge_model"):  # the model-graded checks' judge: routable like any variant's model
            self._check_model(ctx, str(config["judge_model"]))
        variants = [(prompt, version, ref, model) for prompt, version, ref in resolved for model in models]
        names = [variant_name(prompt, version, model) for prompt, version, _ref, model in variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValidationError("experiments.duplicate_variant", name=duplicates[0])
        if baseline is not None and baseline not in names:
            raise ValidationError("experiments.bad_baseline", baseline=str(baseline)[:400],
                                  variants=", ".join(names[:10]))
        try:
            with self._repo(ctx, write=True) as repo:
                if repo.by_name(name) is not None:
                    raise DuplicateError("experiments.exists", name=name)
                datasets = DatasetRepository(repo.session, ctx)
                found = DatasetService._require(datasets, dataset)
                version = DatasetService._require_version(datasets, found, dataset_version)
                total = version.row_count * len(variants) * repeats
                if total > MAX_CELLS:
                    raise ValidationError("experiments.too_many_cells", cells=total, limit=MAX_CELLS)
                now = utcnow()
                experiment = repo.add(Experiment(
                    name=name, description=description, dataset_id=found.id, dataset_name=found.name,
                    dataset_version=version.number, checks=[s.to_dict() for s in specs], threshold=threshold,
                    repeats=repeats, seed=seed, concurrency=concurrency, max_cost=max_cost,
                    baseline=baseline or names[0], status="draft", config=config, author_id=ctx.user_id,
                    author=repo.username(ctx.user_id), created_at=now, updated_at=now))
                prompt_ids = PromptRepository(repo.session, ctx)
                variant_ids = []
                for position, ((prompt, number, ref, model), shown_name) in enumerate(zip(variants, names)):
                    row = repo.add_variant(Variant(
                        experiment_id=experiment.id, position=position, name=shown_name,
                        prompt_id=getattr(prompt_ids.get(prompt), "id", None), prompt_name=prompt, prompt_ref=ref,
                        version_number=number, model=model, params=params))
                    variant_ids.append(row.id)
                self._insert_cells(repo, experiment.id, version.id, version.row_count, len(variant_ids), repeats)
                audit(repo.session, ctx, "experiment.create", ("experiment", name),
                      after={"dataset": f"{found.name}@{version.number}", "variants": names, "repeats": repeats,
                             "checks": [s.to_dict().get("type") for s in specs]})
        except IntegrityError:  # a concurrent create of the same name won the race
            raise DuplicateError("experiments.exists", name=name) from None
        return self.get(ctx, name)

    @staticmethod
    def _insert_cells(repo: ExperimentRepository, experiment_id: int, version_id: int, row_count: int,
                      variants: int, repeats: int) -> None:
        """Every (row, repeat, variant) cell, in statements of about CELL_CHUNK cells."""
        rows_per_statement = max(1, CELL_CHUNK // (variants * repeats))
        made = 0
        for first in range(1, row_count + 1, rows_per_statement):
            made += repo.create_cells(experiment_id, version_id, repeats, first, first + rows_per_statement - 1)
        if made != row_count * variants * repeats:  # the version's rows are immutable: this cannot drift
            raise ConflictError("experiments.cells_mismatch", expected=row_count * variants * repeats, made=made)

    def remove(self, ctx: TenantContext, name: str) -> None:
        """Delete an experiment with its variants and cells (its runs stay in the run history).
        Raises NotFoundError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        with self._repo(ctx, write=True) as repo:
            experiment = self._require(repo, name)
            before = {"status": experiment.status,
                      "dataset": f"{experiment.dataset_name}@{experiment.dataset_version}"}
            repo.delete(experiment)
            audit(repo.session, ctx, "experiment.remove", ("experiment", name), before=before)

    # --- reading -------------------------------------------------------------------------
    def list(self, ctx: TenantContext) -> list[ExperimentPublic]:
        """Every experiment, newest first, with variants and cell counts. Raises PermissionDeniedError."""
        require(ctx, Action.READ_EXPERIMENTS)
        with self._repo(ctx) as repo:
            experiments = repo.all()
            ids = [e.id for e in experiments]
            variants, counts = repo.variants_of(ids), repo.cell_counts(ids)
            return [self._public(e, variants.get(e.id, []), counts.get(e.id, {})) for e in experiments]

    def get(self, ctx: TenantContext, name: str) -> ExperimentPublic:
        """One experiment with its variants and cell counts. Raises NotFoundError."""
        require(ctx, Action.READ_EXPERIMENTS)
        with self._repo(ctx) as repo:
            experiment = self._require(repo, name)
            return self._public(experiment, repo.variants(experiment.id),
                                repo.cell_counts([experiment.id]).get(experiment.id, {}))

    # --- helpers -------------------------------------------------------------------------
    @staticmethod
    def _public(experiment: Experiment, variants: list[Variant], counts: dict[str, int]) -> ExperimentPublic:
        return ExperimentPublic(
            name=experiment.name, description=experiment.description, status=experiment.status,
            status_key=experiment.status_key, dataset=experiment.dataset_name,
            dataset_version=experiment.dataset_version,
            variants=[VariantPublic(name=v.name, prompt=v.prompt_name, version=v.version_number,
                                    prompt_ref=v.prompt_ref, model=v.model, params=v.params) for v in variants],
            checks=experiment.checks, threshold=experiment.threshold, repeats=experiment.repeats,
            seed=experiment.seed, concurrency=experiment.concurrency, max_cost=experiment.max_cost,
            baseline=experiment.baseline, judge_model=(experiment.config or {}).get("judge_model"),
            author=experiment.author, created_at=experiment.created_at,
            updated_at=experiment.updated_at, started_at=experiment.started_at, finished_at=experiment.finished_at,
            cells=CellCounts(total=sum(counts.values()), **{k: v for k, v in counts.items()
                                                            if k in CellCounts.model_fields}))

    @staticmethod
    def _list(values, what: str, limit: int) -> list[str]:
        values = [v.strip() for v in values or [] if isinstance(v, str) and v.strip()] \
            if isinstance(values, (list, tuple)) else []
        if not values:
            raise ValidationError(f"experiments.no_{what}")
        if len(values) > limit:
            raise ValidationError("experiments.too_many", field=what, limit=limit)
        return values

    @staticmethod
    def _checks(checks) -> list[CheckSpec]:
        """Texts, CheckSpecs or stored dicts, validated by the checks registry (unknown types, bad
        regexes, numbers, schemas and expressions are errors now, not when the experiment runs)."""
        from ..evaluation.checks import parse_checks

        if not isinstance(checks, (list, tuple)):
            raise ValidationError("experiments.bad_checks")
        if len(checks) > MAX_CHECKS:
            raise ValidationError("experiments.too_many", field="checks", limit=MAX_CHECKS)
        return parse_checks(list(checks))

    @staticmethod
    def _params(params: dict | None) -> dict:
        from ..llm.schemas import ModelParams

        if params is not None and not isinstance(params, dict):
            raise ValidationError("experiments.bad_params")
        return ModelParams.parse(params).to_call()

    @staticmethod
    def _threshold(value) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise ValidationError("experiments.bad_threshold", value=str(value)[:40])
        return float(value)

    @staticmethod
    def _max_cost(value) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1e9:
            raise ValidationError("experiments.bad_max_cost", value=str(value)[:40])
        return float(value)

    def _resolve_prompt(self, ctx: TenantContext, ref: str) -> tuple[str, int, str]:
        """(name, pinned version number, what was asked for). Raises ValidationError, NotFoundError."""
        name, version, label, asked = parse_prompt_ref(ref)
        prompt = self.library.get(ctx, name, version=version, label=label)
        return prompt.name, prompt.version, asked

    def _check_model(self, ctx: TenantContext, model: str) -> None:
        """A model the runner can route: a configured provider's, a registered backend's (the
        embedded model), or one litellm knows by its provider prefix or its name. Raises ValidationError."""
        target = self.providers.resolve(ctx, model)
        if target.api_base:
            return
        from ..llm.registry import backend_for

        if backend_for(target.model).name != "litellm":
            return
        from ..llm.remote import litellm_module, lookup_price_entry

        prefix, sep, rest = model.partition("/")
        if sep and rest:
            known = {getattr(p, "value", p) for p in litellm_module().provider_list}
            if prefix not in known:
                raise ValidationError("experiments.unknown_provider", provider=prefix, model=model)
        elif lookup_price_entry(model) is None:
            raise ValidationError("experiments.unknown_model", model=model)


def variant_name(prompt: str, version: int, model: str) -> str:
    """How a variant is named everywhere (run history's `variant` column too)."""
    return f"{prompt}@{version}/{model}"

