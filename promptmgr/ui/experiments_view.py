"""What the Experiments tab shows, as plain functions over service results: status words, the
progress line, the estimate, the experiments table and the checks being built. No components here."""
from __future__ import annotations

import math

from ..errors import PromptMgrError
from .common import text
from .testing_view import format_cost

STATUSES = ("draft", "running", "paused", "cancelled", "completed", "failed")
LIST_HEADERS = ("name", "status", "progress", "best", "cost", "dataset")
CHECK_HEADERS = ("check_type", "check_value", "check_threshold", "check_weight")
ROW_HEADERS = ("row_position", "row_id", "row_vars", "row_expected")
PROGRESS_HEADERS = ("variant", "done", "errors", "pass_rate")


def status_text(locale: str, status: str) -> str:
    return text(f"ui_experiments.status_{status}", locale) if status in STATUSES else status


def reason_text(locale: str, key: str | None, params: dict | None) -> str:
    """Why the experiment is in its status (a budget stop, a failure), in the page's language."""
    if not key:
        return ""
    return PromptMgrError(key, **(params or {})).translate(locale)


def percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.0f}%" if whole else "–"


def best_variant(progress: dict) -> str:
    """The variant with the highest observed pass rate so far ("" before any cell finished)."""
    scored = [(v["passed"] / v["done"], v["name"]) for v in progress["variants"] if v["done"]]
    return max(scored)[1] if scored else ""


def list_table(locale: str, rows: list[tuple]) -> dict:
    """rows: (experiment, progress) pairs."""
    data = []
    for experiment, progress in rows:
        data.append([experiment.name, status_text(locale, experiment.status),
                     f"{progress['done']}/{progress['total']}", best_variant(progress),
                     format_cost(locale, progress["spent"]), f"{experiment.dataset} v{experiment.dataset_version}"])
    return {"headers": [text(f"ui_experiments.col_{h}", locale) for h in LIST_HEADERS], "data": data}


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"


def progress_line(locale: str, progress: dict, job: dict) -> str:
    """done/total, errors, cost so far, ETA, and the status with its reason."""
    status = status_text(locale, progress["status"])
    if progress["status"] == "running" and not job["live"]:
        status = text("ui_experiments.interrupted", locale)
    elif job.get("pausing"):
        status = text("ui_experiments.stopping", locale)
    line = text("ui_experiments.progress_line", locale, done=progress["done"], total=progress["total"],
                errors=progress["errors"], cost=format_cost(locale, progress["spent"]),
                eta=duration(job.get("eta_s")) if job["live"] else "–", status=status)
    reason = reason_text(locale, progress.get("status_key"), progress.get("status_params"))
    if reason:
        line += "\n\n" + reason
    if job.get("error") is not None:
        line += "\n\n⚠ " + job["error"].translate(locale)
    return line


def progress_table(locale: str, progress: dict) -> dict:
    data = [[v["name"], f"{v['done']}/{v['total']}", str(v["errors"]),
             percent(v["passed"], v["done"] - v["errors"])] for v in progress["variants"]]
    return {"headers": [text(f"ui_experiments.col_{h}", locale) for h in PROGRESS_HEADERS], "data": data}


def checks_table(locale: str, checks: list[dict]) -> dict:
    data = [[("not-" if c.get("negate") else "") + c["type"], _shown(c.get("value")),
             "" if c.get("threshold") is None else str(c["threshold"]), str(c.get("weight", 1.0))] for c in checks]
    return {"headers": [text(f"ui_experiments.col_{h}", locale) for h in CHECK_HEADERS], "data": data}


def rows_table(locale: str, rows: list) -> dict:
    import json

    data = [[str(r.position), r.id, json.dumps(r.vars, ensure_ascii=False)[:400], (r.expected or "")[:400]]
            for r in rows]
    return {"headers": [text(f"ui_experiments.col_{h}", locale) for h in ROW_HEADERS], "data": data}


def estimate_text(locale: str, estimate) -> str:
    """The preflight as a table per variant and a total line: calls, tokens, cost, judge calls."""
    head = [text(f"ui_experiments.est_{h}", locale) for h in
            ("variant", "calls", "cached", "input", "output", "cost", "judge")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in estimate.variants:
        tokens_in = f"{v.input_tokens:,}" + ("" if v.input_exact else " ≈")
        lines.append(f"| `{v.name}` | {v.calls:,} | {v.cached_calls:,} | {tokens_in} | {v.output_tokens:,} "
                     f"({text(f'ui_experiments.output_{v.output_source}', locale)}) | "
                     f"{format_cost(locale, v.cost)} | {v.judge_calls:,} |")
    total = text("ui_experiments.est_total", locale, calls=estimate.calls, judge=estimate.judge_calls,
                 cost=format_cost(locale, estimate.cost), judge_cost=format_cost(locale, estimate.judge_cost),
                 spent=format_cost(locale, estimate.spent))
    out = "\n".join(lines) + "\n\n" + total
    if estimate.unknown_prices:
        out += "\n\n⚠ " + text("ui_experiments.unknown_prices", locale, models=", ".join(estimate.unknown_prices))
    return out


def trial_text(locale: str, trial: dict) -> str:
    """One row tried: the answer, then each check's verdict and reason."""
    lines = [text("ui_experiments.trial_head", locale, row=trial["row"], prompt=trial["prompt"], model=trial["model"],
                  cost=format_cost(locale, trial["cost"]), latency=f"{trial['latency_ms']:.0f}")]
    if trial["error"]:
        lines.append("⚠ " + trial["error"])
    else:
        lines.append("```\n" + trial["output"][:2000].replace("```", "'''") + "\n```")
    for check in trial["checks"]:
        mark = "✅" if check["passed"] else ("⚠" if check["passed"] is None else "❌")
        score = f"{check['score']:.2f}" if check["score"] is not None else "–"
        lines.append(f"- {mark} `{check['name']}` · {score} · {check['reason']}")
    verdict = "ui_experiments.trial_pass" if trial["passed"] else "ui_experiments.trial_fail"
    lines.append("**" + text(verdict, locale) + "**")
    return "\n\n".join(lines)


def _shown(value) -> str:
    if value is None:
        return ""
    shown = value if isinstance(value, str) else str(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
