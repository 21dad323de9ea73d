"""/api/v1 datasets over HTTP (SQLite and PostgreSQL): create from JSON rows and from an uploaded file
of each format, the rows paged, edits as a new version (409 on a stale base_version), export, delete;
a viewer token cannot write, another workspace sees nothing, an oversize upload is a 413."""
from __future__ import annotations

import csv
import io
import json

import pytest

from tests.api_helpers import API, bearer, make_token

pytest_plugins = ("tests.api_helpers",)

ROWS = [{"question": "Capital of France?", "expected": "Paris"}, {"question": "2+2?", "expected": "4"},
        {"question": "Ünïcode «ok»?", "expected": "yes"}]
FILES = {
    "csv": "question,expected\n" + "".join(f'"{r["question"]}",{r["expected"]}\n' for r in ROWS),
    "jsonl": "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS),
    "json": json.dumps(ROWS, ensure_ascii=False),
    "yaml": "".join(f"- question: \"{r['question']}\"\n  expected: \"{r['expected']}\"\n" for r in ROWS),
}


@pytest.fixture
def editor(team):
    return bearer(make_token(team, "editor"))


def member(team, role: str = "editor"):
    """A member's own context in alpha (the operator's context has no user row to author a version)."""
    from promptmgr.context import TenantContext

    ctx = team.ctx("alpha")
    return TenantContext(ctx.tenant_id, next(m["user_id"] for m in team.services.accounts.members(ctx)
                                             if m["role"] == role), role)


def upload(client, headers, name: str, filename: str, text: str, **fields):
    return client.post(f"{API}/datasets", headers=headers, data={"name": name, **fields},
                       files={"file": (filename, text.encode("utf-8"), "application/octet-stream")})


def rows_of(client, headers, name: str, **query) -> list:
    response = client.get(f"{API}/datasets/{name}/rows", params=query, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_an_upload_of_each_format_makes_the_same_rows_as_the_service(client, team, editor, fmt, tmp_path):
    made = upload(client, editor, "qa", f"my questions.{fmt}", FILES[fmt], description="Quiz")
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["name"], body["version"], body["row_count"], body["description"]) == ("qa", 1, 3, "Quiz")
    assert body["columns"] == ["question"] and body["source"] == f"my_questions.{fmt} ({fmt})"
    got = [(r["vars"], r["expected"]) for r in rows_of(client, editor, "qa")]
    assert got == [({"question": r["question"]}, r["expected"]) for r in ROWS]
    # The same file through the service (as `promptmgr datasets add` reads it) gives the same rows.
    path = tmp_path / f"same.{fmt}"
    path.write_text(FILES[fmt], encoding="utf-8")
    team.services.datasets.add(member(team), "qa-service", path)
    assert [r.model_dump(mode="json") for r in team.services.datasets.rows(member(team), "qa-service")] == \
        rows_of(client, editor, "qa")
    # A second upload under the name is its next version; the first stays as it was.
    again = upload(client, editor, "qa", "more.csv", "question\nOne more?\n", message="one row")
    assert (again.json()["version"], again.json()["row_count"], again.json()["description"]) == (2, 1, "Quiz")
    assert len(rows_of(client, editor, "qa", version=1)) == 3


def test_json_rows_paging_versions_and_export(client, team, editor):
    rows = [{"vars": {"n": str(i)}, "expected": str(i * i), "id": f"r{i}"} for i in range(1, 26)]
    made = client.post(f"{API}/datasets", json={"name": "squares", "rows": rows, "description": "n²"}, headers=editor)
    assert made.status_code == 201, made.text
    assert made.json()["row_count"] == 25 and made.json()["source"] == "rows.jsonl (jsonl)"
    page = client.get(f"{API}/datasets/squares/rows?limit=10&offset=20", headers=editor).json()
    assert (page["total"], page["limit"], page["offset"]) == (25, 10, 20)
    assert [(r["position"], r["id"], r["vars"], r["expected"]) for r in page["items"]] == \
        [(i, f"r{i}", {"n": str(i)}, str(i * i)) for i in range(21, 26)]
    assert client.get(f"{API}/datasets/squares/rows?offset=25", headers=editor).json()["items"] == []
    listed = client.get(f"{API}/datasets", headers=editor).json()
    assert [(d["name"], d["row_count"]) for d in listed] == [("squares", 25)]
    shown = client.get(f"{API}/datasets/squares", headers=editor).json()
    assert [v["number"] for v in shown["versions"]] == [1] and shown["versions"][0]["author"]
    exported = client.get(f"{API}/datasets/squares/export?format=csv", headers=editor)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["n"], r["__id"], r["expected"]) for r in table][:2] == [("1", "r1", "1"), ("2", "r2", "4")]
    assert len(table) == 25
    jsonl = client.get(f"{API}/datasets/squares/export?format=jsonl", headers=editor)
    assert [json.loads(line)["id"] for line in jsonl.text.splitlines()] == [f"r{i}" for i in range(1, 26)]
    # Exported, uploaded again: the same rows (ids included).
    back = upload(client, editor, "squares-again", "squares.csv", exported.text)
    assert rows_of(client, editor, "squares-again", limit=1000) == rows_of(client, editor, "squares", limit=1000)
    assert back.status_code == 201
    assert client.delete(f"{API}/datasets/squares", headers=editor).status_code == 204
    assert client.get(f"{API}/datasets/squares", headers=editor).status_code == 404


