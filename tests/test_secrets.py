"""Encryption of stored API keys."""
from __future__ import annotations

import os
import stat
import threading

import pytest

from promptmgr.errors import ValidationError
from promptmgr.secrets import SecretBox

API_KEY = "sk-test-secret-123456"


def test_round_trip_with_a_generated_key_file(tmp_path):
    box = SecretBox(tmp_path, None)
    token = box.encrypt(API_KEY)
    assert API_KEY not in token
    assert box.decrypt(token) == API_KEY
    assert SecretBox(tmp_path, None).decrypt(token) == API_KEY  # the key file is reused


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_key_file_is_private(tmp_path):
    home = tmp_path / "home"
    SecretBox(home, None).encrypt("x")
    key_file = home / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in home.iterdir()] == ["secret.key"]  # no temp file left behind


def test_no_key_file_until_first_use(tmp_path):
    SecretBox(tmp_path, None)
    assert not (tmp_path / "secret.key").exists()


def test_round_trip_with_a_passphrase_writes_no_file(tmp_path):
    box = SecretBox(tmp_path, "correct horse battery staple")
    assert box.decrypt(box.encrypt("hello")) == "hello"
    assert SecretBox(tmp_path, "correct horse battery staple").decrypt(box.encrypt("again")) == "again"
    assert not (tmp_path / "secret.key").exists()


def test_wrong_key_raises_validation_error(tmp_path):
    token = SecretBox(tmp_path, "one passphrase").encrypt(API_KEY)
    with pytest.raises(ValidationError) as info:
        SecretBox(tmp_path, "another passphrase").decrypt(token)
    assert info.value.message_key == "llm.secret_undecryptable"
    assert API_KEY not in str(info.value) and "passphrase" not in str(info.value)
    with pytest.raises(ValidationError):
        SecretBox(tmp_path / "other", None).decrypt(token)
    with pytest.raises(ValidationError):
        SecretBox(tmp_path, "one passphrase").decrypt("not a token")


def test_concurrent_first_use_agrees_on_one_key(tmp_path):
    tokens, errors = [], []

    def work():
        try:
            tokens.append(SecretBox(tmp_path, None).encrypt("v"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    box = SecretBox(tmp_path, None)
    assert all(box.decrypt(tok) == "v" for tok in tokens)


def test_mask():
    assert SecretBox.mask(API_KEY) == "sk-\u20263456"
    assert SecretBox.mask("sk-ant-api03-abcdefghijklmnop-XYZW") == "sk-\u2026XYZW"
    assert SecretBox.mask("short") == "\u2022\u2022\u2022\u2022"
    assert SecretBox.mask("") == "\u2022\u2022\u2022\u2022"
    assert SecretBox.mask(None) == "\u2022\u2022\u2022\u2022"


def test_repr_never_shows_the_passphrase(tmp_path):
    assert "s3cret-pass" not in repr(SecretBox(tmp_path, "s3cret-pass"))
