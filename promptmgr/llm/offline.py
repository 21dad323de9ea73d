"""Environment switches that keep third-party libraries off the network.

Imported first by every entry point, before litellm, gradio or tiktoken load."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

_OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",
    # promptmgr uses no pydantic plugins; scanning the installed packages for them costs ~20 ms
    # of every CLI start.
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
}


def litellm_tokenizer_dir() -> Path | None:
    """The tiktoken encodings litellm ships, located without importing litellm."""
    spec = importlib.util.find_spec("litellm")
    if not spec or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return path if path.is_dir() else None


def apply() -> None:
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        tokenizers = litellm_tokenizer_dir()
        if tokenizers:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(tokenizers)


apply()
