"""The experiment runner: claims cells, calls the models concurrently, checks the answers and
commits finished cells in batches (evaluation/store.py), so a crash loses at most the calls in flight.

Calls go through Gateway.acomplete with the gateway's own retries off: the runner retries itself
(backoff for timeouts and 5xx, Retry-After for 429) so that every 429 reaches the provider's AIMD
limiter (evaluation/limiter.py). A provider failure ends as a cell error, never as an exception.
Memory stays bounded: cells are claimed in small batches and results leave through the writer."""
from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from ..errors import PromptMgrError
from ..llm.errors import MAX_UNREACHABLE_RETRIES, retry_delay
from ..llm.types import LLMResult, ModelTarget
from ..models import utcnow
from ..repositories.cells import CellOutcome, ClaimedCell
from .limiter import Limits
from .store import CellStore

log = logging.getLogger(__name__)
MAX_RATE_LIMIT_RETRIES = 8   # the limiter slows down meanwhile; a provider that never recovers ends as errors
_GRACE = 30.0                # seconds in-flight calls may finish after a pause or cancel before they are cut


@dataclass
class VariantPlan:
    id: int
    index: int
    name: str
    prompt_name: str
    version: int
    prompt_id: int | None
    target: ModelTarget
    params: dict
    renderer: Any                    # evaluation.render.VariantRenderer
    expected_output_tokens: int = 256
    output_source: str = "default"   # where expected_output_tokens came from: max_tokens | history | default

    @property
    def provider(self) -> str:
        return provider_key(self.target)


def provider_key(target) -> str:
    # One AIMD limiter per endpoint and credential: that is what a provider rate-limits.
    return f"{target.api_base or target.model.split('/', 1)[0]}|{target.credential_id}"


@dataclass
class Progress:
    done: int            # final cells (done + error), this run and before
    total: int
    errors: int
    cost: float          # spent on the experiment so far (USD)
    calls: int           # requests this run sent (cache hits not counted)
    cached: int
    elapsed_s: float
    eta_s: float | None


@dataclass
class RunSummary:
    status: str
    status_key: str | None
    status_params: dict | None
    total: int
    done: int
    errors: int
    cost: float
    calls: int
    cached: int
    retries: int
    rate_limited: int
    elapsed_s: float
    finished_this_run: int
    winner: str | None = None


@dataclass
class _State:
    stop: str | None = None          # why no new call is issued: budget, pause, cancel, early, external, failed
    stop_params: dict = field(default_factory=dict)
    in_flight_estimate: float = 0.0
    calls: int = 0
    cached: int = 0
    retries: int = 0
    rate_limited: int = 0
    winner: str | None = None


