"""Enhancement and translation through real model calls to the fake server."""
from __future__ import annotations

import pytest

from promptmgr.errors import ConflictError, ProviderError, ValidationError
from promptmgr.schemas import PromptCreate, parse
from promptmgr.services.enhance import clean_output, placeholder_changes

MODEL = "fake/fake-model"
ORIGINAL = "Write a poem about {{ topic }}.\n{% if short %}Keep it short.{% endif %}"


@pytest.fixture
def lib(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url)
    services.library.create(ctx, parse(PromptCreate, {"name": "poem", "content": ORIGINAL}))
    services.library.create(ctx, parse(PromptCreate, {
        "name": "clarify", "is_enhancement": True,
        "content": "Rewrite this prompt to be clearer. Return only the prompt.\n---\n{{ prompt }}"}))
    return services


def test_enhance_gives_a_candidate_and_diff_then_accept_makes_version_2(lib, ctx, fake_llm):
    improved = "Write a vivid, rhyming poem about {{ topic }}.\n{% if short %}Keep it short.{% endif %}"
    fake_llm.script([f"```markdown\n{improved}\n```"])
    candidate = lib.enhance.enhance(ctx, "poem", "clarify", MODEL)
    sent = fake_llm.chat_requests[-1]["messages"][-1]["content"]
    assert sent.endswith(ORIGINAL) and sent.startswith("Rewrite this prompt")
    assert candidate.text == improved and candidate.base_version == 1 and candidate.enhancer == "clarify"
    assert "-Write a poem about {{ topic }}." in candidate.diff
    assert "+Write a vivid, rhyming poem about {{ topic }}." in candidate.diff
    assert candidate.missing_placeholders == [] and len(candidate.runs) == 1
    assert lib.testing.get_run(ctx, candidate.runs[0].id).prompt_name == "clarify"
    assert lib.library.get(ctx, "poem").version == 1  # nothing saved yet
    saved = lib.enhance.accept(ctx, "poem", candidate.text, candidate.base_version, "clearer")
    assert saved.version == 2 and saved.content == improved and saved.version_message == "clearer"
    with pytest.raises(ConflictError):  # a candidate made from v1 must not overwrite v2
        lib.enhance.accept(ctx, "poem", candidate.text + " Rhyme.", candidate.base_version, "again")
    with pytest.raises(ValidationError) as err:
        lib.enhance.accept(ctx, "poem", improved, 2, "same again")
    assert err.value.message_key == "testing.enhance.unchanged"
    assert lib.library.get(ctx, "poem").version == 2


def test_enhancer_must_be_marked(lib, ctx, fake_llm):
    with pytest.raises(ValidationError) as err:
        lib.enhance.enhance(ctx, "poem", "poem", MODEL)
    assert err.value.message_key == "testing.enhance.not_enhancer"
    lib.library.create(ctx, parse(PromptCreate, {"name": "vague", "is_enhancement": True,
                                                 "content": "Make it better."}))
    with pytest.raises(ValidationError) as err:
        lib.enhance.enhance(ctx, "poem", "vague", MODEL)
    assert "{{ prompt }}" in err.value.translate("en")
    assert fake_llm.chat_requests == []


def test_enhance_model_failure_raises_and_saves_nothing(lib, ctx, fake_llm):
    fake_llm.fail_next(401)
    with pytest.raises(ProviderError) as err:
        lib.enhance.enhance(ctx, "poem", "clarify", MODEL)
    assert "API key" in err.value.translate("en")
    assert lib.library.get(ctx, "poem").version == 1
    assert lib.testing.list_runs(ctx).items[0].error_code == "auth"


def test_enhance_chat_prompt_part_by_part(lib, ctx, fake_llm):
    lib.library.create(ctx, parse(PromptCreate, {"name": "chat", "kind": "chat", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "You are terse."}]},
        {"role": "user", "content": [{"type": "text", "text": "Explain {{ thing }}"},
                                     {"type": "image", "url": "https://example.com/a.png"}]}]}))
    fake_llm.script(["You are terse and exact.", '"Explain {{ thing }} simply."'])
    candidate = lib.enhance.enhance(ctx, "chat", "clarify", MODEL)
    assert len(fake_llm.chat_requests) == 2
    assert candidate.messages[0]["content"][0]["text"] == "You are terse and exact."
    assert candidate.messages[1]["content"] == [{"type": "text", "text": "Explain {{ thing }} simply."},
                                                {"type": "image", "url": "https://example.com/a.png"}]
    saved = lib.enhance.accept(ctx, "chat", None, candidate.base_version, "", messages=candidate.messages)
    assert saved.version == 2 and saved.messages == candidate.messages


