"""Experiments running in the background of the app process (the Experiments tab's Run).

A job is one worker thread calling ExperimentRunService.run or resume; the runner's coroutines go to
the shared model loop (llm/aio.py), so the app's other requests keep being served meanwhile. Jobs
are keyed by (tenant, experiment name). Progress itself is read from the database (any process may
be running an experiment); the registry only knows which runs are live here, their ETA, and how
the last one ended, so a page reloaded mid-run re-attaches and, after a restart, an experiment
left `running` with no live job is offered for resuming.

In hosted mode on PostgreSQL (Settings.queued_experiments) the work goes to `promptmgr worker`
processes instead (promptmgr/worker.py): `queue` marks the experiment running and queues its shards,
and an experiment is live while it is running in the database, wherever its runners are."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timezone

from ..context import TenantContext
from ..errors import ConflictError, NotFoundError, PromptMgrError
from ..policy import Action, require

log = logging.getLogger(__name__)
# How long Run waits for the run to start (or fail at once: a bad budget, no judge model, a status
# that wants Resume) before answering; the run goes on in the background after that.
START_WAIT_S = 3.0


@dataclass
class Job:
    thread: threading.Thread | None = None
    pause: threading.Event = field(default_factory=threading.Event)
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    progress: object | None = None       # the runner's last Progress
    error: PromptMgrError | None = None
    summary: object | None = None

    @property
    def live(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


def _epoch(moment) -> float:
    if moment is None:
        return 0.0
    # SQLite hands datetimes back without their zone: they were written in UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


class ExperimentJobs:
    def __init__(self, runs, queue=None):
        self.runs = runs
        self.queue = queue  # (ctx, name, resume=, max_cost=, concurrency=) -> job ids; None: run here
        self._jobs: dict[tuple[int, str], Job] = {}
        self._lock = threading.Lock()

    def start(self, ctx: TenantContext, name: str, *, resume: bool = False, max_cost: float | None = None,
              concurrency: int | None = None) -> None:
        """Run (or resume) an experiment in a background thread; returns once it is under way.
        Raises ConflictError (already running here, or the run service's status conflicts),
        NotFoundError, ValidationError, PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        if self.queue is not None:
            self.queue(ctx, name, resume=resume, max_cost=max_cost, concurrency=concurrency)
            return
        key = (ctx.tenant_id, name)
        job = Job()
        with self._lock:
            current = self._jobs.get(key)
            if current is not None and current.live:
                raise ConflictError("ui_experiments.job_live", name=name)
            self._jobs[key] = job
        begun = time.time()

        def work() -> None:
            method = self.runs.resume if resume else self.runs.run
            try:
                job.summary = method(ctx, name, concurrency=concurrency, max_cost=max_cost,
                                     progress=lambda p: setattr(job, "progress", p), pause=job.pause,
                                     cancel=job.cancel)
            except PromptMgrError as exc:
                job.error = exc
            except BaseException as exc:  # noqa: BLE001 — the thread must record why it ended
                log.exception("experiment %s failed in the background", name)
                job.error = PromptMgrError("ui_experiments.job_failed", detail=type(exc).__name__)
            finally:
                job.finished.set()

        job.thread = threading.Thread(target=work, name=f"experiment-{ctx.tenant_id}-{name}", daemon=True)
        job.thread.start()
        deadline = begun + START_WAIT_S
        while time.time() < deadline:
            if job.finished.wait(0.05):
                if job.error is not None:
                    raise job.error
                return
            if job.progress is not None:
                return
            state = self.runs.progress(ctx, name)
            if state["status"] == "running" and _epoch(state["updated_at"]) >= begun - 1:
                return

    def pause(self, ctx: TenantContext, name: str) -> None:
        """Stop issuing calls; the run ends as `paused` (resumable) once in-flight calls return.
        Raises ConflictError (not running in this app), PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        if self.queue is not None:
            if self.runs.pause(ctx, name) != "paused":
                raise ConflictError("ui_experiments.not_live", name=name)
            return
        job = self._live(ctx, name)
        if job is None:
            raise ConflictError("ui_experiments.not_live", name=name)
        job.pause.set()

    def cancel(self, ctx: TenantContext, name: str) -> str:
        """Cancel a run (live here or not) and mark the experiment cancelled; returns its status.
        Raises NotFoundError, PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        job = self._live(ctx, name)
        if job is not None:
            job.cancel.set()
        return self.runs.cancel(ctx, name)

    def state(self, ctx: TenantContext, name: str) -> dict:
        """What this process knows of the experiment's job: live, ETA and calls of the run in
        progress, the error that ended the last one. Raises PermissionDeniedError."""
        require(ctx, Action.READ_EXPERIMENTS)
        if self.queue is not None:
            return {"live": self._running(ctx, name), "eta_s": None, "error": None, "pausing": False}
        with self._lock:
            job = self._jobs.get((ctx.tenant_id, name))
        if job is None:
            return {"live": False, "eta_s": None, "error": None, "pausing": False}
        progress = job.progress
        return {"live": job.live, "eta_s": getattr(progress, "eta_s", None) if job.live else None,
                "error": job.error, "pausing": job.live and (job.pause.is_set() or job.cancel.is_set())}

    @property
    def running_here(self) -> int:
        """How many experiments run in this process, all tenants together (the operator's metric:
        a number, no tenant data)."""
        with self._lock:
            return sum(1 for job in self._jobs.values() if job.live)

    def live_names(self, ctx: TenantContext) -> list[str]:
        """Experiments of the caller's tenant running in this process. Raises PermissionDeniedError."""
        require(ctx, Action.READ_EXPERIMENTS)
        with self._lock:
            return sorted(name for (tenant, name), job in self._jobs.items() if tenant == ctx.tenant_id and job.live)

    def _live(self, ctx: TenantContext, name: str) -> Job | None:
        with self._lock:
            job = self._jobs.get((ctx.tenant_id, name))
        return job if job is not None and job.live else None

    def wait(self, ctx: TenantContext, name: str, timeout: float | None = None) -> bool:
        """Wait until the experiment's job (if any) ends; True when none is live. For tests and shutdown.
        Raises PermissionDeniedError."""
        require(ctx, Action.READ_EXPERIMENTS)
        if self.queue is not None:
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._running(ctx, name):
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                time.sleep(0.2)
            return True
        with self._lock:
            job = self._jobs.get((ctx.tenant_id, name))
        return job is None or job.finished.wait(timeout)

    def _running(self, ctx: TenantContext, name: str) -> bool:
        try:
            return self.runs.progress(ctx, name)["status"] == "running"
        except NotFoundError:
            return False
