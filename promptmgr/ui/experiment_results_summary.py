"""What the summary part of the results view shows, as plain functions of the service's summary
(ExperimentResultService.show) and latency histogram: the per-variant table, the frames of the
three plots and the numbers printed beside each plot. No Gradio components here.

Variants are tagged A, B, C... on the plots (full names are long); the tables give each tag its name."""
from __future__ import annotations

import pandas as pd

from .common import text
from .experiment_results_format import (
    DASH, OVERALL, agreement_lines, interval, money, ms, num, pct, sentence,
)

SUMMARY_COLUMNS = ("variant", "pass_rate", "interval", "n", "score", "cost", "cost_per_pass", "p50", "p95",
                   "errors")
# Stacked bar segments drawing a pass rate with its interval: solid up to the interval's low end,
# then two light parts meeting at the estimate.
SEGMENTS = ("low", "to_rate", "to_high")
SEGMENT_COLOURS = {"low": "#2e7d32", "to_rate": "#81c784", "to_high": "#c8e6c9"}


def tag(position: int) -> str:
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def tags(summary: dict) -> dict[str, str]:
    return {variant["name"]: tag(i) for i, variant in enumerate(summary.get("variants", []))}


def header(summary: dict, locale: str) -> str:
    cells = summary["cells"]
    return text("ui_results.header", locale, name=summary["name"],
                status=text(f"ui_results.status.{summary['status']}", locale), done=num(cells["done"], locale, "#,##0"),
                total=num(cells["total"], locale, "#,##0"), errors=num(cells["errors"], locale, "#,##0"),
                cost=money(summary.get("cost") or 0.0, locale), dataset=summary["dataset"]["name"],
                version=summary["dataset"]["version"], baseline=summary.get("baseline") or DASH)


def summary_table(summary: dict, locale: str) -> pd.DataFrame:
    names = tags(summary)
    rows = []
    for variant in summary.get("variants", []):
        rows.append([f"{names[variant['name']]} · {variant['name']}", pct(variant["pass_rate"], locale),
                     interval(variant["ci"], locale), num(variant["n"], locale, "#,##0"),
                     num(variant.get("score_mean"), locale, "0.00"), money(variant["cost"], locale),
                     money(variant.get("cost_per_pass"), locale), ms(variant["latency_p50_ms"], locale),
                     ms(variant["latency_p95_ms"], locale), num(variant["errors"], locale, "#,##0")])
    return pd.DataFrame(rows, columns=[text(f"ui_results.columns.{c}", locale) for c in SUMMARY_COLUMNS])


def comparisons_markdown(summary: dict, locale: str) -> str:
    comparisons = summary.get("comparisons", [])
    if not comparisons:
        return text("ui_results.no_comparisons", locale)
    if len(set(summary.get("checks") or [])) <= 1:
        # One check: its comparison is the overall one, said once.
        comparisons = [c for c in comparisons if c["check"] == OVERALL] or comparisons
    lines = [text("ui_results.comparisons_intro", locale, baseline=summary.get("baseline") or DASH)]
    lines += ["- " + sentence(summary, comparison, locale) for comparison in comparisons]
    return "\n".join(lines)


def agreement_markdown(summary: dict, locale: str) -> str:
    lines = agreement_lines(summary, locale)
    if not lines:
        return text("ui_results.agreement.none", locale)
    return "\n".join([text("ui_results.agreement.intro", locale)] + ["- " + line for line in lines])


def _rates(summary: dict):
    """(tag, variant, check, rate, interval, n) per variant and check: every check taken together first."""
    names = tags(summary)
    for variant in summary.get("variants", []):
        yield names[variant["name"]], variant["name"], "all", variant["pass_rate"], variant["ci"], variant["n"]
        for check, stats in (variant.get("checks") or {}).items():
            yield names[variant["name"]], variant["name"], check, stats["pass_rate"], stats["ci"], stats["n"]


def _check_label(check: str, locale: str) -> str:
    return text("ui_results.all_checks", locale) if check == "all" else check


