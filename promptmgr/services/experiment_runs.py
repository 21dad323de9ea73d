"""Running experiments: the cost preflight (estimate), run, resume and cancel.

The work itself is evaluation/runner.py; this service resolves what it needs (prompt versions,
model targets, checks, judge, budget), moves the experiment through its statuses
(draft -> running -> paused | cancelled | completed | failed) and says why in status_key."""
from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, field
from typing import Callable

from ..context import TenantContext
from ..db import Database
from ..errors import ConflictError, NotFoundError, PromptMgrError, ValidationError
from ..models import utcnow
from ..policy import Action, require
from ..repositories.cells import CellRepository
from .audit import record as audit

DEFAULT_OUTPUT_TOKENS = 256     # expected answer length when neither max_tokens nor past runs tell
JUDGE_INPUT_OVERHEAD = 300      # rubric and instructions around the answer a judge reads
JUDGE_OUTPUT_TOKENS = 100       # a JSON verdict
# Rendering and counting every row takes ~0.1 ms each: past this many pending cells a variant's
# input tokens and cache hits are measured on an even sample and scaled (the estimate says so).
ESTIMATE_SAMPLE = 5000
MODEL_GRADED = frozenset({"llm-rubric", "factuality"})
MAX_CONCURRENCY = 256
RUN_STATUSES = ("draft", "running")            # `run` starts a draft or joins a running experiment
RESUME_STATUSES = ("running", "paused", "cancelled", "failed", "completed")


@dataclass
class VariantEstimate:
    name: str
    model: str
    calls: int
    cached_calls: int
    input_tokens: int
    input_exact: bool
    output_tokens: int
    output_source: str           # max_tokens | history | default
    cost: float | None           # None: the model has no known price
    judge_calls: int
    sampled_rows: int | None = None  # input tokens and cache hits scaled from this many rows; None: all counted


