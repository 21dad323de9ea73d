"""Experiment definitions on SQLite and PostgreSQL: variants are prompts x models pinned to versions,
named PROMPT@VERSION/MODEL; the baseline; one pending cell per (variant, row, repeat); every input
validated with nothing written on error; tenants isolated."""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from promptmgr.errors import (ConflictError, DuplicateError, NotFoundError, PermissionDeniedError,
                              PromptMgrError, ValidationError)
from promptmgr.models_experiments import Cell, Variant
from promptmgr.schemas import PromptCreate, PromptUpdate, parse
from promptmgr.services.experiments import parse_prompt_ref


def _csv(tmp_path, rows: int, name: str = "rows.csv"):
    path = tmp_path / name
    path.write_text("question\n" + "".join(f"q{i}\n" for i in range(rows)), encoding="utf-8")
    return path


@pytest.fixture
def world(services, ctx, tmp_path):
    """Prompt `greet` at versions 1 (label staging) and 2, prompt `other`, a provider, a 3-row dataset."""
    services.providers.add(ctx, "fake", "http://127.0.0.1:9/v1")
    services.library.create(ctx, parse(PromptCreate, {"name": "greet", "content": "Hi {{ question }}"}))
    services.library.set_label(ctx, "greet", "staging")
    services.library.update(ctx, "greet", parse(PromptUpdate, {"content": "Hello {{ question }}", "base_version": 1}))
    services.library.create(ctx, parse(PromptCreate, {"name": "other", "content": "Yo {{ question }}"}))
    services.datasets.add(ctx, "qa", _csv(tmp_path, 3))
    return services


def _cells(services, experiment_name: str):
    with services.db.session() as session:
        from promptmgr.models_experiments import Experiment

        experiment = session.exec(select(Experiment).where(Experiment.name == experiment_name)).one()
        variants = {v.id: v.name for v in session.exec(select(Variant).where(Variant.experiment_id == experiment.id))}
        return [(variants[c.variant_id], c.row_position, c.repeat, c.status, c.id)
                for c in session.exec(select(Cell).where(Cell.experiment_id == experiment.id).order_by(Cell.id))]


def test_variants_are_the_product_of_prompts_and_models(world, ctx):
    experiment = world.experiments.create(ctx, "ab", dataset="qa", prompts=["greet", "other"],
                                          models=["fake/small", "fake/large"], checks=["contains:Hello"])
    assert [v.name for v in experiment.variants] == [
        "greet@2/fake/small", "greet@2/fake/large", "other@1/fake/small", "other@1/fake/large"]
    assert experiment.baseline == "greet@2/fake/small"
    assert (experiment.status, experiment.dataset, experiment.dataset_version) == ("draft", "qa", 1)
    assert experiment.cells.model_dump() == {"total": 12, "pending": 12, "running": 0, "done": 0, "error": 0}
    assert experiment.checks == [{"type": "contains", "value": "Hello", "weight": 1.0}]
    assert world.experiments.get(ctx, "ab") == experiment
    assert [e.name for e in world.experiments.list(ctx)] == ["ab"]


def test_prompts_are_pinned_to_versions(world, ctx):
    experiment = world.experiments.create(ctx, "pins", dataset="qa", prompts=["greet", "greet:staging"],
                                          models=["fake/m"])
    assert [(v.prompt, v.version, v.prompt_ref) for v in experiment.variants] == [
        ("greet", 2, "latest"), ("greet", 1, ":staging")]
    world.library.update(ctx, "greet", parse(PromptUpdate, {"content": "Changed {{ question }}", "base_version": 2}))
    world.library.set_label(ctx, "greet", "staging", 3)
    again = world.experiments.get(ctx, "pins")
    assert [(v.name, v.version) for v in again.variants] == [("greet@2/fake/m", 2), ("greet@1/fake/m", 1)]
    numbered = world.experiments.create(ctx, "numbered", dataset="qa", prompts=["greet@1"], models=["fake/m"])
    assert [(v.name, v.prompt_ref) for v in numbered.variants] == [("greet@1/fake/m", "@1")]


def test_one_pending_cell_per_variant_row_and_repeat(world, ctx, tmp_path, monkeypatch):
    import promptmgr.services.experiments as module

    # Small statements: 2 rows (12 cells) each, the last one short.
    monkeypatch.setattr(module, "CELL_CHUNK", 13)
    world.datasets.add(ctx, "big", _csv(tmp_path, 23, "big.csv"))
    experiment = world.experiments.create(ctx, "many", dataset="big", prompts=["greet", "other"], models=["fake/m"],
                                          repeats=3, params={"temperature": 0, "max_tokens": "20"}, seed=7,
                                          concurrency=16)
    cells = _cells(world, "many")
    assert len(cells) == experiment.cells.total == 23 * 2 * 3
    keys = Counter((variant, row, repeat) for variant, row, repeat, _status, _id in cells)
    assert set(keys.values()) == {1}
    assert {k[0] for k in keys} == {"greet@2/fake/m", "other@1/fake/m"}
    assert {k[1] for k in keys} == set(range(1, 24)) and {k[2] for k in keys} == {0, 1, 2}
    assert {c[3] for c in cells} == {"pending"}
    # Row by row in id order: every row's cells come before the next row's.
    assert [c[1] for c in cells] == sorted(c[1] for c in cells)
    assert experiment.variants[0].params == {"temperature": 0.0, "max_tokens": 20}
    assert (experiment.repeats, experiment.seed, experiment.concurrency) == (3, 7, 16)


