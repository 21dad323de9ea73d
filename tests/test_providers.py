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
