"""Who can reach the app (issue 7, items 14 and 15): single-user mode listens on loopback unless
asked, the Host header is checked against DNS rebinding, and uploads have a size limit."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from promptmgr.errors import ValidationError
from promptmgr.exposure import allowed_hosts, check_bind, host_of, is_loopback
from promptmgr.i18n import t
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parent.parent


# --- the listening address ---------------------------------------------------------------------
def test_cli_refuses_a_public_address_in_single_user_mode(cli):
    result = cli("ui", "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.code == 1
    assert t("exposure.refused", "en", host="0.0.0.0") in result.err
    assert "--expose" in result.err and "Traceback" not in result.err


def test_the_refusal_is_translated(cli, monkeypatch):
    monkeypatch.setenv("PROMPTMGR_LOCALE", "de")
    result = cli("ui", "--host", "192.0.2.10")
    assert result.code == 1
    assert t("exposure.refused", "de", host="192.0.2.10") in result.err


@pytest.fixture
def app_env(tmp_path):
    """The environment of an app started as a child process: its own SQLite data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTMGR_") and k != "DATABASE_URL"}
    return {**env, "PROMPTMGR_HOME": str(tmp_path / "home"), "PROMPTMGR_LOAD_STARTER": "false",
            "PROMPTMGR_LOCALE": "en", "PYTHONPATH": str(ROOT)}


def test_app_py_refuses_gradio_server_name_0000(app_env):
    env = {**app_env, "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": str(free_port())}
    proc = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1
    assert t("exposure.refused", "en", host="0.0.0.0") in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_opt_in_and_the_modes():
    assert check_bind("127.0.0.1", "single", False) is False
    assert check_bind("localhost", "single", False) is False
    assert check_bind("::1", "single", False) is False
    with pytest.raises(ValidationError) as err:
        check_bind("0.0.0.0", "single", False)
    assert err.value.message_key == "exposure.refused"
    with pytest.raises(ValidationError):
        check_bind("::", "single", False)
    assert check_bind("0.0.0.0", "single", True) is True
    assert check_bind("0.0.0.0", "multi", False) is False  # hosted mode has its own login: no warning


def test_settings_read_the_opt_in_and_the_allow_list(monkeypatch):
    from promptmgr.config import Settings

    monkeypatch.setenv("PROMPTMGR_EXPOSE", "1")
    monkeypatch.setenv("PROMPTMGR_ALLOWED_HOSTS", "Prompts.Example, 10.0.0.5 ,")
    monkeypatch.setenv("PROMPTMGR_MAX_UPLOAD_MB", "3")
    settings = Settings()
    assert settings.expose is True
    assert settings.allowed_hosts == ("prompts.example", "10.0.0.5")
    assert settings.max_upload_mb == 3
    monkeypatch.setenv("PROMPTMGR_MAX_UPLOAD_MB", "lots")
    with pytest.raises(ValidationError):
        Settings()


def test_host_names_are_parsed_from_the_header():
    assert host_of("Example.com:7860") == "example.com"
    assert host_of("[::1]:7860") == "::1"
    assert host_of("127.0.0.1") == "127.0.0.1"
    assert is_loopback("127.0.0.2") and is_loopback("app.localhost") and not is_loopback("evil.example")
    hosts = allowed_hosts("0.0.0.0", ("prompts.example",))
    assert "prompts.example" in hosts and "0.0.0.0" not in hosts and "localhost" in hosts


def test_expose_prints_what_it_exposes_and_still_checks_the_host(app_env):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "promptmgr", "ui", "--host", "0.0.0.0", "--port", str(port),
                             "--expose"], cwd=ROOT, env=app_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        page = _wait_for(f"http://127.0.0.1:{port}/", proc)
        assert page.status_code == 200
        refused = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": "evil.example"}, timeout=10)
        assert refused.status_code == 400
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=30)
    warning = t("exposure.warning", "en", host="0.0.0.0", port=port, hosts="@@").split("@@")[0]
    assert warning in err
    assert "delete" in warning and "run models" in warning


def _wait_for(url: str, proc: subprocess.Popen | None = None, seconds: float = 180) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the app exited ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        try:
            return httpx.get(url, timeout=10)
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError(f"{url} never answered")


# --- one launched app: the Host check and the upload limit ---------------------------------------
@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings
    from promptmgr.ui.app import create_demo, launch

    home = tmp_path_factory.mktemp("exposure") / "home"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'promptmgr.db'}", load_starter=False,
                        mode="single", expose=False, allowed_hosts=("prompts.example",), max_upload_mb=1)
    services = build_services(settings)
    demo = create_demo(services)
    port = free_port()
    launch(demo, port=port, settings=settings, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}"
    demo.close()
    services.db.dispose()


def test_a_foreign_host_header_is_refused(app_url):
    port = app_url.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", ""):
        response = httpx.get(f"{app_url}/config", headers={"Host": host}, timeout=30)
        assert response.status_code == 400, host
        assert "PROMPTMGR_ALLOWED_HOSTS" in response.text
    german = httpx.get(f"{app_url}/", headers={"Host": "evil.example", "Accept-Language": "de-DE,de;q=0.9"})
    assert german.text == t("exposure.bad_host", "de", host="evil.example")


def test_loopback_and_allowed_hosts_are_served(app_url):
    port = app_url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "prompts.example", "PROMPTS.EXAMPLE."):
        response = httpx.get(f"{app_url}/config", headers={"Host": host}, timeout=30)
        assert response.status_code == 200, host
        assert response.json()["components"]


def test_an_upload_over_the_limit_is_refused(app_url):
    small = httpx.post(f"{app_url}/gradio_api/upload", files={"files": ("small.txt", b"x" * 1000, "text/plain")},
                       timeout=60)
    assert small.status_code == 200
    assert len(small.json()) == 1
    big = httpx.post(f"{app_url}/gradio_api/upload",
                     files={"files": ("big.txt", b"x" * (1024 * 1024 + 1), "text/plain")}, timeout=60)
    assert big.status_code == 413
