"""promptfoo interop: import (prompts, providers, tests, defaultTest, asserts), the export promptfoo
runs, the round trip, and what is refused (unsupported parts named at once, unsafe paths, alias
bombs) with nothing half-imported."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
import yaml

from promptmgr.errors import DuplicateError, ValidationError
from promptmgr.schemas import PromptCreate, PromptQuery, parse


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def pf(services, ctx, fake_llm, tmp_path):
    """A tenant with a provider `fake` on the fake server and a promptfoo project folder."""
    services.providers.add(ctx, "fake", fake_llm.base_url)
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def config_text(base_url: str, asserts: str = "- {type: icontains, value: echo}") -> str:
    return f"""
    description: Capital cities
    prompts:
      - "Capital of {{{{country}}}}?"
      - file://prompts/formal.txt
    providers:
      - id: openai:chat:fake-model
        config:
          apiBaseUrl: {base_url}
          temperature: 0
      - id: openai:gpt-4o-mini
        config: {{temperature: 0}}
    defaultTest:
      assert:
        {asserts}
    tests:
      - vars: {{country: France}}
        description: the first
        assert:
          - type: contains
            value: Paris
      - vars: {{country: Japan}}
        assert:
          - type: contains
            value: Tokyo
      - file://tests.csv
    """


def project(folder: Path, base_url: str, **kw) -> Path:
    write(folder, "prompts/formal.txt", "Please name the capital of {{ country }}.")
    write(folder, "tests.csv", "country,__expected\nItaly,contains: Rome\n")
    return write(folder, "promptfooconfig.yaml", config_text(base_url, **kw))


def definition(services, ctx, name: str) -> dict:
    """What an experiment is, independent of its name and ids: prompt texts per variant, models,
    params, checks, threshold, repeats and the dataset rows."""
    experiment = services.experiments.get(ctx, name)
    variants = []
    for variant in experiment.variants:
        prompt = services.library.get(ctx, variant.prompt, version=variant.version)
        variants.append((prompt.content, variant.model, variant.params))
    rows = [(row.vars, row.expected) for row in services.datasets.rows(ctx, experiment.dataset)]
    return {"variants": variants, "checks": experiment.checks, "threshold": experiment.threshold,
            "repeats": experiment.repeats, "rows": rows}


def test_import_maps_prompts_providers_tests_and_asserts(services, ctx, pf, fake_llm):
    report = services.results.import_promptfoo(ctx, project(pf, fake_llm.base_url))
    assert report["experiment"] == "capital-cities" and report["rows"] == 3
    assert report["models"] == ["fake/fake-model", "gpt-4o-mini"]
    assert [p["created"] for p in report["prompts"]] == [True, True]
    experiment = services.experiments.get(ctx, "capital-cities")
    assert len(experiment.variants) == 4  # 2 prompts x 2 models
    assert all(v.params == {"temperature": 0} for v in experiment.variants)
    checks = [(c["type"], c.get("value")) for c in experiment.checks]
    # defaultTest's assert first, then the test's own: its value differs per test, so it reads `expected`
    assert checks == [("icontains", "echo"), ("contains", None)]
    rows = list(services.datasets.rows(ctx, "capital-cities"))
    assert [(r.vars, r.expected) for r in rows] == [({"country": "France"}, "Paris"), ({"country": "Japan"}, "Tokyo"),
                                                     ({"country": "Italy"}, "Rome")]
    assert rows[0].metadata.get("description") == "the first"
    contents = {services.library.get(ctx, p["ref"].split("@")[0]).content for p in report["prompts"]}
    assert contents == {"Capital of {{country}}?", "Please name the capital of {{ country }}."}


def test_prompts_already_in_the_library_are_reused(services, ctx, pf, fake_llm):
    services.library.create(ctx, parse(PromptCreate, {"name": "formal", "content": "Please name the capital of {{ country }}."}))
    report = services.results.import_promptfoo(ctx, project(pf, fake_llm.base_url), name="reuse")
    assert {p["ref"]: p["created"] for p in report["prompts"]}["formal@1"] is False
    before = services.library.list(ctx, PromptQuery()).total
    again = services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml", name="reuse-again")
    assert all(not p["created"] for p in again["prompts"])  # the second import creates no prompt
    assert services.library.list(ctx, PromptQuery()).total == before


def test_round_trip_import_export_import(services, ctx, pf, fake_llm, tmp_path):
    services.results.import_promptfoo(ctx, project(pf, fake_llm.base_url), name="first")
    exported = services.results.export_promptfoo(ctx, "first")
    # what promptfoo itself reads: inline prompts, provider ids with their config, tests with vars + assert
    assert all(isinstance(p["raw"], str) for p in exported["prompts"])
    assert exported["providers"][0] == {"id": "openai:chat:fake-model",
                                        "config": {"apiBaseUrl": fake_llm.base_url, "temperature": 0}}
    assert exported["tests"][0]["vars"] == {"country": "France"}
    assert exported["tests"][0]["assert"] == [{"type": "icontains", "value": "echo"},
                                              {"type": "contains", "value": "Paris"}]
    from promptmgr.evaluation.promptfoo_export import dump_config

    second = tmp_path / "second"
    second.mkdir()
    (second / "promptfooconfig.yaml").write_text(dump_config(exported), encoding="utf-8")
    services.results.import_promptfoo(ctx, second / "promptfooconfig.yaml", name="second")
    assert definition(services, ctx, "second") == definition(services, ctx, "first")
    assert services.experiments.get(ctx, "second").variants[0].prompt == \
        services.experiments.get(ctx, "first").variants[0].prompt  # same library prompts, not copies


def test_checks_shared_by_every_test_go_to_default_test(services, ctx, pf, fake_llm):
    write(pf, "promptfooconfig.yaml", f"""
    prompts: ["Hi {{{{name}}}}"]
    providers: [{{id: "openai:chat:m", config: {{apiBaseUrl: "{fake_llm.base_url}"}}}}]
    defaultTest:
      threshold: 0.5
      assert:
        - {{type: not-icontains, value: sorry, weight: 2}}
        - {{type: llm-rubric, value: Is polite}}
    tests:
      - vars: {{name: [Ada, Bob]}}
    evaluateOptions: {{repeat: 2, maxConcurrency: 3}}
    """)
    services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml", name="shared")
    experiment = services.experiments.get(ctx, "shared")
    assert (experiment.repeats, experiment.threshold) == (2, 0.5)
    assert [r.vars for r in services.datasets.rows(ctx, "shared")] == [{"name": "Ada"}, {"name": "Bob"}]
    exported = services.results.export_promptfoo(ctx, "shared")
    assert exported["defaultTest"]["assert"][0] == {"type": "not-icontains", "value": "sorry", "weight": 2.0}
    assert exported["defaultTest"]["threshold"] == 0.5
    assert exported["evaluateOptions"] == {"repeat": 2, "maxConcurrency": 3}
    assert all("assert" not in test for test in exported["tests"])


def _nothing_written(services, ctx):
    assert services.library.list(ctx, PromptQuery()).total == 0
    assert services.datasets.list(ctx) == []
    assert services.experiments.list(ctx) == []


def test_every_unsupported_part_is_named_in_one_error_and_nothing_is_imported(services, ctx, pf, fake_llm):
    write(pf, "promptfooconfig.yaml", f"""
    prompts: ["Hi {{{{name}}}}", "file://prompt.py"]
    providers: [exec:./run.sh, "openai:chat:m"]
    scenarios: []
    tests:
      - vars: {{name: Ada}}
        assert:
          - {{type: javascript, value: "output.length > 3"}}
          - {{type: contains, value: Ada}}
      - vars: {{name: Bob}}
        assert:
          - {{type: python, value: "len(output) > 3"}}
          - {{type: contains, value: Bob}}
    """)
    with pytest.raises(ValidationError) as caught:
        services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml")
    assert caught.value.message_key == "results.pf_unsupported"
    message = caught.value.translate("en")
    for part in ("assert javascript", "assert python", "provider exec:./run.sh", "prompt file://prompt.py",
                 "key scenarios"):
        assert part in message
    _nothing_written(services, ctx)


def test_a_failed_write_removes_what_the_import_wrote(services, ctx, pf, fake_llm, monkeypatch):
    def broken(*args, **kwargs):
        raise DuplicateError("results.experiment_exists", name="x")

    monkeypatch.setattr(type(services.experiments), "create", broken)
    with pytest.raises(DuplicateError):
        services.results.import_promptfoo(ctx, project(pf, fake_llm.base_url))
    _nothing_written(services, ctx)


def test_an_unknown_provider_url_is_named(services, ctx, pf):
    write(pf, "promptfooconfig.yaml", """
    prompts: [hi]
    providers: [{id: "openai:chat:m", config: {apiBaseUrl: "http://127.0.0.1:1/v1"}}]
    """)
    with pytest.raises(ValidationError) as caught:
        services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml")
    assert caught.value.message_key == "results.pf_unknown_provider"
    assert "openai:chat:m" in caught.value.translate("en") and "127.0.0.1:1" in caught.value.translate("en")


@pytest.mark.parametrize("ref", ["file://../secret.txt", "file://{outside}", "file://link.txt"])
def test_paths_outside_the_config_folder_are_refused(services, ctx, pf, tmp_path, ref):
    secret = write(tmp_path, "secret.txt", "the secret")
    os.symlink(secret, pf / "link.txt")
    write(pf, "promptfooconfig.yaml", f"""
    prompts: ["{ref.format(outside=secret)}"]
    providers: [openai:chat:m]
    """)
    with pytest.raises(ValidationError) as caught:
        services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml")
    assert caught.value.message_key == "results.pf_path_escape"
    _nothing_written(services, ctx)


def test_tests_file_outside_the_folder_is_refused(services, ctx, pf, tmp_path):
    write(tmp_path, "tests.csv", "name\nAda\n")
    write(pf, "promptfooconfig.yaml", """
    prompts: [hi]
    providers: [openai:chat:m]
    tests: file://../tests.csv
    """)
    with pytest.raises(ValidationError) as caught:
        services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml")
    assert caught.value.message_key == "results.pf_path_escape"


def test_a_yaml_alias_bomb_is_refused(services, ctx, pf):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 8)]
    (pf / "promptfooconfig.yaml").write_text("\n".join(lines) + "\nprompts: [hi]\nproviders: [openai:chat:m]\n"
                                             "tests: [{vars: {x: *a7}}]\n", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml")
    assert caught.value.message_key == "limits.yaml_aliases"


def test_a_bad_regex_names_its_place(services, ctx, pf):
    write(pf, "promptfooconfig.yaml", """
    prompts: [hi]
    providers: [openai:chat:m]
    tests: [{assert: [{type: regex, value: "(unclosed"}]}]
    """)
    with pytest.raises(ValidationError) as caught:
        services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml")
    assert caught.value.message_key == "results.pf_at"
    assert "tests[0].assert[0]" in caught.value.translate("en")


def test_chat_prompts_from_a_json_file(services, ctx, pf, fake_llm):
    write(pf, "chat.json", json.dumps([{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Capital of {{ country }}?"}]))
    write(pf, "promptfooconfig.yaml", f"""
    prompts: [{{id: file://chat.json, label: Brief Chat}}]
    providers: [{{id: "openai:chat:m", config: {{apiBaseUrl: "{fake_llm.base_url}"}}}}]
    tests: [{{vars: {{country: Peru}}}}]
    """)
    report = services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml", name="chat")
    assert report["prompts"] == [{"ref": "brief-chat@1", "created": True}]
    prompt = services.library.get(ctx, "brief-chat")
    assert prompt.kind == "chat" and [m["role"] for m in prompt.messages] == ["system", "user"]
    exported = services.results.export_promptfoo(ctx, "chat")
    assert json.loads(exported["prompts"][0]["raw"])[1] == {"role": "user", "content": "Capital of {{ country }}?"}


def test_exported_yaml_is_plain_and_reloadable(services, ctx, pf, fake_llm):
    from promptmgr.evaluation.promptfoo_export import dump_config

    services.results.import_promptfoo(ctx, project(pf, fake_llm.base_url), name="plain")
    text = dump_config(services.results.export_promptfoo(ctx, "plain"))
    assert "&" not in text and "!!python" not in text
    assert yaml.safe_load(text)["description"] == "Capital cities"


@pytest.mark.parametrize("prompt", ["{{ unclosed", "{{ answer | dump }}"])
def test_a_prompt_our_templates_cannot_run_is_refused_before_anything_is_written(services, ctx, pf, prompt):
    write(pf, "promptfooconfig.yaml", f"""
    prompts: ["Fine {{{{x}}}}", "{prompt}"]
    providers: [openai:chat:m]
    tests: [{{vars: {{x: 1}}}}]
    """)
    with pytest.raises(ValidationError) as caught:
        services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml")
    assert caught.value.message_key == "results.pf_at" and "prompts[1]" in caught.value.translate("en")
    _nothing_written(services, ctx)


def test_the_number_of_tests_is_bounded(services, ctx, pf, monkeypatch):
    from promptmgr.evaluation import promptfoo

    monkeypatch.setattr(promptfoo, "MAX_ROWS", 5)
    write(pf, "tests.csv", "x\n" + "\n".join(str(i) for i in range(10)) + "\n")
    write(pf, "promptfooconfig.yaml", """
    prompts: ["{{x}}"]
    providers: [openai:chat:m]
    tests: file://tests.csv
    """)
    with pytest.raises(ValidationError) as caught:
        services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml")
    assert caught.value.message_key == "limits.too_many"
    # list-valued vars expand to their combinations: bounded the same way
    write(pf, "promptfooconfig.yaml", """
    prompts: ["{{a}}{{b}}"]
    providers: [openai:chat:m]
    tests: [{vars: {a: [1, 2, 3], b: [1, 2, 3]}}]
    """)
    with pytest.raises(ValidationError):
        services.results.import_promptfoo(ctx, pf / "promptfooconfig.yaml")
    _nothing_written(services, ctx)


@pytest.mark.parametrize("ident, model", [
    ("openai:gpt-4o-mini", "gpt-4o-mini"), ("openai:chat:gpt-4o", "gpt-4o"), ("ollama:llama3", "ollama/llama3"),
    ("ollama:chat:llama3.1:8b", "ollama/llama3.1:8b"), ("anthropic:messages:claude-3-5-haiku", "anthropic/claude-3-5-haiku"),
    ("mistral:mistral-small", "mistral/mistral-small")])
def test_provider_ids_map_to_model_strings(ident, model):
    from promptmgr.evaluation.promptfoo import parse_providers

    unsupported: list[str] = []
    assert parse_providers([ident], {}, unsupported)[0] == [model] and unsupported == []


def test_csv_expected_cells_and_var_files(services, ctx, pf, fake_llm):
    from promptmgr.evaluation.promptfoo import Folder, parse_tests

    write(pf, "long.txt", "a long text")
    write(pf, "tests.csv", "q,__expected,__description\n"
                           "one,grade: is kind,first\n"
                           "two,not-contains(0.5): rude,second\n"
                           "three,plain answer,third\n")
    unsupported: list[str] = []
    rows, checks, _ = parse_tests({"tests": "file://tests.csv", "defaultTest": {"vars": {"doc": "file://long.txt"}}},
                                  Folder(pf / "promptfooconfig.yaml"), unsupported)
    assert [r["vars"] for r in rows] == [{"doc": "a long text", "q": q} for q in ("one", "two", "three")]
    assert [r["metadata"]["description"] for r in rows] == ["first", "second", "third"]
    # the three rows assert different kinds (llm-rubric, not-contains, equals): named, not guessed
    assert checks == [] and "tests with different kinds of assert" in unsupported[0]
