"""`promptmgr experiments show | results | label | import | export`: what an experiment found, and
promptfoo configs in and out. Registered on the `experiments` group by cli/experiments.py."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Iterable, Optional

import typer

from .common import context, echo, emit, safe_json, safe_text, services, t

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
OutputOpt = Annotated[Optional[str], typer.Option(
    "--output", "-o", help="Write to this file instead of standard output (replaced when the export is complete).")]


def register(app: typer.Typer) -> None:
    app.command("show")(show)
    app.command("results")(results)
    app.command("label")(label)
    app.command("import")(import_)
    app.command("export")(export)


# --- show ------------------------------------------------------------------------------------
def show(
    name: Annotated[str, typer.Argument(help="The experiment.")],
    as_json: JsonOpt = False,
) -> None:
    """Status, cells, cost, per-variant pass rates with 95% intervals, latency, and each variant against
    the baseline: paired McNemar p-values (Holm-adjusted), the score difference with its interval and a
    verdict."""
    emit(services().results.show(context(), name), as_json, summary_table)


def _pct(value) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ci(pair) -> str:
    low, high = (pair or [None, None])[:2]
    return "-" if low is None or high is None else f"[{low * 100:.1f}, {high * 100:.1f}]"


def _diff_ci(pair) -> str:
    low, high = (pair or [None, None])[:2]
    return "-" if low is None or high is None else f"[{low:+.3f}, {high:+.3f}]"


def _ms(value) -> str:
    return "-" if value is None else f"{value:.0f}"


def _p(value) -> str:
    if value is None:
        return "-"
    return "<0.0001" if value < 0.0001 else f"{value:.4f}"


def summary_table(data: dict) -> str:
    """`experiments show` for a person: the header, the variant table, the comparison table."""
    from .models import aligned, money

    cells = data["cells"]
    lines = [t("results.cli.header", name=data["name"], status=t(f"results.status.{data['status']}")
               if data["status"] in ("draft", "running", "paused", "cancelled", "completed", "failed")
               else data["status"], dataset=data["dataset"]["name"], version=data["dataset"]["version"]),
             t("results.cli.cells", total=cells["total"], done=cells["done"], errors=cells["errors"],
               pending=cells["pending"] + cells["running"], cost=money(data["cost"]))]
    if data.get("status_key"):  # why it paused or failed (a budget, a cancel...), in the reader's language
        lines.append(t(data["status_key"], **(data.get("status_params") or {})))
    lines.append("")
    header = [t(f"results.cli.col_{c}") for c in ("variant", "n", "passed", "pass_rate", "ci", "cost", "p50",
                                                   "p95", "errors")]
    rows = [[v["name"] + (" *" if v["name"] == data["baseline"] else ""), str(v["n"]), str(v["passed"]),
             _pct(v["pass_rate"]), _ci(v["ci"]), money(v["cost"]), _ms(v["latency_p50_ms"]),
             _ms(v["latency_p95_ms"]), str(v["errors"])] for v in data["variants"]]
    lines += [aligned([header, *rows]), t("results.cli.baseline_mark")]
    if data["comparisons"]:
        lines += ["", t("results.cli.comparisons")]
        header = [t(f"results.cli.col_{c}") for c in ("variant", "check", "diff", "diff_ci", "p", "p_holm",
                                                       "verdict")]
        rows = []
        for c in data["comparisons"]:
            verdict = t(f"results.verdict.{c['verdict']}") if c["verdict"] in ("better", "worse", "inconclusive") \
                else str(c["verdict"])
            if c["verdict"] == "inconclusive" and c.get("rows_needed"):
                verdict += " " + t("results.cli.rows_needed", rows=c["rows_needed"])
            rows.append([c["variant"], c["check"], "-" if c["diff"] is None else f"{c['diff']:+.3f}",
                         _diff_ci(c["ci"]), _p(c["p_value"]), _p(c["p_holm"]), verdict])
        lines.append(aligned([header, *rows]))
    if data.get("agreement"):
        lines += ["", t("results.cli.agreement")]
        for a in data["agreement"]:
            kappa = "-" if a["kappa"] is None else f"{a['kappa']:.2f}"
            lines.append(t("results.cli.kappa", variant=a["variant"], check=a["check"], kappa=kappa, n=a["n"]))
    return "\n".join(lines)


# --- results ---------------------------------------------------------------------------------
def results(
    name: Annotated[str, typer.Argument(help="The experiment.")],
    format: Annotated[str, typer.Option(
        "--format", "-f", help="json (close to promptfoo's output file), jsonl (one result a line) or csv.")] = "json",
    output: OutputOpt = None,
) -> None:
    """Every finished cell: prompt, model, variables, output, pass/score per check, cost, latency, human label."""
    chunks = services().results.results(context(), name, format)
    write_chunks(chunks, output, json_like=format != "csv")
    if output:
        echo(t("results.cli.written", path=output), err=True)


def write_chunks(chunks: Iterable[str], output: str | None, json_like: bool) -> None:
    """Stream to stdout (made terminal-safe) or to a file, replaced only once the whole text is written."""
    from ..errors import ValidationError

    if output is None:
        for chunk in chunks:
            typer.echo(safe_json(chunk) if json_like else safe_text(chunk), nl=False)
        return
    target = Path(output)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(partial, target)
    except OSError as exc:
        raise ValidationError("results.cannot_write", path=output, detail=exc.strerror or str(exc)) from None
    finally:
        if partial.exists():
            partial.unlink()


# --- label -----------------------------------------------------------------------------------
def label(
    name: Annotated[str, typer.Argument(help="The experiment.")],
    cell: Annotated[int, typer.Option("--cell", help="The cell's id (the `id` of `experiments results`).")],
    passed: Annotated[Optional[bool], typer.Option("--pass/--fail", help="Your verdict on the cell.")] = None,
    score: Annotated[Optional[float], typer.Option("--score", help="A score from 0 to 1.")] = None,
    comment: Annotated[Optional[str], typer.Option("--comment", help="Why.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Label a finished cell by hand; `experiments show` reports how far judges agree with these labels."""
    from ..errors import ValidationError

    if passed is None:
        raise ValidationError("results.cli.pass_or_fail")
    result = services().results.label(context(), name, cell, passed, score=score, comment=comment)
    emit(result, as_json, lambda r: t("results.cli.labelled", cell=r["cell"], name=r["experiment"],
                                      verdict=t("results.cli.pass" if r["pass"] else "results.cli.fail")))