def test_translate_keeping_placeholders_is_accepted(lib, ctx, fake_llm):
    german = "Schreibe ein Gedicht über {{topic}}.\n{%  if short %}Halte es kurz.{% endif %}"
    fake_llm.script([german])
    candidate = lib.enhance.translate(ctx, "poem", "German", MODEL)
    request = fake_llm.chat_requests[-1]["messages"][-1]["content"]
    assert "into German" in request and ORIGINAL in request
    assert candidate.text == german and candidate.target_language == "German"
    assert lib.testing.get_run(ctx, candidate.runs[0].id).prompt_name == "system:translate"
    copy = lib.enhance.accept(ctx, "poem", candidate.text, candidate.base_version, "German", new_name="poem-de")
    assert (copy.name, copy.version, copy.content) == ("poem-de", 1, german)
    assert copy.used_variables == ["topic", "short"]
    version = lib.enhance.accept(ctx, "poem", candidate.text, candidate.base_version, "German")
    assert version.version == 2


def test_translate_retries_once(lib, ctx, fake_llm):
    fake_llm.script(["Schreibe ein Gedicht über das Thema.",
                     "Schreibe über {{ topic }}.{% if short %}Kurz.{% endif %}"])
    candidate = lib.enhance.translate(ctx, "poem", "German", MODEL)
    assert len(fake_llm.chat_requests) == 2 and "{{ topic }}" in candidate.text
    assert len(candidate.runs) == 2


def test_translate_dropping_a_placeholder_twice_is_rejected(lib, ctx, fake_llm):
    bad = "Schreibe ein Gedicht über das Thema.\n{% if short %}Halte es kurz.{% endif %}"
    fake_llm.script([bad, bad])
    with pytest.raises(ValidationError) as err:
        lib.enhance.translate(ctx, "poem", "German", MODEL)
    message = err.value.translate("en")
    assert "{{ topic }}" in message and "retry" in message
    assert len(fake_llm.chat_requests) == 2
    assert lib.library.get(ctx, "poem").version == 1 and lib.library.list(ctx).total == 2


def test_placeholder_helpers():
    assert placeholder_changes("{{ a }} {{a}} {%if x%}", "{{a}} {% if x %}") == (["{{ a }}"], [])
    assert placeholder_changes("{{ a }}", "{{ b }}") == (["{{ a }}"], ["{{ b }}"])
    assert clean_output('```\n"Hi {{ x }}"\n```') == "Hi {{ x }}"
    assert clean_output("BEGIN PROMPT\nHallo\nEND PROMPT") == "Hallo"
    assert clean_output('He said "hi" and "bye"') == 'He said "hi" and "bye"'


def test_enhance_failure_reads_in_the_readers_language(lib, ctx, fake_llm):
    fake_llm.fail_next(401)
    with pytest.raises(ProviderError) as err:
        lib.enhance.enhance(ctx.with_locale("de"), "poem", "clarify", MODEL)
    english, german = err.value.translate("en"), err.value.translate("de")
    assert "rejected the API key" in english and "Schlüssel" in german and "rejected" not in german


def test_enhance_roles(lib, ctx, fake_llm):
    from promptmgr.context import TenantContext
    from promptmgr.errors import PermissionDeniedError

    viewer = TenantContext(ctx.tenant_id, ctx.user_id, "viewer")
    editor = TenantContext(ctx.tenant_id, ctx.user_id, "editor")
    for call in (lambda c: lib.enhance.enhance(c, "poem", "clarify", MODEL),
                 lambda c: lib.enhance.translate(c, "poem", "German", MODEL),
                 lambda c: lib.enhance.accept(c, "poem", "New text", 1)):
        with pytest.raises(PermissionDeniedError):
            call(viewer)
    assert fake_llm.chat_requests == []
    fake_llm.script(["Write a poem on {{ topic }}.\n{% if short %}Keep it short.{% endif %}"])
    candidate = lib.enhance.enhance(editor, "poem", "clarify", MODEL)
    assert lib.enhance.accept(editor, "poem", candidate.text, candidate.base_version).version == 2
