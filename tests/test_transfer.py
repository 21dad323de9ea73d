"""Import/export: lossless round trips in JSON and YAML, conflict policies, all-or-nothing."""
from __future__ import annotations

import pytest

from promptmgr.errors import ValidationError
from promptmgr.services.transfer import dump_document, load_document
from promptmgr.schemas import PromptCreate, PromptUpdate, parse


@pytest.fixture
def library(services, ctx):
    lib = services.library
    lib.create(ctx, parse(PromptCreate, {"name": "a", "content": "A1 {{ x }}", "title": "A", "tags": ["t1", "t2"],
                                          "category": "c", "metadata": {"m": [1, 2]}, "visibility": "public",
                                          "variables": [{"name": "x", "type": "integer", "default": 2}]}))
    lib.update(ctx, "a", parse(PromptUpdate, {"content": "A2 {{ x }}", "message": "second"}))
    lib.set_label(ctx, "a", "production", 1)
    lib.set_label(ctx, "a", "staging", 2)
    lib.create(ctx, parse(PromptCreate, {"name": "chat", "kind": "chat", "is_enhancement": True, "messages": [
        {"role": "system", "content": [{"type": "text", "text": "Sys {{ y }}"}]},
        {"role": "user", "content": [{"type": "image", "url": "file:abc.png"}, {"type": "text", "text": "Ünïcode ✓"}]}]}))
    return lib


def _comparable(document):
    return [{k: v for k, v in p.items()} for p in document["prompts"]]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_round_trip_is_lossless(services, ctx, library, fmt):
    exported = services.transfer.export(ctx)
    text = dump_document(exported, fmt)
    other, _ = services.admin.ensure_tenant("other", "Other", "local")
    report = services.transfer.import_(other, load_document(text, fmt))
    assert sorted(report.created) == ["a", "chat"]
    assert _comparable(services.transfer.export(other)) == _comparable(exported)
    assert services.library.get(other, "a", label="production").content == "A1 {{ x }}"
    assert services.library.get(other, "chat").messages[1]["content"][0]["url"] == "file:abc.png"


def test_conflict_policies(services, ctx, library):
    document = services.transfer.export(ctx)
    document["prompts"][0]["versions"].append({"number": 3, "content": "A3 {{ x }}", "message": "from file"})
    assert services.transfer.import_(ctx, document, "skip").skipped == ["a", "chat"]
    assert services.library.get(ctx, "a").version == 2
    renamed = services.transfer.import_(ctx, document, "rename")
    assert renamed.renamed == [("a", "a-2"), ("chat", "chat-2")]
    assert [v.number for v in services.library.history(ctx, "a-2")] == [1, 2, 3]
    updated = services.transfer.import_(ctx, document, "overwrite")
    assert updated.updated == ["a", "chat"]
    a = services.library.get(ctx, "a")
    assert a.version == 3 and a.content == "A3 {{ x }}"  # overwrite = a new version, history kept
    assert [v.content for v in services.library.history(ctx, "a")][:2] == ["A1 {{ x }}", "A2 {{ x }}"]


@pytest.mark.parametrize("broken", [
    lambda d: d["prompts"].append({"name": "Bad Name", "versions": [{"content": "x"}]}),
    lambda d: d["prompts"].append({"name": "ok", "versions": []}),
    lambda d: d["prompts"].append({"name": "ok", "versions": [{"content": "{% if %}"}]}),
    lambda d: d["prompts"].append({"name": "ok", "versions": [{"number": 2, "content": "x"}]}),
    lambda d: d["prompts"].append({"name": "ok", "labels": {"prod": 9}, "versions": [{"content": "x"}]}),
])
def test_a_bad_entry_rejects_the_whole_document(services, ctx, library, broken):
    document = services.transfer.export(ctx)
    for p in document["prompts"]:
        p["name"] = "new-" + p["name"]
    broken(document)
    with pytest.raises(ValidationError) as err:
        services.transfer.import_(ctx, document)
    assert err.value.message_key == "errors.bad_import_entry" and err.value.params["index"] == 3
    assert sorted(p.name for p in services.library.list(ctx).items) == ["a", "chat"]


@pytest.mark.parametrize("text", ["{not json", "prompts: [", "- just a list", "format: other\nprompts: []"])
def test_unreadable_documents_are_clear_errors(text):
    with pytest.raises(ValidationError) as err:
        load_document(text)
    assert err.value.message_key == "errors.bad_document"


def test_starter_library_loads_on_first_start_only(services):
    ctx = services.local_context(load_starter=True)
    page = services.library.list(ctx)
    assert page.total >= 30
    assert len(services.library.categories(ctx)) >= 6
    from promptmgr.schemas import PromptQuery

    enhancers = services.library.list(ctx, PromptQuery(is_enhancement=True))
    assert enhancers.total >= 5
    assert all("prompt" in services.library.get(ctx, p.name).used_variables for p in enhancers.items)
    assert services.library.list(ctx, PromptQuery(kind="chat")).total >= 1
    services.library.delete(ctx, page.items[0].name)
    services.local_context(load_starter=True)  # second start: nothing re-imported
    assert services.library.list(ctx).total == page.total - 1


def test_a_failing_overwrite_leaves_the_library_untouched(services, ctx, library):
    document = {"format": "promptmgr-library", "prompts": [
        {"name": "fresh", "versions": [{"content": "new prompt"}]},
        # "a" exists as a text prompt: overwriting it with chat messages fails after validation.
        {"name": "a", "kind": "chat", "versions": [
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}]},
    ]}
    with pytest.raises(ValidationError):
        services.transfer.import_(ctx, document, "overwrite")
    assert sorted(p.name for p in services.library.list(ctx).items) == ["a", "chat"]
    assert services.library.get(ctx, "a").version == 2
