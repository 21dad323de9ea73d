"""The library service on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from promptmgr.errors import ConflictError, DuplicateError, NotFoundError, PermissionDeniedError, ValidationError
from promptmgr.schemas import PromptCreate, PromptQuery, PromptUpdate, parse


def create(services, ctx, name, content="Hello {{ name }}", **fields):
    return services.library.create(ctx, parse(PromptCreate, {"name": name, "content": content, **fields}))


def edit(services, ctx, name, **fields):
    return services.library.update(ctx, name, parse(PromptUpdate, fields))


def test_create_and_get(services, ctx):
    created = create(services, ctx, "greet", title="Greeting", category="Writing", tags=["Hello", "demo"],
                     description="Says hello", is_enhancement=False, visibility="public", metadata={"k": 1})
    assert created.version == 1 and created.latest_version == 1
    got = services.library.get(ctx, "greet")
    assert (got.title, got.category, got.tags, got.visibility, got.metadata) == (
        "Greeting", "writing", ["hello", "demo"], "public", {"k": 1})
    assert got.variables[0]["name"] == "name" and got.used_variables == ["name"]
    assert got.owner == "local" and got.version_author == "local"


@pytest.mark.parametrize("bad", ["", "Has Space", "UPPER", "-start", "x" * 101, "a/b"])
def test_names_are_validated(services, ctx, bad):
    with pytest.raises(ValidationError):
        create(services, ctx, bad)
    assert services.library.list(ctx).total == 0


def test_duplicates_and_missing(services, ctx):
    create(services, ctx, "one")
    with pytest.raises(DuplicateError):
        create(services, ctx, "one")
    with pytest.raises(NotFoundError):
        services.library.get(ctx, "nope")
    with pytest.raises(NotFoundError):
        services.library.get(ctx, "one", version=5)
    with pytest.raises(NotFoundError):
        services.library.get(ctx, "one", label="production")


def test_get_resolves_a_label_a_version_or_the_latest_with_every_label(services, ctx):
    create(services, ctx, "p", content="one")
    edit(services, ctx, "p", content="two", base_version=1)
    edit(services, ctx, "p", content="three", base_version=2)
    services.library.set_label(ctx, "p", "staging", 2)
    services.library.set_label(ctx, "p", "production", 1)
    labels = {"production": 1, "staging": 2}
    for kwargs, content in [({}, "three"), ({"version": 2}, "two"), ({"label": "production"}, "one"),
                            ({"label": "staging", "version": 3}, "two")]:  # a label wins over a version
        got = services.library.get(ctx, "p", **kwargs)
        assert (got.content, got.labels, got.owner, got.latest_version) == (content, labels, "local", 3), kwargs
    with pytest.raises(NotFoundError) as missing:
        services.library.get(ctx, "p", label="nope", version=2)
    assert missing.value.params["what"] == "label"
    with pytest.raises(NotFoundError) as missing:
        services.library.get(ctx, "p", version=9)
    assert missing.value.params["what"] == "version"


def test_every_content_change_is_a_new_immutable_version(services, ctx):
    create(services, ctx, "p", content="v1 {{ a }}")
    edit(services, ctx, "p", content="v2 {{ a }} {{ b }}", base_version=1, message="add b")
    edit(services, ctx, "p", title="New title")  # catalogue change: no new version
    third = edit(services, ctx, "p", content="v3", base_version=2)
    assert third.version == 3 and third.title == "New title"
    history = services.library.history(ctx, "p")
    assert [(v.number, v.content, v.message) for v in history] == [
        (1, "v1 {{ a }}", ""), (2, "v2 {{ a }} {{ b }}", "add b"), (3, "v3", "")]
    assert [v["name"] for v in history[1].variables] == ["a", "b"]
    assert services.library.get(ctx, "p", version=1).content == "v1 {{ a }}"


def test_stale_edit_is_refused_and_loses_nothing(services, ctx):
    create(services, ctx, "p", content="base")
    edit(services, ctx, "p", content="first", base_version=1)
    with pytest.raises(ConflictError) as err:
        edit(services, ctx, "p", content="second", base_version=1)
    assert err.value.params["current"] == 2 and "p" in err.value.translate("en")
    assert [v.content for v in services.library.history(ctx, "p")] == ["base", "first"]


def test_diff_restore_and_labels(services, ctx):
    create(services, ctx, "p", content="line a\nline b")
    edit(services, ctx, "p", content="line a\nline c", base_version=1)
    diff = services.library.diff(ctx, "p", 1, 2)
    assert "-line b" in diff and "+line c" in diff and "p@v1" in diff
    restored = services.library.restore(ctx, "p", 1)
    assert restored.version == 3 and restored.content == "line a\nline b"
    assert services.library.set_label(ctx, "p", "production", 2) == {"production": 2}
    assert services.library.get(ctx, "p", label="production").content == "line a\nline c"
    services.library.set_label(ctx, "p", "production", 3)  # labels move
    assert services.library.get(ctx, "p", label="production").version == 3
    assert services.library.history(ctx, "p")[2].labels == ["production"]
    with pytest.raises(ValidationError):
        services.library.set_label(ctx, "p", "bad label")
    assert services.library.remove_label(ctx, "p", "production") == {}


def test_invalid_template_is_rejected_with_line(services, ctx):
    with pytest.raises(ValidationError) as err:
        create(services, ctx, "bad", content="ok\n{% if x %}never closed")
    assert err.value.params["line"] == 2
    assert services.library.list(ctx).total == 0


def test_chat_prompts(services, ctx):
    messages = [{"role": "system", "content": [{"type": "text", "text": "Be {{ tone }}."}]},
                {"role": "user", "content": [{"type": "text", "text": "Look"},
                                             {"type": "image", "url": "data:image/png;base64,AAAA"}]}]
    created = create(services, ctx, "chat", content=None, kind="chat", messages=messages)
    assert created.messages[1]["content"][1]["url"].startswith("data:image/png")
    assert created.used_variables == ["tone"]
    rendered = services.library.render(ctx, "chat", {"tone": "kind"})
    assert rendered.messages[0]["content"][0]["text"] == "Be kind."
    with pytest.raises(ValidationError):
        create(services, ctx, "chat2", content=None, kind="chat", messages=[{"role": "robot", "content": []}])
    with pytest.raises(ValidationError):
        create(services, ctx, "chat3", content=None, kind="chat",
               messages=[{"role": "user", "content": [{"type": "image", "url": "javascript:alert(1)"}]}])


def test_list_filters_sort_pagination_and_counts(services, ctx):
    for i in range(7):
        create(services, ctx, f"p{i}", content=f"text {i}", category="a" if i % 2 else "b",
               tags=["odd"] if i % 2 else ["even", "x"], is_enhancement=i == 3, visibility="public" if i < 2 else "private")
    page = services.library.list(ctx, PromptQuery(sort="name", limit=3, offset=3))
    assert [p.name for p in page.items] == ["p3", "p4", "p5"] and page.total == 7
    assert services.library.list(ctx, PromptQuery(category="a")).total == 3
    assert services.library.list(ctx, PromptQuery(tag="even")).total == 4
    assert services.library.list(ctx, PromptQuery(visibility="public")).total == 2
    assert [p.name for p in services.library.list(ctx, PromptQuery(is_enhancement=True)).items] == ["p3"]
    assert {c.name: c.count for c in services.library.categories(ctx)} == {"a": 3, "b": 4}
    assert {c.name: c.count for c in services.library.tags(ctx)} == {"even": 4, "x": 4, "odd": 3}


def test_full_text_search_ranked_and_combined_with_filters(services, ctx):
    create(services, ctx, "summarize-email", title="Summarize an email", content="Summarize the email below.",
           category="writing", tags=["email"])
    create(services, ctx, "code-review", title="Review code", content="Review this code; mention the email of the author.",
           category="coding")
    create(services, ctx, "poem", title="Poem", content="Write a poem about {{ topic }}", description="Creative verse",
           tags=["creative"])
    hits = services.library.list(ctx, PromptQuery(q="email"))
    assert [p.name for p in hits.items] == ["summarize-email", "code-review"] and hits.total == 2
    assert [p.name for p in services.library.list(ctx, PromptQuery(q="email", category="coding")).items] == ["code-review"]
    assert [p.name for p in services.library.list(ctx, PromptQuery(q="summar")).items] == ["summarize-email"]  # prefix
    assert [p.name for p in services.library.list(ctx, PromptQuery(q="creative")).items] == ["poem"]  # description/tags
    assert services.library.list(ctx, PromptQuery(q="email poem")).total == 0  # all words must match
    assert services.library.list(ctx, PromptQuery(q='"); DROP TABLE prompt; --')).total == 0
    edit(services, ctx, "poem", content="A haiku about {{ topic }}", base_version=1)  # index follows the latest version
    assert [p.name for p in services.library.list(ctx, PromptQuery(q="haiku")).items] == ["poem"]
    assert services.library.list(ctx, PromptQuery(q="verse")).total == 1
    services.library.delete(ctx, "poem")
    assert services.library.list(ctx, PromptQuery(q="haiku")).total == 0


def test_delete_removes_versions_and_labels(services, ctx):
    create(services, ctx, "gone")
    services.library.set_label(ctx, "gone", "production")
    services.library.delete(ctx, "gone")
    with pytest.raises(NotFoundError):
        services.library.get(ctx, "gone")
    create(services, ctx, "gone", content="fresh")  # the name is free again, history starts over
    assert [v.number for v in services.library.history(ctx, "gone")] == [1]


def test_viewers_cannot_write(services, ctx):
    create(services, ctx, "p")
    viewer = type(ctx)(ctx.tenant_id, ctx.user_id, "viewer", "en")
    with pytest.raises(PermissionDeniedError):
        edit(services, viewer, "p", content="x", base_version=1)
    assert services.library.get(viewer, "p").content == "Hello {{ name }}"


def test_render_with_label_and_missing_variable(services, ctx):
    create(services, ctx, "p", content="Hi {{ who }}", variables=[{"name": "who", "default": "there"}])
    assert services.library.render(ctx, "p").content == "Hi there"
    edit(services, ctx, "p", content="Yo {{ who }} {{ what }}", base_version=1)
    services.library.set_label(ctx, "p", "production", 1)
    assert services.library.render(ctx, "p", {"who": "Ann"}, label="production").content == "Hi Ann"
    with pytest.raises(ValidationError) as err:
        services.library.render(ctx, "p", {"who": "Ann"})
    assert err.value.params["name"] == "what"
