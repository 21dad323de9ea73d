"""Reading and writing dataset files (CSV, JSONL, JSON, YAML) one row at a time.

A file is never held in memory whole except YAML (bounded by PROMPTMGR_MAX_DOCUMENT_BYTES: its
parser has no streaming mode worth the name). A JSON array is read element by element with the
standard library's raw_decode over a bounded buffer. What a row may hold (promptfoo's reserved
columns, ids, limits) is evaluation/dataset_rows.py."""
from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from ..errors import ValidationError
from .dataset_rows import Limits, Row, RowChecker, bad_row, cell_text, content_uid, csv_cells, shown, structured

__all__ = ["FORMATS", "Limits", "Row", "content_uid", "format_of", "read_rows", "structured", "write_rows"]

FORMATS = ("csv", "jsonl", "json", "yaml")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
_READ_CHUNK = 1 << 16


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
    checker = RowChecker(limits)
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
                raise ValidationError("datasets.duplicate_column", column=shown(name))
            seen.add(name)
        if len(header) > limits.max_columns:
            raise ValidationError("datasets.too_many_columns", limit=limits.max_columns)
        number = 0  # rows are numbered like read_rows numbers them: data rows from 1, blank lines skipped
        for cells in reader:
            if not cells:
                continue
            number += 1
            if len(cells) > len(header):
                raise bad_row(number, "datasets.extra_cells", found=len(cells), expected=len(header))
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
            raise bad_row(line_number, "datasets.too_deep", limit=limits.max_depth) from None
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
                raise bad_row(element, "datasets.too_deep", limit=limits.max_depth) from None
            except ValueError as exc:
                if len(buffer) - position > limits.max_row_bytes:
                    raise bad_row(element, "datasets.row_too_large", limit=limits.max_row_bytes) from None
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


def _write_csv(handle: IO[str], rows, columns) -> int:
    special: dict[str, None] = {"__id": None}
    for row in rows():  # first pass: the special columns some row needs (a bounded set of names)
        special.update(dict.fromkeys(csv_cells(row)))
    header = [*columns, *sorted(special, key=_special_order)]
    writer = csv.writer(handle)
    writer.writerow(header)
    count = 0
    for row in rows():
        cells = csv_cells(row)
        writer.writerow([cell_text(row.vars.get(name)) for name in columns] +
                        [cells.get(name, "") for name in header[len(columns):]])
        count += 1
    return count


def _special_order(name: str) -> tuple[int, str]:
    order = ("__id", "expected", "__expected", "__description", "__metric", "__threshold", "__prefix", "__suffix",
             "__providerOutput", "__metadata:", "__meta")
    rank = next((i for i, prefix in enumerate(order) if name == prefix or
                 (prefix.endswith((":", "__expected")) and name.startswith(prefix))), len(order))
    number = re.search(r"(\d+)$", name)
    return rank, f"{int(number.group(1)):09d}" if number and name.startswith("__expected") else name
