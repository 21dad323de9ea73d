"""Datasets on SQLite and PostgreSQL: every import format (promptfoo's CSV columns too), export
round trips, immutable versions, streaming reads, limits and bad files (a clear error, nothing
written), and tenant isolation."""
from __future__ import annotations

import csv
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptmgr.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from promptmgr.evaluation import dataset_io
from promptmgr.evaluation.dataset_io import Limits
from promptmgr.services.datasets import DatasetService


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def _rows(services, ctx, name, version=None):
    return [(r.id, r.vars, r.expected, r.metadata) for r in services.datasets.rows(ctx, name, version)]


PROMPTFOO_CSV = (
    "question,topic,__expected1,__expected2,__description,__metric,__threshold,__prefix,__metadata:level\n"
    "Capital of France?,geo,Paris,not-icontains: sorry,capital,accuracy,0.5,Q: ,easy\n"
    "2+2?,math,contains: 4,,sum,,,,hard\n"
)


def test_csv_with_promptfoo_columns(services, ctx, tmp_path):
    path = _write(tmp_path / "qa.csv", PROMPTFOO_CSV)
    dataset = services.datasets.add(ctx, "qa", path, description="capitals")
    assert (dataset.name, dataset.version, dataset.row_count, dataset.columns) == ("qa", 1, 2, ["question", "topic"])
    assert dataset.description == "capitals"
    first, second = services.datasets.rows(ctx, "qa")
    assert first.vars == {"question": "Capital of France?", "topic": "geo"}
    assert first.expected == "Paris"  # a plain __expected is promptfoo's `equals`: the expected answer
    assert first.metadata == {"asserts": ["Paris", "not-icontains: sorry"], "description": "capital",
                              "metric": "accuracy", "threshold": 0.5, "prefix": "Q: ", "metadata": {"level": "easy"}}
    assert second.expected is None  # `contains: 4` is an assertion, not an answer
    assert second.metadata["asserts"] == ["contains: 4"]
    assert len(first.id) == 32 and first.id != second.id  # content hashes


def test_ids_from_the_file_and_expected_columns(services, ctx, tmp_path):
    path = _write(tmp_path / "x.csv", "id,q,expected\na1,hello,world\na2,bye,\n")
    services.datasets.add(ctx, "ids", path)
    rows = list(services.datasets.rows(ctx, "ids"))
    assert [(r.id, r.vars, r.expected) for r in rows] == [("a1", {"id": "a1", "q": "hello"}, "world"),
                                                         ("a2", {"id": "a2", "q": "bye"}, None)]


def test_the_content_hash_is_stable(services, ctx, tmp_path):
    services.datasets.add(ctx, "a", _write(tmp_path / "a.csv", "q\nsame\nother\n"))
    services.datasets.add(ctx, "b", _write(tmp_path / "b.jsonl", '{"q": "other"}\n{"q": "same"}\n'))
    ids_a = {r.vars["q"]: r.id for r in services.datasets.rows(ctx, "a")}
    ids_b = {r.vars["q"]: r.id for r in services.datasets.rows(ctx, "b")}
    assert ids_a == ids_b


def test_jsonl_json_and_yaml(services, ctx, tmp_path):
    structured = {"id": "r1", "vars": {"n": 3, "tags": ["a", "b"]}, "expected": "9", "description": "square",
                  "assert": [{"type": "equals", "value": "9"}], "metadata": {"k": 1}}
    flat = {"n": 4, "__description": "flat", "expected": "16"}
    _write(tmp_path / "d.jsonl", json.dumps(structured) + "\n\n" + json.dumps(flat) + "\n")
    _write(tmp_path / "d.json", json.dumps([structured, flat], indent=2))
    _write(tmp_path / "d.yaml", "rows:\n  - " + json.dumps(structured) + "\n  - " + json.dumps(flat) + "\n")
    expected = [("r1", {"n": 3, "tags": ["a", "b"]}, "9",
                 {"description": "square", "asserts": [{"type": "equals", "value": "9"}], "metadata": {"k": 1}}),
                (dataset_io.content_uid({"n": 4}, "16"), {"n": 4}, "16", {"description": "flat"})]
    for fmt in ("jsonl", "json", "yaml"):
        services.datasets.add(ctx, f"d-{fmt}", tmp_path / f"d.{fmt}")
        assert _rows(services, ctx, f"d-{fmt}") == expected, fmt


