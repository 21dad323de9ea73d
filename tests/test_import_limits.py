"""Import and field limits (issue 7 items 12 and 16): alias bombs, sizes, strict types, labels, control
characters, NUL bytes and lone surrogates. The same rules hold for the editor/service, the CLI and import."""
from __future__ import annotations

import json

import pytest

from promptmgr import config
from promptmgr.errors import ValidationError
from promptmgr.schemas import PromptCreate, PromptUpdate, parse
from promptmgr.services.transfer import ALIAS_BUDGET, load_document

# 415 bytes that expand to hundreds of megabytes (the file from the issue, in spirit).
ALIAS_BOMB = """format: promptmgr-library
prompts:
- name: bomb
  versions:
  - content: x
  metadata:
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def doc(**entry) -> dict:
    base = {"name": "p", "versions": [{"content": "Hello"}]}
    return {"format": "promptmgr-library", "format_version": 1, "prompts": [{**base, **entry}]}


@pytest.fixture
def limits():
    previous = list(config._active)
    yield lambda **kw: config.activate(config.Settings(**kw))
    config._active[:] = previous


def test_alias_bomb_is_refused():
    with pytest.raises(ValidationError) as err:
        load_document(ALIAS_BOMB, "yaml")
    assert err.value.message_key == "limits.yaml_aliases" and err.value.params["limit"] == ALIAS_BUDGET


def test_a_few_aliases_are_fine():
    text = "format: promptmgr-library\nprompts:\n- &p {name: a, versions: [{content: x}]}\n"
    assert load_document(text, "yaml")["prompts"][0]["name"] == "a"


def test_alias_bomb_through_the_cli(cli, tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB, encoding="utf-8")
    result = cli("import", str(path))
    assert result.code == 1 and "aliases" in result.err and len(result.err.strip().splitlines()) == 1
    assert cli("prompts", "list", "--json").json() == []


def test_document_size_is_capped(limits):
    limits(max_document_bytes=1000)
    with pytest.raises(ValidationError) as err:
        load_document(json.dumps(doc(description="x" * 2000)), "json")
    assert err.value.message_key == "limits.document_too_large"


def test_deeply_nested_document_is_a_clear_error():
    with pytest.raises(ValidationError):
        load_document("[" * 100_000 + "]" * 100_000, "json")


def test_content_limit_is_the_same_everywhere(services, ctx, cli, limits):
    limits(max_content_bytes=100)
    big = "x" * 101
    with pytest.raises(ValidationError) as err:  # the service / editor path
        parse(PromptCreate, {"name": "a", "content": big})
    assert err.value.message_key == "limits.content_too_large"
    services.library.create(ctx, parse(PromptCreate, {"name": "a", "content": "x" * 100}))
    with pytest.raises(ValidationError):
        parse(PromptUpdate, {"content": big})
    with pytest.raises(ValidationError) as err:  # import
        services.transfer.import_(ctx, doc(versions=[{"content": big}]))
    assert err.value.params["detail"].message_key == "limits.content_too_large"
    chat = [{"role": "user", "content": [{"type": "text", "text": big}]}]
    with pytest.raises(ValidationError):
        parse(PromptCreate, {"name": "c", "kind": "chat", "messages": chat})


def test_content_limit_in_the_cli(cli, monkeypatch):
    from promptmgr.config import get_settings

    monkeypatch.setenv("PROMPTMGR_MAX_CONTENT_BYTES", "100")
    get_settings.cache_clear()
    previous = list(config._active)
    config._active.clear()  # a real CLI process starts from the environment
    try:
        result = cli("prompts", "add", "big", "--content", "y" * 101)
        assert result.code == 1 and "100" in result.err and "PROMPTMGR_MAX_CONTENT_BYTES" in result.err
    finally:
        config._active[:] = previous


@pytest.mark.parametrize("field,value,key", [
    ("title", "t" * 201, "limits.too_long"),
    ("title", "evil\x1b[2J", "limits.control_chars"),
    ("title", "a\u202eb", "limits.control_chars"),
    ("category", "c" * 65, "limits.too_long"),
    ("category", "cat\x07", "limits.control_chars"),
    ("tags", ["ok", "bad\x1b"], "limits.control_chars"),
    ("description", "d\x00", "limits.nul_byte"),
    ("description", "d\ud800", "limits.surrogate"),
    ("metadata", {"k": "x" * (65 * 1024)}, "limits.too_large"),
    ("metadata", {"k": "nul\x00"}, "limits.nul_byte"),
])
def test_field_limits(services, ctx, field, value, key):
    with pytest.raises(ValidationError) as err:
        parse(PromptCreate, {"name": "a", "content": "x", field: value})
    assert err.value.message_key == key
    assert "limits." not in err.value.translate("en")
    with pytest.raises(ValidationError) as err:  # the same rule on import, naming the entry
        services.transfer.import_(ctx, doc(**{field: value}))
    assert err.value.message_key == "errors.bad_import_entry" and err.value.params["detail"].message_key == key


def test_deep_metadata_is_refused():
    deep: dict = {}
    node = deep
    for _ in range(50):
        node["k"] = {}
        node = node["k"]
    with pytest.raises(ValidationError) as err:
        parse(PromptCreate, {"name": "a", "content": "x", "metadata": deep})
    assert err.value.message_key == "limits.too_deep"


@pytest.mark.parametrize("text", ["nul\x00byte", "lone \udc80 surrogate"])
def test_nul_and_surrogates_refused_in_content_on_every_database(services, ctx, text):
    with pytest.raises(ValidationError):
        services.library.create(ctx, parse(PromptCreate, {"name": "a", "content": text}))
    with pytest.raises(ValidationError):
        services.transfer.import_(ctx, doc(versions=[{"content": text}]))
    with pytest.raises(ValidationError):
        services.transfer.import_(ctx, doc(versions=[{"content": "ok", "message": text}]))
    assert services.library.list(ctx).total == 0


def test_strict_types_on_import(services, ctx):
    with pytest.raises(ValidationError):
        services.transfer.import_(ctx, doc(is_enhancement="false"))
    with pytest.raises(ValidationError):
        services.transfer.import_(ctx, doc(versions=[{"number": True, "content": "x"}]))
    with pytest.raises(ValidationError):
        services.transfer.import_(ctx, doc(versions=[{"content": "x", "author": 5}]))
    services.transfer.import_(ctx, doc(is_enhancement=False))
    assert services.library.get(ctx, "p").is_enhancement is False


def test_unknown_format_version_is_refused():
    with pytest.raises(ValidationError) as err:
        load_document(json.dumps({**doc(), "format_version": 2}), "json")
    assert err.value.message_key == "limits.format_version"
    with pytest.raises(ValidationError):
        load_document(json.dumps({**doc(), "format_version": True}), "json")
    assert load_document(json.dumps(doc()), "json")["prompts"]


@pytest.mark.parametrize("label,key", [("", "limits.label_required"), ("../ bad label !", "errors.bad_label")])
def test_labels_are_validated_on_import(services, ctx, label, key):
    with pytest.raises(ValidationError) as err:
        services.transfer.import_(ctx, doc(labels={label: 1}))
    assert err.value.params["detail"].message_key == key
    assert services.library.list(ctx).total == 0


def test_rename_report_lists_every_rename(services, ctx, cli):
    services.library.create(ctx, parse(PromptCreate, {"name": "p", "content": "x"}))
    document = {"format": "promptmgr-library", "prompts": [
        {"name": "p", "versions": [{"content": "one"}]}, {"name": "p", "versions": [{"content": "two"}]}]}
    report = services.transfer.import_(ctx, document, "rename")
    assert report.renamed == [("p", "p-2"), ("p", "p-3")]
    assert services.library.get(ctx, "p-3").content == "two"


def test_import_entry_errors_are_translated(services, ctx):
    with pytest.raises(ValidationError) as err:
        services.transfer.import_(ctx, doc(title="x\x1b"))
    assert "Der Titel enthält Steuerzeichen" in err.value.translate("de") and "(„p“)" in err.value.translate("de")


def test_nul_in_lookups_and_queries_is_a_clear_error_on_every_database(services, ctx):
    from promptmgr.errors import NotFoundError
    from promptmgr.schemas import PromptQuery

    services.library.create(ctx, parse(PromptCreate, {"name": "a", "content": "x"}))
    with pytest.raises(NotFoundError):
        services.library.get(ctx, "a\x00b")
    with pytest.raises(NotFoundError):
        services.library.remove_label(ctx, "a", "x\x00")
    for field in ("q", "category", "tag"):
        with pytest.raises(ValidationError) as err:
            services.library.list(ctx, parse(PromptQuery, {field: "nul\x00"}))
        assert err.value.message_key == "limits.nul_byte"
