"""What an experiment found: the statistics summary (`experiments show`), the per-cell results export
(JSON close to promptfoo's output, CSV, JSONL), human labels, and promptfoo config import/export.

Finished cells are read in chunks (repositories/experiment_results.py); show() keeps one small
stats.Outcome per finished cell, results() one chunk of rows at a time."""
from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from ..context import TenantContext
from ..db import Database
from ..errors import NotFoundError, ValidationError
from ..models import utcnow
from ..policy import Action, require
from ..repositories.experiment_results import ExperimentResultRepository
from .audit import record as audit
from .base import unit_of_work

RESULT_FORMATS = ("json", "jsonl", "csv")
CHUNK = 1000
MAX_COMMENT = 2000
# A CSV cell starting with one of these is run as a formula by spreadsheets (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _number(value) -> float | None:
    """A float JSON can hold: NaN and infinities (an empty sample's statistic) become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _interval(value) -> list:
    if not value:
        return [None, None]
    return [_number(value[0]), _number(value[1])]


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat()


def _check_names(experiment) -> list[str]:
    from ..evaluation.spec import CheckSpec

    return [CheckSpec.from_dict(check).name for check in experiment.checks or []]


def _check_assertions(experiment) -> dict[str, dict]:
    """Check name -> its promptfoo-style assertion ({type, value}), in the experiment's order."""
    from ..evaluation.spec import CheckSpec

    found = {}
    for check in experiment.checks or []:
        spec = CheckSpec.from_dict(check)
        found.setdefault(spec.name, {"type": ("not-" if spec.negate else "") + spec.type,
                                     **({"value": spec.value} if spec.value is not None else {})})
    return found


def _analyzed_checks(experiment) -> tuple[list[str], list[str]]:
    """The distinct check names (two identical checks report as one) and the model-graded ones."""
    from ..evaluation.checks import is_model_graded
    from ..evaluation.spec import CheckSpec

    names, graded = [], []
    for check in experiment.checks or []:
        spec = CheckSpec.from_dict(check)
        if spec.name not in names and spec.name != "all":
            names.append(spec.name)
            if is_model_graded(spec.type):
                graded.append(spec.name)
    return names, graded


def _checks_of(scores) -> dict[str, tuple[bool | None, float | None]]:
    result = {}
    for item in scores or []:
        if isinstance(item, dict) and item.get("check") is not None:
            result[str(item["check"])] = (item.get("pass"), item.get("score"))
    return result


def _rendered_text(rendered) -> str:
    """The prompt text a run sent: its messages' text, one message per paragraph."""
    if not rendered:
        return ""
    texts = []
    for message in rendered:
        content = message.get("content") if isinstance(message, dict) else message
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        texts.append(str(content or ""))
    return "\n\n".join(texts)


