"""Top-level library commands: `categories`, `tags`, `export PATH`, `import PATH`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from .common import context, emit, library, services, t
from .prompts import read_input

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
_FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def register(app: typer.Typer) -> None:
    app.command("categories")(categories)
    app.command("tags")(tags)
    app.command("export")(export)
    app.command("import")(import_)


def _counts(items, empty_key: str, header_key: str) -> str:
    if not items:
        return t(empty_key)
    rows = [[t(header_key), t("cli.library.col_count")], *([i.name, str(i.count)] for i in items)]
    width = max(len(row[0]) for row in rows)
    return "\n".join(f"{name.ljust(width)}  {count}" for name, count in rows)


def categories(as_json: JsonOpt = False) -> None:
    """Categories with the number of prompts in each."""
    items = library().categories()
    emit(items, as_json, lambda i: _counts(i, "cli.library.no_categories", "cli.library.col_category"))


def tags(as_json: JsonOpt = False) -> None:
    """Tags with the number of prompts carrying each."""
    items = library().tags()
    emit(items, as_json, lambda i: _counts(i, "cli.library.no_tags", "cli.library.col_tag"))


def export(
    path: Annotated[str, typer.Argument(help="The file to write: .json, .yaml or .yml.")],
    as_json: JsonOpt = False,
) -> None:
    """Write the whole library (prompts, every version, labels) to a JSON or YAML file."""
    from ..services.transfer import dump_document, format_of

    fmt = format_of(path)  # a bad extension is refused before any work
    document = services().transfer.export(context())
    write_atomically(Path(path), dump_document(document, fmt))
    result = {"path": path, "format": fmt, "prompts": len(document["prompts"]),
              "versions": sum(len(p["versions"]) for p in document["prompts"])}
    emit(result, as_json, lambda r: t("cli.library.exported", path=path, prompts=r["prompts"],
                                      versions=r["versions"]))


def write_atomically(target: Path, text: str) -> None:
    """Write to a temporary file next to the target, then rename: readers never see half a file."""
    import tempfile

    from ..errors import ValidationError

    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".",
                                   prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an export is an ordinary file
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise ValidationError("cli.cannot_write", path=str(target), detail=exc.strerror or str(exc)) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def import_(
    path: Annotated[str, typer.Argument(help="A library file (.json, .yaml or .yml; '-' reads standard input).")],
    on_conflict: Annotated[str, typer.Option(
        "--on-conflict", help="When a name exists: skip it, overwrite (adds a new version) or rename "
                              "the imported prompt (name-2, name-3...).")] = "skip",
    as_json: JsonOpt = False,
) -> None:
    """Import a library file. It is checked first: a bad file changes nothing."""
    from ..services.transfer import check_document_size, load_document

    if path != "-" and Path(path).is_file():
        check_document_size(Path(path).stat().st_size)  # before reading a huge file into memory
    document = load_document(read_input(path), _FORMATS.get(Path(path).suffix.lower()))
    report = services().transfer.import_(context(), document, on_conflict)
    result = {**report.model_dump(mode="json"), "counts": {
        "created": len(report.created), "updated": len(report.updated),
        "renamed": len(report.renamed), "skipped": len(report.skipped)}}
    emit(result, as_json, _import_text)


def _import_text(result: dict) -> str:
    lines = [t("cli.library.imported", **result["counts"])]
    lines += [t("cli.library.renamed", old=old, new=new) for old, new in result["renamed"]]
    return "\n".join(lines)

