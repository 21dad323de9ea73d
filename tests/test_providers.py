"""Providers: encrypted keys, masking, model resolution, price overrides, connection tests."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from promptmgr.llm import local as local_model
from promptmgr.context import TenantContext
from promptmgr.errors import DuplicateError, NotFoundError, PermissionDeniedError, ValidationError

SECRET = "sk-test-abcdefghijklmnopqrstuvwxyz123456"


def test_add_list_remove_with_masked_key(services, ctx, caplog):
    caplog.set_level(logging.DEBUG)
    added = services.providers.add(ctx, "myserver", "http://127.0.0.1:9/v1/", api_key=SECRET)
    assert added.base_url == "http://127.0.0.1:9/v1" and added.has_key
    listed = services.providers.list(ctx)
    assert [p.name for p in listed] == ["myserver"]
    assert listed[0].api_key_masked == "sk-\u20263456"
    assert SECRET not in listed[0].model_dump_json()
    # Stored encrypted: the column never holds the key.
    with services.db.engine.connect() as conn:
        stored = conn.execute(text("SELECT api_key_encrypted FROM provider")).scalar()
    assert stored and SECRET not in stored and services.providers.secrets.decrypt(stored) == SECRET
    assert SECRET not in caplog.text
    services.providers.remove(ctx, "myserver")
    assert services.providers.list(ctx) == []
    with pytest.raises(NotFoundError):
        services.providers.remove(ctx, "myserver")


@pytest.mark.parametrize("name,url,kind", [
    ("Bad Name", "http://x/v1", "openai_compatible"),
    ("local", "http://x/v1", "openai_compatible"),
    ("ok", "ftp://x", "openai_compatible"),
    ("ok", "not a url", "openai_compatible"),
    ("ok", "http://x/v1", "carrier-pigeon"),
])
def test_bad_input_is_rejected_and_nothing_stored(services, ctx, name, url, kind):
    with pytest.raises(ValidationError):
        services.providers.add(ctx, name, url, kind=kind)
    assert services.providers.list(ctx) == []


def test_duplicate_and_tenant_isolation(services, ctx):
    services.providers.add(ctx, "srv", "http://127.0.0.1:9/v1")
    with pytest.raises(DuplicateError):
        services.providers.add(ctx, "srv", "http://127.0.0.1:10/v1")
    other, _ = services.admin.ensure_tenant("other", "Other", "bob")
    assert services.providers.list(other) == []
    # Another tenant's provider name is not a provider here: the string goes to litellm as typed.
    assert services.providers.resolve(other, "srv/model").api_base is None
    with pytest.raises(NotFoundError):
        services.providers.remove(other, "srv")


def test_viewers_cannot_add(services, ctx):
    viewer = TenantContext(ctx.tenant_id, ctx.user_id, "viewer")
    with pytest.raises(PermissionDeniedError):
        services.providers.add(viewer, "srv", "http://127.0.0.1:9/v1")


def test_resolve_provider_kinds_and_plain_models(services, ctx):
    services.providers.add(ctx, "lab", "http://127.0.0.1:9/v1", api_key=SECRET)
    services.providers.add(ctx, "olla", "http://127.0.0.1:11434", kind="ollama")
    target = services.providers.resolve(ctx, "lab/some-model")
    assert (target.model, target.display_name, target.api_base, target.api_key) == (
        "openai/some-model", "lab/some-model", "http://127.0.0.1:9/v1", SECRET)
    assert SECRET not in repr(target)
    assert services.providers.resolve(ctx, "olla/llama3").model == "ollama_chat/llama3"
    plain = services.providers.resolve(ctx, "gpt-4o-mini")
    assert (plain.model, plain.api_base, plain.api_key) == ("gpt-4o-mini", None, None)
    assert services.providers.resolve(ctx, "anthropic/claude-3-5-haiku-latest").model == \
        "anthropic/claude-3-5-haiku-latest"
    assert services.providers.resolve(ctx, "local/smollm2").model == "local/smollm2"


def test_default_model_order(services, ctx, monkeypatch):
    monkeypatch.setattr(local_model, "is_available", lambda: False)
    with pytest.raises(ValidationError) as err:
        services.providers.resolve(ctx, None)
    assert err.value.message_key == "providers.no_model"
    assert "promptmgr[local]" in err.value.translate("en")
    monkeypatch.setattr(local_model, "is_available", lambda: True)
    assert services.providers.default_model(ctx) == ("local/smollm2", "local")
    assert services.providers.resolve(ctx, "").model == "local/smollm2"
    services.providers.set_default_model(ctx, "gpt-4o-mini")
    assert services.providers.default_model(ctx) == ("gpt-4o-mini", "user")
    assert services.providers.resolve(ctx).display_name == "gpt-4o-mini"
    services.providers.set_default_model(ctx, None)
    assert services.providers.default_model(ctx)[1] == "local"


def test_price_overrides_apply_to_cost_and_context(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url)
    unknown = services.providers.resolve(ctx, "fake/fake-model")
    assert services.gateway.estimate_cost(unknown, 1000, 1000) is None
    price = services.providers.set_price(ctx, "fake/fake-model", input_per_1k=0.5, output_per_1k=1.5,
                                         context_window=4096)
    assert (price.input_cost_per_token, price.output_cost_per_token) == (0.0005, 0.0015)
    target = services.providers.resolve(ctx, "fake/fake-model")
    assert services.gateway.estimate_cost(target, 1000, 2000) == pytest.approx(0.5 + 3.0)
    assert services.gateway.model_info(target).context_window == 4096
    services.providers.set_price(ctx, "fake/fake-model", input_per_1k=1, output_per_1k=1)
    assert [p.input_per_1k for p in services.providers.prices(ctx)] == [1.0]
    with pytest.raises(ValidationError):
        services.providers.set_price(ctx, "fake/fake-model", input_per_1k=-1)
    services.providers.remove_price(ctx, "fake/fake-model")
    assert services.providers.prices(ctx) == []


def test_connection_test_against_the_fake_server(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key=SECRET)
    result = services.providers.test_connection(ctx, "fake")
    assert result.ok and result.models == ["fake-model"] and result.status_code == 200
    assert fake_llm.requests[-1].path == "/v1/models"
    assert fake_llm.requests[-1].headers["authorization"] == f"Bearer {SECRET}"


def test_connection_test_failure_is_data(services, ctx, fake_llm):
    port = fake_llm.port
    fake_llm.stop()  # nothing listens on the port any more
    services.providers.add(ctx, "gone", f"http://127.0.0.1:{port}/v1", api_key=SECRET)
    result = services.providers.test_connection(ctx, "gone")
    assert not result.ok and result.error_code == "unreachable"
    assert f"127.0.0.1:{port}" in result.error and SECRET not in result.model_dump_json()


def test_overview_lists_without_network(services, ctx):
    services.providers.add(ctx, "lab", "http://127.0.0.1:9/v1", api_key=SECRET)
    overview = services.providers.overview(ctx, search="gpt-4o-mini")
    assert any(m.name == "gpt-4o-mini" and m.input_cost_per_token for m in overview.known)
    assert [p.name for p in overview.providers] == ["lab"]
    assert SECRET not in overview.model_dump_json()


def test_undecryptable_key_is_reported_not_leaked(services, ctx, tmp_path):
    from promptmgr.secrets import SecretBox

    services.providers.add(ctx, "lab", "http://127.0.0.1:9/v1", api_key=SECRET)
    services.providers.secrets = SecretBox(tmp_path / "elsewhere", "a different passphrase")
    listed = services.providers.list(ctx)
    assert listed[0].has_key and not listed[0].key_readable and listed[0].api_key_masked is None
    with pytest.raises(ValidationError) as err:
        services.providers.resolve(ctx, "lab/m")
    assert err.value.message_key == "llm.secret_undecryptable"


# --- issue 7 item 17: keys never stored or shown -------------------------------------------------
PROBE = "sk-PROBESECRET-0123456789abcdef456789"


def _prompt(services, ctx, name="hello"):
    from promptmgr.schemas import PromptCreate, parse

    services.library.create(ctx, parse(PromptCreate, {"name": name, "content": "Hi {{ who }}",
                                                      "variables": [{"name": "who", "default": "you"}]}))


def test_a_provider_echoing_the_key_leaves_no_fragment_in_runs_or_logs(services, ctx, fake_llm, caplog):
    caplog.set_level(logging.DEBUG)
    services.providers.add(ctx, "leaky", fake_llm.base_url, api_key=PROBE)
    _prompt(services, ctx)
    fake_llm.echo_auth = True
    ok = services.testing.run(ctx, "hello", model="leaky/m", use_cache=False)
    assert ok.ok and "(you sent Bearer ***)" in ok.output
    fake_llm.fail_next(400, message="Incorrect API key provided: {key_head}...{key_tail}")
    failed = services.testing.run(ctx, "hello", model="leaky/m", use_cache=False)
    assert failed.error_code == "bad_request" and "***" in failed.message("en")
    logging.getLogger("promptmgr.test").warning("provider said %s", PROBE[:12])
    with services.db.engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(text("SELECT * FROM run")) for v in row)
    for text_ in (stored, caplog.text, ok.model_dump_json(), failed.model_dump_json()):
        assert not any(PROBE[i:i + 8] in text_ for i in range(len(PROBE) - 7))


def test_credentials_in_a_base_url_are_masked_everywhere(services, ctx, cli):
    url = "http://alice:s3cretpass123@127.0.0.1:9/v1?api_key=qwerty12345"
    added = services.providers.add(ctx, "creds", url)
    for shown in (added, *services.providers.list(ctx), services.providers.get(ctx, "creds")):
        assert "s3cretpass123" not in shown.base_url and "qwerty12345" not in shown.base_url
        assert shown.base_url.startswith("http://alice:\u2022\u2022\u2022\u2022@127.0.0.1:9/v1")
    result = services.providers.test_connection(ctx, "creds")  # nothing listens on port 9
    assert not result.ok and "s3cretpass123" not in result.model_dump_json()
    assert "qwerty12345" not in result.model_dump_json()
    with pytest.raises(ValidationError) as err:
        services.providers.add(ctx, "bad", "ftp://bob:hunter2hunter2@h/v1")
    assert "hunter2hunter2" not in err.value.translate("en")
    # The real URL still reaches the call.
    assert services.providers.resolve(ctx, "creds/m").api_base == url


def test_cli_lists_masked_urls(cli):
    cli("providers", "add", "creds", "--base-url", "http://u:pw-9876543210@127.0.0.1:9/v1")
    for args in (("providers", "list"), ("providers", "list", "--json"), ("models", "--search", "creds")):
        result = cli(*args)
        assert result.code == 0 and "pw-9876543210" not in result.out and "127.0.0.1:9" in result.out


def test_old_passphrase_keys_are_re_encrypted_once(services, ctx, tmp_path):
    from cryptography.fernet import Fernet

    from promptmgr.secrets import TOKEN_PREFIX, SecretBox, derive_legacy_key

    services.providers.secrets = SecretBox(tmp_path, "team passphrase")
    services.providers.add(ctx, "lab", "http://127.0.0.1:9/v1", api_key=SECRET)
    legacy = Fernet(derive_legacy_key("team passphrase")).encrypt(SECRET.encode()).decode()
    with services.db.engine.begin() as conn:
        conn.execute(text("UPDATE provider SET api_key_encrypted = :t"), {"t": legacy})
    assert services.providers.list(ctx)[0].api_key_masked == "sk-\u20263456"

    def stored():
        with services.db.engine.connect() as conn:
            return conn.execute(text("SELECT api_key_encrypted FROM provider")).scalar()

    upgraded = stored()
    assert upgraded.startswith(TOKEN_PREFIX) and services.providers.secrets.decrypt(upgraded) == SECRET
    services.providers.list(ctx)
    assert services.providers.resolve(ctx, "lab/m").api_key == SECRET
    assert stored() == upgraded  # once: an upgraded token is left alone


# --- issue 7 item 8: a missing key is named, models that work come first --------------------------
def test_a_hosted_model_without_its_key_says_which_variable(services, ctx, monkeypatch, block_external_network):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _prompt(services, ctx)
    assert services.providers.missing_key(ctx, "gpt-4o-mini") == ["OPENAI_API_KEY"]
    run = services.testing.run(ctx, "hello", model="gpt-4o-mini")
    assert run.error_code == "missing_key" and run.error_params["env"] == "OPENAI_API_KEY"
    assert "OPENAI_API_KEY" in run.message("en") and "500" not in run.message("en")
    assert "OPENAI_API_KEY" in run.message("de") and "Schlüssel" in run.message("de")
    assert block_external_network == []  # detected without calling anyone
    monkeypatch.setenv("OPENAI_API_KEY", "sk-set-in-the-environment-000")
    assert services.providers.missing_key(ctx, "gpt-4o-mini") == []
    services.providers.add(ctx, "lab", "http://127.0.0.1:9/v1")
    assert services.providers.missing_key(ctx, "lab/anything") == []


def test_overview_lists_callable_models_first(services, ctx, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-present-in-env-0000")
    monkeypatch.setattr(local_model, "is_available", lambda: True)
    services.providers.add(ctx, "lab", "http://127.0.0.1:9/v1")
    services.providers.set_price(ctx, "lab/my-model", 0, 0)
    known = services.providers.overview(ctx).known
    names = [m.name for m in known]
    assert names[:2] == ["local/smollm2", "lab/my-model"]
    first_needing = next(i for i, m in enumerate(known) if not m.ready)
    assert all(m.ready for m in known[:first_needing]) and not any(m.ready for m in known[first_needing:])
    claude = next(m for m in known if m.provider == "anthropic")
    gpt = next(m for m in known if m.name == "gpt-4o-mini")
    assert claude.ready and names.index(claude.name) < first_needing
    assert not gpt.ready and gpt.missing_keys == ["OPENAI_API_KEY"]


def test_cli_models_marks_models_needing_a_key(cli, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = cli("models", "--search", "gpt-4o-mini")
    line = next(line for line in result.out.splitlines() if line.startswith("gpt-4o-mini "))
    assert result.code == 0 and "needs OPENAI_API_KEY" in line
    assert next(m for m in cli("models", "--search", "gpt-4o-mini", "--json").json()["known"]
                if m["name"] == "gpt-4o-mini")["missing_keys"] == ["OPENAI_API_KEY"]


def test_discover_models_of_every_provider(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key=SECRET)
    services.providers.add(ctx, "gone", "http://127.0.0.1:9/v1")
    found = services.providers.discover_models(ctx)
    assert found.models == ["fake/fake-model"]
    assert [(f.provider, f.error_code) for f in found.failures] == [("gone", "unreachable")]
    assert services.providers.discover_models(ctx, ["fake"]).failures == []
    viewer = TenantContext(ctx.tenant_id, ctx.user_id, "viewer")
    assert services.providers.discover_models(viewer, ["fake"]).models == ["fake/fake-model"]


# --- issue 7 item 10: the default-model note follows what is configured --------------------------
def test_default_note_reflects_added_providers(services, ctx, monkeypatch):
    monkeypatch.setattr(local_model, "is_available", lambda: True)
    assert services.providers.default_status(ctx).note_key == "providers.default_note.local"
    services.providers.add(ctx, "lab", "http://127.0.0.1:9/v1")
    status = services.providers.default_status(ctx)
    assert status.note_key == "providers.default_note.local_with_providers" and status.providers == 1
    from promptmgr.i18n import t

    note = t(status.note_key, "en", **status.note_params)
    assert "no provider configured" not in note and "lab/MODEL" in note
    assert services.providers.overview(ctx, limit=0).default_status == status
    monkeypatch.setattr(local_model, "is_available", lambda: False)
    assert services.providers.default_status(ctx).note_key == "providers.default_note.none_with_providers"
    services.providers.set_default_model(ctx, "lab/m")
    assert services.providers.default_status(ctx).note_key == "providers.default_note.user"


# --- issue 8 §7: runs store codes and params, the reader's language is applied when shown --------
def test_a_run_stored_by_a_german_caller_reads_in_english(services, ctx, fake_llm, cli_env, cli, monkeypatch):
    from promptmgr.cli import common

    services.providers.add(ctx, "fake", fake_llm.base_url, api_key=SECRET)
    _prompt(services, ctx)
    fake_llm.fail_next(401)
    german = ctx.with_locale("de")
    run = services.testing.run(german, "hello", model="fake/m", use_cache=False)
    assert run.error_code == "auth" and run.error_key == "llm.auth"
    with services.db.engine.connect() as conn:
        row = conn.execute(text("SELECT error, error_key, error_params FROM run")).one()
    assert row[0] is None and row[1] == "llm.auth" and "fake/m" in str(row[2])
    english = services.testing.get_run(ctx.with_locale("en"), run.id)
    assert "rejected the API key" in english.message("en")
    assert "Schlüssel" in english.message("de") and english.message("de") != english.message("en")
    # The CLI (English here) reads the same stored run.
    common.services.cache_clear()
    shown = cli("runs", "show", str(run.id))
    assert "rejected the API key" in shown.out
    monkeypatch.setenv("PROMPTMGR_LOCALE", "de")  # and each reader gets their own language
    assert run.message("de") in cli("runs", "show", str(run.id)).out


# --- issue 8 §2: the policy opens every public method ---------------------------------------------
def test_roles_on_provider_methods(services, ctx, fake_llm):
    services.providers.add(ctx, "fake", fake_llm.base_url)
    viewer = TenantContext(ctx.tenant_id, ctx.user_id, "viewer")
    editor = TenantContext(ctx.tenant_id, ctx.user_id, "editor")
    for who in (viewer, editor):
        for call in (lambda c: services.providers.add(c, "x", "http://127.0.0.1:9/v1"),
                     lambda c: services.providers.remove(c, "fake"),
                     lambda c: services.providers.test_connection(c, "fake"),
                     lambda c: services.providers.set_price(c, "m", 1, 1),
                     lambda c: services.providers.remove_price(c, "m"),
                     lambda c: services.providers.set_default_model(c, "m")):
            with pytest.raises(PermissionDeniedError):
                call(who)
    with pytest.raises(PermissionDeniedError):
        services.providers.run_secrets(viewer, [])
    # Reading is a viewer's right.
    assert [p.name for p in services.providers.list(viewer)] == ["fake"]
    services.providers.overview(viewer, limit=0)
    services.providers.resolve(viewer, "fake/m")
    services.providers.get(viewer, "fake")
    services.providers.prices(viewer)
    services.providers.default_model(viewer)