class ExperimentResultService:
    def __init__(self, db: Database, collaborators: Callable[[], object] | None = None):
        self.db = db
        # The composition root (Services): import/export reach the library, datasets, experiments and
        # providers through it when first used, so reading results builds none of them.
        self._collaborators = collaborators

    def _repo(self, ctx: TenantContext, write: bool = False):
        return unit_of_work(self.db, ctx, ExperimentResultRepository, write=write)

    @staticmethod
    def _require(repo: ExperimentResultRepository, name: str):
        experiment = repo.experiment(name) if isinstance(name, str) and "\x00" not in name else None
        if experiment is None:
            raise NotFoundError("results.experiment_not_found", name=str(name)[:100])
        return experiment

    # --- summary ---------------------------------------------------------------------------
    def show(self, ctx: TenantContext, name: str) -> dict:
        """The experiment's status, cell counts, cost, per-variant statistics and comparisons against
        the baseline (the object of `experiments show --json`). Raises NotFoundError."""
        require(ctx, Action.READ_EXPERIMENTS)
        with self._repo(ctx) as repo:
            experiment = self._require(repo, name)
            variants = repo.variants(experiment.id)
            counts, cost = repo.status_counts(experiment.id)
        from ..evaluation import stats  # numpy and scipy load inside its functions, only when needed
        names = {variant.id: variant.name for variant in variants}
        outcomes: dict[str, list] = {variant.name: [] for variant in variants}
        with self._repo(ctx) as repo:
            for chunk in repo.outcomes(experiment.id, CHUNK):
                for (_cell_id, variant_id, row, repeat, status, passed, score, scores, cell_cost, human_pass,
                     latency, prompt_tokens, completion_tokens) in chunk:
                    outcomes[names[variant_id]].append(stats.Outcome(
                        row=row, repeat=repeat, passed=None if status == "error" else bool(passed),
                        score=None if status == "error" else score, checks=_checks_of(scores),
                        cost=float(cell_cost or 0.0), latency_ms=latency if status != "error" else None,
                        prompt_tokens=int(prompt_tokens or 0), completion_tokens=int(completion_tokens or 0),
                        human_pass=human_pass))
        # The stored baseline, unless it names no variant of the experiment (then the first, as at creation).
        baseline = experiment.baseline if experiment.baseline in outcomes else (variants[0].name if variants else "")
        checks, graded = _analyzed_checks(experiment)
        analysis = stats.analyze(outcomes, baseline, checks, seed=experiment.seed or 0, model_graded=graded) \
            if variants else None
        by_name = {item.name: item for item in (analysis.variants if analysis else [])}
        return {
            "name": experiment.name, "status": experiment.status, "status_key": experiment.status_key,
            "status_params": experiment.status_params or {},
            "description": experiment.description,
            "dataset": {"name": experiment.dataset_name, "version": experiment.dataset_version},
            "baseline": baseline, "repeats": experiment.repeats,
            "checks": _check_names(experiment),
            "cells": {"total": sum(counts.values()), "done": counts.get("done", 0), "errors": counts.get("error", 0),
                      "pending": counts.get("pending", 0), "running": counts.get("running", 0)},
            "cost": _number(cost),
            "variants": [self._variant(variant, by_name.get(variant.name)) for variant in variants],
            "comparisons": [self._comparison(item) for item in (analysis.comparisons if analysis else [])],
            "agreement": [{"variant": item.variant, "check": item.check, "kappa": _number(item.kappa), "n": item.n}
                          for item in (getattr(analysis, "agreement", None) or [])],
        }

    @staticmethod
    def _variant(variant, found) -> dict:
        base = {"name": variant.name, "prompt": variant.prompt_name, "version": variant.version_number,
                "model": variant.model, "params": variant.params or {}}
        if found is None:  # no finished cell yet
            return {**base, "n": 0, "passed": 0, "pass_rate": None, "ci": [None, None], "cost": 0.0,
                    "latency_p50_ms": None, "latency_p95_ms": None, "errors": 0, "score_mean": None,
                    "score_ci": [None, None], "cost_per_pass": None, "prompt_tokens": 0, "completion_tokens": 0,
                    "checks": {}}
        checks = {}
        for check, item in (found.checks or {}).items():
            checks[check] = {"n": item.n, "passed": item.passed, "errors": getattr(item, "errors", 0),
                             "pass_rate": _number(item.pass_rate), "ci": _interval(item.ci),
                             "score_mean": _number(getattr(item, "score_mean", None)),
                             "score_ci": _interval(getattr(item, "score_ci", None))}
        return {**base, "n": found.n, "passed": found.passed, "pass_rate": _number(found.pass_rate),
                "ci": _interval(found.ci), "cost": _number(found.cost) or 0.0,
                "latency_p50_ms": _number(found.latency_p50_ms), "latency_p95_ms": _number(found.latency_p95_ms),
                "errors": found.errors, "score_mean": _number(found.score_mean), "score_ci": _interval(found.score_ci),
                "cost_per_pass": _number(found.cost_per_pass), "prompt_tokens": found.prompt_tokens,
                "completion_tokens": found.completion_tokens, "checks": checks}

    @staticmethod
    def _comparison(item) -> dict:
        return {"variant": item.variant, "baseline": item.baseline, "check": item.check,
                "p_value": _number(item.p_value), "p_holm": _number(item.p_holm), "diff": _number(item.diff),
                "ci": _interval(item.ci), "verdict": item.verdict, "p_midp": _number(item.p_midp),
                "n_pairs": item.n_pairs, "b": item.b, "c": item.c, "rows_needed": item.rows_needed}

    # --- per-cell results ------------------------------------------------------------------
    def results(self, ctx: TenantContext, name: str, format: str = "json") -> Iterator[str]:
        """Every finished cell as text chunks: `json` (close to promptfoo's output file), `jsonl` (one
        result per line) or `csv`. Raises NotFoundError, ValidationError (unknown format)."""
        require(ctx, Action.READ_EXPERIMENTS)
        if format not in RESULT_FORMATS:
            raise ValidationError("results.bad_format", format=str(format)[:20], allowed=", ".join(RESULT_FORMATS))
        with self._repo(ctx) as repo:
            experiment = self._require(repo, name)
            variants = repo.variants(experiment.id)
            templates = {}
            for variant in variants:
                version = repo.version(variant.prompt_name, variant.version_number)
                templates[variant.id] = "" if version is None else (
                    version.content if version.messages is None else json.dumps(version.messages, ensure_ascii=False))
        checks = _check_assertions(experiment)
        writer = {"json": self._json_chunks, "jsonl": self._jsonl_chunks, "csv": self._csv_chunks}[format]
        return writer(ctx, experiment, variants, templates, checks)

    def _results(self, ctx: TenantContext, experiment, variants, checks) -> Iterator[dict]:
        by_id = {variant.id: variant for variant in variants}
        with self._repo(ctx) as repo:
            for chunk in repo.results(experiment.id, CHUNK):
                for row in chunk:
                    yield self._result(row, by_id[row[1]], checks)

    @staticmethod
    def _result(row, variant, checks: dict[str, dict]) -> dict:
        (cell_id, _variant_id, position, repeat, status, passed, score, scores, cost, judge_cost, error_code,
         human_pass, human_score, human_comment, human_at, run_id, output, rendered, prompt_tokens,
         completion_tokens, latency, cached, error_key, error_params, uid, row_vars, expected, meta) = row
        errored = status == "error"
        components = []
        for item in scores or []:
            if not isinstance(item, dict):
                continue
            components.append({"pass": item.get("pass"), "score": _number(item.get("score")),
                               "reason": item.get("reason") or "",
                               "assertion": {**checks.get(item.get("check"), {}), "metric": item.get("check")},
                               **({"error": item["error"]} if item.get("error") else {})})
        result = {
            # promptfoo counts tests from 0; dataset rows are numbered from 1 (`row`)
            "id": cell_id, "variant": variant.name, "promptIdx": variant.position, "testIdx": position - 1,
            "row": position, "repeat": repeat, "rowId": uid,
            "prompt": {"raw": _rendered_text(rendered), "label": f"{variant.prompt_name}@{variant.version_number}"},
            "provider": {"id": variant.model, "label": variant.name},
            "vars": row_vars or {},
            "response": None if run_id is None else {
                "output": output or "", "cached": bool(cached),
                "tokenUsage": {"prompt": int(prompt_tokens or 0), "completion": int(completion_tokens or 0),
                               "total": int(prompt_tokens or 0) + int(completion_tokens or 0)}},
            "success": bool(passed) and not errored, "score": _number(score) if not errored else 0.0,
            "error": (error_key or error_code or "error") if errored else None,
            # promptfoo's ResultFailureReason: 0 none, 1 an assertion failed, 2 an error.
            "failureReason": 2 if errored else (0 if passed else 1),
            "gradingResult": None if errored and not components else {
                "pass": bool(passed), "score": _number(score), "componentResults": components,
                "reason": "" if passed else "; ".join(c["reason"] for c in components if c["pass"] is False)},
            "namedScores": {c["assertion"]["metric"]: c["score"] for c in components if c["assertion"]["metric"]},
            "cost": _number(cost) or 0.0, "latencyMs": _number(latency) if latency is not None else None,
            "testCase": {"vars": row_vars or {}, **({"description": meta.get("description")}
                                                    if isinstance(meta, dict) and meta.get("description") else {})},
            "expected": expected,
            "metadata": {"judgeCost": _number(judge_cost) or 0.0, "errorCode": error_code,
                         "errorParams": error_params or None},
            "humanLabel": None if human_pass is None else {
                "pass": human_pass, "score": _number(human_score), "comment": human_comment or "",
                "at": _iso(human_at)},
        }
        return result

    def _json_chunks(self, ctx, experiment, variants, templates, checks) -> Iterator[str]:
        metrics = {variant.id: {"score": 0.0, "testPassCount": 0, "testFailCount": 0, "testErrorCount": 0,
                                "cost": 0.0, "tokenUsage": {"prompt": 0, "completion": 0, "total": 0}}
                   for variant in variants}
        by_name = {variant.name: variant.id for variant in variants}
        yield ('{"evalId": ' + json.dumps(experiment.name) + ', "results": {"version": 3, "timestamp": '
               + json.dumps(_iso(utcnow())) + ', "results": [')
        first = True
        for result in self._results(ctx, experiment, variants, checks):
            metric = metrics[by_name[result["variant"]]]
            key = "testErrorCount" if result["failureReason"] == 2 else (
                "testPassCount" if result["success"] else "testFailCount")
            metric[key] += 1
            metric["score"] += result["score"] or 0.0
            metric["cost"] += result["cost"]
            if result["response"]:
                for part in ("prompt", "completion", "total"):
                    metric["tokenUsage"][part] += result["response"]["tokenUsage"][part]
            yield ("\n" if first else ",\n") + json.dumps(result, ensure_ascii=False, default=str)
            first = False
        prompts = [{"raw": templates[v.id], "label": f"{v.prompt_name}@{v.version_number}", "provider": v.model,
                    "variant": v.name, "metrics": metrics[v.id]} for v in variants]
        totals = {"successes": sum(m["testPassCount"] for m in metrics.values()),
                  "failures": sum(m["testFailCount"] for m in metrics.values()),
                  "errors": sum(m["testErrorCount"] for m in metrics.values()),
                  "tokenUsage": {part: sum(m["tokenUsage"][part] for m in metrics.values())
                                 for part in ("prompt", "completion", "total")}}
        yield ("\n], " + '"prompts": ' + json.dumps(prompts, ensure_ascii=False) + ', "stats": '
               + json.dumps(totals) + '}, "config": ' + json.dumps(
                   {"description": experiment.description, "dataset": experiment.dataset_name,
                    "datasetVersion": experiment.dataset_version, "checks": list(checks)}, ensure_ascii=False) + "}\n")

    def _jsonl_chunks(self, ctx, experiment, variants, templates, checks) -> Iterator[str]:
        for result in self._results(ctx, experiment, variants, checks):
            yield json.dumps(result, ensure_ascii=False, default=str) + "\n"

    def _csv_chunks(self, ctx, experiment, variants, templates, checks) -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        header = ["cell", "variant", "prompt", "version", "model", "row", "row_id", "repeat", "status", "pass",
                  "score", "cost", "latency_ms", "prompt_tokens", "completion_tokens", "cached", "error", "output",
                  "vars", "expected", "human_pass", "human_score", "human_comment"]
        header += [f"check:{check}" for check in checks] + [f"score:{check}" for check in checks]
        writer.writerow(header)
        count = 0
        for result in self._results(ctx, experiment, variants, checks):
            response = result["response"] or {}
            usage = response.get("tokenUsage") or {}
            variant = next(v for v in variants if v.name == result["variant"])
            by_check = {c["assertion"]["metric"]: c for c in (result["gradingResult"] or {}).get("componentResults", [])}
            human = result["humanLabel"] or {}
            status = "error" if result["failureReason"] == 2 else ("pass" if result["success"] else "fail")
            writer.writerow([_csv_cell(value) for value in [
                result["id"], variant.name, variant.prompt_name, variant.version_number, variant.model,
                result["row"], result["rowId"], result["repeat"], status, result["success"], result["score"],
                result["cost"], result["latencyMs"], usage.get("prompt", ""), usage.get("completion", ""),
                response.get("cached", ""), result["error"] or "", response.get("output", ""),
                json.dumps(result["vars"], ensure_ascii=False), result["expected"],
                human.get("pass", ""), human.get("score", ""), human.get("comment", ""),
                *[_check_state(by_check.get(check)) for check in checks],
                *[(by_check.get(check) or {}).get("score", "") for check in checks]]])
            count += 1
            if count % 200 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    # --- human labels ----------------------------------------------------------------------
    def label(self, ctx: TenantContext, name: str, cell_id: int, passed: bool, score: float | None = None,
              comment: str | None = None) -> dict:
        """Record a human verdict on a finished cell (who and when are the caller and now).

        Raises NotFoundError (experiment or cell), ValidationError (score outside 0..1, comment too long,
        cell not finished), PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        if score is not None:
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score) \
                    or not 0.0 <= float(score) <= 1.0:
                raise ValidationError("results.bad_score", score=str(score)[:20])
        if comment is not None:
            if len(comment) > MAX_COMMENT:
                raise ValidationError("results.comment_too_long", limit=MAX_COMMENT)
            if "\x00" in comment or not comment.isprintable() and _unencodable(comment):
                raise ValidationError("results.bad_comment")
        with self._repo(ctx, write=True) as repo:
            experiment = self._require(repo, name)
            cell = repo.cell(experiment.id, int(cell_id))
            if cell is None:
                raise NotFoundError("results.cell_not_found", cell=cell_id, name=name)
            if cell.status not in ("done", "error"):
                raise ValidationError("results.cell_not_finished", cell=cell_id, status=cell.status)
            before = {"pass": cell.human_pass, "score": cell.human_score, "comment": cell.human_comment}
            cell.human_pass = bool(passed)
            cell.human_score = None if score is None else float(score)
            cell.human_comment = comment or None
            cell.human_by = ctx.user_id
            cell.human_at = utcnow()
            repo.session.add(cell)
            audit(repo.session, ctx, "experiment.label_cell", ("experiment", f"{experiment.name}#{cell.id}"), before,
                  {"pass": cell.human_pass, "score": cell.human_score, "comment": cell.human_comment})
            return {"experiment": experiment.name, "cell": cell.id, "pass": cell.human_pass,
                    "score": cell.human_score, "comment": cell.human_comment or "",
                    "by": repo.username(ctx.user_id), "at": _iso(cell.human_at)}

    # --- promptfoo -------------------------------------------------------------------------
    def import_promptfoo(self, ctx: TenantContext, path: str | Path, name: str | None = None) -> dict:
        """Create an experiment (its prompts, dataset and checks) from a promptfoo config. Everything is
        validated before anything is written; a failed write removes what this import wrote.

        Raises ValidationError (unsupported features named together, unsafe paths, limits), DuplicateError,
        PermissionDeniedError."""
        require(ctx, Action.RUN_EXPERIMENTS)
        from .promptfoo_import import PromptfooImporter

        return PromptfooImporter(self.db, self._collaborators()).run(ctx, Path(path), name)

    def export_promptfoo(self, ctx: TenantContext, name: str) -> dict:
        """The experiment as a promptfoo config (prompts inline, providers, tests with vars and assert).
        Raises NotFoundError, ValidationError (a part promptfoo cannot express), PermissionDeniedError."""
        require(ctx, Action.READ_EXPERIMENTS)
        from ..evaluation.promptfoo_export import export_config

        with self._repo(ctx) as repo:
            experiment = self._require(repo, name)
            variants = repo.variants(experiment.id)
            prompts = {}
            for variant in variants:
                key = (variant.prompt_name, variant.version_number)
                if key not in prompts:
                    version = repo.version(*key)
                    if version is None:
                        raise NotFoundError(what="version", name=f"{key[0]}@{key[1]}")
                    prompts[key] = version.content if version.messages is None else version.messages
            version_id = repo.dataset_version_id(experiment.dataset_id, experiment.dataset_version)
        if version_id is None:
            raise NotFoundError("results.dataset_missing", name=experiment.dataset_name,
                                version=experiment.dataset_version)
        providers = self._collaborators().providers.list(ctx) if self._collaborators else []
        return export_config(experiment, variants, prompts, self._rows(ctx, version_id),
                                       {p.name: p for p in providers})

    def _rows(self, ctx: TenantContext, version_id: int) -> Iterator:
        after = -1
        while True:
            with self._repo(ctx) as repo:
                chunk = repo.dataset_rows(version_id, after, CHUNK)
                rows = [(row.position, row.vars, row.expected, row.meta) for row in chunk]
            yield from (row[1:] for row in rows)
            if len(rows) < CHUNK:
                return
            after = rows[-1][0]


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _csv_cell(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def _check_state(component) -> str:
    if component is None:
        return ""
    if component.get("error") or component.get("pass") is None:
        return "error"
    return "pass" if component["pass"] else "fail"
