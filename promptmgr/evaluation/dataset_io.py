"""Reading and writing dataset files (CSV, JSONL, JSON, YAML) one row at a time.

A file is never held in memory whole except YAML (bounded by PROMPTMGR_MAX_DOCUMENT_BYTES: its
parser has no streaming mode worth the name). A JSON array is read element by element with the
standard library's raw_decode over a bounded buffer.

Row shapes understood:
- CSV, and flat objects in JSON/JSONL/YAML: every column is a variable except the special ones:
  `__id`/`id` (the row's stable id; `id` also stays a variable), `expected`/`expected_output`
  (the reference answer), and promptfoo's reserved columns: `__expected`, `__expected1`... (assertion
  strings, kept in metadata `asserts`; a plain or `equals:` first one is also the expected answer),
  `__description`, `__metric`, `__threshold`, `__prefix`, `__suffix`, `__providerOutput`,
  `__metadata:KEY`, `__config:__expectedN:KEY`. `__meta` (our own) holds the rest of the metadata as JSON.
- Structured objects (promptfoo test cases): {"vars": {...}, "expected", "id", "description",
  "assert", "metadata", "threshold", "metric", "options", ...}: `vars` are the variables, every other
  key but id/expected is kept in the row's metadata (`assert` as `asserts`), so an export gives them back.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from ..errors import ValidationError

FORMATS = ("csv", "jsonl", "json", "yaml")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
# csv's own cap on a field (its default): our cell limit may not exceed it.
_CSV_FIELD_CAP = csv.field_size_limit()
_READ_CHUNK = 1 << 16
_UID_CHARS = 64
_ID_COLUMNS = ("__id", "id")
_EXPECTED_COLUMNS = ("expected", "expected_output")
_META_COLUMNS = {"__description": "description", "__metric": "metric", "__prefix": "prefix", "__suffix": "suffix",
                 "__providerOutput": "provider_output"}
_STRUCTURED_RENAMES = {"assert": "asserts"}  # structured object key -> metadata key
# promptfoo assertion types a `__expected` cell may start with ("contains: Paris"); anything else is
# the expected text itself (promptfoo's default: equals).
_ASSERTION_TYPES = frozenset("""
equals contains icontains contains-any icontains-any contains-all icontains-all starts-with regex is-json
contains-json is-sql contains-sql is-xml contains-xml is-html contains-html is-valid-openai-tools-call
is-valid-openai-function-call is-valid-function-call javascript python webhook levenshtein rouge-n bleu gleu
meteor similar llm-rubric g-eval model-graded-closedqa model-graded-factuality factuality answer-relevance
context-faithfulness context-recall context-relevance select-best classifier moderation perplexity
perplexity-score cost latency word-count finish-reason is-refusal pi guardrails trace-span-count
trace-span-duration trace-error-spans fn eval grade file""".split())
_ASSERTION_RE = re.compile(r"^(not-)?([a-z][a-z0-9-]*)(\(\d+(?:\.\d+)?\))?\s*:")


@dataclass(frozen=True)
class Limits:
    """What one dataset file may hold; every error names the row (1-based, after the header)."""

    max_file_bytes: int = 500 * 1024 * 1024
    max_rows: int = 1_000_000
    max_row_bytes: int = 1_000_000      # a row's variables, expected answer and metadata as JSON
    max_cell_chars: int = _CSV_FIELD_CAP  # one value (a CSV cell, a variable)
    max_columns: int = 500
    max_depth: int = 10


@dataclass(slots=True)
class Row:
    uid: str
    vars: dict
    expected: str | None = None
    meta: dict = field(default_factory=dict)


def format_of(path: str | Path, fmt: str | None = None) -> str:
    """The format named by `fmt`, else by the file's extension. Raises ValidationError."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValidationError("datasets.bad_format", format=str(fmt)[:20], formats=", ".join(FORMATS))
        return fmt
    found = _SUFFIXES.get(Path(path).suffix.lower())
    if found is None:
        raise ValidationError("datasets.bad_extension", path=str(path))
    return found


