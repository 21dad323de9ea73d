"""Distributed experiment workers (hosted mode): experiment runs go through procrastinate, a task
queue that lives in the same PostgreSQL database, so scaling out needs no new infrastructure.

Starting a run in multi mode marks the experiment running and defers `shards` jobs for it
(`enqueue`). `promptmgr worker` processes, on any number of machines, take those jobs; each job runs
the ordinary runner on the experiment (ExperimentRunService.join), which claims cells with
`FOR UPDATE SKIP LOCKED`, so any number of jobs share one experiment and no cell runs twice. The
cell state lives in our own tables, committed in batches; procrastinate only carries "someone should
work on experiment X".

A worker killed with SIGKILL leaves its jobs `doing`: every worker retries, every few seconds, the
jobs of workers whose heartbeat stopped (procrastinate's documented stalled-jobs retry). The retried
job's runner gives back the dead runner's cells (same host: its pid is gone; another host: its
lease expires, see evaluation/store.py) and runs them; the cells it had committed stay done. A
shard that finds nothing left to claim while other runners still hold cells schedules one more
look after the lease time, so cells of a runner that died on another machine are never stranded.

procrastinate is imported only here, and only in multi mode."""
from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from dataclasses import asdict

from .context import TenantContext

log = logging.getLogger(__name__)
TASK = "promptmgr.experiment_shard"
QUEUE = "experiments"
DEFAULT_SHARDS = 4
MAX_SHARDS = 64
# A worker whose heartbeat is older than this is dead: its jobs are retried.
HEARTBEAT_S = 2.0
STALLED_AFTER_S = 10.0
RETRY_STALLED_EVERY_S = 5.0
_GRACE_S = 60.0  # a stopping worker waits this long for its shards' calls in flight
_LEAVING = threading.Event()  # set when this worker process is asked to stop
_SCHEMA_LOCK = 0x70726D67  # advisory lock: processes starting at once apply the schema once


def conninfo(db_url: str) -> str:
    """The libpq URL of a SQLAlchemy PostgreSQL URL (procrastinate talks to psycopg directly)."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        from .errors import ValidationError

        raise ValidationError("worker.needs_postgres")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def apply_schema(db_url: str) -> bool:
    """Create procrastinate's tables unless they exist; True when it created them. Idempotent and
    safe when several processes start at once. (procrastinate's own apply_schema is not idempotent:
    it fails on an existing schema; upgrades between procrastinate versions use its migrations.)"""
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(conninfo(db_url), autocommit=False) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is not None:
            return False
        conn.execute(SchemaManager.get_schema())
        return True


def make_app(services):
    """The procrastinate App over the services' PostgreSQL database, with the shard task."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(services.settings.db_url)))

    @app.task(name=TASK, queue=QUEUE, pass_context=False)
    def experiment_shard(ctx: dict, name: str, concurrency: int | None = None) -> dict:
        return run_shard(services, app, TenantContext(**ctx), name, concurrency)

    return app


def run_shard(services, app, ctx: TenantContext, name: str, concurrency: int | None,
              leave: threading.Event | None = None) -> dict:
    """One job: run the experiment's cells until none is left to claim (or the worker stops)."""
    from .errors import ConflictError, NotFoundError

    leave = leave if leave is not None else _LEAVING
    try:
        summary = services.experiment_runs.join(ctx, name, concurrency=concurrency, leave=leave)
    except (ConflictError, NotFoundError) as exc:
        # Paused, cancelled, completed or deleted since it was queued: nothing to do.
        log.info("shard of %s skipped: %s", name, exc.message_key)
        return {"name": name, "skipped": exc.message_key}
    state = services.experiment_runs.progress(ctx, name)
    if leave.is_set() and state["status"] == "running" and state["done"] < state["total"]:
        # This worker is shutting down: the shard goes back to the queue for another (or this one
        # restarted), so an experiment never stays running with nobody on it.
        app.tasks[TASK].defer(ctx=_ctx_dict(ctx), name=name, concurrency=concurrency)
    elif state["status"] == "running" and state["done"] < state["total"]:
        # Other runners hold the rest. If one of them died on another machine its cells come back
        # only when their lease expires: look again then (one such job per experiment).
        from procrastinate.exceptions import AlreadyEnqueued

        from .evaluation.store import LEASE_SECONDS

        try:
            app.tasks[TASK].configure(schedule_in={"seconds": int(LEASE_SECONDS) + 5},
                                      queueing_lock=f"sweep:{ctx.tenant_id}:{name}").defer(
                ctx=_ctx_dict(ctx), name=name, concurrency=concurrency)
        except AlreadyEnqueued:
            pass  # a look is already planned
    return {"name": name, "finished": summary.finished_this_run, "status": summary.status}


