"""/api/v1 experiments over HTTP against the fake OpenAI-compatible server (SQLite and PostgreSQL):
define, estimate, run (202 and a status URL, polled until done), the statistics summary, the results
in three formats, the cell matrix, one cell, a human label, promptfoo export, cancel and delete.
On SQLite the run is a background thread of the app; on PostgreSQL (hosted mode) it is queued and a
procrastinate worker (promptmgr/worker.py) runs it. A viewer token cannot define, run or label;
another workspace sees nothing."""
from __future__ import annotations

import csv
import io
import json
import time

import pytest

from tests.api_helpers import API, bearer, make_token

pytest_plugins = ("tests.api_helpers",)
MODEL = "fake/fake-model"
QUESTIONS = ["Is Paris big?", "Is Rome old?", "Paris or Lyon?", "Why is the sky blue?"]


@pytest.fixture
def lab(client, team, fake_llm):
    """A provider on the fake server (added by an admin), a prompt in two versions, a dataset."""
    from promptmgr.context import TenantContext

    ctx = team.ctx("alpha")
    admin = TenantContext(ctx.tenant_id, next(m["user_id"] for m in team.services.accounts.members(ctx)
                                              if m["role"] == "admin"), "admin")
    team.services.providers.add(admin, "fake", fake_llm.base_url, api_key="sk-test-key-0123456789abcdef")
    editor = bearer(make_token(team, "editor"))
    client.post(f"{API}/prompts", json={"name": "ask", "content": "Q: {{ question }}"}, headers=editor)
    client.patch(f"{API}/prompts/ask", json={"content": "Answer this: {{ question }}"}, headers=editor)
    made = client.post(f"{API}/datasets", headers=editor,
                       json={"name": "qs", "rows": [{"question": q} for q in QUESTIONS]})
    assert made.status_code == 201, made.text
    # Hosted mode queues runs for workers exactly when the database is PostgreSQL: both paths are tested.
    assert team.services.settings.queued_experiments == team.services.settings.db_url.startswith("postgresql")
    if team.services.settings.queued_experiments:
        from tests.test_workers import reset_queue

        reset_queue(team.services.settings.db_url)
    return editor


@pytest.fixture
def conforms(app):
    """Check a response against the API's own OpenAPI document (status, media type and body)."""
    import schemathesis

    schema = schemathesis.openapi.from_asgi("/openapi.json", app.state.pm_api)

    def check(response, path: str, method: str = "GET"):
        schema[path][method].validate_response(response)
        return response

    return check


def define(client, headers, name="ab", **extra):
    return client.post(f"{API}/experiments", headers=headers, json={
        "name": name, "dataset": "qs", "prompts": ["ask@1", {"name": "ask", "version": 2}], "models": [MODEL],
        "checks": ["contains:Paris"], "concurrency": 2, **extra})


def run_to_the_end(client, team, headers, name: str, conforms=None) -> dict:
    started = client.post(f"{API}/experiments/{name}/run", headers=headers, json={"concurrency": 2})
    assert started.status_code == 202, started.text
    if conforms:
        conforms(started, "/experiments/{name}/run", "POST")
    url = started.json()["status_url"]
    assert started.headers["location"] == url == f"{API}/experiments/{name}/status"
    if team.services.settings.queued_experiments:
        # Hosted mode on PostgreSQL: the shards wait in the queue until a worker takes them.
        assert started.json()["status"] == "running"
        from promptmgr import worker

        worker.serve(team.services, wait=False)  # until the queue is empty
    deadline = time.monotonic() + 120
    while True:
        state = client.get(url, headers=headers).json()
        if state["status"] != "running" and not state["live"]:
            return state
        assert time.monotonic() < deadline, f"the run did not finish: {state}"
        time.sleep(0.1)


