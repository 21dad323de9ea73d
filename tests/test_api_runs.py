"""/api/v1 runs against the fake OpenAI-compatible server: run, list, get; a viewer token cannot run."""
from __future__ import annotations

from tests.api_helpers import API, bearer, make_token

pytest_plugins = ("tests.api_helpers",)
MODEL = "fake/fake-model"


def test_run_list_and_get_through_the_api(client, team, fake_llm):
    from promptmgr.context import TenantContext

    admin = TenantContext(team.ctx("alpha").tenant_id, next(
        m["user_id"] for m in team.services.accounts.members(team.ctx("alpha")) if m["role"] == "admin"), "admin")
    team.services.providers.add(admin, "fake", fake_llm.base_url, api_key="sk-test-key-0123456789abcdef")
    editor, viewer = make_token(team, "editor"), make_token(team, "editor", role="viewer")
    client.post(f"{API}/prompts", json={"name": "greet", "content": "Say hi to {{ name }}."}, headers=bearer(editor))
    fake_llm.script(["Hi, Ada!"])
    made = client.post(f"{API}/runs", json={"prompt": "greet", "model": MODEL, "variables": {"name": "Ada"}},
                       headers=bearer(editor))
    assert made.status_code == 201, made.text
    run = made.json()
    assert run["output"] == "Hi, Ada!" and fake_llm.chat_requests[-1]["model"] == "fake-model"
    assert "Say hi to Ada." in str(fake_llm.chat_requests[-1]["messages"])
    page = client.get(f"{API}/runs?prompt=greet", headers=bearer(viewer)).json()
    assert page["total"] == 1 and page["items"][0]["id"] == run["id"]
    assert client.get(f"{API}/runs/{run['id']}", headers=bearer(viewer)).json()["output"] == "Hi, Ada!"
    refused = client.post(f"{API}/runs", json={"prompt": "greet", "model": MODEL}, headers=bearer(viewer))
    assert refused.status_code == 403 and len(fake_llm.chat_requests) == 1
    missing = client.get(f"{API}/runs/999999", headers=bearer(viewer))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    beta = make_token(team, workspace="beta", user=team.both)
    assert client.get(f"{API}/runs/{run['id']}", headers=bearer(beta)).status_code == 404