@dataclass
class Estimate:
    experiment: str
    variants: list[VariantEstimate]
    calls: int
    cached_calls: int
    input_tokens: int
    output_tokens: int
    judge_calls: int
    judge_cost: float | None
    cost: float | None           # calls and judges; None when some price is unknown
    spent: float
    default_output_tokens: int = DEFAULT_OUTPUT_TOKENS
    unknown_prices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class ExperimentRunService:
    def __init__(self, db: Database, library, providers, gateway, testing,
                 judge_factory: Callable | None = None):
        self.db = db
        self.library = library
        self.providers = providers
        self.gateway = gateway
        self.testing = testing
        self.judge_factory = judge_factory  # (ctx, model) -> Judge; see evaluation/judges.py

    def _session(self, write: bool = False):
        return self.db.session(write=write)

    def _load(self, repo: CellRepository, name: str, lock: bool = False):
        experiment = repo.experiment(name, lock=lock)
        if experiment is None:
            raise NotFoundError("runner.not_found", name=name)
        return experiment

    # -- estimate --------------------------------------------------------------------------------
    def estimate(self, ctx: TenantContext, name: str) -> Estimate:
        """Calls, tokens and cost of the cells not yet done. Raises NotFoundError, ValidationError, PermissionDeniedError."""
        require(ctx, Action.READ_EXPERIMENTS)
        from ..llm import tokens
        from ..llm.cache import cache_key, wants_cache

        with self._session() as session:
            repo = CellRepository(session, ctx)
            experiment = self._load(repo, name)
            plans = self._plans(ctx, repo, experiment)
            graded = sum(1 for spec in experiment.checks or [] if spec.get("type") in MODEL_GRADED)
            counts = repo.variant_counts(experiment.id)
            spent = repo.spent(experiment.id)
            out, unknown = [], []
            for plan in plans:
                calls = sum(n for status, n in counts.get(plan.id, {}).items() if status not in ("done", "error"))
                use_cache = self.gateway.cache is not None and experiment.repeats <= 1 and \
                    wants_cache(plan.params, None, self.gateway.cache_enabled)
                input_tokens, exact, cached, cached_input, sampled = 0, True, 0, 0, 0
                stride = -(-calls // ESTIMATE_SAMPLE) if calls > ESTIMATE_SAMPLE else 1
                for row in repo.pending_rows(experiment.id, plan.id, stride=stride):
                    sampled += 1
                    try:
                        messages, _stored = plan.renderer.render(row.vars or {})
                    except PromptMgrError:
                        continue  # this cell will be an error without a call
                    count = tokens.count_messages(messages, plan.target.model)
                    input_tokens += count.tokens
                    exact = exact and count.exact
                    if use_cache and self.gateway.cache.get(cache_key(plan.target, messages, plan.params)):
                        cached += 1
                        cached_input += count.tokens
                if stride > 1 and sampled:  # scale the sample up to every pending cell
                    scale = calls / sampled
                    input_tokens, cached_input = round(input_tokens * scale), round(cached_input * scale)
                    cached, exact = min(calls, round(cached * scale)), False
                paid = calls - cached
                cost = self.gateway.estimate_cost(plan.target, input_tokens - cached_input,
                                                  paid * plan.expected_output_tokens)
                if cost is None:
                    unknown.append(plan.target.display_name)
                out.append(VariantEstimate(plan.name, plan.target.display_name, calls, cached, input_tokens, exact,
                                           calls * plan.expected_output_tokens, plan.output_source, cost,
                                           calls * graded, sampled if stride > 1 else None))
        judge_calls = sum(v.judge_calls for v in out)
        judge_cost = 0.0 if not judge_calls else self._judge_cost(ctx, experiment, out)
        if judge_calls and judge_cost is None:
            unknown.append("judge")
        costs = [v.cost for v in out] + [judge_cost]
        total = None if any(c is None for c in costs) else round(sum(costs), 6)
        return Estimate(experiment.name, out, sum(v.calls for v in out), sum(v.cached_calls for v in out),
                        sum(v.input_tokens for v in out), sum(v.output_tokens for v in out), judge_calls,
                        judge_cost, total, round(spent, 6), unknown_prices=sorted(set(unknown)))

    def _judge_cost(self, ctx, experiment, variants: list[VariantEstimate]) -> float | None:
        try:
            target = self.providers.resolve(ctx, (experiment.config or {}).get("judge_model"))
        except PromptMgrError:
            return None
        total = 0.0
        for v in variants:
            per_answer = v.output_tokens // max(v.calls, 1)
            cost = self.gateway.estimate_cost(target, v.judge_calls * (per_answer + JUDGE_INPUT_OVERHEAD),
                                              v.judge_calls * JUDGE_OUTPUT_TOKENS)
            if cost is None:
                return None
            total += cost
        return round(total, 6)

    def _plans(self, ctx, repo: CellRepository, experiment):
        from ..evaluation.render import VariantRenderer
        from ..evaluation.runner import VariantPlan
        from ..llm.schemas import ModelParams

        variants = repo.variants(experiment.id)
        if not variants:
            raise ValidationError("runner.no_variants", name=experiment.name)
        files = (lambda ref: self.testing.files.resolve(ctx, ref)) if getattr(self.testing, "files", None) else None
        ids = repo.prompt_ids(sorted({v.prompt_name for v in variants}))
        plans = []
        for index, variant in enumerate(variants):
            prompt = self.library.get(ctx, variant.prompt_name, version=variant.version_number)
            params = ModelParams.parse(variant.params).to_call()
            target = self.providers.resolve(ctx, variant.model)
            if params.get("max_tokens"):
                expected, source = int(params["max_tokens"]), "max_tokens"
            else:
                mean = repo.mean_completion_tokens(variant.prompt_name, target.display_name)
                expected, source = (max(1, round(mean)), "history") if mean is not None else \
                    (DEFAULT_OUTPUT_TOKENS, "default")
            renderer = VariantRenderer(None if prompt.messages is not None else prompt.content, prompt.messages,
                                       prompt.variables, files)
            plans.append(VariantPlan(variant.id, index, variant.name, variant.prompt_name, variant.version_number,
                                     ids.get(variant.prompt_name, variant.prompt_id), target, params, renderer,
                                     expected, source))
        return plans

    # -- progress ---------------------------------------------------------------------------------
    def progress(self, ctx: TenantContext, name: str) -> dict:
        """Where a run stands, from the database (any process may be running it): status and why,
        cells done/total and errors, cost so far, and per variant done, errors and passes.
        Raises NotFoundError, PermissionDeniedError."""
        require(ctx, Action.READ_EXPERIMENTS)
        with self._session() as session:
            repo = CellRepository(session, ctx)
            experiment = self._load(repo, name)
            counts, passes = repo.variant_counts(experiment.id), repo.variant_passes(experiment.id)
            variants = []
            for variant in repo.variants(experiment.id):
                by_status = counts.get(variant.id, {})
                variants.append({"name": variant.name, "total": sum(by_status.values()),
                                 "done": by_status.get("done", 0) + by_status.get("error", 0),
                                 "errors": by_status.get("error", 0), "passed": passes.get(variant.id, 0)})
            return {"name": experiment.name, "status": experiment.status, "status_key": experiment.status_key,
                    "status_params": dict(experiment.status_params or {}), "max_cost": experiment.max_cost,
                    "total": sum(v["total"] for v in variants), "done": sum(v["done"] for v in variants),
                    "errors": sum(v["errors"] for v in variants), "spent": round(repo.spent(experiment.id), 6),
                    "updated_at": experiment.updated_at, "variants": variants}

    # -- try the checks on one row ----------------------------------------------------------------
    def try_row(self, ctx: TenantContext, *, dataset: str, row: int = 1, version: int | None = None, prompt: str,
                model: str, checks: list, judge_model: str | None = None, params: dict | None = None,
                threshold: float | None = None) -> dict:
        """Render one dataset row with one prompt, call the model for real and judge the answer with
        `checks` (the judge model for model-graded ones): what a cell of the experiment would record,
        stored nowhere. Raises NotFoundError, ValidationError, PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        from ..evaluation.checks import CheckInput, evaluate
        from ..evaluation.render import VariantRenderer
        from ..llm import aio
        from ..llm.schemas import ModelParams
        from ..llm.types import flatten_content
        from ..repositories.datasets import DatasetRepository
        from ..secrets import scrub_secrets
        from .datasets import DatasetService
        from .experiments import ExperimentService, parse_prompt_ref

        specs = ExperimentService._checks(checks or [])
        threshold = ExperimentService._threshold(threshold)
        if type(row) is not int or not 1 <= row <= 10**9:
            raise ValidationError("limits.at_most", field="row", limit=10**9)
        with self._session() as session:
            repo = DatasetRepository(session, ctx)
            shown = DatasetService._require_version(repo, DatasetService._require(repo, dataset), version)
            found = repo.rows_page(shown.id, row - 1, 1)
            if not found or found[0].position != row:
                raise ValidationError("ui_experiments.no_such_row", row=row, rows=shown.row_count)
            values, expected = found[0].vars or {}, found[0].expected
        name, number, label, _asked = parse_prompt_ref(prompt)
        chosen = self.library.get(ctx, name, version=number, label=label)
        files = (lambda ref: self.testing.files.resolve(ctx, ref)) if getattr(self.testing, "files", None) else None
        renderer = VariantRenderer(None if chosen.messages is not None else chosen.content, chosen.messages,
                                   chosen.variables, files)
        messages, _stored = renderer.render(values)
        target = self.providers.resolve(ctx, model)
        call_params = ModelParams.parse(params).to_call()
        graded = any(spec.type in MODEL_GRADED for spec in specs)
        judge = self.judge_factory(ctx, judge_model) if graded and self.judge_factory else None
        secrets = self.providers.run_secrets(ctx, [target])
        shown_input = "\n\n".join(flatten_content(m.get("content")) for m in messages if m.get("role") != "system")

        async def attempt():
            result = await self.gateway.acomplete(target, messages, call_params, use_cache=False)
            if not result.ok or not specs:
                return result, None
            data = CheckInput(output=result.text, expected=expected, vars=values, cost=result.cost,
                              latency_ms=result.latency_ms, input=shown_input)
            return result, await evaluate(specs, data, threshold=threshold, judge=judge)

        result, verdict = aio.run(attempt())
        error = None if result.ok else PromptMgrError(result.error_key or "llm.error", **(result.error_params or {}))
        return {
            "row": row, "vars": values, "expected": expected, "model": target.display_name,
            "prompt": f"{chosen.name}@{chosen.version}", "output": scrub_secrets(result.text or "", secrets),
            "error": error.translate(ctx.locale) if error else None, "cost": result.cost,
            "latency_ms": result.latency_ms, "passed": verdict.passed if verdict else result.ok,
            "score": verdict.score if verdict else None,
            "checks": [{"name": r.name, "passed": r.passed, "score": r.score, "reason": r.explain(ctx.locale)}
                       for r in (verdict.results if verdict else [])],
        }

    # -- run / resume / cancel -------------------------------------------------------------------
    def run(self, ctx: TenantContext, name: str, *, concurrency: int | None = None, max_cost: float | None = None,
            stop_early: bool = False, progress=None, pause: threading.Event | None = None,
            cancel: threading.Event | None = None):
        """Run a draft experiment (or join one running elsewhere). Returns a RunSummary.

        Raises NotFoundError, ConflictError (already run: resume it), ValidationError, PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        return self._execute(ctx, name, RUN_STATUSES, concurrency, max_cost, stop_early, progress, pause, cancel)

    def resume(self, ctx: TenantContext, name: str, *, concurrency: int | None = None,
               max_cost: float | None = None, stop_early: bool | None = None, progress=None,
               pause: threading.Event | None = None, cancel: threading.Event | None = None):
        """Run the cells that are not done (after a pause, a budget stop, a crash). Returns a RunSummary.

        Raises NotFoundError, ConflictError (never started), ValidationError, PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        return self._execute(ctx, name, RESUME_STATUSES, concurrency, max_cost, stop_early, progress, pause, cancel)

    def cancel(self, ctx: TenantContext, name: str) -> str:
        """Mark the experiment cancelled; runners working on it stop within about a second and give
        back their unfinished cells. Returns the status. Raises NotFoundError, PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        with self._session(write=True) as session:
            repo = CellRepository(session, ctx)
            experiment = self._load(repo, name, lock=True)
            before = experiment.status
            if experiment.status in ("running", "paused", "draft"):
                repo.set_status(experiment, "cancelled", "runner.cancelled", None, finished_at=utcnow())
            audit(session, ctx, "experiment.cancel", ("experiment", name), {"status": before},
                  {"status": experiment.status})
            return experiment.status

    def join(self, ctx: TenantContext, name: str, *, concurrency: int | None = None,
             leave: threading.Event | None = None):
        """Run cells of an experiment already marked running (a queued shard, promptmgr/worker.py);
        several may share one experiment. `leave` set: stop taking cells and give back the unstarted
        ones, leaving the experiment running for the others. Returns a RunSummary.

        Raises NotFoundError, ConflictError (no longer running: paused, cancelled, completed),
        ValidationError, PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        return self._execute(ctx, name, ("running",), concurrency, None, None, None, leave, None, audited=False)

    def mark_running(self, ctx: TenantContext, name: str, *, resume: bool = False, concurrency: int | None = None,
                     max_cost: float | None = None, stop_early: bool | None = None) -> None:
        """Check that the experiment can run (or resume) and mark it running without running a cell:
        the worker processes' shards do the work (hosted mode). Raises NotFoundError, ConflictError,
        ValidationError, PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        self._prepare(ctx, name, RESUME_STATUSES if resume else RUN_STATUSES, _bounded_concurrency(concurrency),
                      _budget(max_cost), stop_early, audited=True)

    def pause(self, ctx: TenantContext, name: str) -> str:
        """Mark a running experiment paused; runners working on it (in any process) stop within about a
        second and give back their unfinished cells. Returns the status. Raises NotFoundError,
        PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        with self._session(write=True) as session:
            repo = CellRepository(session, ctx)
            experiment = self._load(repo, name, lock=True)
            if experiment.status == "running":
                repo.set_status(experiment, "paused", "runner.paused", None)
            return experiment.status

    def _prepare(self, ctx, name, allowed, concurrency, max_cost, stop_early, *, audited: bool):
        """Validate and mark running: (snapshot, plans, sequential, judge, budget)."""
        from ..evaluation.spec import CheckSpec

        with self._session() as session:
            repo = CellRepository(session, ctx)
            experiment = self._load(repo, name)
            _check_status(experiment, allowed)
            plans = self._plans(ctx, repo, experiment)  # other services' reads: outside the write lock
            if stop_early is None:
                stop_early = experiment.stop_early
            sequential = _sequential(plans) if stop_early else None
            judge = self._judge(ctx, experiment)  # no judge model: an error now, before any cell runs
        with self._session(write=True) as session:
            repo = CellRepository(session, ctx)
            experiment = self._load(repo, name, lock=True)
            _check_status(experiment, allowed)
            budget = max_cost if max_cost is not None else experiment.max_cost
            if audited:  # a shard joining a run is not a new decision of its caller
                audit(session, ctx, "experiment.run" if allowed is RUN_STATUSES else "experiment.resume",
                      ("experiment", name), {"status": experiment.status},
                      {"status": "running", "max_cost": budget, "concurrency": concurrency})
            repo.set_status(experiment, "running", None, None, max_cost=budget, stop_early=bool(stop_early),
                            started_at=experiment.started_at or utcnow(), finished_at=None)
            snapshot = dict(id=experiment.id, checks=[CheckSpec.from_dict(c) for c in experiment.checks or []],
                            threshold=experiment.threshold, repeats=experiment.repeats,
                            concurrency=concurrency or experiment.concurrency or 8,
                            baseline=experiment.baseline, config=dict(experiment.config or {}))
        return snapshot, plans, sequential, judge, budget

    def _execute(self, ctx, name, allowed, concurrency, max_cost, stop_early, progress, pause, cancel, *,
                 audited: bool = True):
        from ..evaluation.store import CellStore
        from ..llm import aio

        snapshot, plans, sequential, judge, budget = self._prepare(
            ctx, name, allowed, _bounded_concurrency(concurrency), _budget(max_cost), stop_early, audited=audited)
        store = CellStore(self.db, ctx, snapshot["id"])
        store.recover()
        with self._session() as session:
            repo = CellRepository(session, ctx)
            counts = repo.counts(snapshot["id"])
            store.spent_before = repo.spent(snapshot["id"])
        runner = self._runner(ctx, snapshot, plans, store, counts, budget, sequential, judge, progress, pause,
                              cancel)
        for plan in plans:  # a price map to load (litellm's, seconds) is not the run's time nor its ETA
            runner.gateway.estimate_cost(plan.target, 1, 1)
        try:
            summary = aio.run(runner.run())
        except BaseException as exc:
            failed = isinstance(exc, Exception)
            self._finish(ctx, snapshot["id"], "failed" if failed else "paused",
                         "runner.failed" if failed else "runner.paused",
                         {"detail": type(exc).__name__} if failed else None)
            raise
        return self._conclude(ctx, snapshot["id"], runner, summary, leaving=not audited)

    def _judge(self, ctx, experiment):
        if self.judge_factory is None or not any((c or {}).get("type") in MODEL_GRADED for c in experiment.checks or []):
            return None
        return self.judge_factory(ctx, (experiment.config or {}).get("judge_model"))

    def _runner(self, ctx, snapshot, plans, store, counts, budget, sequential, judge, progress, pause, cancel):
        from ..evaluation.runner import ExperimentRunner

        baseline = next((p.id for p in plans if p.name == snapshot["baseline"]), plans[0].id)
        return ExperimentRunner(
            store=store, experiment_id=snapshot["id"], variants=plans, gateway=self.gateway,
            checks=snapshot["checks"], threshold=snapshot["threshold"], judge=judge,
            use_cache=False if snapshot["repeats"] > 1 else None, concurrency=snapshot["concurrency"],
            max_cost=budget, spent=store.spent_before, total=sum(counts.values()),
            done_before=counts.get("done", 0) + counts.get("error", 0), errors_before=counts.get("error", 0),
            sequential=sequential, baseline_id=baseline,
            secrets=self.providers.run_secrets(ctx, [p.target for p in plans]), user_id=ctx.user_id,
            progress=progress, pause=pause, cancel=cancel)

    def _conclude(self, ctx, experiment_id: int, runner, summary, leaving: bool = False):
        stop, params = runner.state.stop, runner.state.stop_params
        if stop == "pause" and leaving:
            status, key = None, None  # a shard's worker is stopping: the others go on
        elif stop == "budget":
            status, key = "paused", "runner.budget_reached"
        elif stop == "pause":
            status, key, params = "paused", "runner.paused", None
        elif stop == "cancel":
            status, key, params = "cancelled", "runner.cancelled", None
        elif stop == "early":
            status, key = "completed", "runner.stopped_early"
        elif stop == "external":
            status, key = None, None  # someone else decided (experiments cancel): keep their status
        else:
            status, key, params = "completed", None, None
        with self._session(write=True) as session:
            repo = CellRepository(session, ctx)
            experiment = repo.experiment_by_id(experiment_id)
            counts = repo.counts(experiment_id)
            if status == "completed" and stop != "early" and counts.get("pending", 0) + counts.get("running", 0):
                status = None  # another runner still holds cells: the last one to finish completes it
            if status is not None and experiment.status == "running":
                repo.set_status(experiment, status, key, params,
                                finished_at=utcnow() if status in ("completed", "cancelled") else None)
            summary.status, summary.status_key, summary.status_params = (experiment.status, experiment.status_key,
                                                                         experiment.status_params)
        return summary

    def _finish(self, ctx, experiment_id: int, status: str, key: str | None, params: dict | None) -> None:
        with self._session(write=True) as session:
            repo = CellRepository(session, ctx)
            experiment = repo.experiment_by_id(experiment_id)
            if experiment is not None and experiment.status == "running":
                repo.set_status(experiment, status, key, params)


def _check_status(experiment, allowed) -> None:
    if experiment.status not in allowed:
        key = "runner.use_resume" if experiment.status not in RUN_STATUSES else "runner.not_started"
        raise ConflictError(key, name=experiment.name, status=experiment.status)


def _bounded_concurrency(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ValidationError("runner.bad_concurrency", value=str(value), max=MAX_CONCURRENCY)
    return value


def _budget(value) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError("runner.bad_budget", value=str(value)) from None
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise ValidationError("runner.bad_budget", value=str(value))
    return number


def _sequential(plans):
    if len(plans) != 2:
        raise ValidationError("runner.stop_early_two_variants", count=len(plans))
    try:
        from ..evaluation.sequential import SequentialTest
    except ImportError:
        raise ValidationError("runner.stop_early_unavailable") from None
    return SequentialTest()