# --- promptfoo -------------------------------------------------------------------------------
def import_(
    path: Annotated[str, typer.Argument(help="A promptfoo config (promptfooconfig.yaml).")],
    name: Annotated[Optional[str], typer.Option("--name", help="The experiment's name (default: from the "
                                                                "config's description or folder).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an experiment from a promptfoo config: prompts go to the library (reused when the same text is
    already there), tests become a dataset, asserts become checks. Files must be inside the config's folder."""
    report = services().results.import_promptfoo(context(), path, name=name)
    emit(report, as_json, import_text)


def import_text(report: dict) -> str:
    created = sum(1 for p in report["prompts"] if p["created"])
    return t("results.cli.imported", name=report["experiment"], rows=report["rows"], prompts=len(report["prompts"]),
             created=created, reused=len(report["prompts"]) - created, models=", ".join(report["models"]),
             checks=", ".join(report["checks"]) or "-")


def export(
    name: Annotated[str, typer.Argument(help="The experiment.")],
    format: Annotated[str, typer.Option("--format", "-f", help="promptfoo (the only format).")] = "promptfoo",
    output: OutputOpt = None,
) -> None:
    """Write the experiment as a promptfoo config that `promptfoo eval -c FILE` runs."""
    from ..errors import ValidationError
    from ..evaluation.promptfoo_export import dump_config

    if format != "promptfoo":
        raise ValidationError("results.bad_export_format", format=format[:20])
    text = dump_config(services().results.export_promptfoo(context(), name))
    write_chunks([text], output, json_like=False)
    if output:
        echo(t("results.cli.written", path=output), err=True)