def test_a_json_array_is_streamed_across_buffer_edges(services, ctx, tmp_path, monkeypatch):
    # A tiny read buffer: numbers, strings and objects split at every possible place.
    monkeypatch.setattr(dataset_io, "_READ_CHUNK", 7)
    items = [{"n": 1234567890123, "s": "x" * (i % 13), "f": 0.125 + i} for i in range(40)]
    path = _write(tmp_path / "big.json", " [ " + " , ".join(json.dumps(item) for item in items) + " ] \n")
    services.datasets.add(ctx, "edges", path)
    assert [r.vars for r in services.datasets.rows(ctx, "edges")] == items


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "yaml"])
def test_export_round_trips(services, ctx, tmp_path, fmt):
    source = "jsonl" if fmt != "csv" else "csv"
    if source == "csv":
        _write(tmp_path / "src.csv", PROMPTFOO_CSV + "\"multi\nline, with comma\",\"quote \"\"x\"\"\",,,,,,,\n")
    else:
        rows = [{"id": "k", "vars": {"a": {"nested": [1, 2.5, None, True]}, "b": "ünïcödé"}, "expected": "x",
                 "threshold": 0.7, "metadata": {"deep": {"x": 1}}},
                {"vars": {"a": 1}}, {"a": "flat", "__metric": "m"}]
        _write(tmp_path / "src.jsonl", "\n".join(json.dumps(r) for r in rows))
    services.datasets.add(ctx, "src", tmp_path / f"src.{source}")
    count = services.datasets.export(ctx, "src", tmp_path / f"out.{fmt}")
    original = _rows(services, ctx, "src")
    assert count == len(original)
    services.datasets.add(ctx, "back", tmp_path / f"out.{fmt}")
    back = _rows(services, ctx, "back")
    if fmt == "csv" and source != "csv":  # CSV cells are text: values come back as their JSON text
        original = [(i, {k: v if isinstance(v, str) else json.dumps(v) for k, v in vars_.items()}, e, m)
                    for i, vars_, e, m in original]
        back = [(i, {k: v for k, v in vars_.items() if v != ""}, e, m) for i, vars_, e, m in back]
    assert back == original
    assert services.datasets.get(ctx, "back").columns == services.datasets.get(ctx, "src").columns


