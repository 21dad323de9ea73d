"""Reviewing an experiment in the results view: the matrix (rows x variants) page by page with
filters, one cell in full, and promoting a variant's prompt version with a label.

Labelling cells is ExperimentResultService.label; the statistics are its show(). Moving a label
goes through LibraryService.set_label, so the policy on protected labels (admins for
`production`) decides exactly as it does in the library."""
from __future__ import annotations

import math

from ..context import TenantContext
from ..db import Database
from ..errors import NotFoundError, ValidationError
from ..policy import Action, require
from ..repositories.experiment_review import FILTERS, ExperimentReviewRepository
from .base import unit_of_work
from .experiment_results import _analyzed_checks, _checks_of, _iso, _number, _rendered_text

MAX_PAGE_SIZE = 50
OUTPUT_PREVIEW = 300            # characters of each output a matrix page carries
MAX_DETAIL_OUTPUT = 100_000     # characters of one cell's output and input shown in full
MAX_BINS = 100


def _page_args(filter: str, page, page_size) -> tuple[int, int]:
    if filter not in FILTERS:
        raise ValidationError("ui_results.errors.bad_filter", filter=str(filter)[:20], allowed=", ".join(FILTERS))
    for field, value, high in (("page", page, 1_000_000), ("page_size", page_size, MAX_PAGE_SIZE)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise ValidationError("ui_results.errors.bad_page", field=field, value=str(value)[:20], high=high)
    return page, page_size


class ExperimentReviewService:
    def __init__(self, db: Database, library):
        self.db = db
        self.library = library

    def _repo(self, ctx: TenantContext):
        return unit_of_work(self.db, ctx, ExperimentReviewRepository)

    @staticmethod
    def _experiment(repo: ExperimentReviewRepository, name: str):
        experiment = repo.experiment(name) if isinstance(name, str) and "\x00" not in name else None
        if experiment is None:
            raise NotFoundError("results.experiment_not_found", name=str(name)[:100])
        return experiment

    def matrix(self, ctx: TenantContext, name: str, filter: str = "all", page: int = 1,
               page_size: int = 20) -> dict:
        """One page of the matrix: lines (dataset row, repeat) with every variant's cell (status, pass,
        human label, the output's start). Filters: all, disagree (some variant passes and another
        fails), failures, errors. Raises NotFoundError, ValidationError (filter, page)."""
        require(ctx, Action.READ_EXPERIMENTS)
        page, page_size = _page_args(filter, page, page_size)
        with self._repo(ctx) as repo:
            experiment = self._experiment(repo, name)
            variants = repo.variants(experiment.id)
            total = repo.count_lines(experiment.id, filter)
            pages = max(1, math.ceil(total / page_size))
            page = min(page, pages)
            keys = repo.lines(experiment.id, filter, (page - 1) * page_size, page_size)
            cells = repo.cells_of(experiment.id, sorted({row for row, _ in keys}), OUTPUT_PREVIEW)
        names = {variant.id: variant.name for variant in variants}
        wanted = set(keys)
        lines = {key: {"row": key[0], "repeat": key[1], "vars": {}, "cells": {}} for key in keys}
        for cell_id, variant_id, row, repeat, status, passed, human, output, row_vars in cells:
            if (row, repeat) not in wanted:
                continue
            line = lines[(row, repeat)]
            line["vars"] = row_vars or {}
            line["cells"][names[variant_id]] = {
                "id": cell_id, "status": status, "pass": None if status != "done" else bool(passed),
                "human": human, "output": output or ""}
        return {"name": experiment.name, "status": experiment.status, "filter": filter, "total": total,
                "page": page, "pages": pages, "page_size": page_size,
                "variants": [variant.name for variant in variants], "lines": [lines[key] for key in keys]}

    def cell(self, ctx: TenantContext, name: str, cell_id: int) -> dict:
        """One cell in full: the rendered input, the output, each check's verdict and reason, tokens,
        cost, latency and the human label. Raises NotFoundError, ValidationError (cell id)."""
        require(ctx, Action.READ_EXPERIMENTS)
        if isinstance(cell_id, bool) or not isinstance(cell_id, int) or cell_id < 1:
            raise ValidationError("ui_results.errors.bad_cell", cell=str(cell_id)[:20])
        with self._repo(ctx) as repo:
            experiment = self._experiment(repo, name)
            found = repo.cell_detail(experiment.id, cell_id)
            if found is None:
                raise NotFoundError("results.cell_not_found", cell=cell_id, name=experiment.name)
            cell, run, row, variant = found
            checks = [{"check": str(item.get("check") or ""), "pass": item.get("pass"),
                       "score": _number(item.get("score")), "reason": str(item.get("reason") or ""),
                       "error": item.get("error")}
                      for item in cell.scores or [] if isinstance(item, dict)]
            return {
                "id": cell.id, "experiment": experiment.name, "variant": variant, "row": cell.row_position,
                "repeat": cell.repeat, "status": cell.status, "pass": cell.passed, "score": _number(cell.score),
                "vars": row.vars or {}, "expected": row.expected,
                "input": _rendered_text(run.rendered_input if run else None)[:MAX_DETAIL_OUTPUT],
                "output": (run.output if run else "")[:MAX_DETAIL_OUTPUT],
                "prompt_tokens": run.prompt_tokens if run else 0,
                "completion_tokens": run.completion_tokens if run else 0,
                "cost": _number(cell.cost) or 0.0, "judge_cost": _number(cell.judge_cost) or 0.0,
                "latency_ms": _number(run.latency_ms) if run else None, "cached": bool(run.cached) if run else False,
                "error_code": cell.error_code, "error_key": run.error_key if run else None,
                "error_params": (run.error_params or {}) if run else {},
                "checks": checks,
                "human": None if cell.human_pass is None else {
                    "pass": cell.human_pass, "score": _number(cell.human_score), "comment": cell.human_comment or "",
                    "by": repo.username(cell.human_by), "at": _iso(cell.human_at)},
            }

    def latency_histogram(self, ctx: TenantContext, name: str, bins: int = 12) -> dict:
        """Latency distribution of done cells per variant: `bins` equal-width buckets between the
        fastest and the slowest call, counted in the database. Raises NotFoundError, ValidationError."""
        require(ctx, Action.READ_EXPERIMENTS)
        if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
            raise ValidationError("ui_results.errors.bad_page", field="bins", value=str(bins)[:20], high=MAX_BINS)
        with self._repo(ctx) as repo:
            experiment = self._experiment(repo, name)
            variants = repo.variants(experiment.id)
            low, high = repo.latency_range(experiment.id)
            if low is None:
                return {"edges": [], "variants": {variant.name: [] for variant in variants}}
            width = (high - low) / bins or 1.0
            # Upper edges of the buckets but the last; the last bucket takes everything left.
            edges = [low + width * (i + 1) for i in range(bins - 1)]
            counts = repo.latency_counts(experiment.id, edges)
        histogram = {}
        for variant in variants:
            total, *below = counts.get(variant.id, [0] + [0] * len(edges))
            cumulative = [*below, total]
            histogram[variant.name] = [cumulative[0]] + [cumulative[i] - cumulative[i - 1]
                                                         for i in range(1, len(cumulative))]
        return {"edges": [low] + edges + [high], "variants": histogram}

    def agreement(self, ctx: TenantContext, name: str) -> dict:
        """Judge agreement alone, as show() computes it (Cohen's kappa of the human labels against all
        checks together and each model-graded check, per variant and pooled), reading only labelled
        cells: cheap enough to redraw after every label. Raises NotFoundError."""
        require(ctx, Action.READ_EXPERIMENTS)
        from ..evaluation.stats import OVERALL, POOLED, cohen_kappa

        with self._repo(ctx) as repo:
            experiment = self._experiment(repo, name)
            variants = repo.variants(experiment.id)
            labelled = repo.labelled(experiment.id)
        _checks, graded = _analyzed_checks(experiment)
        names = {variant.id: variant.name for variant in variants}
        found = []
        for check in (OVERALL, *graded):
            pooled_a, pooled_h = [], []
            for variant in variants:
                judged, human = [], []
                for variant_id, status, passed, scores, human_pass in labelled:
                    if variant_id != variant.id or status == "error":
                        continue  # an errored cell has no verdict to agree with
                    verdict = passed if check == OVERALL else _checks_of(scores).get(check, (None, None))[0]
                    if verdict is not None:
                        judged.append(bool(verdict))
                        human.append(bool(human_pass))
                if judged:
                    found.append({"variant": names[variant.id], "check": check, "kappa": _number(cohen_kappa(judged, human)),
                                  "n": len(judged)})
                    pooled_a += judged
                    pooled_h += human
            if pooled_a and len(variants) > 1:
                found.append({"variant": POOLED, "check": check, "kappa": _number(cohen_kappa(pooled_a, pooled_h)),
                              "n": len(pooled_a)})
        return {"variants": [variant.name for variant in variants], "agreement": found}

    def promote(self, ctx: TenantContext, name: str, variant: str, label: str) -> dict:
        """Point `label` at the prompt version a variant ran. The library's policy decides who may move
        it (a protected label such as production needs an admin). Raises NotFoundError,
        ValidationError (label), PermissionDeniedError."""
        require(ctx, Action.MOVE_LABEL)
        with self._repo(ctx) as repo:
            experiment = self._experiment(repo, name)
            chosen = next((v for v in repo.variants(experiment.id) if v.name == variant), None)
            if chosen is None:
                raise NotFoundError("ui_results.errors.variant_not_found", variant=str(variant)[:400],
                                    name=experiment.name)
            prompt, version = chosen.prompt_name, chosen.version_number
        labels = self.library.set_label(ctx, prompt, (label or "").strip(), version)
        return {"experiment": experiment.name, "variant": variant, "prompt": prompt, "version": version,
                "label": (label or "").strip(), "labels": labels}
