"""The Builder service on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from promptmgr.context import TenantContext
from promptmgr.errors import (DuplicateError, NotFoundError, PermissionDeniedError, TemplateError,
                              ValidationError)
from promptmgr.i18n import t
from promptmgr.schemas import PromptCreate, PromptUpdate, parse

ROLE = "You are a careful {{ role }} writing for {{ audience }}."
TASK = "Summarize {{ text }} in {{ length }} sentences for {{ audience }}."


def create(services, ctx, name, content, **fields):
    return services.library.create(ctx, parse(PromptCreate, {"name": name, "content": content, **fields}))


@pytest.fixture
def two(services, ctx):
    create(services, ctx, "role", ROLE, title="The role", variables=[
        {"name": "role", "type": "string", "description": "Who speaks"},
        {"name": "audience", "type": "string"},
    ])
    create(services, ctx, "task", TASK, title="The task", variables=[
        {"name": "text", "type": "text", "description": "Input"},
        {"name": "length", "type": "integer", "default": 3},
        {"name": "audience", "type": "string", "description": "Reader", "default": "everyone"},
    ])
    return ["role", "task"]


def test_gallery_has_the_built_in_templates(services, ctx):
    names = [item.name for item in services.builder.templates(ctx)]
    assert {"sequential", "sections", "layered"} <= set(names)
    assert len(names) > 3  # custom ones from data/builder_templates.yaml too
    assert all(item.description and item.template for item in services.builder.templates(ctx))


@pytest.mark.parametrize("mode", ["sequential", "sections", "layered"])
def test_preview_contains_both_parts_in_order(services, ctx, two, mode):
    result = services.builder.preview(ctx, two, mode)
    assert ROLE in result.text and TASK in result.text
    assert result.text.index(ROLE) < result.text.index(TASK)
    # Swapping the order swaps the text.
    swapped = services.builder.preview(ctx, list(reversed(two)), mode)
    assert swapped.text.index(TASK) < swapped.text.index(ROLE)
    assert result.template == mode and [p.name for p in result.parts] == two
    assert result.tokens > 10 and not result.warnings


def test_modes_differ_in_shape(services, ctx, two):
    sequential = services.builder.preview(ctx, two, "sequential").text
    sections = services.builder.preview(ctx, two, "sections").text
    layered = services.builder.preview(ctx, two, "layered").text
    assert sequential == f"{ROLE}\n\n{TASK}"
    assert "## The role" in sections and "## The task" in sections
    assert "ROLE" in layered and "TASK" in layered and layered.index("ROLE") < layered.index("TASK")


def test_variables_are_the_union_in_order_with_merged_declarations(services, ctx, two):
    result = services.builder.preview(ctx, two, "sections")
    assert result.variable_names == ["role", "audience", "text", "length"]
    by_name = {v["name"]: v for v in result.variables}
    assert by_name["role"]["description"] == "Who speaks"
    assert by_name["length"]["type"] == "integer" and by_name["length"]["default"] == 3
    # The first declaration wins; a later part only fills in what it left empty.
    assert by_name["audience"]["type"] == "string" and by_name["audience"]["description"] == "Reader"
    assert by_name["audience"]["default"] == "everyone"


def test_placeholders_pass_through_as_literal_text(services, ctx):
    create(services, ctx, "loop", "{% for k in keywords %}- {{ k }}\n{% endfor %}{{ '{{' }} raw")
    result = services.builder.preview(ctx, ["loop"], "sequential")
    assert "{% for k in keywords %}" in result.text and "{{ k }}" in result.text
    assert result.variable_names == ["keywords"]


def test_custom_template(services, ctx, two):
    custom = "{% for p in parts %}<<{{ p.name }}|{{ p.title }}>>\n{{ p.content }}\n{% endfor %}"
    result = services.builder.preview(ctx, two, custom_template=custom)
    assert result.text.startswith("<<role|The role>>\n" + ROLE)
    assert "<<task|The task>>" in result.text and result.template == "custom"
    assert result.metadata()["builder"]["custom_template"] == custom


def test_custom_template_dropping_parts_warns(services, ctx, two):
    result = services.builder.preview(ctx, two, custom_template="{{ parts[0].content }}")
    assert result.text == ROLE and result.warnings == ["builder.warn_parts_missing"]
    assert result.variable_names == ["role", "audience"]


def test_pinned_versions_and_chat_parts(services, ctx, two):
    services.library.update(ctx, "role", parse(PromptUpdate, {"content": "New role {{ role }}", "base_version": 1}))
    services.library.create(ctx, parse(PromptCreate, {"name": "chat", "kind": "chat", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief about {{ topic }}."}]},
        {"role": "user", "content": [{"type": "text", "text": "Go."}]}]}))
    result = services.builder.preview(ctx, ["role@1", "chat"], "sequential")
    assert ROLE in result.text and "Be brief about {{ topic }}." in result.text and "Go." in result.text
    assert [(p.name, p.version) for p in result.parts] == [("role", 1), ("chat", 1)]
    assert "topic" in result.variable_names
    assert "New role" in services.builder.preview(ctx, ["role"]).text


def test_save_creates_a_prompt_with_the_preview_and_its_sources(services, ctx, two):
    preview = services.builder.preview(ctx, two, "layered")
    saved = services.builder.save(ctx, "combined", two, "layered", title="Combined", category="Writing",
                                  tags=["built"], message="built in the builder")
    got = services.library.get(ctx, "combined")
    assert got.content == preview.text == saved.content
    assert got.title == "Combined" and got.category == "writing" and got.tags == ["built"]
    assert got.version_message == "built in the builder" and got.kind == "text"
    assert got.metadata["builder"] == {"sources": [{"name": "role", "version": 1}, {"name": "task", "version": 1}],
                                       "template": "layered"}
    assert [v["name"] for v in got.variables] == ["role", "audience", "text", "length"]
    assert {v["name"]: v for v in got.variables}["length"]["default"] == 3
    # The saved prompt renders with the merged declarations (defaults fill length and audience).
    rendered = services.library.render(ctx, "combined", {"role": "editor", "text": "the report"})
    assert "careful editor writing for everyone" in rendered.content and "in 3 sentences" in rendered.content


def test_save_errors_lose_nothing(services, ctx, two):
    services.builder.save(ctx, "combined", two)
    with pytest.raises(DuplicateError):
        services.builder.save(ctx, "combined", two, "sections")
    with pytest.raises(ValidationError):
        services.builder.save(ctx, "Bad Name", two)
    with pytest.raises(PermissionDeniedError):
        services.builder.save(TenantContext(ctx.tenant_id, ctx.user_id, "viewer"), "other", two)
    assert services.library.list(ctx).total == 3
    assert services.library.get(ctx, "combined").latest_version == 1


def test_errors(services, ctx, two):
    with pytest.raises(NotFoundError):
        services.builder.preview(ctx, ["role", "missing"])
    with pytest.raises(NotFoundError):
        services.builder.preview(ctx, ["role@7"])
    with pytest.raises(NotFoundError) as unknown:
        services.builder.preview(ctx, two, "no-such-template")
    assert "sequential" in unknown.value.translate("en")
    with pytest.raises(ValidationError) as empty:
        services.builder.preview(ctx, [], "sequential")
    assert empty.value.message_key == "builder.no_parts"
    with pytest.raises(ValidationError):
        services.builder.preview(ctx, ["  "])
    with pytest.raises(TemplateError) as syntax:
        services.builder.preview(ctx, two, custom_template="line one\n{% for p in parts %}{{ p.content }}")
    assert syntax.value.params["line"] == 2
    assert "line 2" in syntax.value.translate("en")
    with pytest.raises(TemplateError):  # a misspelt attribute is an error, not empty output
        services.builder.preview(ctx, two, custom_template="{% for p in parts %}{{ p.titel }}{% endfor %}")
    with pytest.raises(TemplateError):  # the sandbox refuses Python internals
        services.builder.preview(ctx, two, custom_template="{{ parts.__class__.__mro__ }}")
    with pytest.raises(TemplateError) as cut:  # a template that cuts a placeholder in half
        services.builder.preview(ctx, two, custom_template="{{ parts[1].content[:12] }}")
    assert cut.value.message_key == "builder.result_syntax"
    with pytest.raises(ValidationError):
        services.builder.preview(ctx, two, custom_template="{% for p in parts %}{% endfor %}   ")


def test_every_error_key_has_english_text():
    for key in ("unknown_template", "no_parts", "empty_result", "result_too_long", "template_syntax",
                "template_unsafe", "template_render", "result_syntax", "warn_parts_missing"):
        assert t(f"builder.{key}", "en") != f"builder.{key}"


def test_token_count_and_cost_come_from_the_testing_service(services, ctx, two):
    from promptmgr.llm.tokens import count_text

    result = services.builder.preview(ctx, two, "sections", model="gpt-4o")
    assert result.tokens == count_text(result.text, "gpt-4o").tokens and result.tokens_exact
    assert result.cost is not None and result.cost > 0 and result.model == "gpt-4o"
    services.providers.set_price(ctx, "mine/model", input_per_1k=1.0, output_per_1k=0)
    priced = services.builder.preview(ctx, two, "sections", model="mine/model")
    assert priced.cost == pytest.approx(priced.tokens / 1000)
    with pytest.raises(ValidationError):
        services.builder.preview(ctx, two, model="not a model")
