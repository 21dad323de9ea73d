"""Crash-proof runs in real processes: `kill -9` of a runner at several moments, then resume, loses
no finished cell and sends no second request for one (the fake server counts requests); two
runner processes on one database never run a cell twice. SQLite and PostgreSQL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlmodel import func, select

from promptmgr.models import Run
from promptmgr.models_experiments import Cell, Experiment
from tests.conftest import ROOT
from tests.experiment_rows import make_experiment, make_prompt

ROWS = 40


@pytest.fixture
def lab(services, ctx, fake_llm, settings):
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key="sk-durable-0123456789abcdef")
    make_prompt(services, ctx, "ask", "Question {{ i }}")
    make_prompt(services, ctx, "tell", "Tell me {{ i }}")
    make_experiment(services, ctx, "durable", rows=ROWS, variants=[("ask", "fake/m1", {}), ("tell", "fake/m2", {})])
    return services


def _env(settings) -> dict:
    return {**os.environ, "PROMPTMGR_HOME": str(settings.home), "DATABASE_URL": settings.database_url,
            "PROMPTMGR_LOAD_STARTER": "false", "PROMPTMGR_LOCALE": "en"}


def _runner(settings, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "promptmgr", "experiments", *args], cwd=ROOT, env=_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _text(cell_variant_position: int, row: int) -> str:
    return f"Question {row}" if cell_variant_position == 0 else f"Tell me {row}"


def _done(services) -> dict[int, str]:
    """Finished cells: id -> the user text its request carried."""
    with services.db.session() as session:
        experiment = session.exec(select(Experiment).where(Experiment.name == "durable")).one()
        rows = session.exec(select(Cell).where(Cell.experiment_id == experiment.id, Cell.status == "done")).all()
        first_variant = min(c.variant_id for c in session.exec(
            select(Cell).where(Cell.experiment_id == experiment.id)).all())
        return {c.id: _text(c.variant_id - first_variant, c.row_position) for c in rows}


def _run_count(services) -> int:
    with services.db.session() as session:
        return session.exec(select(func.count()).select_from(Run).where(Run.experiment_id.is_not(None))).one()


def _claimers(services) -> set[str]:
    with services.db.session() as session:
        return set(session.exec(select(Cell.claimed_by).where(Cell.status == "running")).all()) - {None}


def _wait_for(predicate, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("kill_after", [1, ROWS])  # right after the first commit, and half-way
def test_kill_9_then_resume_loses_nothing_and_repeats_no_finished_call(lab, settings, fake_llm, kill_after):
    # The child is the CLI (`experiments run`); resuming in-process saves a second interpreter start.
    fake_llm.delay = 0.03
    child = _runner(settings, "run", "durable", "--concurrency", "4")
    try:
        _wait_for(lambda: len(_done(lab)) >= kill_after)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    finished = _done(lab)
    sent_before = fake_llm.chat_count
    assert 0 < len(finished) < 2 * ROWS and _run_count(lab) == len(finished)  # committed together
    summary = lab.experiment_runs.resume(lab.local_context(load_starter=False), "durable")
    assert (summary.status, summary.done, summary.errors) == ("completed", 2 * ROWS, 0)
    after = fake_llm.user_texts()[sent_before:]
    assert not set(after) & set(finished.values()), "a finished cell was called again"
    assert Counter(after)[next(iter(finished.values()))] == 0
    assert len(_done(lab)) == 2 * ROWS and _run_count(lab) == 2 * ROWS  # one Run per cell, none lost


def test_two_runner_processes_never_run_a_cell_twice(lab, settings, fake_llm):
    import threading

    fake_llm.delay = 0.02
    fake_llm.gate = threading.Event()  # no answer until both runners hold cells: both must take work
    children = [_runner(settings, "run", "durable", "--concurrency", "3", "--json") for _ in range(2)]
    try:
        _wait_for(lambda: len(_claimers(lab)) >= 2, timeout=90)
    finally:
        fake_llm.gate.set()
    results = [child.communicate(timeout=120) for child in children]
    for child, (_out, err) in zip(children, results):
        assert child.returncode == 0, err
    summaries = [json.loads(out) for out, _err in results]
    assert sum(s["finished_this_run"] for s in summaries) == 2 * ROWS
    assert all(s["finished_this_run"] > 0 for s in summaries), "both runners should have taken work"
    counts = Counter(fake_llm.user_texts())
    assert len(counts) == 2 * ROWS and set(counts.values()) == {1}
    assert _run_count(lab) == 2 * ROWS
    with lab.db.session() as session:
        assert session.exec(select(Experiment.status).where(Experiment.name == "durable")).one() == "completed"
