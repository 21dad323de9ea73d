"""ExperimentResultService: `experiments show` numbers on a hand-built experiment (every figure
computed by hand or with scipy/statsmodels), the results export in its three formats, human labels."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest

from promptmgr.errors import NotFoundError, PermissionDeniedError, ValidationError
from promptmgr.models import Run
from promptmgr.models_experiments import Cell, Dataset, DatasetRow, DatasetVersion, Experiment, Variant
from promptmgr.schemas import PromptCreate, parse

CHECK = {"type": "contains", "value": "ok"}


def build_experiment(services, ctx, name: str, cells: dict[str, list[tuple]], *, rows: int = 10,
                     checks: list[dict] | None = None, status: str = "completed") -> dict:
    """An experiment written straight into the tables, with runs, as the runner leaves it.

    cells: variant model -> one tuple per row: ("pass"|"fail"|"error"|"pending", cost, latency_ms, output).
    The variants share the prompt `greet@1`; the first is the baseline. Returns variant name -> cell ids."""
    checks = [CHECK] if checks is None else checks
    try:
        services.library.get(ctx, "greet")
    except NotFoundError:
        services.library.create(ctx, parse(PromptCreate, {"name": "greet", "content": "Say ok to {{ who }}"}))
    ids: dict[str, list[int]] = {}
    with services.db.session(write=True) as session:
        def add(row):
            row.tenant_id = ctx.tenant_id
            session.add(row)
            session.flush()
            return row

        dataset = add(Dataset(name=f"ds-{name}"))
        version = add(DatasetVersion(dataset_id=dataset.id, number=1, row_count=rows, columns=["who"]))
        data_rows = [add(DatasetRow(version_id=version.id, position=i + 1, uid=f"u{i}", vars={"who": f"p{i}"},
                                    expected=f"e{i}", meta={"description": f"row {i}"})) for i in range(rows)]
        models = list(cells)
        experiment = add(Experiment(name=name, dataset_id=dataset.id, dataset_name=dataset.name, dataset_version=1,
                                    checks=checks, baseline=f"greet@1/{models[0]}", status=status, seed=0))
        for position, model in enumerate(models):
            variant = add(Variant(experiment_id=experiment.id, position=position, name=f"greet@1/{model}",
                                  prompt_name="greet", version_number=1, model=model))
            ids[variant.name] = []
            for row, (state, cost, latency, output) in zip(data_rows, cells[model]):
                run = None
                if state != "pending":
                    run = add(Run(prompt_name="greet", version_number=1, model=model, output=output,
                                  variables=row.vars, rendered_input=[{"role": "user", "content": f"Say ok to {row.vars['who']}"}],
                                  prompt_tokens=4, completion_tokens=2, cost=cost, latency_ms=latency,
                                  error_code="server" if state == "error" else None, experiment_id=experiment.id,
                                  variant=variant.name, dataset_row=row.position))
                passed = {"pass": True, "fail": False}.get(state)
                scores = [] if passed is None else [{"check": "contains:ok", "pass": passed, "score": float(passed),
                                                     "reason": "" if passed else "missing ok"}]
                cell = add(Cell(experiment_id=experiment.id, variant_id=variant.id, row_id=row.id,
                                row_position=row.position, repeat=0,
                                status={"pass": "done", "fail": "done"}.get(state, state),
                                run_id=run.id if run else None, passed=passed,
                                score=None if passed is None else float(passed), scores=scores,
                                cost=cost if state != "pending" else 0.0,
                                error_code="server" if state == "error" else None))
                ids[variant.name].append(cell.id)
    return ids


def ab_experiment(services, ctx, name: str = "ab") -> dict:
    """A: rows 0-5 pass, 6-9 fail. B: rows 0-7 pass, row 8 fails, row 9 errors."""
    a = [("pass" if i < 6 else "fail", 0.001, 100.0 * (i + 1), "ok" if i < 6 else "no") for i in range(10)]
    b = [("pass" if i < 8 else "fail", 0.002, 50.0 * (i + 1), "ok!" if i < 8 else "=HYPERLINK(\"x\")")
         for i in range(9)] + [("error", 0.0, 0.0, "")]
    return build_experiment(services, ctx, name, {"model-a": a, "model-b": b})


def test_show_gives_the_numbers_computed_by_hand(services, ctx):
    from scipy.stats import binomtest
    from statsmodels.stats.proportion import proportion_confint

    ab_experiment(services, ctx)
    shown = services.results.show(ctx, "ab")
    assert shown["name"] == "ab" and shown["status"] == "completed"
    assert shown["cells"] == {"total": 20, "done": 19, "errors": 1, "pending": 0, "running": 0}
    assert shown["cost"] == pytest.approx(10 * 0.001 + 9 * 0.002)
    a, b = shown["variants"]
    assert (a["name"], a["prompt"], a["version"], a["model"]) == ("greet@1/model-a", "greet", 1, "model-a")
    assert (a["n"], a["passed"], a["errors"]) == (10, 6, 0)
    assert (b["n"], b["passed"], b["errors"]) == (9, 8, 1)
    assert a["pass_rate"] == pytest.approx(0.6) and b["pass_rate"] == pytest.approx(8 / 9)
    assert a["ci"] == pytest.approx(list(proportion_confint(6, 10, method="wilson")), abs=1e-12)
    assert b["ci"] == pytest.approx(list(proportion_confint(8, 9, method="wilson")), abs=1e-12)
    assert a["cost"] == pytest.approx(0.01) and b["cost"] == pytest.approx(0.018)
    # numpy's linear percentiles: A's latencies 100..1000, B's graded ones 50..450 (the error has none)
    assert (a["latency_p50_ms"], a["latency_p95_ms"]) == (pytest.approx(550.0), pytest.approx(955.0))
    assert (b["latency_p50_ms"], b["latency_p95_ms"]) == (pytest.approx(250.0), pytest.approx(430.0))
    assert a["cost_per_pass"] == pytest.approx(0.01 / 6)
    # Rows graded in both: 0-8. Only B passes rows 6 and 7 (c=2), only A none (b=0).
    assert [(c["variant"], c["check"]) for c in shown["comparisons"]] == [
        ("greet@1/model-b", "all"), ("greet@1/model-b", "contains:ok")]
    exact = binomtest(0, 2, 0.5).pvalue
    for comparison in shown["comparisons"]:
        assert comparison["baseline"] == "greet@1/model-a"
        assert (comparison["b"], comparison["c"], comparison["n_pairs"]) == (0, 2, 9)
        assert comparison["p_value"] == pytest.approx(exact) == pytest.approx(0.5)
        assert comparison["p_midp"] == pytest.approx(0.25)
        assert comparison["p_holm"] == pytest.approx(1.0)  # two p-values of 0.5 under Holm
        assert comparison["diff"] == pytest.approx(2 / 9)
        low, high = comparison["ci"]
        assert low <= 2 / 9 <= high
        assert comparison["verdict"] == "inconclusive" and comparison["rows_needed"] > 9
    json.dumps(shown, allow_nan=False)  # strict JSON: no NaN anywhere


def test_show_of_an_experiment_with_nothing_finished(services, ctx):
    build_experiment(services, ctx, "fresh", {"m1": [("pending", 0, 0, "")] * 3, "m2": [("pending", 0, 0, "")] * 3},
                     rows=3, status="draft")
    shown = services.results.show(ctx, "fresh")
    assert shown["cells"] == {"total": 6, "done": 0, "errors": 0, "pending": 6, "running": 0}
    assert [v["n"] for v in shown["variants"]] == [0, 0]
    assert all(v["pass_rate"] is None for v in shown["variants"])
    json.dumps(shown, allow_nan=False)


def test_show_of_an_unknown_experiment(services, ctx):
    with pytest.raises(NotFoundError):
        services.results.show(ctx, "nope")


def _text(chunks) -> str:
    return "".join(chunks)


def test_results_json_is_shaped_like_promptfoos_output(services, ctx):
    ab_experiment(services, ctx)
    data = json.loads(_text(services.results.results(ctx, "ab", "json")))
    assert data["evalId"] == "ab"
    results = data["results"]["results"]
    assert len(results) == 19 + 1  # every finished cell: 19 done, 1 error
    first = results[0]
    assert first["prompt"] == {"raw": "Say ok to p0", "label": "greet@1"}
    assert first["provider"] == {"id": "model-a", "label": "greet@1/model-a"}
    assert first["vars"] == {"who": "p0"} and first["testCase"]["description"] == "row 0"
    assert (first["testIdx"], first["row"]) == (0, 1)  # promptfoo counts tests from 0, datasets rows from 1
    assert first["response"]["output"] == "ok" and first["response"]["tokenUsage"] == {
        "prompt": 4, "completion": 2, "total": 6}
    assert first["success"] is True and first["score"] == 1.0 and first["failureReason"] == 0
    assert first["gradingResult"]["componentResults"][0]["pass"] is True
    assert first["gradingResult"]["componentResults"][0]["assertion"] == {
        "type": "contains", "value": "ok", "metric": "contains:ok"}
    assert first["namedScores"] == {"contains:ok": 1.0}
    assert first["cost"] == pytest.approx(0.001) and first["latencyMs"] == 100.0
    errored = [r for r in results if r["failureReason"] == 2]
    assert len(errored) == 1 and errored[0]["success"] is False and errored[0]["error"]
    stats = data["results"]["stats"]
    assert (stats["successes"], stats["failures"], stats["errors"]) == (14, 5, 1)
    assert stats["tokenUsage"]["total"] == 20 * 6
    by_label = {p["variant"]: p["metrics"] for p in data["results"]["prompts"]}
    assert by_label["greet@1/model-b"]["testPassCount"] == 8
    assert data["results"]["prompts"][0]["raw"] == "Say ok to {{ who }}"


def test_results_jsonl_and_csv(services, ctx):
    ab_experiment(services, ctx)
    lines = _text(services.results.results(ctx, "ab", "jsonl")).splitlines()
    assert len(lines) == 20 and all(json.loads(line)["variant"].startswith("greet@1/") for line in lines)
    table = list(csv.DictReader(io.StringIO(_text(services.results.results(ctx, "ab", "csv")))))
    assert len(table) == 20
    assert table[0]["variant"] == "greet@1/model-a" and table[0]["pass"] == "True"
    assert table[0]["check:contains:ok"] == "pass" and table[0]["score:contains:ok"] == "1.0"
    assert json.loads(table[0]["vars"]) == {"who": "p0"} and table[0]["expected"] == "e0"
    # A spreadsheet would run this output as a formula: the export quotes it.
    formula = [row for row in table if row["variant"] == "greet@1/model-b" and row["row"] == "9"][0]
    assert formula["output"] == "'=HYPERLINK(\"x\")" and formula["status"] == "fail"
    assert [row["status"] for row in table].count("error") == 1


def test_results_refuse_an_unknown_format(services, ctx):
    ab_experiment(services, ctx)
    with pytest.raises(ValidationError) as caught:
        services.results.results(ctx, "ab", "xml")
    assert caught.value.message_key == "results.bad_format"


def test_results_stream_in_chunks_without_blocking_writers(services, ctx, monkeypatch):
    """Cells are read a chunk at a time: with chunks of 3, the 20 cells still all come out, once each,
    and a label written while the export is half-way through neither waits nor breaks it."""
    from promptmgr.services import experiment_results

    cells = ab_experiment(services, ctx)
    monkeypatch.setattr(experiment_results, "CHUNK", 3)
    stream = services.results.results(ctx, "ab", "jsonl")
    lines = [next(stream) for _ in range(4)]
    services.results.label(ctx, "ab", cells["greet@1/model-b"][-2], False, comment="mid-export")
    lines += list(stream)
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == 20 and len(set(ids)) == 20 and ids == sorted(ids)
    assert services.results.show(ctx, "ab")["variants"][1]["n"] == 9


def test_label_records_who_and_when_and_feeds_agreement(services, ctx):
    ids = ab_experiment(services, ctx)
    cells = ids["greet@1/model-a"]
    # check verdicts on rows 0, 1, 6, 7: pass, pass, fail, fail; human labels: pass, pass, fail, pass
    for row, human in ((0, True), (1, True), (6, False), (7, True)):
        label = services.results.label(ctx, "ab", cells[row], human, score=1.0 if human else 0.0, comment="seen")
    assert label["pass"] is True and label["comment"] == "seen" and label["by"] and label["at"]
    with services.db.session() as session:
        stored = session.get(Cell, cells[7])
        assert stored.human_pass is True and stored.human_by == ctx.user_id and stored.human_at is not None
    agreement = services.results.show(ctx, "ab")["agreement"]
    overall = [a for a in agreement if a["variant"] == "greet@1/model-a" and a["check"] == "all"]
    # observed agreement 3/4, chance 0.5*0.75 + 0.5*0.25 = 0.5: kappa (0.75-0.5)/(1-0.5) = 0.5
    assert overall == [{"variant": "greet@1/model-a", "check": "all", "kappa": pytest.approx(0.5), "n": 4}]
    rows = [json.loads(line) for line in _text(services.results.results(ctx, "ab", "jsonl")).splitlines()]
    assert [r["humanLabel"]["pass"] for r in rows if r["id"] == cells[6]] == [False]


@pytest.mark.parametrize("score", [-0.1, 1.5, float("nan"), float("inf")])
def test_label_refuses_a_score_outside_0_to_1(services, ctx, score):
    ids = ab_experiment(services, ctx)
    with pytest.raises(ValidationError) as caught:
        services.results.label(ctx, "ab", ids["greet@1/model-a"][0], True, score=score)
    assert caught.value.message_key == "results.bad_score"


def test_label_refuses_unknown_and_unfinished_cells_and_viewers(services, ctx):
    ids = build_experiment(services, ctx, "half", {"m": [("pass", 0.0, 1.0, "ok"), ("pending", 0, 0, "")]}, rows=2)
    done, pending = ids["greet@1/m"]
    with pytest.raises(ValidationError) as caught:
        services.results.label(ctx, "half", pending, True)
    assert caught.value.message_key == "results.cell_not_finished"
    with pytest.raises(NotFoundError):
        services.results.label(ctx, "half", 999_999, True)
    with pytest.raises(ValidationError):
        services.results.label(ctx, "half", done, True, comment="x" * 2001)
    with pytest.raises(PermissionDeniedError):
        services.results.label(replace(ctx, role="viewer"), "half", done, True)
    with services.db.session() as session:
        assert session.get(Cell, done).human_pass is None  # nothing was written by the refused calls
