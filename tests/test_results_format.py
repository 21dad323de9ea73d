"""The results view's sentences and numbers: what a non-statistician reads for each verdict, in the
reader's language, the winner to promote, and judge agreement beside model-graded checks."""
from __future__ import annotations

import pytest

from promptmgr.ui.experiment_results_format import (
    agreement_lines, evidence, interval, money, ms, p_value, pct, sentence, winner,
)
from promptmgr.ui.experiment_results_summary import comparisons_markdown, pass_rate_frame, tag


def summary(verdict="better", p_holm=0.003, rows_needed=None, n_pairs=100, checks=("contains:ok",)):
    def variant(name, rate):
        return {"name": name, "pass_rate": rate, "ci": [rate - 0.1, min(1.0, rate + 0.1)], "n": 100, "errors": 0,
                "cost": 0.5, "cost_per_pass": 0.01, "latency_p50_ms": 120.0, "latency_p95_ms": 300.0,
                "checks": {c: {"pass_rate": rate, "ci": [rate - 0.1, rate + 0.1], "n": 100} for c in checks}}
    comparisons = [{"variant": "B", "baseline": "A", "check": check, "verdict": verdict, "p_holm": p_holm,
                    "rows_needed": rows_needed, "n_pairs": n_pairs} for check in ("all", *checks)]
    return {"baseline": "A", "checks": list(checks), "variants": [variant("A", 0.61), variant("B", 0.78)],
            "comparisons": comparisons, "agreement": []}


def test_a_winner_is_said_with_both_rates_and_the_adjusted_p_value():
    data = summary()
    text = sentence(data, data["comparisons"][1], "en")
    assert text == "**B** beats **A** on `contains:ok`: 78% vs 61%, p = 0.003 after Holm."
    assert "beats" in sentence(data, data["comparisons"][0], "en") and "all checks" in sentence(
        data, data["comparisons"][0], "en")
    worse = summary("worse")
    assert "does worse than" in sentence(worse, worse["comparisons"][0], "en")


def test_no_clear_difference_says_how_many_more_rows_are_needed():
    data = summary("inconclusive", p_holm=0.2, rows_needed=440, n_pairs=100)
    text = sentence(data, data["comparisons"][0], "en")
    assert text.startswith("No clear difference yet") and "about 340 more rows would be needed" in text
    enough = summary("inconclusive", p_holm=0.9, rows_needed=50, n_pairs=100)
    assert "more rows" not in sentence(enough, enough["comparisons"][0], "en")
    assert "no finished row in common" in sentence(summary("inconclusive", n_pairs=0),
                                                   summary("inconclusive", n_pairs=0)["comparisons"][0], "en")


def test_one_check_is_compared_once_and_several_checks_each():
    assert comparisons_markdown(summary(), "en").count("beats") == 1
    assert comparisons_markdown(summary(checks=("contains:ok", "regex:x")), "en").count("beats") == 3


def test_numbers_follow_the_locale():
    assert (pct(0.783, "en"), pct(0.783, "de"), pct(0.783, "fr")) == ("78.3%", "78,3%", "78,3%")
    assert money(0.001234, "en") == "$0.001234" and money(0.001234, "de") == "$0,001234"
    assert ms(1234.4, "en") == "1,234 ms" and ms(1234.4, "de") == "1.234 ms"
    assert interval([0.5, 0.75], "en") == "50% – 75%" and interval([None, None], "en") == "–"
    assert (p_value(0.0004, "en"), p_value(0.0312, "en"), p_value(0.0312, "de")) == ("< 0.001", "= 0.031", "= 0,031")
    text = sentence(summary(), summary()["comparisons"][0], "de")
    assert "schlägt" in text and "78% gegenüber 61%" in text


def test_the_winner_is_the_best_variant_shown_to_beat_the_baseline_else_the_baseline():
    assert winner(summary()) == "B"
    assert winner(summary("inconclusive")) == "A"
    assert "beats" in evidence(summary(), "B", "en")
    assert evidence(summary("inconclusive"), "A", "en").startswith("**A** is the baseline")


def test_agreement_is_shown_per_model_graded_check_pooled_over_variants():
    data = summary()
    data["agreement"] = [{"variant": "A", "check": "all", "kappa": 0.5, "n": 4},
                         {"variant": "*", "check": "all", "kappa": 0.25, "n": 9},
                         {"variant": "*", "check": "llm-rubric:polite", "kappa": None, "n": 1}]
    assert agreement_lines(data, "en") == ["all checks: κ = 0.25 · labels: 9",
                                           "`llm-rubric:polite`: κ = – · labels: 1"]
    single = {**data, "variants": data["variants"][:1]}
    assert agreement_lines(single, "en") == ["all checks: κ = 0.50 · labels: 4"]


def test_interval_bars_stack_to_the_interval_high():
    frame = pass_rate_frame(summary(), "en")
    tops = frame.groupby("bar")["percent"].sum()
    assert tops["B · all checks"] == pytest.approx(88.0) and tops["A · contains:ok"] == pytest.approx(71.0)
    assert [tag(i) for i in (0, 1, 25, 26)] == ["A", "B", "Z", "AA"]


def test_sentences_are_translated():
    data = summary()
    assert "يتفوق على" in sentence(data, data["comparisons"][0], "ar")
    assert "上回りました" in sentence(data, data["comparisons"][0], "ja")
    needs = summary("inconclusive", p_holm=0.2, rows_needed=440)
    assert "340" in sentence(needs, needs["comparisons"][0], "ru") and "строк" in sentence(needs, needs["comparisons"][0], "ru")


def test_kappa_sits_beside_each_graded_check_in_the_plot_numbers():
    from promptmgr.ui.experiment_results_summary import pass_rate_numbers

    data = summary(checks=("contains:ok", "llm-rubric:polite"))
    data["agreement"] = [{"variant": "B", "check": "llm-rubric:polite", "kappa": 0.64, "n": 14}]
    frame = pass_rate_numbers(data, "en")
    by_bar = dict(zip(frame["Variant · check"], frame["Judge κ"]))
    assert by_bar["B · llm-rubric:polite"] == "κ 0.64 · 14 labels"
    assert by_bar["A · llm-rubric:polite"] == "" and by_bar["B · contains:ok"] == ""