def _ctx_dict(ctx: TenantContext) -> dict:
    return {k: v for k, v in asdict(ctx).items() if k in ("tenant_id", "user_id", "role", "locale")}


def enqueue(services, ctx: TenantContext, name: str, *, resume: bool = False, max_cost: float | None = None,
            concurrency: int | None = None, stop_early: bool | None = None, shards: int | None = None) -> list[int]:
    """Mark the experiment running and queue its shard jobs; returns their ids. The caller's
    service method checked the policy. Raises what ExperimentRunService.mark_running raises."""
    from .errors import ValidationError

    shards = DEFAULT_SHARDS if shards is None else shards
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise ValidationError("worker.bad_shards", value=str(shards), max=MAX_SHARDS)
    ensure_schema(services)
    services.experiment_runs.mark_running(ctx, name, resume=resume, concurrency=concurrency, max_cost=max_cost,
                                          stop_early=stop_early)
    app = make_app(services)
    try:
        with app.open():
            task = app.tasks[TASK]
            return [task.defer(ctx=_ctx_dict(ctx), name=name, concurrency=concurrency) for _ in range(shards)]
    except Exception:  # queue unreachable: the experiment must not look running with nobody on it
        services.experiment_runs.pause(ctx, name)
        raise


def queue_depth(services) -> dict[str, int]:
    """Shard jobs of the experiment queue waiting (`todo`) and being run (`doing`): the metric an
    operator scales workers by. Zero for both before the queue's tables exist."""
    import psycopg

    depth = {"todo": 0, "doing": 0}
    with psycopg.connect(conninfo(services.settings.db_url), autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is None:
            return depth
        rows = conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs WHERE queue_name = %s"
                            " AND status IN ('todo', 'doing') GROUP BY status", (QUEUE,)).fetchall()
    depth.update({status: int(count) for status, count in rows})
    return depth


_SCHEMA_READY: set[str] = set()


def ensure_schema(services) -> None:
    """Apply procrastinate's schema once per process and database (multi mode starts)."""
    url = services.settings.db_url
    if url not in _SCHEMA_READY:
        apply_schema(url)
        _SCHEMA_READY.add(url)


async def _retry_stalled(app, every: float, stalled_after: float) -> None:
    """Procrastinate's stalled-jobs retry, run periodically by every worker: jobs of workers whose
    heartbeat stopped go back to the queue (a second worker retrying the same job changes nothing)."""
    while True:
        await asyncio.sleep(every)
        try:
            for job in await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_after):
                log.warning("retrying experiment job %s of a worker that stopped answering", job.id)
                await app.job_manager.retry_job(job)
        except Exception as exc:  # noqa: BLE001 — a lost round is retried on the next tick
            log.warning("stalled-job check failed: %s", type(exc).__name__)


def _warm(services) -> None:
    """Load the model layer before taking jobs: a worker lives long, and its first shard should not
    spend seconds importing litellm (and its price map) while its cells are claimed."""
    from .llm.remote import litellm_module

    services.gateway
    litellm_module()


async def serve_async(services, *, concurrency: int = 1, heartbeat: float = HEARTBEAT_S,
                      stalled_after: float = STALLED_AFTER_S, retry_every: float = RETRY_STALLED_EVERY_S,
                      wait: bool = True) -> None:
    """Run a worker until SIGINT/SIGTERM (or, with wait=False, until the queue is empty)."""
    ensure_schema(services)
    await asyncio.to_thread(_warm, services)
    app = make_app(services)
    loop = asyncio.get_running_loop()
    async with app.open_async():
        sweeper = asyncio.create_task(_retry_stalled(app, retry_every, stalled_after))
        worker = asyncio.create_task(app.run_worker_async(
            queues=[QUEUE], concurrency=concurrency, wait=wait, name=socket.gethostname()[:40],
            update_heartbeat_interval=heartbeat, stalled_worker_timeout=stalled_after,
            install_signal_handlers=False, shutdown_graceful_timeout=_GRACE_S))

        def stop() -> None:
            # Running shards stop taking cells, finish the calls in flight (seconds) and requeue
            # themselves; then procrastinate's worker ends (cancelling it is its documented stop).
            _LEAVING.set()
            worker.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        try:
            await worker
        except asyncio.CancelledError:
            pass
        finally:
            sweeper.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def serve(services, **options) -> None:
    asyncio.run(serve_async(services, **options))
