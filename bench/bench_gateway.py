"""Per-call overhead of Gateway.complete over a raw HTTP POST of the same body (goal: <= 5 ms).

Both talk to the fake OpenAI-compatible server of the tests on loopback with no delay, so the
difference is the gateway's own cost (litellm included). Run: python bench/bench_gateway.py [N]"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promptmgr.llm import offline  # noqa: E402,F401
from tests.fake_llm import FakeLLMServer  # noqa: E402

API_KEY = "sk-bench-key-0000000000"
MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Summarise the plot of Hamlet in one sentence."}]
WARMUP = 20
ROUNDS = 5


def per_call_ms(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) * 1000 / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    import httpx

    from promptmgr.llm import aio
    from promptmgr.llm.gateway import Gateway, ModelTarget
    from promptmgr.llm.remote import litellm_module

    with FakeLLMServer() as server:
        target = ModelTarget("openai/fake-model", "fake", api_base=server.base_url, api_key=API_KEY)
        gateway = Gateway(None, cache_enabled=False)
        litellm = litellm_module()
        client = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {API_KEY}"})
        body = {"model": "fake-model", "messages": MESSAGES}

        def raw():
            response = client.post("/chat/completions", json=body)
            response.raise_for_status()
            return response.json()["choices"][0]["message"]["content"]

        def via_litellm():
            return litellm.completion(model=target.model, messages=MESSAGES, api_base=target.api_base,
                                      api_key=API_KEY, num_retries=0, max_retries=0).choices[0].message.content

        def via_acompletion():  # what the async-first gateway drives, run on its shared loop
            return aio.run(litellm.acompletion(model=target.model, messages=MESSAGES, api_base=target.api_base,
                                               api_key=API_KEY, num_retries=0, max_retries=0)).choices[0].message.content

        def via_gateway():
            result = gateway.complete(target, MESSAGES)
            assert result.ok, result.error_code
            return result.text

        assert raw() == via_litellm() == via_acompletion() == via_gateway()
        for fn in (raw, via_litellm, via_acompletion, via_gateway):
            for _ in range(WARMUP):
                fn()
        # Rounds alternate so that machine noise hits all three alike; the median round counts.
        rows = {"raw httpx POST": [], "litellm.completion": [], "litellm.acompletion": [], "Gateway.complete": []}
        for _ in range(ROUNDS):
            rows["raw httpx POST"].append(per_call_ms(raw, n // ROUNDS))
            rows["litellm.completion"].append(per_call_ms(via_litellm, n // ROUNDS))
            rows["litellm.acompletion"].append(per_call_ms(via_acompletion, n // ROUNDS))
            rows["Gateway.complete"].append(per_call_ms(via_gateway, n // ROUNDS))
        client.close()

    med = {name: statistics.median(values) for name, values in rows.items()}
    base = med["raw httpx POST"]
    print(f"{n} calls each (cache off), fake server on loopback, zero delay")
    print(f"{'':22}{'ms/call':>10}{'vs raw':>9}")
    for name, value in med.items():
        print(f"{name:22}{value:10.2f}{value / base:8.2f}x")
    overhead = med["Gateway.complete"] - base
    print(f"gateway overhead per call: {overhead:.2f} ms (of which litellm "
          f"{med['litellm.acompletion'] - base:.2f} ms async, {med['litellm.completion'] - base:.2f} ms sync; "
          f"promptmgr's own {med['Gateway.complete'] - med['litellm.acompletion']:.2f} ms)  "
          f"goal <= 5 ms (baseline 3.3 ms)  {'OK' if overhead <= 5 else 'OVER'}")


if __name__ == "__main__":
    main()