def test_a_pinned_dataset_version(world, ctx, tmp_path):
    world.datasets.add(ctx, "qa", _csv(tmp_path, 5, "v2.csv"))
    latest = world.experiments.create(ctx, "latest", dataset="qa", prompts=["greet"], models=["fake/m"])
    pinned = world.experiments.create(ctx, "pinned", dataset="qa", dataset_version=1, prompts=["greet"],
                                      models=["fake/m"])
    assert (latest.dataset_version, latest.cells.total) == (2, 5)
    assert (pinned.dataset_version, pinned.cells.total) == (1, 3)


def test_the_baseline(world, ctx):
    chosen = world.experiments.create(ctx, "chosen", dataset="qa", prompts=["greet", "other"], models=["fake/m"],
                                      baseline="other@1/fake/m")
    assert chosen.baseline == "other@1/fake/m"
    with pytest.raises(ValidationError) as caught:
        world.experiments.create(ctx, "wrong", dataset="qa", prompts=["greet", "other"], models=["fake/m"],
                                 baseline="other@2/fake/m")
    assert caught.value.message_key == "experiments.bad_baseline"
    assert "greet@2/fake/m" in caught.value.translate("en")


INVALID = [
    ({"prompts": []}, "experiments.no_prompts"),
    ({"models": []}, "experiments.no_models"),
    ({"prompts": ["greet", "greet@2"]}, "experiments.duplicate_variant"),
    ({"models": ["fake/m", "fake/m"]}, "experiments.duplicate_variant"),
    ({"prompts": ["greet@x"]}, "experiments.bad_prompt_ref"),
    ({"prompts": ["greet@0"]}, "experiments.bad_prompt_ref"),
    ({"prompts": ["greet:"]}, "experiments.bad_prompt_ref"),
    ({"prompts": ["a@1@2"]}, "experiments.bad_prompt_ref"),
    ({"prompts": ["Bad Name"]}, "experiments.bad_prompt_ref"),
    ({"repeats": 0}, "experiments.out_of_range"),
    ({"repeats": 101}, "experiments.out_of_range"),
    ({"repeats": True}, "experiments.out_of_range"),
    ({"concurrency": 0}, "experiments.out_of_range"),
    ({"concurrency": 257}, "experiments.out_of_range"),
    ({"seed": -1}, "experiments.out_of_range"),
    ({"threshold": 1.5}, "experiments.bad_threshold"),
    ({"max_cost": -1}, "experiments.bad_max_cost"),
    ({"params": {"nonsense": 1}}, "testing.unknown_param"),
    ({"params": {"temperature": "hot"}}, "testing.bad_param"),
    ({"params": "temperature=1"}, "experiments.bad_params"),
    ({"checks": "contains:x"}, "experiments.bad_checks"),
    ({"checks": ["contains:x"] * 51}, "experiments.too_many"),
    ({"prompts": [f"p{i}" for i in range(21)]}, "experiments.too_many"),
    ({"prompts": ["greet", "other"], "models": [f"fake/m{i}" for i in range(51)]}, "experiments.too_many"),
    ({"models": ["nosuchprovider/model"]}, "experiments.unknown_provider"),
    ({"models": ["has space"]}, "providers.bad_model"),
    ({"description": "x" * 10_001}, "limits.too_long"),
    ({"name": "Bad Name"}, "datasets.bad_name"),
    ({"dataset_version": 9}, "datasets.version_not_found"),
    ({"dataset": "nope"}, "datasets.not_found"),
    ({"prompts": ["missing"]}, "errors.not_found"),
    ({"prompts": ["greet@9"]}, "errors.not_found"),
    ({"prompts": ["greet:nolabel"]}, "errors.not_found"),
]


def test_every_input_is_validated_and_nothing_is_written(world, ctx):
    wrong = []
    for change, key in INVALID:
        arguments = {"name": "bad", "dataset": "qa", "prompts": ["greet"], "models": ["fake/m"], **change}
        name = arguments.pop("name")
        try:
            world.experiments.create(ctx, name, **arguments)
            wrong.append((change, "accepted"))
        except PromptMgrError as exc:
            if exc.message_key != key:
                wrong.append((str(change)[:80], exc.message_key))
            assert "%{" not in exc.translate("ja")
    assert wrong == []
    assert world.experiments.list(ctx) == []
    with world.db.session() as session:
        assert session.exec(select(Cell)).all() == [] and session.exec(select(Variant)).all() == []


