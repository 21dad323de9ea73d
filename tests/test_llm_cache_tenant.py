"""Issue 8 §3: the response cache is scoped by tenant and by the credential used.

Real database, real HTTP to tests/fake_llm.py. A reviewer reproduced the bug this guards against:
a key the server rejects got another tenant's answer with cached=True."""
from __future__ import annotations

import pytest

from promptmgr.llm.gateway import Gateway
from promptmgr.llm.types import ModelTarget
from promptmgr.schemas import PromptCreate, parse

MODEL = "fake/fake-model"
KEY_A = "sk-tenant-a-0123456789abcdef"
KEY_A2 = "sk-tenant-a-second-key-987654"
KEY_B = "sk-tenant-b-rejected-key-5555"
ZERO = {"temperature": 0}


def _prompt(services, ctx):
    services.library.create(ctx, parse(PromptCreate, {"name": "greet", "content": "Say hello to {{ name }}."}))


@pytest.fixture
def tenants(services, ctx, fake_llm):
    other, _ = services.admin.ensure_tenant("other", "Other", "bob")
    for who in (ctx, other):
        _prompt(services, who)
    services.providers.add(ctx, "fake", fake_llm.base_url, api_key=KEY_A)
    return ctx, other


def test_another_tenant_with_a_rejected_key_never_gets_the_cached_answer(services, tenants, fake_llm):
    a, b = tenants
    first = services.testing.run(a, "greet", model=MODEL, variables={"name": "Ada"}, params=ZERO)
    again = services.testing.run(a, "greet", model=MODEL, variables={"name": "Ada"}, params=ZERO)
    assert first.ok and not first.cached and again.cached  # A's answer is cached for A
    fake_llm.reject_keys.add(KEY_B)
    services.providers.add(b, "fake", fake_llm.base_url, api_key=KEY_B)
    run = services.testing.run(b, "greet", model=MODEL, variables={"name": "Ada"}, params=ZERO)
    assert run.cached is False and run.output == ""
    assert run.error_code == "auth" and "rejected the API key" in run.error
    assert len(fake_llm.chat_requests) == 2  # B's request reached the server
    assert fake_llm.chat_requests[-1].headers["authorization"] == f"Bearer {KEY_B}"


def test_another_tenant_with_a_valid_key_calls_the_model_itself(services, tenants, fake_llm):
    a, b = tenants
    services.testing.run(a, "greet", model=MODEL, variables={"name": "Ada"}, params=ZERO)
    services.providers.add(b, "fake", fake_llm.base_url, api_key=KEY_A)  # even the same key
    run = services.testing.run(b, "greet", model=MODEL, variables={"name": "Ada"}, params=ZERO)
    assert run.ok and not run.cached and len(fake_llm.chat_requests) == 2
    assert services.testing.run(b, "greet", model=MODEL, variables={"name": "Ada"}, params=ZERO).cached


def test_same_tenant_with_another_key_misses(services, tenants, fake_llm):
    a, _ = tenants
    services.testing.run(a, "greet", model=MODEL, variables={"name": "Ada"}, params=ZERO)
    services.providers.remove(a, "fake")
    services.providers.add(a, "fake", fake_llm.base_url, api_key=KEY_A2)
    run = services.testing.run(a, "greet", model=MODEL, variables={"name": "Ada"}, params=ZERO)
    assert run.ok and not run.cached and len(fake_llm.chat_requests) == 2
    # A rejected key of the same tenant gets the rejection, not the cached answer.
    services.providers.remove(a, "fake")
    fake_llm.reject_keys.add(KEY_B)
    services.providers.add(a, "fake", fake_llm.base_url, api_key=KEY_B)
    rejected = services.testing.run(a, "greet", model=MODEL, variables={"name": "Ada"}, params=ZERO)
    assert rejected.error_code == "auth" and rejected.cached is False


def test_resolved_targets_carry_tenant_and_credential_identity_not_the_key(services, tenants):
    a, b = tenants
    target = services.providers.resolve(a, MODEL)
    assert target.tenant_id == a.tenant_id and target.credential_id.startswith("provider:")
    assert KEY_A not in target.credential_id and KEY_A[3:-4] not in target.credential_id
    env = services.providers.resolve(b, "gpt-4o-mini")
    assert env.tenant_id == b.tenant_id and env.credential_id == "environment"


def test_gateway_cache_misses_across_tenants(tmp_path, fake_llm):
    gateway = Gateway(tmp_path / "cache", backoff_base=0.01)
    hello = [{"role": "user", "content": "hi"}]

    def target(tenant: int) -> ModelTarget:
        return ModelTarget("openai/fake-model", "f", api_base=fake_llm.base_url, api_key=KEY_A, tenant_id=tenant)

    assert not gateway.complete(target(1), hello, ZERO).cached
    assert gateway.complete(target(1), hello, ZERO).cached
    assert not gateway.complete(target(2), hello, ZERO).cached
    assert len(fake_llm.chat_requests) == 2