def test_define_estimate_run_and_read_everything_through_the_api(client, team, lab, fake_llm, conforms):
    h = lab
    made = conforms(define(client, h, description="two wordings"), "/experiments", "POST")
    assert made.status_code == 201, made.text
    experiment = made.json()
    assert [v["name"] for v in experiment["variants"]] == [f"ask@1/{MODEL}", f"ask@2/{MODEL}"]
    assert (experiment["status"], experiment["cells"]["total"], experiment["cells"]["pending"]) == ("draft", 8, 8)
    estimate = conforms(client.get(f"{API}/experiments/ab/estimate", headers=h), "/experiments/{name}/estimate").json()
    assert (estimate["calls"], [v["calls"] for v in estimate["variants"]]) == (8, [4, 4])
    assert estimate["input_tokens"] > 0 and fake_llm.chat_count == 0  # an estimate calls no model

    state = run_to_the_end(client, team, h, "ab", conforms)
    assert (state["status"], state["done"], state["total"], state["errors"]) == ("completed", 8, 8, 0)
    assert [(v["done"], v["passed"]) for v in state["variants"]] == [(4, 2), (4, 2)]
    assert fake_llm.chat_count == 8  # every cell answered once

    summary = conforms(client.get(f"{API}/experiments/ab/summary", headers=h), "/experiments/{name}/summary").json()
    conforms(client.get(f"{API}/experiments/ab/status", headers=h), "/experiments/{name}/status")
    conforms(client.get(f"{API}/experiments/ab", headers=h), "/experiments/{name}")
    conforms(client.get(f"{API}/experiments", headers=h), "/experiments")
    conforms(client.get(f"{API}/datasets/qs", headers=h), "/datasets/{name}")
    conforms(client.get(f"{API}/datasets/qs/rows", headers=h), "/datasets/{name}/rows")
    assert summary["cells"] == {"total": 8, "done": 8, "errors": 0, "pending": 0, "running": 0}
    assert summary["baseline"] == f"ask@1/{MODEL}" and summary["checks"] == ["contains:Paris"]
    for variant in summary["variants"]:
        assert (variant["n"], variant["passed"], variant["pass_rate"]) == (4, 2, 0.5)
        low, high = variant["ci"]
        assert 0.0 < low < 0.5 < high < 1.0  # Wilson's interval around 2 of 4
    (comparison,) = [c for c in summary["comparisons"] if c["check"] == "all"] or summary["comparisons"][:1]
    assert (comparison["variant"], comparison["b"], comparison["c"]) == (f"ask@2/{MODEL}", 0, 0)
    assert comparison["verdict"] == "inconclusive"

    as_json = client.get(f"{API}/experiments/ab/results?format=json", headers=h)
    assert as_json.status_code == 200 and as_json.headers["content-type"].startswith("application/json")
    results = json.loads(as_json.text)["results"]["results"]
    assert len(results) == 8 and sum(r["success"] for r in results) == 4
    assert all(r["response"]["output"].startswith("echo: ") for r in results)
    lines = client.get(f"{API}/experiments/ab/results?format=jsonl", headers=h).text.splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(r["id"] for r in results)
    table = list(csv.DictReader(io.StringIO(client.get(f"{API}/experiments/ab/results?format=csv", headers=h).text)))
    assert len(table) == 8 and {row["status"] for row in table} == {"pass", "fail"}

    matrix = conforms(client.get(f"{API}/experiments/ab/cells?filter=all&page_size=3", headers=h),
                      "/experiments/{name}/cells").json()
    assert (matrix["total"], matrix["pages"], len(matrix["lines"])) == (4, 2, 3)
    assert matrix["variants"] == [f"ask@1/{MODEL}", f"ask@2/{MODEL}"]
    first = matrix["lines"][0]
    assert first["vars"] == {"question": QUESTIONS[0]} and first["cells"][f"ask@1/{MODEL}"]["pass"] is True
    failures = client.get(f"{API}/experiments/ab/cells?filter=failures", headers=h).json()
    assert [line["vars"]["question"] for line in failures["lines"]] == [QUESTIONS[1], QUESTIONS[3]]
    cell_id = failures["lines"][0]["cells"][f"ask@2/{MODEL}"]["id"]
    cell = conforms(client.get(f"{API}/experiments/ab/cells/{cell_id}", headers=h),
                    "/experiments/{name}/cells/{cell_id}").json()
    assert cell["output"] == "echo: Answer this: Is Rome old?" and cell["pass"] is False
    assert cell["checks"][0]["pass"] is False and cell["human"] is None

    labelled = client.put(f"{API}/experiments/ab/cells/{cell_id}/label", headers=h,
                          json={"passed": True, "comment": "Rome is old: right"})
    assert labelled.status_code == 200, labelled.text
    conforms(labelled, "/experiments/{name}/cells/{cell_id}/label", "PUT")
    assert (labelled.json()["pass"], labelled.json()["comment"]) == (True, "Rome is old: right")
    human = conforms(client.get(f"{API}/experiments/ab/cells/{cell_id}", headers=h),
                     "/experiments/{name}/cells/{cell_id}").json()["human"]
    assert (human["pass"], human["by"]) == (True, team.users["editor"])
    agreement = conforms(client.get(f"{API}/experiments/ab/agreement", headers=h),
                         "/experiments/{name}/agreement").json()["agreement"]
    assert any(a["variant"] == f"ask@2/{MODEL}" and a["n"] == 1 for a in agreement)
    assert client.get(f"{API}/experiments/ab/cells/999999", headers=h).status_code == 404

    config = conforms(client.get(f"{API}/experiments/ab/promptfoo", headers=h), "/experiments/{name}/promptfoo").json()
    assert len(config["tests"]) == 4 and len(config["prompts"]) == 2
    promoted = client.post(f"{API}/experiments/ab/promote", json={"variant": f"ask@2/{MODEL}", "label": "staging"},
                           headers=h)
    assert conforms(promoted, "/experiments/{name}/promote", "POST").json()["labels"] == {"staging": 2}
    protected = client.post(f"{API}/experiments/ab/promote", json={"variant": f"ask@2/{MODEL}",
                                                                    "label": "production"}, headers=h)
    assert protected.status_code == 403  # the library's policy: production needs an admin
    again = client.post(f"{API}/experiments/ab/run", headers=h)
    assert again.status_code == 409  # done: resume it, not run it again
    assert client.delete(f"{API}/datasets/qs", headers=h).status_code == 409  # in use
    assert client.delete(f"{API}/experiments/ab", headers=h).status_code == 204
    assert client.get(f"{API}/experiments/ab", headers=h).status_code == 404


