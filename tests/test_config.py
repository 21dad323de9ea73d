"""Settings come from the environment; a bad value is a clear error, not a traceback."""
from __future__ import annotations

import pytest

from promptmgr.config import Settings
from promptmgr.errors import ValidationError


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTMGR_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/db")
    monkeypatch.setenv("PROMPTMGR_LOAD_STARTER", "false")
    monkeypatch.setenv("PROMPTMGR_SECRET_KEY", "s3cret")
    settings = Settings()
    assert settings.home == tmp_path / "h" and settings.db_url == "postgresql+psycopg://u@127.0.0.1/db"
    assert settings.load_starter is False and settings.mode == "single"
    assert "s3cret" not in repr(settings)
    assert Settings(home=tmp_path).db_url == "postgresql+psycopg://u@127.0.0.1/db"  # the rest still from env


def test_default_database_is_sqlite_in_home(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert Settings(home=tmp_path).db_url == f"sqlite:///{tmp_path / 'promptmgr.db'}"


@pytest.mark.parametrize("name,value", [("PROMPTMGR_MODE", "cluster"), ("PROMPTMGR_LOAD_STARTER", "maybe")])
def test_bad_values_are_clear_errors(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as err:
        Settings()
    assert name in err.value.translate("en") and value in err.value.translate("en")
