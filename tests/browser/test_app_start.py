"""`promptmgr ui` and `python app.py` start the app on a fresh data folder: the page shows the
starter library straight away."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import yaml
from playwright.sync_api import expect

from tests.browser.conftest import ROOT, free_port

pytestmark = pytest.mark.browser


def _start(args: list[str], tmp_path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PROMPTMGR_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT),
           "GRADIO_SERVER_PORT": str(port)}
    env.pop("DATABASE_URL", None)
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for_page(browser, url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                page.goto(url)
                break
            except Exception:  # noqa: BLE001 — not listening yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        page.locator("#pm-table").get_by_role("gridcell").first.wait_for(timeout=60_000)
        starter = len(yaml.safe_load((ROOT / "data" / "starter_library.yaml").read_text(encoding="utf-8"))["prompts"])
        expect(page.locator("#pm-page-info")).to_contain_text(f"1–25 of {starter}")
    finally:
        context.close()


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def test_promptmgr_ui_starts_the_app_with_the_starter_library(browser, tmp_path):
    port = free_port()
    proc = _start(["-m", "promptmgr", "ui", "--port", str(port)], tmp_path, port)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_page(browser, url, proc)
    finally:
        out = _stop(proc)
    assert f"promptmgr is running at {url}" in out


def test_python_app_py_starts_the_app(browser, tmp_path):
    port = free_port()
    # app.py launches on the default port; GRADIO_SERVER_PORT moves it (Gradio reads it when none is given).
    proc = _start(["app.py"], tmp_path, port)
    try:
        _wait_for_page(browser, f"http://127.0.0.1:{port}/", proc)
    finally:
        _stop(proc)
