"""Experiment workers (promptmgr/worker.py, `promptmgr worker`): hosted mode queues experiment shards
in PostgreSQL through procrastinate and worker processes run them; a worker killed with SIGKILL
midway loses no finished cell and no cell is answered twice. Single-user mode runs in process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import func, select

from promptmgr.models import Run
from promptmgr.models_experiments import Cell, Experiment
from tests.conftest import ROOT, _truncate
from tests.experiment_rows import make_experiment, make_prompt

pytestmark = pytest.mark.postgres
SECRET = "worker-test-secret-key-0123456789abcdef"


def reset_queue(url: str) -> None:
    """Empty procrastinate's tables (the session's database is shared by the tests)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            conn.execute(text("TRUNCATE procrastinate_jobs, procrastinate_workers RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def multi(tmp_path, pg_url):
    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings

    _truncate(pg_url)
    reset_queue(pg_url)
    settings = Settings(home=tmp_path / "home", database_url=pg_url, mode="multi", load_starter=False,
                        secret_key=SECRET, argon2_memory_kib=64, argon2_time_cost=1)
    built = build_services(settings)
    yield built
    built.db.dispose()


def worker_env(settings, **extra) -> dict:
    return {**os.environ, "PROMPTMGR_HOME": str(settings.home), "DATABASE_URL": settings.database_url,
            "PROMPTMGR_MODE": "multi", "PROMPTMGR_SECRET_KEY": SECRET, "PROMPTMGR_LOAD_STARTER": "false",
            "PROMPTMGR_LOCALE": "en", **extra}


def start_worker(settings, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "promptmgr", "worker", "--stalled-after", "3", *args],
                            cwd=ROOT, env=worker_env(settings), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def stop(children) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)


def wait_for(predicate, timeout=120.0, what="condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def cells(services, name: str) -> list[Cell]:
    with services.db.session() as session:
        experiment = session.exec(select(Experiment).where(Experiment.name == name)).one()
        return list(session.exec(select(Cell).where(Cell.experiment_id == experiment.id)).all())


def status(services, name: str) -> str:
    with services.db.session() as session:
        return session.exec(select(Experiment.status).where(Experiment.name == name)).one()


def run_rows(services) -> int:
    with services.db.session() as session:
        return session.exec(select(func.count()).select_from(Run).where(Run.experiment_id.is_not(None))).one()


def of_pid(claimer: str | None, pid: int) -> bool:
    return bool(claimer) and claimer.split(":")[1] == str(pid)


def test_two_workers_one_killed_midway_every_cell_done_once(multi, fake_llm):
    services = multi
    ctx = services.local_context(load_starter=False)
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-workers-0123456789abcdef")
    make_prompt(services, ctx, "ask", "Question {{ i }}")
    make_prompt(services, ctx, "tell", "Tell me {{ i }}")
    make_experiment(services, ctx, "big", rows=200, concurrency=4,
                    variants=[("ask", "fake/m1", {}), ("tell", "fake/m2", {})])
    fake_llm.delay = 0.05
    workers = [start_worker(services.settings, "--concurrency", "2") for _ in range(2)]
    try:
        jobs = services.enqueue_experiment(ctx, "big")
        assert len(jobs) == services.settings.worker_shards and status(services, "big") == "running"
        victim, survivor = workers
        # Midway: the victim has committed cells and holds more.
        wait_for(lambda: sum(c.status == "done" and of_pid(c.claimed_by, victim.pid) for c in cells(services, "big"))
                 >= 40, what="the victim's first cells")
        # Hold the model's answers, and kill once every answer given so far is committed: a cell is
        # answered exactly once only if its caller lives until its batch is written (0.25 s); a kill
        # inside that window loses an answer and that cell is asked again on retry.
        import threading

        fake_llm.gate = threading.Event()
        wait_for(lambda: sum(c.status == "done" for c in cells(services, "big")) == len(fake_llm.answered)
                 and fake_llm.in_flight == 2 * 2 * 4, what="answers committed, every shard waiting on the model")
        time.sleep(0.5)
        assert sum(c.status == "done" for c in cells(services, "big")) == len(fake_llm.answered)
        held = [c for c in cells(services, "big") if c.status == "running" and of_pid(c.claimed_by, victim.pid)]
        assert held, "the victim should hold cells when it dies"
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(30)
        time.sleep(0.3)  # the kernel closes its sockets: its held requests are abandoned, not answered
        fake_llm.gate.set()
        wait_for(lambda: status(services, "big") == "completed", timeout=180, what="completion")
        assert survivor.poll() is None, "the surviving worker keeps serving"
    finally:
        if fake_llm.gate is not None:
            fake_llm.gate.set()
        stop(workers)
    assert victim.returncode == -signal.SIGKILL
    final = cells(services, "big")
    assert len(final) == 400 and {c.status for c in final} == {"done"}
    assert len({c.run_id for c in final}) == 400 and run_rows(services) == 400  # one Run per cell
    answered = Counter(fake_llm.answered)
    assert len(fake_llm.answered) == 400 and set(answered.values()) == {1}, "a cell was answered twice"
    # The victim's calls in flight were asked, never answered, and run again by a retried shard.
    assert fake_llm.abandoned and set(fake_llm.abandoned) <= set(answered)
    held_ids = {c.id for c in held}
    assert not any(of_pid(c.claimed_by, victim.pid) for c in final if c.id in held_ids)


def test_multi_mode_enqueues_and_single_mode_runs_in_process(multi, fake_llm, tmp_path, pg_url):
    from promptmgr.bootstrap import build_services

    services = multi
    ctx = services.local_context(load_starter=False)
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-workers-0123456789abcdef")
    make_prompt(services, ctx, "ask", "Question {{ i }}")
    make_experiment(services, ctx, "queued", rows=5, variants=[("ask", "fake/m1", {})])
    # The UI's Run (experiment_jobs) in hosted mode: shards queued, no call made in this process.
    services.experiment_jobs.start(ctx, "queued")
    assert status(services, "queued") == "running" and fake_llm.chat_count == 0
    assert services.experiment_jobs.state(ctx, "queued")["live"] is True
    from promptmgr import worker

    app = worker.make_app(services)
    with app.open():
        queued = app.job_manager.list_jobs(task=worker.TASK, status="todo")
    assert len(queued) == services.settings.worker_shards
    assert {job.task_kwargs["name"] for job in queued} == {"queued"}
    # A worker drains the queue (wait=False: it returns once caught up) and the experiment completes.
    worker.serve(services, concurrency=2, wait=False)
    assert status(services, "queued") == "completed" and fake_llm.chat_count == 5
    with app.open():
        ended = app.job_manager.list_jobs(task=worker.TASK)
    assert {job.status for job in ended} <= {"succeeded", "todo"}, [job.status for job in ended]
    assert sum(job.status == "succeeded" for job in ended) == services.settings.worker_shards
    # Pause in hosted mode is a status change every runner sees.
    make_experiment(services, ctx, "paused", rows=3, variants=[("ask", "fake/m1", {})])
    services.experiment_jobs.start(ctx, "paused")
    services.experiment_jobs.pause(ctx, "paused")
    assert status(services, "paused") == "paused"
    worker.serve(services, concurrency=1, wait=False)  # its shards find it paused: no call
    assert fake_llm.chat_count == 5

    # Single-user mode on the same database: the run happens in this process at once.
    single = build_services(replace(services.settings, mode="single", home=tmp_path / "single"))
    try:
        make_experiment(single, ctx, "local", rows=4, variants=[("ask", "fake/m1", {})])
        single.experiment_jobs.start(ctx, "local")
        assert single.experiment_jobs.wait(ctx, "local", timeout=60)
        assert status(single, "local") == "completed" and fake_llm.chat_count == 9
    finally:
        single.db.dispose()


def test_cli_run_enqueues_in_multi_mode_and_worker_needs_postgres(multi, fake_llm, cli, monkeypatch, tmp_path):
    services = multi
    ctx = services.local_context(load_starter=False)
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-workers-0123456789abcdef")
    make_prompt(services, ctx, "ask", "Question {{ i }}")
    make_experiment(services, ctx, "cli-run", rows=3, variants=[("ask", "fake/m1", {})])
    for key, value in worker_env(services.settings).items():
        if key.startswith("PROMPTMGR_") or key == "DATABASE_URL":
            monkeypatch.setenv(key, value)
    from promptmgr.cli import common
    from promptmgr.config import get_settings

    get_settings.cache_clear()
    common.services.cache_clear()
    result = cli("experiments", "run", "cli-run", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["status"] == "queued" and len(data["jobs"]) == 4
    assert fake_llm.chat_count == 0 and status(services, "cli-run") == "running"
    # Running it again while queued joins nothing new in process either: still no call here.
    monkeypatch.setenv("PROMPTMGR_MODE", "single")
    get_settings.cache_clear()
    common.services.cache_clear()
    result = cli("experiments", "resume", "cli-run", "--json")
    assert result.code == 0 and result.json()["status"] == "completed" and fake_llm.chat_count == 3
    # A worker on SQLite: a clear error, no traceback.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    get_settings.cache_clear()
    common.services.cache_clear()
    result = cli("worker")
    assert result.code == 1 and "PostgreSQL" in result.err and "Traceback" not in result.err


def test_sigterm_gives_the_shard_back_and_another_worker_finishes(multi, fake_llm):
    services = multi
    ctx = services.local_context(load_starter=False)
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-workers-0123456789abcdef")
    make_prompt(services, ctx, "ask", "Question {{ i }}")
    make_experiment(services, ctx, "handover", rows=120, concurrency=4, variants=[("ask", "fake/m1", {})])
    fake_llm.delay = 0.05
    first = start_worker(services.settings)
    second = None
    try:
        services.enqueue_experiment(ctx, "handover", shards=1)
        wait_for(lambda: sum(c.status == "done" for c in cells(services, "handover")) >= 20, what="first cells")
        first.send_signal(signal.SIGTERM)
        first.wait(90)
        assert first.returncode == 0, first.stderr.read()
        left = cells(services, "handover")
        assert status(services, "handover") == "running"  # the others (none here) go on
        assert not [c for c in left if c.status == "running"], "a stopping worker gives its cells back"
        assert 0 < sum(c.status == "done" for c in left) < 120
        second = start_worker(services.settings)  # the requeued shard is taken by the next worker
        wait_for(lambda: status(services, "handover") == "completed", what="completion")
    finally:
        stop([p for p in (first, second) if p is not None])
    assert {c.status for c in cells(services, "handover")} == {"done"} and run_rows(services) == 120
    assert len(fake_llm.answered) == 120 and set(Counter(fake_llm.answered).values()) == {1}
    assert not fake_llm.abandoned  # its calls in flight were waited for, not dropped
