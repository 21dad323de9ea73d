"""Figure: first render of the Library tab with 100,000 prompts in the database, next to an empty
Gradio page (gr.Blocks with one Markdown) measured in the same run, in headless chromium.

First render = from navigation until the library table shows its first row (the empty page: until
its Markdown shows). Both pages are served by this process with the same launch() settings, each
visit in a fresh browser context (no cache), alternating; the first round is a warm-up.

Then, for what the figure depends on: the size of the page's config and how many components it
describes, the requests the page makes to Gradio's API while loading, and for every other tab of
the app (read from create_demo, so new tabs are measured without editing this file) the time from
its first click until its controls show (tabs built when first opened pay their build there).

    .venv/bin/python bench/bench_ui.py [--n 100000] [--rounds 9]

The library comes from bench/out/: the SQLite file bench_search.py builds if it is there, else one
built here with TransferService.import_ from bench/corpus.py's documents (cached as ui-N-SEED.db).
"""
from __future__ import annotations

import os

# The bench corpus is one document of ~240 MB: far above the import limit a user gets by default.
os.environ.setdefault("PROMPTMGR_MAX_DOCUMENT_BYTES", str(10**10))

import argparse
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import promptmgr.llm.offline  # noqa: E402,F401
from corpus import OUT, SEED, document_file  # noqa: E402

GOAL_RATIO = 1.2
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def library_db(n: int) -> Path:
    """A SQLite library of n prompts: bench_search.py's cached one when present, else built here."""
    found = sorted(OUT.glob(f"search-{n}-{SEED}-*.db"), key=lambda p: p.stat().st_mtime)
    if found:
        return found[-1]
    path = OUT / f"ui-{n}-{SEED}.db"
    if path.exists():
        return path
    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings
    from promptmgr.services.transfer import load_document

    OUT.mkdir(exist_ok=True)
    build = OUT / f"building-{uuid.uuid4().hex[:8]}.db"
    with tempfile.TemporaryDirectory() as home:
        services = build_services(Settings(home=Path(home), database_url=f"sqlite:///{build}", load_starter=False))
        ctx = services.local_context(load_starter=False)
        start = time.perf_counter()
        services.transfer.import_(ctx, load_document(document_file(n, SEED).read_text(encoding="utf-8"), "json"))
        services.db.dispose()
    print(f"built a library of {n:,} prompts in {time.perf_counter() - start:.0f} s ({path.relative_to(ROOT)})")
    build.replace(path)
    return path


def serve(demo, port: int) -> str:
    from promptmgr.ui.app import launch

    launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    return f"http://127.0.0.1:{port}/"


def visit(browser, url: str, selector: str) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.locator(selector).first.wait_for(state="visible", timeout=120_000)
    elapsed = time.perf_counter() - start
    context.close()
    return elapsed


def app_tabs(demo) -> list[tuple[str, str]]:
    """(label, elem_id) of the app's top-level tabs other than the Library, in page order."""
    import gradio as gr

    tabs = next(block for block in demo.blocks.values() if isinstance(block, gr.Tabs) and block.elem_id == "pm-tabs")
    return [(str(tab.label), tab.elem_id) for tab in tabs.children
            if isinstance(tab, gr.Tab) and tab.elem_id != "pm-tab-library"]


def profile(browser, url: str, tabs: list[tuple[str, str]]) -> dict:
    """One more visit: API requests during the page load, then each tab's first opening."""
    import json
    import urllib.request

    with urllib.request.urlopen(url + "config", timeout=120) as response:
        raw = response.read()
    config = json.loads(raw)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    api: list[str] = []
    page.on("request", lambda request: api.append(request.url) if "/gradio_api/" in request.url
            and "/heartbeat/" not in request.url else None)
    page.goto(url, wait_until="commit")
    page.locator("#pm-table [role=gridcell]").first.wait_for(state="visible", timeout=120_000)
    at_first_row = len(api)
    # The page's other load events are chained after the first paint; let them finish.
    time.sleep(3)
    after = len(api) - at_first_row
    opened = {}
    for label, elem_id in tabs:
        if not elem_id:  # nothing to wait for: give the tab an elem_id (app.py's tabs have one)
            continue
        start = time.perf_counter()
        page.locator("#pm-tabs").get_by_role("tab", name=label).click()
        page.locator(f"#{elem_id}").locator("input, textarea, button").first.wait_for(state="visible",
                                                                                     timeout=120_000)
        opened[label] = time.perf_counter() - start
    context.close()
    return {"config_kb": len(raw) / 1024, "components": len(config["components"]),
            "events": len(config["dependencies"]), "requests_first_row": at_first_row,
            "requests_after": after, "opened": opened}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="prompts in the library")
    parser.add_argument("--rounds", type=int, default=9, help="visits of each page (the first is a warm-up)")
    args = parser.parse_args()

    import gradio as gr
    from playwright.sync_api import sync_playwright

    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings
    from promptmgr.schemas import PromptQuery
    from promptmgr.ui.app import create_demo

    db = library_db(args.n)
    with tempfile.TemporaryDirectory() as home:
        services = build_services(Settings(home=Path(home), database_url=f"sqlite:///{db}", load_starter=False))
        ctx = services.local_context(load_starter=False)
        total = services.library.list(ctx, PromptQuery(limit=1)).total
        start = time.perf_counter()
        services.library.list(ctx, PromptQuery(limit=25))
        page_ms = (time.perf_counter() - start) * 1000

        app = create_demo(services)
        with gr.Blocks(title="empty") as empty:
            gr.Markdown("An empty Gradio page.", elem_id="empty-marker")
        app_url, empty_url = serve(app, free_port()), serve(empty, free_port())

        times: dict[str, list[float]] = {"library": [], "empty": []}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for round_ in range(args.rounds):
                # Alternate the order so neither page always runs right after the other.
                pair = [("library", app_url, "#pm-table [role=gridcell]"), ("empty", empty_url, "#empty-marker")]
                for name, url, selector in pair if round_ % 2 else reversed(pair):
                    elapsed = visit(browser, url, selector)
                    if round_:
                        times[name].append(elapsed)
            facts = profile(browser, app_url, app_tabs(app))
            browser.close()
        app.close()
        empty.close()
        services.db.dispose()

    lib, emp = statistics.median(times["library"]), statistics.median(times["empty"])
    print(f"library: {total:,} prompts in {db.relative_to(ROOT)}; first page query {page_ms:.1f} ms (server side)")
    print(f"{'page':<26}{'median':>10}{'min':>10}{'max':>10}   ({args.rounds - 1} visits each, fresh browser context)")
    for name, label in (("empty", "empty Gradio page"), ("library", "Library tab, first row")):
        values = times[name]
        print(f"{label:<26}{statistics.median(values) * 1000:>8.0f}ms{min(values) * 1000:>8.0f}ms"
              f"{max(values) * 1000:>8.0f}ms")
    ratio = lib / emp
    print(f"ratio library/empty: {ratio:.2f}x (goal <= {GOAL_RATIO}x: {'met' if ratio <= GOAL_RATIO else 'not met'})")
    print(f"page config: {facts['config_kb']:.0f} KB, {facts['components']} components, {facts['events']} events; "
          f"API requests: {facts['requests_first_row']} until the first row, {facts['requests_after']} in the "
          f"3 s after it (heartbeat not counted)")
    for label, seconds in facts["opened"].items():
        print(f"first opening of {label + ':':<16}{seconds * 1000:>6.0f}ms until its controls show")


if __name__ == "__main__":
    main()
