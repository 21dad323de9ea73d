"""A wheel install works: build the wheel offline, install it (and only it) into a fresh virtual
environment, then run `promptmgr prompts list` and load the page of `promptmgr ui` from there.

The new environment has no pip and no packages of its own; a .pth file lends it this environment's
installed dependencies, so nothing is downloaded. Everything runs from a temporary folder, so the
source tree can neither be imported nor read by path: locales/ and data/ must come from the wheel."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "promptmgr", "locales", "data")


def _can_build_wheels() -> str | None:
    """Why this environment cannot build a wheel without downloading, or None when it can."""
    try:
        import setuptools
    except ImportError:
        return "setuptools is not installed"
    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    if (major, minor) >= (70, 1):
        return None
    try:
        import wheel  # noqa: F401  (older setuptools builds wheels through it)
    except ImportError:
        return f"setuptools {setuptools.__version__} needs the `wheel` package (or setuptools>=70.1, a test extra)"
    return None


def _run(args, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{args[:4]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROMPTMGR_") and k not in ("DATABASE_URL", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PROMPTMGR_HOME=str(home), PROMPTMGR_LOCALE="en", LANG="C.UTF-8")
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    reason = _can_build_wheels()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the wheel test: {reason}")
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("wheel")
    # Build from a copy: an in-tree build would leave build/ and *.egg-info in the repository.
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "--disable-pip-version-check", "-w", str(work / "dist"), str(src)], cwd=work)
    wheel_file = next((work / "dist").glob("promptmgr-*.whl"))

    env_dir = work / "venv"
    venv.create(env_dir, with_pip=False, symlinks=True)
    python = env_dir / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # Lend the new environment this one's dependencies: a path in a .pth file is appended to
    # sys.path after the environment's own site-packages, and .pth files in it are not run (so an
    # editable install of promptmgr there is invisible).
    lent = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "_lent_dependencies.pth").write_text("\n".join(lent) + "\n", encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", str(wheel_file)], cwd=work)
    run_dir = work / "run"  # holds no promptmgr source: nothing can be read from the repository
    run_dir.mkdir()
    return SimpleNamespace(wheel=wheel_file, python=python, script=env_dir / "bin" / "promptmgr", site=site,
                           cwd=run_dir, env=_clean_env(work / "home"))


def test_the_wheel_carries_translations_and_data(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for path in sorted((ROOT / "locales").glob("*.yml")):
        assert f"promptmgr/_locales/{path.name}" in names
    for path in sorted((ROOT / "data").rglob("*")):
        if path.is_file():
            assert f"promptmgr/_data/{path.relative_to(ROOT / 'data').as_posix()}" in names
    assert "promptmgr/migrations/script.py.mako" in names
    assert not any(name.startswith(("locales/", "data/", "tests/")) for name in names)


def test_the_environment_runs_the_wheels_copy(installed):
    proc = _run([str(installed.python), "-c",
                 "import promptmgr, promptmgr.i18n as i; print(promptmgr.__file__); print(i.LOCALES_DIR)"],
                cwd=installed.cwd, env=installed.env)
    module_file, locales = proc.stdout.split()
    assert Path(module_file).is_relative_to(installed.site)
    assert Path(locales) == installed.site / "promptmgr" / "_locales"


def test_prompts_list_from_the_wheel_shows_the_starter_library(installed):
    starter = yaml.safe_load((ROOT / "data" / "starter_library.yaml").read_text(encoding="utf-8"))
    expected = {p["name"] for p in starter["prompts"]}
    proc = _run([str(installed.script), "prompts", "list", "--json", "--limit", "500"],
                cwd=installed.cwd, env=installed.env)
    assert {item["name"] for item in json.loads(proc.stdout)} == expected
    table = _run([str(installed.script), "prompts", "list"], cwd=installed.cwd, env=installed.env).stdout
    header = yaml.safe_load((ROOT / "locales" / "cli.en.yml").read_text(encoding="utf-8"))["prompts"]["col_name"]
    assert table.splitlines()[0].split()[0] == header  # the translations came from the wheel
    assert "summarize-text" in table


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ui_page_loads_from_the_wheel(installed):
    port = _free_port()
    proc = subprocess.Popen([str(installed.script), "ui", "--port", str(port)], cwd=installed.cwd,
                            env=installed.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        page = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert page is not None, f"the app never answered (exit {proc.poll()}): {proc.stderr.read() if proc.poll() is not None else ''}"
        assert page.status_code == 200
        config = httpx.get(f"http://127.0.0.1:{port}/config", timeout=30).json()
        tabs = {c["props"].get("label") for c in config["components"] if c.get("type") == "tabitem"}
        assert {"Library", "Builder", "Testing", "Settings"} <= tabs
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