def test_cancel_and_resume(client, team, lab, fake_llm):
    assert define(client, lab, "later").status_code == 201
    cancelled = client.post(f"{API}/experiments/later/cancel", headers=lab)
    assert cancelled.json() == {"name": "later", "status": "cancelled"}
    assert client.post(f"{API}/experiments/later/run", headers=lab).status_code == 409
    resumed = client.post(f"{API}/experiments/later/resume", headers=lab)
    assert resumed.status_code == 202, resumed.text
    if team.services.settings.queued_experiments:
        from promptmgr import worker

        worker.serve(team.services, wait=False)
    team.services.experiment_jobs.wait(team.ctx("alpha"), "later", timeout=120)
    state = client.get(f"{API}/experiments/later/status", headers=lab).json()
    assert (state["status"], state["done"], state["total"]) == ("completed", 8, 8)
    listed = client.get(f"{API}/experiments", headers=lab).json()
    assert [e["name"] for e in listed] == ["later"] and listed[0]["cells"]["done"] == 8


def test_pause_while_running_then_resume_runs_each_cell_once(client, team, lab, fake_llm, conforms):
    import threading

    assert define(client, lab, "held", concurrency=1).status_code == 201
    queued = team.services.settings.queued_experiments
    fake_llm.gate = threading.Event()  # answers wait until the test lets them through
    try:
        started = client.post(f"{API}/experiments/held/run", headers=lab)
        assert started.status_code == 202 and started.json()["status"] == "running"
        running = client.get(f"{API}/experiments/held/status", headers=lab).json()
        assert (running["status"], running["live"], running["total"]) == ("running", True, 8)
        again = client.post(f"{API}/experiments/held/run", headers=lab)
        # In process: one job per experiment. Queued: more shards join the running experiment (the
        # service's rule for `run` of a running experiment); either way no cell runs twice (below).
        assert again.status_code == (202 if queued else 409)
        paused = client.post(f"{API}/experiments/held/pause", headers=lab)
        conforms(paused, "/experiments/{name}/pause", "POST")
        assert paused.status_code == 200, paused.text
        fake_llm.gate.set()
        if queued:  # the paused experiment's queued shards find nothing to do
            from promptmgr import worker

            worker.serve(team.services, wait=False)
        assert team.services.experiment_jobs.wait(team.ctx("alpha"), "held", timeout=120)
        state = client.get(f"{API}/experiments/held/status", headers=lab).json()
        assert (state["status"], state["live"]) == ("paused", False) and state["done"] < 8
        assert state["status_message"]  # why it stopped, in words
    finally:
        fake_llm.gate.set()
    resumed = client.post(f"{API}/experiments/held/resume", headers=lab)
    assert resumed.status_code == 202, resumed.text
    if queued:
        from promptmgr import worker

        worker.serve(team.services, wait=False)
    assert team.services.experiment_jobs.wait(team.ctx("alpha"), "held", timeout=120)
    done = client.get(f"{API}/experiments/held/status", headers=lab).json()
    assert (done["status"], done["done"], done["errors"]) == ("completed", 8, 0)
    assert fake_llm.chat_count == 8  # the resume ran only the cells the pause left


def test_a_viewer_cannot_define_run_or_label_and_another_workspace_sees_nothing(client, team, lab, fake_llm):
    assert define(client, lab).status_code == 201
    viewer = bearer(make_token(team, "editor", role="viewer"))
    assert client.get(f"{API}/experiments/ab/estimate", headers=viewer).status_code == 200
    refused = [define(client, viewer, "mine"), client.post(f"{API}/experiments/ab/run", headers=viewer),
               client.post(f"{API}/experiments/ab/cancel", headers=viewer),
               client.put(f"{API}/experiments/ab/cells/1/label", json={"passed": True}, headers=viewer),
               client.delete(f"{API}/experiments/ab", headers=viewer)]
    assert [r.status_code for r in refused] == [403] * 5
    assert client.get(f"{API}/experiments/ab", headers=viewer).json()["status"] == "draft"
    assert fake_llm.chat_count == 0
    beta = bearer(make_token(team, workspace="beta", user=team.both))
    assert client.get(f"{API}/experiments", headers=beta).json() == []
    for path in ("", "/estimate", "/status", "/summary", "/results", "/cells", "/promptfoo"):
        assert client.get(f"{API}/experiments/ab{path}", headers=beta).status_code == 404, path


def test_definition_errors_are_422_and_409(client, team, lab):
    assert define(client, lab).status_code == 201
    duplicate = define(client, lab)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "duplicate"
    no_dataset = define(client, lab, "x", dataset="nope")
    assert no_dataset.status_code == 404
    bad_check = define(client, lab, "y", checks=["no-such-check:1"])
    assert bad_check.status_code == 422
    too_many = define(client, lab, "z", repeats=1000)
    assert too_many.status_code == 422 and too_many.json()["error"]["details"]["fields"][0]["loc"] == ["body",
                                                                                                      "repeats"]
