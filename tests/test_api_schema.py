"""schemathesis against the API's own OpenAPI document, over the real ASGI app with a token: no
server error and every response as the document describes it (status and body), for generated
valid and invalid inputs. Bounded examples (fewer under CI=true)."""
from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.api_helpers import API, make_token

pytest_plugins = ("tests.api_helpers",)
EXAMPLES = 15 if os.environ.get("CI") else 30


def test_the_api_keeps_its_own_schema(app, team):
    # Driven by hand (each operation's hypothesis strategy): schemathesis' pytest plugin does not
    # work with this pytest's test items.
    from fastapi.testclient import TestClient
    from hypothesis import given

    editor = make_token(team, "editor")
    headers = {"authorization": f"Bearer {editor}"}
    with TestClient(app, base_url="http://127.0.0.1") as client:  # something to read, edit, label, render
        client.post(f"{API}/prompts", json={"name": "greet", "content": "Hi {{ name }}"}, headers=headers)
        # GET /models' first call loads litellm's model map and key checks (seconds on a busy machine,
        # past schemathesis' 10 s read timeout): done here once.
        client.get(f"{API}/models?limit=1", headers=headers)
        client.post(f"{API}/datasets", json={"name": "qs", "rows": [{"q": "Hi?"}]}, headers=headers)
    # The API sub-application itself: the outer app's Host check would refuse the test client's name.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app.state.pm_api)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call(headers=headers)
            for one in (not_a_server_error, status_code_conformance, response_schema_conformance):
                case.validate_response(response, checks=[one])

        check()
