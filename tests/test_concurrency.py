"""8 threads editing one prompt at once lose no edit: each becomes a version or gets a conflict."""
from __future__ import annotations

import threading

import pytest

from promptmgr.errors import ConflictError
from promptmgr.schemas import PromptCreate, PromptUpdate, parse


@pytest.mark.parametrize("rounds", [3])
def test_concurrent_edits_lose_nothing(services, ctx, rounds):
    services.library.create(ctx, parse(PromptCreate, {"name": "hot", "content": "v0"}))
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(i: int, base: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        text = f"edit {i} from {base}"
        try:
            services.library.update(ctx, "hot", parse(PromptUpdate, {"content": text, "base_version": base}))
            result = "saved"
        except ConflictError:
            result = "conflict"
        with lock:
            outcomes.append((result, text))

    for _ in range(rounds):
        base = services.library.get(ctx, "hot").version
        barrier = threading.Barrier(8)
        threads = [threading.Thread(target=worker, args=(i, base, barrier)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)

    saved = [text for result, text in outcomes if result == "saved"]
    conflicts = [text for result, text in outcomes if result == "conflict"]
    assert len(outcomes) == 8 * rounds  # every edit has an outcome: nothing silently lost
    assert len(saved) == rounds  # all started from the same base: exactly one wins per round
    history = services.library.history(ctx, "hot")
    assert [v.number for v in history] == list(range(1, rounds + 2))
    assert sorted(v.content for v in history[1:]) == sorted(saved)
    assert not set(conflicts) & {v.content for v in history}


def test_concurrent_edits_each_from_the_latest_all_land(services, ctx):
    """Edits that re-read and retry on conflict all end up as versions, in some order."""
    services.library.create(ctx, parse(PromptCreate, {"name": "busy", "content": "v0"}))

    def worker(i: int) -> None:
        for _ in range(50):
            base = services.library.get(ctx, "busy").version
            try:
                services.library.update(ctx, "busy", parse(PromptUpdate, {"content": f"w{i}", "base_version": base}))
                return
            except ConflictError:
                continue
        raise AssertionError("never landed")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    contents = [v.content for v in services.library.history(ctx, "busy")]
    assert sorted(contents[1:]) == sorted(f"w{i}" for i in range(8))