def pass_rate_frame(summary: dict, locale: str) -> pd.DataFrame:
    """Stacked segments per (variant, check): low end, low end to estimate, estimate to high end, in
    percent. The bar's solid part is the rate we are 95% sure of; its light top the uncertainty."""
    rows = []
    for short, _name, check, rate, ci, _n in _rates(summary):
        if rate is None or not ci or ci[0] is None:
            continue
        low, high = ci
        label = f"{short} · {_check_label(check, locale)}"
        for segment, value in zip(SEGMENTS, (low, rate - low, high - rate)):
            rows.append({"bar": label, "part": text(f"ui_results.plot.{segment}", locale),
                         "percent": round(100.0 * max(0.0, value), 2)})
    return pd.DataFrame(rows, columns=["bar", "part", "percent"])


def pass_rate_colours(locale: str) -> dict[str, str]:
    return {text(f"ui_results.plot.{segment}", locale): colour for segment, colour in SEGMENT_COLOURS.items()}


def pass_rate_numbers(summary: dict, locale: str) -> pd.DataFrame:
    """The plot's numbers; beside each check graded by a model (and all checks together), the judge's
    agreement with the human labels of that variant: kappa and the number of labels."""
    agreement = {(item["variant"], item["check"]): item for item in summary.get("agreement", [])}
    rows = []
    for short, name, check, rate, ci, n in _rates(summary):
        found = agreement.get((name, check))
        kappa = "" if found is None else text("ui_results.agreement.short", locale, n=num(found["n"], locale, "#,##0"),
                                              kappa=DASH if found["kappa"] is None else num(found["kappa"], locale, "0.00"))
        rows.append([f"{short} · {_check_label(check, locale)}", pct(rate, locale), interval(ci, locale),
                     num(n, locale, "#,##0"), kappa])
    return pd.DataFrame(rows, columns=[text(f"ui_results.columns.{c}", locale)
                                       for c in ("bar", "pass_rate", "interval", "n", "kappa")])


def cost_frame(summary: dict, locale: str) -> pd.DataFrame:
    names = tags(summary)
    rows = [{"variant": names[v["name"]], "cost": float(v["cost"] or 0.0), "pass_rate": round(100.0 * v["pass_rate"], 2)}
            for v in summary.get("variants", []) if v.get("pass_rate") is not None]
    return pd.DataFrame(rows, columns=["variant", "cost", "pass_rate"])


def cost_axis_end(frame: pd.DataFrame) -> float:
    """The cost axis from zero to a little past the dearest variant, so no point sits on the edge."""
    top = float(frame["cost"].max()) if len(frame) else 0.0
    return top * 1.15 if top > 0 else 1.0


def cost_numbers(summary: dict, locale: str) -> pd.DataFrame:
    names = tags(summary)
    rows = [[names[v["name"]], money(v["cost"], locale), pct(v["pass_rate"], locale), money(v.get("cost_per_pass"), locale)]
            for v in summary.get("variants", [])]
    return pd.DataFrame(rows, columns=[text(f"ui_results.columns.{c}", locale)
                                       for c in ("tag", "cost", "pass_rate", "cost_per_pass")])


def latency_frame(summary: dict, histogram: dict) -> pd.DataFrame:
    """Cells per latency bucket (its midpoint in ms) per variant: a frequency polygon per variant."""
    names, edges, rows = tags(summary), histogram.get("edges") or [], []
    for variant, counts in (histogram.get("variants") or {}).items():
        for i, count in enumerate(counts):
            if i + 1 < len(edges):
                rows.append({"variant": names.get(variant, variant), "ms": round((edges[i] + edges[i + 1]) / 2, 1),
                             "cells": count})
    return pd.DataFrame(rows, columns=["variant", "ms", "cells"])


def latency_numbers(summary: dict, locale: str) -> pd.DataFrame:
    names = tags(summary)
    rows = [[names[v["name"]], ms(v["latency_p50_ms"], locale), ms(v["latency_p95_ms"], locale),
             num(v["n"] + v["errors"], locale, "#,##0")] for v in summary.get("variants", [])]
    return pd.DataFrame(rows, columns=[text(f"ui_results.columns.{c}", locale) for c in ("tag", "p50", "p95", "cells")])
