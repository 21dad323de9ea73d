"""Encryption of stored API keys."""
from __future__ import annotations

import os
import stat
import threading

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from promptmgr.errors import ValidationError
from promptmgr.secrets import (FRAGMENT_LENGTH, TOKEN_PREFIX, SecretBox, derive_legacy_key, mask_url, scrub_secrets,
                               scrub_value)

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


# --- scrubbing key fragments (issue 7 item 17) ---------------------------------------------------

PROBE = "sk-PROBESECRET-0123456789abcdef456789"


def test_scrub_removes_partial_echoes_of_a_key():
    echoed = f"Incorrect API key provided: {PROBE[:10]}...{PROBE[-6:]}. Key {PROBE} and {PROBE[5:20]}"
    scrubbed = scrub_secrets(echoed, [PROBE])
    assert PROBE[:10] not in scrubbed and PROBE[5:20] not in scrubbed and PROBE not in scrubbed
    assert scrubbed.startswith("Incorrect API key provided: ***...")
    # Short pieces (below FRAGMENT_LENGTH) and unrelated text stay.
    assert scrub_secrets("sk-P and 6789 and hello world", [PROBE]) == "sk-P and 6789 and hello world"
    assert scrub_value({"detail": [PROBE[2:12]], "n": 3}, [PROBE]) == {"detail": ["***"], "n": 3}


@hsettings(max_examples=50, deadline=None)
@given(key=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_", min_size=FRAGMENT_LENGTH, max_size=60),
       start=st.integers(0, 60), length=st.integers(FRAGMENT_LENGTH, 60),
       before=st.text(max_size=30), after=st.text(max_size=30))
def test_no_fragment_of_eight_characters_survives(key, start, length, before, after):
    fragment = key[start:start + length]
    if len(fragment) < FRAGMENT_LENGTH:
        fragment = key[:FRAGMENT_LENGTH]
    scrubbed = scrub_secrets(before + fragment + after, [key])
    assert not any(key[i:i + FRAGMENT_LENGTH] in scrubbed for i in range(len(key) - FRAGMENT_LENGTH + 1))


def test_url_credentials_are_masked():
    assert mask_url("https://alice:hunter2hunter2@llm.example/v1") == "https://alice:\u2022\u2022\u2022\u2022@llm.example/v1"
    assert mask_url("https://llm.example/v1?api_key=abc123&region=eu") == \
        "https://llm.example/v1?api_key=\u2022\u2022\u2022\u2022&region=eu"
    assert mask_url("http://127.0.0.1:11434/v1") == "http://127.0.0.1:11434/v1"
    assert "pw123" not in scrub_secrets("could not reach https://bob:pw123@h.example/v1 today", [])


# --- the passphrase KDF (issue 7 item 17) ----------------------------------------------------------
def test_passphrase_tokens_are_salted_scrypt_with_recorded_parameters(tmp_path):
    first, second = SecretBox(tmp_path, "pass phrase"), SecretBox(tmp_path, "pass phrase")
    one, two = first.encrypt(API_KEY), second.encrypt(API_KEY)
    assert one.startswith(TOKEN_PREFIX) and two.startswith(TOKEN_PREFIX)
    n, r, p = (int(v) for v in one[len(TOKEN_PREFIX):].split("$")[0].split(","))
    assert n >= 2 ** 14 and r >= 8 and p >= 1  # memory-hard: N*r*128 bytes >= 16 MB per guess
    assert one.split("$")[3] != two.split("$")[3]  # a fresh random salt per box
    assert first.decrypt(two) == second.decrypt(one) == API_KEY
    # The old single-step derivation cannot read the new tokens.
    from cryptography.fernet import Fernet, InvalidToken

    with pytest.raises(InvalidToken):
        Fernet(derive_legacy_key("pass phrase")).decrypt(one.split("$", 4)[4].encode())


def test_legacy_passphrase_tokens_still_decrypt_and_are_flagged(tmp_path):
    from cryptography.fernet import Fernet

    legacy = Fernet(derive_legacy_key("pass phrase")).encrypt(API_KEY.encode()).decode()
    box = SecretBox(tmp_path, "pass phrase")
    assert box.is_legacy(legacy) and box.decrypt(legacy) == API_KEY
    assert not box.is_legacy(box.encrypt(API_KEY))
    assert not SecretBox(tmp_path, None).is_legacy(SecretBox(tmp_path, None).encrypt("x"))  # key file: no KDF


def test_hostile_scrypt_parameters_in_a_token_are_refused(tmp_path):
    box = SecretBox(tmp_path, "pass phrase")
    token = box.encrypt(API_KEY)
    head, params, rest = token[:len(TOKEN_PREFIX)], token[len(TOKEN_PREFIX):].split("$", 1)[0], \
        token[len(TOKEN_PREFIX):].split("$", 1)[1]
    assert params
    with pytest.raises(ValidationError):
        box.decrypt(f"{head}{2 ** 30},8,1${rest}")  # would need 128 GB


def test_keys_added_later_share_the_salt_so_reading_costs_one_derivation(tmp_path):
    first = SecretBox(tmp_path, "pass phrase").encrypt("one")
    later = SecretBox(tmp_path, "pass phrase")  # another process
    later.adopt_salt(first)
    second = later.encrypt("two")
    assert first.split("$")[3] == second.split("$")[3]
    reader = SecretBox(tmp_path, "pass phrase")
    assert (reader.decrypt(first), reader.decrypt(second)) == ("one", "two")
    assert len(reader._derived) == 1