def content_uid(vars_: dict, expected: str | None) -> str:
    """A row's id when its file gives none: the same content always gets the same id."""
    text = json.dumps([vars_, expected], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# --- reading -----------------------------------------------------------------------------
def read_rows(path: str | Path, fmt: str | None = None, limits: Limits = Limits()) -> Iterator[Row]:
    """The file's rows, checked one at a time. Raises ValidationError (naming the row) on the
    first bad one; the caller's transaction then writes nothing."""
    fmt = format_of(path, fmt)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise ValidationError("datasets.cannot_read", path=str(path), detail=exc.strerror or str(exc)) from None
    if size > limits.max_file_bytes:
        raise ValidationError("datasets.file_too_large", size=size, limit=limits.max_file_bytes)
    checker = _RowChecker(limits)
    try:
        with open(path, encoding="utf-8-sig", newline="" if fmt == "csv" else None) as handle:
            source = {"csv": _csv_objects, "jsonl": _jsonl_objects, "json": _json_objects,
                      "yaml": _yaml_objects}[fmt](handle, limits)
            for number, (raw, flat) in enumerate(source, start=1):
                if number > limits.max_rows:
                    raise ValidationError("datasets.too_many_rows", limit=limits.max_rows)
                yield checker.row(number, raw, flat)
    except UnicodeDecodeError:
        raise ValidationError("datasets.not_utf8", path=str(path)) from None
    except OSError as exc:
        raise ValidationError("datasets.cannot_read", path=str(path), detail=exc.strerror or str(exc)) from None


def _bad(number: int, key: str, **params) -> ValidationError:
    return ValidationError("datasets.bad_row", row=number, detail=ValidationError(key, **params))


def _csv_objects(handle: IO[str], limits: Limits) -> Iterator[tuple[dict, bool]]:
    reader = csv.reader(handle)
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [name.strip() for name in header]
        seen: set[str] = set()
        for name in header:
            if not name:
                raise ValidationError("datasets.empty_column")
            if name in seen:
                raise ValidationError("datasets.duplicate_column", column=_shown(name))
            seen.add(name)
        if len(header) > limits.max_columns:
            raise ValidationError("datasets.too_many_columns", limit=limits.max_columns)
        number = 0  # rows are numbered like read_rows numbers them: data rows from 1, blank lines skipped
        for cells in reader:
            if not cells:
                continue
            number += 1
            if len(cells) > len(header):
                raise _bad(number, "datasets.extra_cells", found=len(cells), expected=len(header))
            yield dict(zip(header, cells + [""] * (len(header) - len(cells)))), True
    except csv.Error as exc:
        raise ValidationError("datasets.bad_csv", line=reader.line_num, detail=str(exc)) from None


def _jsonl_objects(handle: IO[str], limits: Limits) -> Iterator[tuple[Any, bool]]:
    for line_number, line in enumerate(_bounded_lines(handle, limits.max_row_bytes), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line), False
        except RecursionError:
            raise _bad(line_number, "datasets.too_deep", limit=limits.max_depth) from None
        except ValueError as exc:
            raise ValidationError("datasets.bad_json", line=line_number, detail=str(exc)) from None


def _bounded_lines(handle: IO[str], max_chars: int) -> Iterator[str]:
    while True:
        line = handle.readline(max_chars + 1)
        if not line:
            return
        if len(line) > max_chars and not line.endswith("\n"):
            raise ValidationError("datasets.row_too_large", limit=max_chars)
        yield line


def _json_objects(handle: IO[str], limits: Limits) -> Iterator[tuple[Any, bool]]:
    """The elements of a top-level JSON array (or of a {"rows": [...]}/{"tests": [...]} object's
    list, read whole when small), each decoded alone from a buffer of at most one row."""
    decoder = json.JSONDecoder()
    buffer, position, eof = "", 0, False

    def fill() -> bool:
        nonlocal buffer, position, eof
        chunk = handle.read(_READ_CHUNK)
        if not chunk:
            eof = True
            return False
        buffer, position = buffer[position:] + chunk, 0
        return True

    def skip_space() -> str:
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n":
                position += 1
            if position < len(buffer) or not fill():
                return buffer[position] if position < len(buffer) else ""

    first = skip_space()
    if first == "{":  # a document with the rows under a key: bounded by the document size limit
        from ..services.transfer import check_document_size

        text = buffer[position:] + handle.read()
        check_document_size(len(text.encode("utf-8")))
        yield from _rows_of_document(_parse_json(text), "json")
        return
    if first != "[":
        raise ValidationError("datasets.not_a_list")
    position += 1
    element = 0
    while True:
        char = skip_space()
        if char == "]":
            position += 1
            break
        if element:
            if char != ",":
                raise ValidationError("datasets.bad_json", line=element + 1, detail="expected ',' or ']'")
            position += 1
            skip_space()
        element += 1
        while True:
            try:
                value, end = decoder.raw_decode(buffer, position)
                # A number can end at the buffer's edge ("12" of "123"): decode it again with more text.
                if end < len(buffer) or eof:
                    break
                if not fill():
                    break
            except RecursionError:
                raise _bad(element, "datasets.too_deep", limit=limits.max_depth) from None
            except ValueError as exc:
                if len(buffer) - position > limits.max_row_bytes:
                    raise _bad(element, "datasets.row_too_large", limit=limits.max_row_bytes) from None
                if not fill():
                    raise ValidationError("datasets.bad_json", line=element, detail=str(exc)) from None
        position = end
        yield value, False
    if skip_space():
        raise ValidationError("datasets.bad_json", line=element, detail="text after the closing ']'")


def _parse_json(text: str):
    try:
        return json.loads(text)
    except RecursionError:
        raise ValidationError("limits.document_nesting") from None
    except ValueError as exc:
        raise ValidationError("datasets.bad_json", line=1, detail=str(exc)) from None


def _yaml_objects(handle: IO[str], limits: Limits) -> Iterator[tuple[Any, bool]]:
    from ..services.transfer import check_document_size, safe_yaml_load

    text = handle.read(limits.max_file_bytes + 1)
    check_document_size(len(text.encode("utf-8")))
    try:
        data = safe_yaml_load(text)
    except ValidationError:
        raise
    except RecursionError:
        raise ValidationError("limits.document_nesting") from None
    except Exception as exc:  # noqa: BLE001 — yaml's errors: the file's problem, reported as such
        raise ValidationError("datasets.bad_yaml", detail=(str(exc).splitlines() or [""])[0]) from None
    del text
    yield from _rows_of_document(data, "yaml")


def _rows_of_document(data, fmt: str) -> Iterator[tuple[Any, bool]]:
    if isinstance(data, dict):
        data = next((data[key] for key in ("rows", "tests") if isinstance(data.get(key), list)), None)
    if data is None:
        return
    if not isinstance(data, list):
        raise ValidationError("datasets.not_a_list")
    for item in data:
        yield item, False


class _RowChecker:
    """Turns one raw object into a Row, enforcing the limits."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.explicit_ids: set[str] = set()

    def row(self, number: int, raw, flat_text: bool) -> Row:
        if not isinstance(raw, dict):
            raise _bad(number, "datasets.row_not_object")
        try:
            if isinstance(raw.get("vars"), dict) and not flat_text:
                row = self._structured(number, raw)
            else:
                row = self._flat(number, raw)
            self._check(number, row)
        except ValidationError as exc:
            if exc.message_key == "datasets.bad_row":
                raise
            raise ValidationError("datasets.bad_row", row=number, detail=exc) from None
        return row

    def _structured(self, number: int, raw: dict) -> Row:
        meta = {_STRUCTURED_RENAMES.get(key, key): value for key, value in raw.items()
                if key not in ("vars", "expected", "id", "__id")}
        return Row(uid=self._uid(raw.get("__id", raw.get("id"))), vars=dict(raw["vars"]),
                   expected=_expected_text(raw.get("expected")), meta=meta)

    def _flat(self, number: int, raw: dict) -> Row:
        vars_: dict = {}
        meta: dict = {}
        asserts: list = []
        expected = None
        uid = raw.get("__id")
        for key, value in raw.items():
            kind = _column_kind(key) if isinstance(key, str) else "bad"
            if kind == "var":
                vars_[key] = value
            elif kind == "bad":
                raise ValidationError("datasets.bad_column_name")
            elif kind == "expected":
                expected = _expected_text(value)
            elif kind == "assert":
                if isinstance(value, str) and value.strip():
                    asserts.append(value.strip())
            elif value in ("", None) or kind == "id":
                continue
            elif kind == "threshold":
                meta["threshold"] = _number(value)
            elif kind == "metadata":
                meta.setdefault("metadata", {})[key[len("__metadata:"):]] = value
            elif kind == "config":
                target, _, option = key[len("__config:"):].partition(":")
                meta.setdefault("config", {}).setdefault(target, {})[option] = value
            elif kind == "meta":
                meta.update(_meta_json(value))
            else:
                meta[kind] = value
        if uid in (None, "") and "id" in raw:
            uid = raw["id"]
        if asserts:
            meta["asserts"] = asserts
            if expected is None:
                expected = _plain_expected(asserts[0])
        return Row(uid=self._uid(uid), vars=vars_, expected=expected, meta=meta)

    def _uid(self, value) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError("datasets.bad_id")
        text = str(value).strip()
        # isprintable: no control, format, private-use or separator character but the plain space.
        if not text or len(text) > _UID_CHARS or not text.isprintable():
            raise ValidationError("datasets.bad_id")
        if text in self.explicit_ids:
            raise ValidationError("datasets.duplicate_id", id=text)
        self.explicit_ids.add(text)
        return text

    def _exact(self, data: dict) -> None:
        """check_data's verdict on a row, its errors worded about the row."""
        from ..schemas import check_data

        limits = self.limits
        try:
            check_data(data, "metadata", max_bytes=limits.max_row_bytes, max_depth=limits.max_depth + 2)
        except ValidationError as exc:
            if exc.message_key == "limits.too_large":
                raise ValidationError("datasets.row_too_large", limit=limits.max_row_bytes) from None
            if exc.message_key == "limits.too_deep":
                raise ValidationError("datasets.too_deep", limit=limits.max_depth) from None
            # The same message about the row, not about "the metadata" (check_data's field).
            raise ValidationError(exc.message_key, **{**exc.params, "field_key": "datasets.fields.row"}) from None

    def _check(self, number: int, row: Row) -> None:
        limits = self.limits
        if not row.vars:
            raise ValidationError("datasets.no_variables")
        if len(row.vars) > limits.max_columns:
            raise ValidationError("datasets.too_many_columns", limit=limits.max_columns)
        for key, value in row.vars.items():
            if not key.strip():
                raise ValidationError("datasets.empty_column")
            if isinstance(value, str) and len(value) > limits.max_cell_chars:
                raise ValidationError("datasets.cell_too_large", column=_shown(key), limit=limits.max_cell_chars)
        if row.expected is not None and len(row.expected) > limits.max_cell_chars:
            raise ValidationError("datasets.cell_too_large", column="expected", limit=limits.max_cell_chars)
        # Clean strings (no NUL, no lone surrogate), bounded depth and size: what both databases
        # store. One pass collects the texts and checks them at once (check_data's per-value
        # checks were 40% of an import); any doubt goes to check_data for its exact verdict.
        data = {"vars": row.vars, "expected": row.expected, "meta": row.meta}
        texts: list[str] = []
        values = row.vars.values()
        if all(type(v) is str for v in values):  # a CSV row: its variables are texts as they are
            texts += row.vars
            texts += values
            rest = _plain_data([row.expected, row.meta], texts, limits.max_depth + 1)
            items = -1 if rest < 0 else rest + 2 * len(row.vars)
        else:
            items = _plain_data(data, texts, limits.max_depth + 2)
        if items < 0:
            return self._exact(data)
        joined = "\n".join(texts)
        try:
            encoded = len(joined.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate
            return self._exact(data)
        # An upper bound of the JSON size: every text, 5 more bytes per character JSON escapes,
        # 24 per value (quotes, separators, a number's digits).
        bound = encoded + 24 * items
        if bound + 5 * encoded > limits.max_row_bytes:  # only then can the escapes matter: count them
            bound += 5 * len(_JSON_ESCAPED.findall(joined))
        if "\x00" in joined or bound > limits.max_row_bytes:
            self._exact(data)
        if not row.uid:
            row.uid = content_uid(row.vars, row.expected)


@lru_cache(maxsize=4096)
def _column_kind(key: str) -> str:
    """What a flat row's column is (the same for every row of a file: cached)."""
    if key == "__id":
        return "id"
    if key in _EXPECTED_COLUMNS:
        return "expected"
    if key.startswith("__expected"):
        return "assert"
    if key in _META_COLUMNS:
        return _META_COLUMNS[key]
    if key == "__threshold":
        return "threshold"
    if key.startswith("__metadata:"):
        return "metadata"
    if key.startswith("__config:"):
        return "config"
    if key == "__meta":
        return "meta"
    return "var"


def _plain_data(value, texts: list[str], max_depth: int) -> int:
    """Collect the texts (keys too) of JSON-like data and count its values; -1 for anything
    check_data must judge: too deep, a non-text key, a value JSON cannot hold."""
    stack = [(value, 1)]
    items = 0
    while stack:
        item, depth = stack.pop()
        items += 1
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            if depth > max_depth:
                return -1
            for key, child in item.items():
                if not isinstance(key, str):
                    return -1
                texts.append(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                return -1
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float):
            if item != item or item in (_INF, -_INF):
                return -1
        elif item is not None and not isinstance(item, int):
            return -1
    return items


_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')
_INF = float("inf")


def _expected_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value if value != "" else None
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _plain_expected(assertion: str) -> str | None:
    """The expected answer an `__expected` cell states: its text, unless it is another assertion."""
    match = _ASSERTION_RE.match(assertion)
    if match is None or match.group(2) not in _ASSERTION_TYPES:
        return assertion
    if match.group(2) == "equals" and not match.group(1):
        return assertion[match.end():].strip()
    return None


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError("datasets.bad_threshold", value=str(value)[:40]) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValidationError("datasets.bad_threshold", value=str(value)[:40])
    return number


def _meta_json(value) -> dict:
    if isinstance(value, dict):
        return value
    if value in ("", None):
        return {}
    try:
        loaded = json.loads(value)
    except (TypeError, ValueError, RecursionError):
        loaded = None
    if not isinstance(loaded, dict):
        raise ValidationError("datasets.bad_meta")
    return loaded


def _shown(name: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in name[:60])


# --- writing -----------------------------------------------------------------------------
def write_rows(path: str | Path, fmt: str | None, rows: Callable[[], Iterable[Row]], columns: list[str]) -> int:
    """Write rows to `path` in `fmt` (else by extension); `rows()` yields them anew on each call
    (CSV reads them twice: its header must name every special column first). Returns the count.
    Written to a temporary file renamed at the end: a failed export leaves no half file."""
    fmt = format_of(path, fmt)
    target = Path(path)
    temporary = target.with_name(f".{target.name}.partial")
    try:
        with open(temporary, "w", encoding="utf-8", newline="" if fmt == "csv" else None) as handle:
            count = {"csv": _write_csv, "jsonl": _write_jsonl, "json": _write_json,
                     "yaml": _write_yaml}[fmt](handle, rows, columns)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ValidationError("datasets.cannot_write", path=str(path), detail=exc.strerror or str(exc)) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return count


def structured(row: Row) -> dict:
    """A row as a promptfoo-style test case object (what JSON, JSONL and YAML exports hold)."""
    out: dict = {"id": row.uid, "vars": row.vars}
    if row.expected is not None:
        out["expected"] = row.expected
    for key, value in row.meta.items():
        out[{v: k for k, v in _STRUCTURED_RENAMES.items()}.get(key, key)] = value
    return out


def _write_jsonl(handle: IO[str], rows, columns) -> int:
    count = 0
    for row in rows():
        handle.write(json.dumps(structured(row), ensure_ascii=False) + "\n")
        count += 1
    return count


def _write_json(handle: IO[str], rows, columns) -> int:
    count = 0
    handle.write("[")
    for row in rows():
        handle.write(("," if count else "") + "\n" + json.dumps(structured(row), ensure_ascii=False))
        count += 1
    handle.write("\n]\n")
    return count


def _write_yaml(handle: IO[str], rows, columns) -> int:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    count = 0
    for row in rows():  # a list, one item at a time: the same document as dumping the whole list
        handle.write(yaml.dump([structured(row)], Dumper=dumper, allow_unicode=True, sort_keys=False, width=1000))
        count += 1
    if not count:
        handle.write("[]\n")
    return count


def _csv_cells(row: Row) -> dict[str, str]:
    """A row's special columns in promptfoo's CSV convention; what CSV cannot say goes to `__meta`."""
    cells: dict[str, str] = {"__id": row.uid}
    if row.expected is not None:
        cells["expected"] = row.expected
    rest: dict = {}
    inverse = {v: k for k, v in _META_COLUMNS.items()}
    for key, value in row.meta.items():
        if key in inverse and isinstance(value, str):
            cells[inverse[key]] = value
        elif key == "threshold" and isinstance(value, (int, float)) and not isinstance(value, bool):
            cells["__threshold"] = repr(float(value))
        elif key == "asserts" and isinstance(value, list) and all(isinstance(a, str) for a in value):
            cells.update({f"__expected{i}": a for i, a in enumerate(value, start=1)})
        elif key == "metadata" and isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            cells.update({f"__metadata:{k}": v for k, v in value.items()})
        else:
            rest[key] = value
    if rest:
        cells["__meta"] = json.dumps(rest, ensure_ascii=False, sort_keys=True)
    return cells


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _write_csv(handle: IO[str], rows, columns) -> int:
    special: dict[str, None] = {"__id": None}
    for row in rows():  # first pass: the special columns some row needs (a bounded set of names)
        special.update(dict.fromkeys(_csv_cells(row)))
    header = [*columns, *sorted(special, key=_special_order)]
    writer = csv.writer(handle)
    writer.writerow(header)
    count = 0
    for row in rows():
        cells = _csv_cells(row)
        writer.writerow([_cell(row.vars.get(name)) for name in columns] + [cells.get(name, "") for name in header[len(columns):]])
        count += 1
    return count


def _special_order(name: str) -> tuple[int, str]:
    order = ("__id", "expected", "__expected", "__description", "__metric", "__threshold", "__prefix", "__suffix",
             "__providerOutput", "__metadata:", "__meta")
    rank = next((i for i, prefix in enumerate(order) if name == prefix or
                 (prefix.endswith((":", "__expected")) and name.startswith(prefix))), len(order))
    number = re.search(r"(\d+)$", name)
    return rank, f"{int(number.group(1)):09d}" if number and name.startswith("__expected") else name


def dumps_rows(rows: Iterable[Row], fmt: str, columns: list[str]) -> str:
    """Rows as text in `fmt` (small outputs: tests and `datasets show`)."""
    rows = list(rows)
    handle = io.StringIO()
    {"csv": _write_csv, "jsonl": _write_jsonl, "json": _write_json, "yaml": _write_yaml}[fmt](
        handle, lambda: iter(rows), columns)
    return handle.getvalue()
