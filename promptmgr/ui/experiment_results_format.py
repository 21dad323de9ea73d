"""Numbers and sentences of the results view, in the reader's language.

Numbers go through Babel (CLDR): decimal and percent signs, digit grouping and currency placement
follow the locale. Comparisons become sentences a non-statistician reads correctly: who beats whom
on which check, both pass rates, the Holm-adjusted p-value, or how many more rows a clear answer
would need (the core's rows_needed, which is a total: the rows already paired are taken off)."""
from __future__ import annotations

from babel.numbers import format_currency, format_decimal, format_percent

from .common import text

OVERALL = "all"  # evaluation.stats.OVERALL: the cell's overall pass (not imported: stats loads numpy)
POOLED = "*"     # evaluation.stats.POOLED: agreement pooled over the variants
DASH = "–"


def _babel(locale: str | None) -> str:
    return {"zh": "zh_Hans_CN", "pt": "pt_BR"}.get(locale or "en", locale or "en")


def pct(value, locale: str | None) -> str:
    if value is None:
        return DASH
    return format_percent(value, format="#,##0.#%", locale=_babel(locale))


def num(value, locale: str | None, pattern: str = "#,##0.###") -> str:
    if value is None:
        return DASH
    return format_decimal(value, format=pattern, locale=_babel(locale))


def money(value, locale: str | None) -> str:
    if value is None:
        return DASH
    # Model calls cost fractions of a cent: up to six decimals, no fixed two-digit rounding.
    return format_currency(value, "USD", format="¤#,##0.00####", currency_digits=False, locale=_babel(locale))


def ms(value, locale: str | None) -> str:
    if value is None:
        return DASH
    return text("ui_results.units.ms", locale, value=num(round(value), locale, "#,##0"))


def interval(ci, locale: str | None) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return DASH
    return f"{pct(ci[0], locale)} – {pct(ci[1], locale)}"


def p_value(value, locale: str | None) -> str:
    if value is None:
        return DASH
    if value < 0.001:
        return "< " + num(0.001, locale)
    return "= " + num(value, locale, "0.###")


def check_name(check: str, locale: str | None) -> str:
    return text("ui_results.all_checks", locale) if check == OVERALL else f"`{check}`"


def rate_of(summary: dict, variant: str, check: str):
    found = next((v for v in summary.get("variants", []) if v["name"] == variant), None)
    if found is None:
        return None
    if check == OVERALL:
        return found.get("pass_rate")
    return (found.get("checks", {}).get(check) or {}).get("pass_rate")


def sentence(summary: dict, comparison: dict, locale: str | None) -> str:
    """One comparison as a sentence: beats / does worse / no clear difference yet (and the rows it needs)."""
    variant, baseline, check = comparison["variant"], comparison["baseline"], comparison["check"]
    params = {"variant": variant, "baseline": baseline, "check": check_name(check, locale),
              "rate": pct(rate_of(summary, variant, check), locale),
              "base_rate": pct(rate_of(summary, baseline, check), locale),
              "p": p_value(comparison.get("p_holm"), locale)}
    verdict = comparison.get("verdict")
    if verdict == "better":
        return text("ui_results.sentence.better", locale, **params)
    if verdict == "worse":
        return text("ui_results.sentence.worse", locale, **params)
    needed = comparison.get("rows_needed")
    more = None if needed is None else max(0, int(needed) - int(comparison.get("n_pairs") or 0))
    if not comparison.get("n_pairs"):
        return text("ui_results.sentence.no_pairs", locale, **params)
    if more:
        return text("ui_results.sentence.needs_rows", locale, more=num(more, locale, "#,##0"), **params)
    return text("ui_results.sentence.no_difference", locale, **params)


def winner(summary: dict) -> str | None:
    """The variant with the highest pass rate among those that beat the baseline on every check taken
    together; else the baseline (nothing is shown to beat it)."""
    better = {c["variant"] for c in summary.get("comparisons", []) if c["check"] == OVERALL and c["verdict"] == "better"}
    rates = {v["name"]: v.get("pass_rate") or 0.0 for v in summary.get("variants", [])}
    if better:
        return max(sorted(better), key=lambda name: rates.get(name, 0.0))
    return summary.get("baseline") or None


def evidence(summary: dict, variant: str, locale: str | None) -> str:
    """What backs promoting `variant`: its comparison with the baseline on all checks."""
    found = next((c for c in summary.get("comparisons", []) if c["variant"] == variant and c["check"] == OVERALL),
                 None)
    if found is not None:
        return sentence(summary, found, locale)
    row = next((v for v in summary.get("variants", []) if v["name"] == variant), {})
    return text("ui_results.sentence.baseline", locale, variant=variant, rate=pct(row.get("pass_rate"), locale),
                interval=interval(row.get("ci"), locale), n=num(row.get("n") or 0, locale, "#,##0"))


def agreement_lines(summary: dict, locale: str | None) -> list[str]:
    """Judge agreement per check: kappa with the number of human labels (pooled over variants
    when there are several)."""
    pooled = len(summary.get("variants", [])) > 1
    lines = []
    for item in summary.get("agreement", []):
        if (item["variant"] == POOLED) != pooled:
            continue
        kappa = DASH if item.get("kappa") is None else num(item["kappa"], locale, "0.00")
        lines.append(text("ui_results.agreement.line", locale, check=check_name(item["check"], locale), kappa=kappa,
                          n=num(item["n"], locale, "#,##0")))
    return lines