def test_a_failed_export_leaves_no_file(services, ctx, tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    services.datasets.add(ctx, "small", _write(tmp_path / "s.csv", "q\na\nb\n"))

    def broken(row):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(dataset_io, "structured", broken)
    with pytest.raises(RuntimeError):
        services.datasets.export(ctx, "small", folder / "out.jsonl")
    assert list(folder.iterdir()) == []


def test_versions_are_immutable(services, ctx, tmp_path):
    services.datasets.add(ctx, "v", _write(tmp_path / "a.csv", "q\none\ntwo\n"), description="first")
    before = _rows(services, ctx, "v", 1)
    second = services.datasets.add(ctx, "v", _write(tmp_path / "b.csv", "q,extra\nthree,x\n"))
    assert (second.version, second.latest_version, second.row_count, second.description) == (2, 2, 1, "first")
    assert [v.number for v in second.versions] == [1, 2]
    assert _rows(services, ctx, "v", 1) == before
    assert [r[1] for r in _rows(services, ctx, "v")] == [{"q": "three", "extra": "x"}]
    assert services.datasets.get(ctx, "v", 1).columns == ["q"]
    third = services.datasets.add(ctx, "v", tmp_path / "a.csv", description="changed")
    assert (third.version, third.description) == (3, "changed")
    with pytest.raises(NotFoundError):
        services.datasets.get(ctx, "v", 4)


def test_rows_page_through_offset_and_limit(services, ctx, tmp_path, monkeypatch):
    import promptmgr.services.datasets as module

    monkeypatch.setattr(module, "PAGE", 3)
    _write(tmp_path / "n.csv", "n\n" + "".join(f"{i}\n" for i in range(10)))
    services.datasets.add(ctx, "n", tmp_path / "n.csv")
    assert [r.vars["n"] for r in services.datasets.rows(ctx, "n", offset=2, limit=5)] == ["2", "3", "4", "5", "6"]
    assert [r.position for r in services.datasets.rows(ctx, "n", offset=8)] == [9, 10]
    assert list(services.datasets.rows(ctx, "n", limit=0)) == []
    with pytest.raises(ValidationError):
        services.datasets.rows(ctx, "n", offset=-1)


BAD_FILES = [
    ("empty.csv", "", "datasets.empty_file"),
    ("header_only.csv", "a,b\n", "datasets.empty_file"),
    ("dup.csv", "a,a\n1,2\n", "datasets.duplicate_column"),
    ("blank.csv", "a,\n1,2\n", "datasets.empty_column"),
    ("extra.csv", "a\n1\n2,3\n", "datasets.bad_row"),
    ("nul.csv", "a\nx\x00y\n", "datasets.bad_row"),
    ("bad.jsonl", '{"a": 1}\n{"a": \n', "datasets.bad_json"),
    ("scalar.jsonl", '{"a": 1}\n42\n', "datasets.bad_row"),
    ("novars.jsonl", '{"vars": {}}\n', "datasets.bad_row"),
    ("dupid.jsonl", '{"id": "x", "a": 1}\n{"id": "x", "a": 2}\n', "datasets.bad_row"),
    ("badid.jsonl", '{"id": [1], "a": 1}\n', "datasets.bad_row"),
    ("object.json", '{"a": 1}', "datasets.empty_file"),
    ("trailing.json", '[{"a": 1}] x', "datasets.bad_json"),
    ("unclosed.json", '[{"a": 1}, {"a": 2}', "datasets.bad_json"),
    ("scalar.json", '"text"', "datasets.not_a_list"),
    ("bad.yaml", "a: [1,\n", "datasets.bad_yaml"),
    ("bomb.yaml", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                  "rows: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n", "limits.yaml_aliases"),
    ("threshold.csv", "a,__threshold\n1,high\n", "datasets.bad_row"),
    ("rows.txt", "a\n1\n", "datasets.bad_extension"),
]


def test_bad_files_are_clear_errors_and_write_nothing(services, ctx, tmp_path):
    services.datasets.add(ctx, "keep", _write(tmp_path / "ok.csv", "q\nfine\n"))
    wrong = []
    for name, text, key in BAD_FILES:
        path = _write(tmp_path / name, text)
        for target in ("keep", "fresh"):
            with pytest.raises(ValidationError) as caught:
                services.datasets.add(ctx, target, path)
            if caught.value.message_key != key:
                wrong.append((name, caught.value.message_key))
            assert caught.value.translate("en") and "%{" not in caught.value.translate("de")
    assert wrong == []
    assert [(d.name, d.latest_version, d.row_count) for d in services.datasets.list(ctx)] == [("keep", 1, 1)]
    assert _rows(services, ctx, "keep") == [(dataset_io.content_uid({"q": "fine"}, None), {"q": "fine"}, None, {})]


def test_a_bad_row_names_itself(services, ctx, tmp_path):
    path = _write(tmp_path / "late.jsonl", "".join(json.dumps({"a": i}) + "\n" for i in range(2500)) + "[]\n")
    with pytest.raises(ValidationError) as caught:
        services.datasets.add(ctx, "late", path)
    assert caught.value.params["row"] == 2501
    assert "2501" in caught.value.translate("en")
    assert services.datasets.list(ctx) == []  # rows of the first chunks were inserted, then rolled back


def test_size_limits(services, ctx, tmp_path):
    small = DatasetService(services.db, Limits(max_file_bytes=10_000, max_rows=5, max_row_bytes=500,
                                               max_cell_chars=100, max_columns=3))
    cases = {
        "file": ("a\n" + "x\n" * 6000, "datasets.file_too_large"),
        "rows": ("a\n" + "x\n" * 6, "datasets.too_many_rows"),
        "cell": ("a\n" + "x" * 101 + "\n", "datasets.bad_row"),
        "fits": ("a,b,c\n" + ",".join(["y" * 99] * 3) + "\n", None),
        "row": ("a,b,c\n" + ",".join(["é" * 99] * 3) + "\n", "datasets.bad_row"),  # 2 bytes a character
        "escapes": ("a,b,c\n" + ",".join(["\x01" * 99] * 3) + "\n", "datasets.bad_row"),  # 6 bytes in JSON
        "quotes": ("a\n" + '"' + '""' * 99 + '"\n', None),  # 99 quotes: 198 bytes in JSON, fits
        "columns": ("a,b,c,d\n1,2,3,4\n", "datasets.too_many_columns"),
        "columns_over_rows": ('{"a":1}\n{"b":1}\n{"c":1}\n{"d":1}\n', "datasets.too_many_columns"),
    }
    for label, (text, key) in cases.items():
        path = _write(tmp_path / (f"{label}.jsonl" if text.startswith("{") else f"{label}.csv"), text)
        if key is None:
            small.add(ctx, label, path)
            continue
        with pytest.raises(ValidationError) as caught:
            small.add(ctx, label.replace("_", "-"), path)
        assert caught.value.message_key == key, label
    deep = _write(tmp_path / "deep.jsonl", json.dumps({"a": json.loads("[" * 20 + "]" * 20)}) + "\n")
    with pytest.raises(ValidationError):
        small.add(ctx, "deep", deep)
    long_line = _write(tmp_path / "long.jsonl", json.dumps({"a": "z" * 1000}) + "\n")
    with pytest.raises(ValidationError) as caught:
        small.add(ctx, "long", long_line)
    assert caught.value.message_key in ("datasets.row_too_large", "datasets.bad_row")
    assert [d.name for d in small.list(ctx)] == ["fits", "quotes"]


def test_names_descriptions_and_missing_things(services, ctx, tmp_path):
    path = _write(tmp_path / "a.csv", "q\n1\n")
    for bad in ("", "Upper", "has space", "x" * 101, "a@b", "../etc"):
        with pytest.raises(ValidationError):
            services.datasets.add(ctx, bad, path)
    with pytest.raises(ValidationError):
        services.datasets.add(ctx, "ok", path, description="x\x00")
    with pytest.raises(ValidationError) as caught:
        services.datasets.add(ctx, "ok", tmp_path / "missing.csv")
    assert caught.value.message_key == "datasets.cannot_read"
    for call in (lambda: services.datasets.get(ctx, "nope"), lambda: services.datasets.rows(ctx, "nope"),
                 lambda: services.datasets.remove(ctx, "nope"), lambda: services.datasets.get(ctx, "x\x00")):
        with pytest.raises(NotFoundError):
            call()
    assert services.datasets.list(ctx) == []


def test_not_utf8(services, ctx, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("q\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValidationError) as caught:
        services.datasets.add(ctx, "latin", path)
    assert caught.value.message_key == "datasets.not_utf8"


def test_a_bom_is_not_part_of_the_first_column(services, ctx, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffq,r\n1,2\n".encode("utf-8"))
    assert services.datasets.add(ctx, "bom", path).columns == ["q", "r"]


def test_remove(services, ctx, tmp_path):
    services.datasets.add(ctx, "gone", _write(tmp_path / "a.csv", "q\n1\n"))
    services.datasets.add(ctx, "gone", tmp_path / "a.csv")
    services.datasets.remove(ctx, "gone")
    assert services.datasets.list(ctx) == []
    services.datasets.add(ctx, "gone", tmp_path / "a.csv")  # the name is free again, from version 1
    assert services.datasets.get(ctx, "gone").version == 1


def test_viewers_read_but_do_not_write(services, ctx, tmp_path):
    from dataclasses import replace

    services.datasets.add(ctx, "r", _write(tmp_path / "a.csv", "q\n1\n"))
    viewer = replace(ctx, role="viewer")
    assert [d.name for d in services.datasets.list(viewer)] == ["r"]
    for call in (lambda: services.datasets.add(viewer, "w", tmp_path / "a.csv"),
                 lambda: services.datasets.remove(viewer, "r")):
        with pytest.raises(PermissionDeniedError):
            call()
    assert [d.latest_version for d in services.datasets.list(ctx)] == [1]


names = st.sampled_from(["alpha", "beta", "gamma"])
operations = st.lists(st.tuples(st.sampled_from(["add", "remove"]), st.integers(0, 1), names), min_size=1, max_size=8)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_a_tenant_never_sees_another_tenants_datasets(services, tmp_path, ops):
    run = uuid.uuid4().hex[:8]
    tenants = [services.admin.ensure_tenant(f"d{i}-{run}", f"Tenant {i}", "user")[0] for i in range(2)]
    model: list[dict[str, int]] = [{}, {}]  # name -> latest version
    for step, (op, who, name) in enumerate(ops):
        ctx = tenants[who]
        if op == "add":
            path = tmp_path / f"{run}-{step}.csv"
            with open(path, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerows([["secret"], [f"tenant-{who}-{step}"]])
            services.datasets.add(ctx, name, path)
            model[who][name] = model[who].get(name, 0) + 1
        else:
            try:
                services.datasets.remove(ctx, name)
                del model[who][name]
            except NotFoundError:
                assert name not in model[who]
    for who, ctx in enumerate(tenants):
        listed = {d.name: d.latest_version for d in services.datasets.list(ctx)}
        assert listed == model[who]
        for name in listed:
            values = [r.vars["secret"] for r in services.datasets.rows(ctx, name)]
            assert all(v.startswith(f"tenant-{who}-") for v in values)
        for name in set(model[1 - who]) - set(model[who]):
            with pytest.raises(NotFoundError):
                services.datasets.get(ctx, name)


cell_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
column = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd"), min_codepoint=48), min_size=1, max_size=8)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=st.lists(column, min_size=1, max_size=4, unique=True),
       values=st.lists(st.lists(cell_text, min_size=4, max_size=4), min_size=1, max_size=6),
       expected=st.lists(st.one_of(st.none(), cell_text.filter(bool)), min_size=6, max_size=6),
       fmt=st.sampled_from(["csv", "jsonl", "json", "yaml"]))
def test_any_text_round_trips_through_every_format(services, ctx, tmp_path, columns, values, expected, fmt):
    run = uuid.uuid4().hex[:8]
    rows = [{"vars": dict(zip(columns, row)), **({"expected": e} if e is not None else {})}
            for row, e in zip(values, expected)]
    source = tmp_path / f"{run}.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    services.datasets.add(ctx, f"src-{run}", source)
    services.datasets.export(ctx, f"src-{run}", tmp_path / f"{run}.{fmt}")
    services.datasets.add(ctx, f"back-{run}", tmp_path / f"{run}.{fmt}")
    original = _rows(services, ctx, f"src-{run}")
    back = _rows(services, ctx, f"back-{run}")
    if fmt == "csv":  # an empty CSV cell reads back as "" (CSV has no null)
        original = [(i, v, e if e != "" else None, m) for i, v, e, m in original]
    assert back == original


def test_repeated_rows_get_distinct_stable_ids(services, ctx, tmp_path):
    path = _write(tmp_path / "rep.csv", "q\nsame\nsame\nother\nsame\n")
    services.datasets.add(ctx, "rep", path)
    ids = [r.id for r in services.datasets.rows(ctx, "rep")]
    base = dataset_io.content_uid({"q": "same"}, None)
    assert ids == [base, f"{base}-2", dataset_io.content_uid({"q": "other"}, None), f"{base}-3"]
    services.datasets.add(ctx, "rep", path)
    assert [r.id for r in services.datasets.rows(ctx, "rep")] == ids  # the same file, the same ids
    services.datasets.export(ctx, "rep", tmp_path / "rep.jsonl")
    services.datasets.add(ctx, "again", tmp_path / "rep.jsonl")
    assert [r.id for r in services.datasets.rows(ctx, "again")] == ids
