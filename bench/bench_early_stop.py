"""Early stop (`--stop-early`): calls saved and wrong-winner rate of the always-valid sequential test
(promptmgr/evaluation/sequential.py, an mSPRT on the discordant rows) over simulated experiments,
next to the full run (every row, then the exact McNemar test at the same alpha) and to naive
peeking (that fixed-sample test re-checked after every row, which early stopping must not be).

Goals (issue 9): >= 40% fewer calls than the full run when one variant is clearly better, and
<= 5% wrong winners when the variants are equal.

Then times `analyze()` (promptmgr/evaluation/stats.py) on 100,000 rows x 2 variants with two checks,
once with pass/fail scores and once with continuous scores (goal: a few seconds, bounded memory).

Run: python bench/bench_early_stop.py [--rows 200] [--experiments 1000] [--alpha 0.05] [--seed 0]
                                      [--analyze-rows 100000 (0 skips)]"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promptmgr.evaluation.sequential import DEFAULT_MIN_PAIRS, simulate  # noqa: E402

# (label, p_baseline, p_variant, share of rows whose two outcomes share one draw)
SCENARIOS = [
    ("clearly better 0.6 -> 0.9", 0.6, 0.9, 0.0),
    ("clearly worse 0.9 -> 0.6", 0.9, 0.6, 0.0),
    ("clearly better, correlated rows", 0.6, 0.9, 0.5),
    ("modestly better 0.7 -> 0.8", 0.7, 0.8, 0.0),
    ("slightly better 0.75 -> 0.78", 0.75, 0.78, 0.0),
    ("equal 0.5", 0.5, 0.5, 0.0),
    ("equal 0.75", 0.75, 0.75, 0.0),
    ("equal 0.9", 0.9, 0.9, 0.0),
    ("equal 0.75, correlated rows", 0.75, 0.75, 0.5),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200, help="rows of the dataset (the full run: 2 calls per row)")
    parser.add_argument("--experiments", type=int, default=1000, help="simulated experiments per scenario (>= 200)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--min-pairs", type=int, default=DEFAULT_MIN_PAIRS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--analyze-rows", type=int, default=100_000)
    args = parser.parse_args()
    if args.experiments < 200:
        parser.error("--experiments must be >= 200")

    print(f"{args.experiments} simulated experiments per scenario, {args.rows} rows x 2 variants "
          f"(full run = {2 * args.rows} calls), alpha {args.alpha}, minimum {args.min_pairs} rows before a decision")
    head = (f"{'scenario':34}{'full calls':>11}{'seq calls':>11}{'saved':>8}{'decided':>9}{'wrong':>8}"
            f"{'full: decided':>15}{'wrong':>8}{'peeking wrong':>15}")
    print(head)
    print("-" * len(head))
    verdicts = []
    start = time.perf_counter()
    for label, p_base, p_other, corr in SCENARIOS:
        r = simulate(p_base, p_other, rows=args.rows, experiments=args.experiments, alpha=args.alpha,
                     min_pairs=args.min_pairs, correlation=corr, peeking=True, seed=args.seed)
        per_full, per_used = r.calls_full / r.experiments, r.calls_used / r.experiments
        print(f"{label:34}{per_full:11.0f}{per_used:11.1f}{r.saved:8.1%}{r.decided_rate:9.1%}{r.wrong_winner_rate:8.1%}"
              f"{r.full_decided_rate:15.1%}{r.full_wrong_winner_rate:8.1%}{r.peeking_wrong_winner_rate:15.1%}")
        if label.startswith("clearly"):
            verdicts.append((f"{label}: calls saved {r.saved:.1%} (goal >= 40%)", r.saved >= 0.40))
        if label.startswith("equal"):
            verdicts.append((f"{label}: wrong winners {r.wrong_winner_rate:.1%} (goal <= 5%; "
                             f"naive peeking {r.peeking_wrong_winner_rate:.1%})", r.wrong_winner_rate <= 0.05))
    print(f"\n(columns are means per experiment; 'wrong' = a winner named when the variants are equal, or the "
          f"worse one named; simulated in {time.perf_counter() - start:.1f} s)")
    for text, ok in verdicts:
        print(f"{'OK  ' if ok else 'MISS'} {text}")
    if args.analyze_rows:
        bench_analyze(args.analyze_rows)


def _outcomes(n: int, rate: float, continuous: bool, rng):
    from promptmgr.evaluation.stats import Outcome

    passes, check = rng.random(n) < rate, rng.random(n) < rate
    scores = rng.random(n) if continuous else passes.astype(float)
    latency = rng.gamma(2.0, 150.0, n)
    return [Outcome(row=i, repeat=0, passed=bool(p), score=float(s), checks={"judge": (bool(c), float(c)),
                    "similar": (bool(p), float(s))}, cost=0.0004, latency_ms=float(ms), prompt_tokens=120,
                    completion_tokens=40, human_pass=bool(p) if i % 50 == 0 else None)
            for i, (p, c, s, ms) in enumerate(zip(passes, check, scores, latency))]


def bench_analyze(rows: int) -> None:
    import numpy as np

    from promptmgr.evaluation.stats import analyze

    print(f"\nanalyze() on {rows:,} rows x 2 variants, checks 'judge' (pass/fail) and 'similar':")
    rng = np.random.default_rng(0)
    for continuous in (False, True):
        cells = {"A": _outcomes(rows, 0.70, continuous, rng), "B": _outcomes(rows, 0.72, continuous, rng)}
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        result = analyze(cells, "A", ["judge", "similar"], model_graded=["judge"])
        seconds = time.perf_counter() - start
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        verdicts = ", ".join(f"{c.check}={c.verdict}" for c in result.comparisons)
        print(f"  {'continuous' if continuous else 'pass/fail':10} scores: {seconds:5.2f} s, peak RSS grew {grown:5.0f} MB "
              f"(input cells built before)  [{verdicts}]")


if __name__ == "__main__":
    main()
