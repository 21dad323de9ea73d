"""`promptmgr datasets ...`: add (a new dataset or its next version), list, show, export, rm.

Only typer is imported at module level; services are imported inside the commands."""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from .common import confirm_delete, context, echo, emit, services, t
from .models import aligned

app = typer.Typer(no_args_is_help=True, help="Datasets of test rows (CSV, JSONL, JSON, YAML) with immutable versions.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
VersionOpt = Annotated[Optional[int], typer.Option("--version", "-v", help="A version (default: the latest).")]


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="The dataset: a-z, 0-9, '.', '_' or '-'. An existing name gets "
                                             "a new version.")],
    file: Annotated[str, typer.Option(
        "--file", "-f", help="A .csv (header = variable names; promptfoo's __expected, __description, "
                             "__metric... columns are understood), .jsonl, .json or .yaml file.")],
    description: Annotated[Optional[str], typer.Option("--description", help="What the dataset is for.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a file as a dataset, or as the next version of an existing one."""
    dataset = services().datasets.add(context(), name, file, description=description)
    emit(dataset, as_json, lambda d: t("cli_datasets.datasets.added", name=d.name, version=d.version, rows=d.row_count))


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every dataset at its latest version."""
    datasets = services().datasets.list(context())
    emit([d.model_dump(mode="json", exclude={"versions"}) for d in datasets], as_json, lambda _: _table(datasets))


def _table(datasets) -> str:
    if not datasets:
        return t("cli_datasets.datasets.none")
    header = [t(f"cli_datasets.datasets.col_{key}") for key in ("name", "version", "rows", "updated", "columns")]
    rows = [[d.name, f"v{d.latest_version}", str(d.row_count), d.updated_at.strftime("%Y-%m-%d %H:%M"),
             _clip(", ".join(d.columns), 60)] for d in datasets]
    return aligned([header, *rows])


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="The dataset.")],
    version: VersionOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Show at most this many rows (0-100000).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """A dataset's versions and its first rows."""
    from ..errors import ValidationError
    from ..services.datasets import MAX_SHOW_LIMIT

    if not 0 <= limit <= MAX_SHOW_LIMIT:
        raise ValidationError("limits.at_most", field="--limit", limit=MAX_SHOW_LIMIT)
    datasets, ctx = services().datasets, context()
    dataset = datasets.get(ctx, name, version)
    rows = list(datasets.rows(ctx, name, dataset.version, limit=limit))
    if as_json:
        emit({**dataset.model_dump(mode="json"), "rows": [r.model_dump(mode="json") for r in rows]}, True)
        return
    lines = [t("cli_datasets.datasets.show_header", name=dataset.name, version=dataset.version,
               latest=dataset.latest_version, rows=dataset.row_count)]
    for key, value in (("description", dataset.description), ("columns", ", ".join(dataset.columns)),
                       ("source", dataset.source)):
        if value:
            lines.append(t(f"cli_datasets.datasets.field_{key}", value=value))
    lines.append(t("cli_datasets.datasets.versions"))
    lines += [t("cli_datasets.datasets.version_line", number=v.number, rows=v.row_count,
                at=v.created_at.strftime("%Y-%m-%d %H:%M UTC"), source=v.source) for v in dataset.versions]
    if rows:
        lines.append(t("cli_datasets.datasets.rows"))
        table = [["#", "id", "vars", "expected"]] + [
            [str(r.position), _clip(r.id, 16), _clip(json.dumps(r.vars, ensure_ascii=False), 80),
             _clip(r.expected or "", 40)] for r in rows]
        lines.append(aligned(table))
    if dataset.row_count > len(rows):
        lines.append(t("cli_datasets.datasets.more_rows", rest=dataset.row_count - len(rows)))
    echo("\n".join(lines))


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="The dataset.")],
    path: Annotated[str, typer.Argument(help="The file to write: .csv, .jsonl, .json or .yaml.")],
    version: VersionOpt = None,
) -> None:
    """Write a dataset version to a file (the format follows the extension)."""
    datasets, ctx = services().datasets, context()
    shown = datasets.get(ctx, name, version)
    count = datasets.export(ctx, name, path, shown.version)
    echo(t("cli_datasets.datasets.exported", rows=count, name=name, version=shown.version, path=path))


@app.command()
def rm(
    name: Annotated[str, typer.Argument(help="The dataset to delete, with every version and row.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a dataset (asks first unless --yes; refused while an experiment uses it)."""
    datasets, ctx = services().datasets, context()
    if not yes:
        confirm_delete(lambda: datasets.get(ctx, name), name, needs_yes="cli_datasets.datasets.rm_needs_yes",
                       ask="cli_datasets.datasets.rm_confirm", cancelled="cli_datasets.datasets.rm_cancelled")
    datasets.remove(ctx, name)
    echo(t("cli_datasets.datasets.removed", name=name))