class ExperimentRunner:
    def __init__(self, *, store: CellStore, experiment_id: int, variants: list[VariantPlan], gateway,
                 checks: list, threshold: float | None, judge, use_cache: bool | None, concurrency: int,
                 max_cost: float | None, spent: float, total: int, done_before: int, errors_before: int,
                 sequential=None, baseline_id: int | None = None, secrets: list[str] | None = None,
                 user_id: int | None = None, progress: Callable[[Progress], None] | None = None,
                 pause: threading.Event | None = None, cancel: threading.Event | None = None):
        self.store = store
        self.experiment_id = experiment_id
        self.variants = {v.id: v for v in variants}
        # Our own retries, so the gateway must not retry (or a 429 would never reach the limiter);
        # OpenAI-compatible endpoints without litellm's per-call CPU (llm/openai_compat.py).
        from ..llm.openai_compat import lean

        self.gateway = lean(gateway, max_retries=0)
        self.max_retries = getattr(gateway, "max_retries", 2)
        self.backoff = getattr(gateway, "backoff_base", 0.5)
        self.checks, self.threshold, self.judge = checks, threshold, self._through_limits(judge)
        self.use_cache = use_cache
        self.concurrency = max(1, int(concurrency))
        self.limits = Limits(self.concurrency)
        self.max_cost = max_cost
        self.spent = spent
        self.total, self.done_before, self.errors_before = total, done_before, errors_before
        self.sequential, self.baseline_id = sequential, baseline_id
        self.pairs: dict[tuple[int, int], dict[int, bool | None]] = {}
        self.secrets = secrets or []
        self.user_id = user_id
        self.progress = progress
        self.pause, self.cancel = pause, cancel
        self.state = _State()
        self.unstarted: list[int] = []
        self._evaluate = _checks_evaluator()

    # -- control -----------------------------------------------------------------------------------
    def _stop(self, reason: str, **params) -> None:
        if self.state.stop is None:
            self.state.stop, self.state.stop_params = reason, params

    def _poll_events(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            self._stop("cancel")
        elif self.pause is not None and self.pause.is_set():
            self._stop("pause")
        elif self.store.external_status is not None:
            self._stop("external", status=self.store.external_status)
        elif self.store.failure is not None:
            self._stop("failed")

    # -- the run ---------------------------------------------------------------------------------
    async def run(self) -> RunSummary:
        started = time.perf_counter()
        self.store.start(on_commit=lambda: self._report(started))
        queue: asyncio.Queue = asyncio.Queue(maxsize=self.concurrency * 2)
        try:
            if self.sequential is not None:
                await asyncio.to_thread(self._replay_pairs)
            workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.concurrency)]
            await self._feed(queue)
            for _ in workers:
                await queue.put(None)
            done, pending = await asyncio.wait(workers, timeout=None if self.state.stop is None else _GRACE)
            for task in pending:  # cut calls that outlived the grace period: their cells stay pending
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            # Whatever happened (also a cancelled coroutine), committed cells stay and held ones go back.
            await asyncio.to_thread(self.store.close, self.unstarted)
        return self._summary(started)

    def _replay_pairs(self) -> None:
        for variant_id, position, repeat, passed in self.store.finished():
            self._pair(variant_id, position, repeat, passed)

    async def _feed(self, queue: asyncio.Queue) -> None:
        batch = min(max(self.concurrency * 4, 32), 500)
        while True:
            self._poll_events()
            if self.state.stop is not None:
                return
            cells = await asyncio.to_thread(self.store.claim, batch)
            if not cells:
                return
            for index, item in enumerate(cells):
                self._poll_events()
                if self.state.stop is not None:
                    self.unstarted += [c.id for c, _row in cells[index:]]
                    return
                await queue.put(item)

    async def _worker(self, queue: asyncio.Queue) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            cell, row = item
            # Back-pressure: when answers come faster than the database takes them (a cached or
            # instant model), wait for the writer instead of queueing results without bound.
            while self.store.backlog() > 2 * self.store.max_batch:
                await asyncio.sleep(0.005)
            self._poll_events()
            if self.state.stop is not None:
                self.unstarted.append(cell.id)
                continue
            try:
                outcome = await self._cell(cell, row)
            except asyncio.CancelledError:
                self.unstarted.append(cell.id)
                raise
            except Exception:  # a bug must not take the experiment down: the cell is an error
                log.exception("experiment cell %s crashed", cell.id)
                outcome = self._crashed(cell)
            if outcome is None:
                self.unstarted.append(cell.id)
            else:
                self.store.put(outcome)

    # -- one cell --------------------------------------------------------------------------------
    async def _cell(self, cell: ClaimedCell, row) -> CellOutcome | None:
        plan = self.variants[cell.variant_id]
        values = row.vars if row is not None else {}
        try:
            messages, stored = plan.renderer.render(values)
        except PromptMgrError as exc:  # this row does not fit the template: an error cell, no call
            return self._outcome(cell, plan, values, [], _template_failure(plan, exc), None)
        estimate = self._estimate(plan, messages)
        if estimate is None:
            return None  # over budget: not started
        try:
            result = await self._call(plan, messages)
        finally:
            self.state.in_flight_estimate -= estimate
        verdict = None
        if result.ok:
            verdict = await self._check(result, row, messages)
        return self._outcome(cell, plan, values, stored, result, verdict)

    def _estimate(self, plan: VariantPlan, messages: list[dict]) -> float | None:
        """Reserve the call's estimated cost; None (and the budget stop) when it would pass max_cost."""
        if self.max_cost is None:
            return 0.0
        from ..llm import tokens

        prompt_tokens = tokens.count_messages(messages, plan.target.model).tokens
        cost = self.gateway.estimate_cost(plan.target, prompt_tokens, plan.expected_output_tokens) or 0.0
        if self.spent + self.state.in_flight_estimate + cost > self.max_cost:
            self._stop("budget", max_cost=self.max_cost, spent=round(self.spent, 6))
            return None
        self.state.in_flight_estimate += cost
        return cost

    async def _call(self, plan: VariantPlan, messages: list[dict]) -> LLMResult:
        return await self._limited(plan.provider, lambda: self.gateway.acomplete(
            plan.target, messages, plan.params, use_cache=self.use_cache))

    def _through_limits(self, judge):
        """Judge calls share the provider's limiter and retries with the cells' calls: a judge on
        the same provider must slow down on its 429s too."""
        if judge is None:
            return None
        if hasattr(judge, "using"):  # our retries, not the gateway's: a 429 must reach the limiter
            judge = judge.using(self.gateway)
        target = getattr(judge, "target", None)
        provider = provider_key(target) if target is not None else "judge"

        async def limited(kind: str, variables: dict) -> LLMResult:
            return await self._limited(provider, lambda: judge(kind, variables))

        return limited

    async def _limited(self, provider: str, send: Callable[[], Awaitable[LLMResult]]) -> LLMResult:
        attempt = 0
        while True:
            async with self.limits.slot(provider) as slot:
                result = await send()
                if result.ok:
                    slot.report("ok")
                elif result.error_code == "rate_limited":
                    slot.report("rate_limited", result.error_params.get("retry_after"))
            if result.cached:
                self.state.cached += 1
            else:
                self.state.calls += 1
            delay = self._retry_delay(result, attempt)
            if delay is None:
                if not result.ok:
                    result.error_params = {**result.error_params, "retries": attempt}
                return result
            if result.error_code == "rate_limited":
                self.state.rate_limited += 1
            self.state.retries += 1
            attempt += 1
            await asyncio.sleep(delay)

    def _retry_delay(self, result: LLMResult, attempt: int) -> float | None:
        code = result.error_code
        if code is None:
            return None
        if code == "rate_limited":
            if attempt >= MAX_RATE_LIMIT_RETRIES:
                return None
            # The limiter holds the provider for Retry-After; the backoff spreads the retries.
            return retry_delay(min(attempt, 4), self.backoff, random.random() * 0.25, None)
        limit = {"timeout": self.max_retries, "server_error": self.max_retries,
                 "unreachable": min(self.max_retries, MAX_UNREACHABLE_RETRIES)}.get(code)
        if limit is None or attempt >= limit or self.state.stop in ("cancel", "pause"):
            return None
        return retry_delay(attempt, self.backoff, random.random() * 0.25, None)

    async def _check(self, result: LLMResult, row, messages: list[dict]):
        if self._evaluate is None or not self.checks:
            return None
        from ..llm.types import flatten_content
        from .checks import CheckInput  # only reached when checks.py exists

        shown = "\n\n".join(flatten_content(m.get("content")) for m in messages if m.get("role") != "system")
        data = CheckInput(output=result.text, expected=getattr(row, "expected", None),
                          vars=getattr(row, "vars", None) or {}, cost=result.cost, latency_ms=result.latency_ms,
                          input=shown)
        return await self._evaluate(self.checks, data, threshold=self.threshold, judge=self.judge)

    # -- results -------------------------------------------------------------------------------
    def _outcome(self, cell: ClaimedCell, plan: VariantPlan, values: dict, stored: list, result: LLMResult,
                 verdict) -> CellOutcome:
        from ..secrets import scrub_secrets, scrub_value

        cost = float(result.cost or 0.0)
        judge_cost = float(getattr(verdict, "judge_cost", 0.0) or 0.0)
        judge_tokens = int(getattr(verdict, "judge_tokens", 0) or 0)
        if not result.ok:
            status, passed, score, scores = "error", None, None, []
        elif verdict is None:  # no checks (or none available yet): an answer is a pass
            status, passed, score, scores = "done", True, 1.0, []
        else:
            status, passed, score = "done", bool(verdict.passed), float(verdict.score)
            scores = [{"check": r.name, "pass": r.passed, "score": r.score, "reason": r.reason,
                       "error": r.error_key, **({"error_params": r.error_params} if r.error_params else {})}
                      for r in verdict.results]
        run = {
            "prompt_id": plan.prompt_id, "prompt_name": plan.prompt_name, "version_number": plan.version,
            "model": plan.target.display_name, "params": plan.params, "variables": values,
            "rendered_input": stored, "output": scrub_secrets(result.text or "", self.secrets),
            "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "cost": result.cost, "latency_ms": round(result.latency_ms, 3), "cached": result.cached,
            "error_code": result.error_code, "error_key": result.error_key,
            "error_params": scrub_value(result.error_params, self.secrets) if result.error_key else None,
            "experiment_id": self.experiment_id, "variant": plan.name, "dataset_row": cell.row_position,
            "user_id": self.user_id, "created_at": utcnow(),
        }
        self.spent += cost + judge_cost
        self._pair(cell.variant_id, cell.row_position, cell.repeat, passed)
        return CellOutcome(cell.id, run, status, result.error_code, passed, score, scores, cost + judge_cost,
                           judge_cost, judge_tokens)

    def _crashed(self, cell: ClaimedCell) -> CellOutcome:
        plan = self.variants[cell.variant_id]
        result = LLMResult("", 0, 0, None, 0.0, plan.target.display_name, error_code="error", error_key="llm.error",
                           error_params={"model": plan.target.display_name, "detail": "internal"})
        return self._outcome(cell, plan, {}, [], result, None)

    def _pair(self, variant_id: int, position: int, repeat: int, passed: bool | None) -> None:
        """Feed the sequential test with rows where both variants have a verdict."""
        if self.sequential is None:
            return
        key = (position, repeat)
        seen = self.pairs.setdefault(key, {})
        seen[variant_id] = passed
        if len(seen) < 2:
            return
        del self.pairs[key]
        if None in seen.values():
            return  # an errored cell is not evidence either way
        base = seen.pop(self.baseline_id)
        other = next(iter(seen.values()))
        self.sequential.add(bool(base), bool(other))
        decided = self.sequential.decided
        if decided is not None and self.state.stop is None:
            winner_id = self.baseline_id if decided == "baseline" else next(v for v in self.variants
                                                                             if v != self.baseline_id)
            self.state.winner = self.variants[winner_id].name
            self._stop("early", winner=self.state.winner)

    # -- reporting -------------------------------------------------------------------------------
    def _report(self, started: float) -> None:
        if self.progress is None:
            return
        try:
            self.progress(self._progress(started))
        except Exception:  # a broken progress display must not stop the run
            log.exception("progress callback failed")

    def _progress(self, started: float) -> Progress:
        elapsed = time.perf_counter() - started
        written = self.store.written
        done = self.done_before + written
        remaining = max(self.total - done, 0)
        eta = remaining * elapsed / written if written else None
        return Progress(done=done, total=self.total, errors=self.errors_before + self.store.errors,
                        cost=round(self.store.spent_before + self.store.cost, 6), calls=self.state.calls,
                        cached=self.state.cached, elapsed_s=elapsed, eta_s=eta)

    def _summary(self, started: float) -> RunSummary:
        progress = self._progress(started)
        return RunSummary(status="", status_key=None, status_params=None, total=self.total, done=progress.done,
                          errors=progress.errors, cost=progress.cost, calls=self.state.calls,
                          cached=self.state.cached, retries=self.state.retries,
                          rate_limited=self.state.rate_limited, elapsed_s=progress.elapsed_s,
                          finished_this_run=self.store.written, winner=self.state.winner)


def _template_failure(plan: VariantPlan, exc: PromptMgrError) -> LLMResult:
    return LLMResult("", 0, 0, None, 0.0, plan.target.display_name, error_code="template",
                     error_key=exc.message_key, error_params={k: str(v) for k, v in exc.params.items()})


def _checks_evaluator():
    """checks.evaluate when the checks registry is installed, else None (an answer passes)."""
    try:
        from .checks import evaluate
    except ImportError:
        return None
    return evaluate
