"""count_text on 1 MB of realistic text vs raw tiktoken encode (goal: ratio <= 1.2x).

Run: python bench/bench_tokens.py"""
from __future__ import annotations

import statistics
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promptmgr.llm import offline  # noqa: E402,F401  (TIKTOKEN_CACHE_DIR before tiktoken)
from promptmgr.llm.tokens import count_text  # noqa: E402

SIZE = 1_000_000
ROUNDS = 15


def realistic_text(size: int = SIZE) -> str:
    """Python's standard library sources: prose docstrings, code, comments and some Unicode."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts, total = [], 0
    for path in sorted(stdlib.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        total += len(text)
        if total >= size:
            break
    return "".join(parts)[:size]


def best(fn, rounds: int = ROUNDS) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    import tiktoken

    text = realistic_text()
    enc = tiktoken.get_encoding("o200k_base")
    count_text(text[:100], "gpt-4o")  # load the encoding once, outside the timing

    def raw():
        try:
            return len(enc.encode(text))
        except ValueError:  # special-token text in the sample
            return len(enc.encode(text, disallowed_special=()))

    raw_n, ours_n = raw(), count_text(text, "gpt-4o").tokens
    # Interleave the rounds so that machine noise hits both sides alike.
    raw_times, ours_times = [], []
    for _ in range(ROUNDS):
        raw_times.append(best(raw, 1)[0])
        ours_times.append(best(lambda: count_text(text, "gpt-4o"), 1)[0])
    raw_best, ours_best = min(raw_times), min(ours_times)
    raw_med, ours_med = statistics.median(raw_times), statistics.median(ours_times)
    print(f"text: {len(text):,} chars, {len(text.encode()):,} bytes; tokens raw={raw_n:,} count_text={ours_n:,}")
    print(f"{'':28}{'best ms':>10}{'median ms':>12}")
    print(f"{'tiktoken enc.encode (raw)':28}{raw_best * 1e3:10.1f}{raw_med * 1e3:12.1f}")
    print(f"{'count_text(gpt-4o)':28}{ours_best * 1e3:10.1f}{ours_med * 1e3:12.1f}")
    ratio = ours_med / raw_med
    print(f"ratio count_text / raw encode: {ratio:.2f}x (best-of: {ours_best / raw_best:.2f}x)  goal <= 1.20x  "
          f"{'OK' if ratio <= 1.2 else 'OVER'}")


if __name__ == "__main__":
    main()