def test_checks_go_through_the_registry(world, ctx):
    from promptmgr.evaluation.spec import CheckSpec

    bad = {"": "evaluation.check_empty", "contains:" + "x" * 10_001: "evaluation.check_too_long",
           "nosuch:x": "evaluation.unknown_type", "regex:(": None, "cost:cheap": None}
    for text, key in bad.items():
        with pytest.raises(ValidationError) as caught:
            world.experiments.create(ctx, "checks", dataset="qa", prompts=["greet"], models=["fake/m"], checks=[text])
        assert key is None or caught.value.message_key == key, text
    assert world.experiments.list(ctx) == []
    made = world.experiments.create(ctx, "checks", dataset="qa", prompts=["greet"], models=["fake/m"], checks=[
        "regex:^\\d+$", "is-json", CheckSpec(type="contains", value="x", weight=2.0),
        {"type": "icontains", "value": "no", "negate": True}])
    assert [c["type"] for c in made.checks] == ["regex", "is-json", "contains", "icontains"]
    assert made.checks[2]["weight"] == 2.0 and made.checks[3]["negate"] is True


def test_names_are_unique_and_removal(world, ctx):
    world.experiments.create(ctx, "once", dataset="qa", prompts=["greet"], models=["fake/m"])
    with pytest.raises(DuplicateError):
        world.experiments.create(ctx, "once", dataset="qa", prompts=["other"], models=["fake/m"])
    with pytest.raises(ConflictError) as caught:
        world.datasets.remove(ctx, "qa")
    assert "once" in caught.value.translate("en")
    world.experiments.remove(ctx, "once")
    assert world.experiments.list(ctx) == [] and _cells_count(world) == 0
    world.datasets.remove(ctx, "qa")
    with pytest.raises(NotFoundError):
        world.experiments.remove(ctx, "once")
    with pytest.raises(NotFoundError):
        world.experiments.get(ctx, "once")


def _cells_count(services) -> int:
    with services.db.session() as session:
        return len(session.exec(select(Cell.id)).all())


def test_viewers_read_and_editors_create(world, ctx):
    world.experiments.create(ctx, "seen", dataset="qa", prompts=["greet"], models=["fake/m"])
    viewer, editor = replace(ctx, role="viewer"), replace(ctx, role="editor")
    assert [e.name for e in world.experiments.list(viewer)] == ["seen"]
    with pytest.raises(PermissionDeniedError):
        world.experiments.create(viewer, "no", dataset="qa", prompts=["greet"], models=["fake/m"])
    with pytest.raises(PermissionDeniedError):
        world.experiments.remove(viewer, "seen")
    assert world.experiments.create(editor, "yes", dataset="qa", prompts=["greet"], models=["fake/m"]).author


def test_prompt_references():
    assert parse_prompt_ref("p") == ("p", None, None, "latest")
    assert parse_prompt_ref(" p@12 ") == ("p", 12, None, "@12")
    assert parse_prompt_ref("p:prod") == ("p", None, "prod", ":prod")
    for bad in ("", "@1", ":x", "p@", "p@-1", "p:a:b", "p@1:x", None, 5):
        with pytest.raises(ValidationError):
            parse_prompt_ref(bad)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(0, 1), st.sampled_from(["e1", "e2", "e3"])), min_size=1, max_size=5))
def test_a_tenant_never_sees_another_tenants_experiments(services, tmp_path, plan):
    run = uuid.uuid4().hex[:8]
    tenants = [services.admin.ensure_tenant(f"x{i}-{run}", f"Tenant {i}", "user")[0] for i in range(2)]
    for who, ctx in enumerate(tenants):
        services.providers.add(ctx, "fake", "http://127.0.0.1:9/v1")
        services.library.create(ctx, parse(PromptCreate, {"name": f"p{who}", "content": "x {{ question }}"}))
        services.datasets.add(ctx, f"d{who}", _csv(tmp_path, who + 1, f"{run}-{who}.csv"))
    made: list[set[str]] = [set(), set()]
    for who, name in plan:
        ctx, other = tenants[who], 1 - who
        # The other tenant's dataset and prompt do not exist for this one.
        with pytest.raises(NotFoundError):
            services.experiments.create(ctx, "probe", dataset=f"d{other}", prompts=[f"p{who}"], models=["fake/m"])
        with pytest.raises(NotFoundError):
            services.experiments.create(ctx, "probe", dataset=f"d{who}", prompts=[f"p{other}"], models=["fake/m"])
        try:
            services.experiments.create(ctx, name, dataset=f"d{who}", prompts=[f"p{who}"], models=["fake/m"])
            made[who].add(name)
        except DuplicateError:
            assert name in made[who]
    for who, ctx in enumerate(tenants):
        listed = services.experiments.list(ctx)
        assert {e.name for e in listed} == made[who]
        assert all(e.dataset == f"d{who}" and e.cells.total == who + 1 for e in listed)
        for name in made[1 - who] - made[who]:
            with pytest.raises(NotFoundError):
                services.experiments.get(ctx, name)
            with pytest.raises(NotFoundError):
                services.experiments.remove(ctx, name)