def test_editing_rows_makes_a_new_version_and_a_stale_base_version_is_a_409(client, team, editor):
    client.post(f"{API}/datasets", json={"name": "qa", "rows": ROWS}, headers=editor)
    edited = client.patch(f"{API}/datasets/qa/rows", headers=editor, json={
        "base_version": 1, "edits": [{"position": 2, "vars": {"question": "3+3?"}, "expected": "6"}],
        "added": [{"vars": {"question": "Added?"}}], "message": "fix"})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["version"], edited.json()["row_count"]) == (2, 4)
    after = rows_of(client, editor, "qa")
    assert (after[1]["vars"], after[1]["expected"]) == ({"question": "3+3?"}, "6")
    assert after[3]["vars"] == {"question": "Added?"}
    assert rows_of(client, editor, "qa", version=1)[1]["vars"] == {"question": "2+2?"}  # versions never change
    stale = client.patch(f"{API}/datasets/qa/rows", headers=editor,
                         json={"base_version": 1, "added": [{"vars": {"question": "late"}}]})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "conflict"
    assert stale.json()["error"]["details"] == {"name": "qa", "version": 1, "latest": 2}
    missing = client.patch(f"{API}/datasets/qa/rows", headers=editor,
                           json={"base_version": 2, "edits": [{"position": 99, "vars": {"q": "x"}}]})
    assert missing.status_code == 422
    assert team.services.datasets.get(team.ctx("alpha"), "qa").version == 2  # nothing half-written


def test_a_viewer_cannot_write_and_another_workspace_sees_nothing(client, team, editor):
    client.post(f"{API}/datasets", json={"name": "qa", "rows": ROWS}, headers=editor)
    viewer = bearer(make_token(team, "editor", role="viewer"))
    assert len(rows_of(client, viewer, "qa")) == 3  # reading is a viewer's right
    refused = [
        client.post(f"{API}/datasets", json={"name": "mine", "rows": ROWS}, headers=viewer),
        upload(client, viewer, "mine", "a.csv", FILES["csv"]),
        client.patch(f"{API}/datasets/qa/rows", json={"base_version": 1, "added": [{"vars": {"q": "x"}}]},
                     headers=viewer),
        client.delete(f"{API}/datasets/qa", headers=viewer),
    ]
    assert [r.status_code for r in refused] == [403] * 4
    assert {r.json()["error"]["code"] for r in refused} == {"forbidden"}
    beta = bearer(make_token(team, workspace="beta", user=team.both))
    assert client.get(f"{API}/datasets", headers=beta).json() == []
    for path in ("/datasets/qa", "/datasets/qa/rows", "/datasets/qa/export"):
        assert client.get(f"{API}{path}", headers=beta).status_code == 404, path
    assert [d.name for d in team.services.datasets.list(team.ctx("alpha"))] == ["qa"]


def test_bad_uploads_are_refused_without_a_trace_or_a_server_path(client, team, editor):
    limit = team.services.settings.api_max_body_kb * 1024
    big = "question\n" + "x" * 100 + "\n"
    big = big * (limit // len(big) + 10)
    too_large = upload(client, editor, "big", "big.csv", big)
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "too_large"
    bad_extension = upload(client, editor, "x", "notes.txt", "question\nhi\n")
    assert bad_extension.status_code == 422 and "notes.txt" in bad_extension.json()["error"]["message"]
    bad_row = upload(client, editor, "x", "rows.jsonl", '{"question": "ok"}\n[1, 2]\n')
    error = bad_row.json()["error"]
    assert bad_row.status_code == 422 and error["details"]["row"] == 2
    not_utf8 = client.post(f"{API}/datasets", headers=editor, data={"name": "x"},
                           files={"file": ("latin.csv", "q\ncafé\n".encode("latin-1"), "text/csv")})
    assert not_utf8.status_code == 422 and "promptmgr-api-" not in not_utf8.text and "/tmp" not in not_utf8.text
    no_file = client.post(f"{API}/datasets", headers=editor, data={"name": "x"}, files={"other": ("a", b"b")})
    assert no_file.status_code == 422 and no_file.json()["error"]["details"]["fields"][0]["loc"] == ["body", "file"]
    media = client.post(f"{API}/datasets", headers={**editor, "content-type": "text/plain"}, content=b"hi")
    assert media.status_code == 422 and "multipart/form-data" in media.json()["error"]["message"]
    bad_json = client.post(f"{API}/datasets", headers={**editor, "content-type": "application/json"}, content=b"{x")
    assert bad_json.status_code == 400
    assert team.services.datasets.list(team.ctx("alpha")) == []  # nothing written by any of them
