"""`promptmgr experiments ...`: this module owns the group and its definition commands (create,
list, rm). The other parts of issue 9 add their commands with `register(app)` (see _PARTS).

Only typer is imported at module level; services are imported inside the commands."""
from __future__ import annotations

from importlib import import_module
from typing import Annotated, Optional

import typer

from .common import confirm_delete, context, echo, emit, parse_pairs, services, t
from .models import aligned

app = typer.Typer(no_args_is_help=True, help="A/B experiments: prompt versions x models over a dataset, "
                                             "with checks and statistics.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The experiment: a-z, 0-9, '.', '_' or '-'.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="The dataset to run on.")],
    prompt: Annotated[list[str], typer.Option(
        "--prompt", "-p", help="A prompt as NAME (latest version), NAME@VERSION or NAME:LABEL; pinned to its "
                               "version now. Repeatable.")],
    model: Annotated[list[str], typer.Option(
        "--model", "-m", help="A model (NAME/MODEL of a provider, local/smollm2 or a litellm model). "
                              "Repeatable: variants are every prompt x every model.")],
    check: Annotated[Optional[list[str]], typer.Option(
        "--check", "-c", help="A check as [not-]TYPE[:VALUE]: contains:Paris, not-icontains:sorry, "
                              "regex:^\\d+$, is-json, llm-rubric:Answers politely. Repeatable.")] = None,
    param: Annotated[Optional[list[str]], typer.Option(
        "--param", help="A model parameter as KEY=VALUE for every variant: temperature, max_tokens, top_p, "
                        "seed, stop (repeatable).")] = None,
    repeats: Annotated[int, typer.Option("--repeats", help="Calls per row and variant (1-100).")] = 1,
    baseline: Annotated[Optional[str], typer.Option(
        "--baseline", help="The variant the others are compared with, as PROMPT@VERSION/MODEL "
                           "(default: the first).")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Calls at once when it runs (1-256).")] = 8,
    dataset_version: Annotated[Optional[int], typer.Option(
        "--dataset-version", help="Pin this dataset version (default: the latest).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for sampling and statistics.")] = 0,
    threshold: Annotated[Optional[float], typer.Option(
        "--threshold", help="Weighted check score (0-1) a cell needs to pass (default: every check passes).")] = None,
    description: Annotated[Optional[str], typer.Option("--description", help="What the experiment tests.")] = None,
    judge_model: Annotated[Optional[str], typer.Option(
        "--judge-model", help="The model grading llm-rubric and factuality checks (default: the default model).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Define an experiment: variants are every prompt x every model, cells every row x variant x repeat."""
    experiment = services().experiments.create(
        context(), name, dataset=dataset, dataset_version=dataset_version, prompts=prompt, models=model,
        checks=check or [], params=parse_pairs(param or [], "--param"), repeats=repeats, seed=seed,
        concurrency=concurrency, baseline=baseline, description=description or "", threshold=threshold,
        config={"judge_model": judge_model} if judge_model else None)
    emit(experiment, as_json, lambda e: t(
        "cli_datasets.experiments.created", name=e.name, variants=len(e.variants), cells=e.cells.total, dataset=e.dataset,
        version=e.dataset_version, baseline=e.baseline))


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every experiment, newest first, with its status and progress."""
    experiments = services().experiments.list(context())
    emit(experiments, as_json, _table)


def _table(experiments) -> str:
    if not experiments:
        return t("cli_datasets.experiments.none")
    header = [t(f"cli_datasets.experiments.col_{key}") for key in ("name", "status", "dataset", "variants", "cells",
                                                          "created")]
    rows = [[e.name, e.status, f"{e.dataset}@{e.dataset_version}", str(len(e.variants)),
             f"{e.cells.done + e.cells.error}/{e.cells.total}", e.created_at.strftime("%Y-%m-%d %H:%M")]
            for e in experiments]
    return aligned([header, *rows])


@app.command()
def rm(
    name: Annotated[str, typer.Argument(help="The experiment to delete with its variants and cells.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an experiment (asks first unless --yes); its runs stay in the run history."""
    experiments, ctx = services().experiments, context()
    if not yes:
        confirm_delete(lambda: experiments.get(ctx, name), name, needs_yes="cli_datasets.experiments.rm_needs_yes",
                       ask="cli_datasets.experiments.rm_confirm", cancelled="cli_datasets.experiments.rm_cancelled")
    experiments.remove(ctx, name)
    echo(t("cli_datasets.experiments.removed", name=name))


# The other parts of the experiments group, each a module with `register(app)`: the runner's
# (estimate, run, resume, cancel) and the results' (show, results, label, import, export).
# Add a module here when it lands; a part not merged yet is simply absent.
_PARTS = ("experiments_run", "experiments_report")


def _register_parts() -> None:
    for part in _PARTS:
        try:
            module = import_module(f".{part}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{part}":
                raise
            continue
        module.register(app)


_register_parts()
