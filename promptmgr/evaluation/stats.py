"""Statistics of an experiment: intervals, paired tests, multiplicity, agreement, sample size.

Pure functions over `Outcome`s (one per finished cell); no database. numpy/scipy are imported
inside the functions so that importing this module stays cheap for the CLI.

Choices (each also noted where it is made):
- A cell that errored (`passed is None`) is an error, not a failure: it is left out of pass rates,
  scores, pairs and agreement and only counted in `errors`. A check without a verdict likewise.
- Repeats: McNemar needs one pair per row (repeats of a row are not independent), so with
  repeats > 1 a row passes when a strict majority of its graded repeats pass (a tie is a fail, for
  both variants alike). Scores use the row's mean over its graded repeats.
- Bootstrap: BCa (as scipy.stats.bootstrap's default) over rows, a row's repeats kept together
  with it ("nested"): resampling repeats again inside the row would count the within-row noise
  twice (Davison & Hinkley 1997, Bootstrap Methods, section 3.8).
- Pass rates and Wilson intervals count cells: with repeats > 1 a row's cells are correlated and
  that interval is somewhat narrow (the score interval, over rows, is not).
- Holm is applied to the exact McNemar p-values (the mid-p is reported beside them); rows_needed
  uses Connor (1987) at alpha / (number of comparisons), the strictest level Holm may apply.
- Cost is bounded: see bootstrap.bootstrap_distribution (exact shortcut, chunks, large-sample limit).
"""
from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from .bootstrap import (
    TIE_TOLERANCE, _check_confidence, _mean_interval, bca_interval, bootstrap_distribution, bootstrap_mean_interval,
    paired_bootstrap_diff,
)

__all__ = ["OVERALL", "POOLED", "TIE_TOLERANCE", "Outcome", "CheckStats", "VariantStats", "Comparison", "Agreement",
           "Analysis", "wilson_interval", "mcnemar", "holm", "cohen_kappa", "rows_needed", "bootstrap_distribution",
           "bca_interval", "bootstrap_mean_interval", "paired_bootstrap_diff", "analyze"]

OVERALL = "all"               # the comparison/agreement name of the cell's overall pass
POOLED = "*"                  # Agreement.variant of the row pooled over all variants


@dataclass(slots=True)
class Outcome:
    """One finished cell."""

    row: int
    repeat: int
    passed: bool | None
    score: float | None
    checks: dict[str, tuple[bool | None, float | None]] = field(default_factory=dict)
    cost: float = 0.0
    latency_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    human_pass: bool | None = None


@dataclass(slots=True)
class CheckStats:
    name: str
    n: int                                  # cells with a verdict for this check
    passed: int
    errors: int                             # cells without a verdict (cell or check errored)
    pass_rate: float | None
    ci: tuple[float, float] | None          # Wilson
    score_mean: float | None                # mean over rows of the row's mean score
    score_ci: tuple[float, float] | None    # bootstrap (BCa) over rows


@dataclass(slots=True)
class VariantStats:
    name: str
    n: int                                  # graded cells (errors excluded)
    passed: int
    errors: int
    pass_rate: float | None
    ci: tuple[float, float] | None
    score_mean: float | None
    score_ci: tuple[float, float] | None
    cost: float                             # every cell, errors included
    cost_per_pass: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    checks: dict[str, CheckStats]


@dataclass(slots=True)
class Comparison:
    variant: str
    baseline: str
    check: str                              # OVERALL or a check name
    n_pairs: int                            # rows graded in both variants
    b: int                                  # rows only the baseline passes
    c: int                                  # rows only the variant passes
    p_value: float                          # exact McNemar
    p_midp: float
    p_holm: float                           # exact p adjusted over all comparisons of the analysis
    diff: float | None                      # mean score difference, variant - baseline
    ci: tuple[float, float] | None          # paired bootstrap interval of diff
    verdict: str                            # "better" | "worse" | "inconclusive"
    rows_needed: int | None                 # inconclusive: total rows to detect the observed difference


@dataclass(slots=True)
class Agreement:
    variant: str                            # a variant name, or POOLED
    check: str
    kappa: float | None
    n: int                                  # cells with both a human label and a check verdict


@dataclass(slots=True)
class Analysis:
    baseline: str
    alpha: float
    variants: list[VariantStats]
    comparisons: list[Comparison]
    agreement: list[Agreement]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (as statsmodels' proportion_confint(method="wilson")); (0, 1) for n=0."""
    from scipy.stats import norm

    _check_confidence(confidence)
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return (0.0, 1.0)
    z = float(norm.isf((1.0 - confidence) / 2.0))
    z2 = z * z
    q = successes / n
    denom = 1.0 + z2 / n
    center = (q + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(q * (1.0 - q) / n + z2 / (4.0 * n * n)) / denom
    # The bounds at 0/n and n/n are exactly 0 and 1; the formula leaves float noise there.
    return (0.0 if successes == 0 else max(0.0, center - half), 1.0 if successes == n else min(1.0, center + half))


def mcnemar(b: int, c: int) -> tuple[float, float]:
    """(exact p, mid-p) of McNemar's test from the discordant counts b and c.

    Exact: two-sided binomial test of min(b, c) in b + c trials at 1/2. Mid-p: the exact p minus
    the probability of the observed count (Fagerland, Lydersen & Laake 2013, BMC Med Res Methodol
    13:91), closer to nominal size than the exact test."""
    from scipy.stats import binom

    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got {b}, {c}")
    n, k = b + c, min(b, c)
    if n == 0:
        return (1.0, 1.0)
    cdf = float(binom.cdf(k, n, 0.5))
    pmf = float(binom.pmf(k, n, 0.5))
    return (min(1.0, 2.0 * cdf), min(1.0, 2.0 * cdf - pmf))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order."""
    import numpy as np

    p = np.asarray(list(p_values), dtype=float)
    if p.size == 0:
        return []
    if p.ndim != 1 or np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p-values must be numbers in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(x) for x in adjusted]


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two binary raters; None when undefined (no items, or chance agreement 1)."""
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    n = len(a)
    if n == 0:
        return None
    both = sum(1 for x, y in zip(a, b) if x and y)
    a1, b1 = sum(1 for x in a if x), sum(1 for y in b if y)
    neither = n - a1 - b1 + both
    observed = (both + neither) / n
    chance = (a1 * b1 + (n - a1) * (n - b1)) / (n * n)
    if chance >= 1.0:
        return None
    return max(-1.0, min(1.0, (observed - chance) / (1.0 - chance)))


def rows_needed(p_base: float, p_other: float, discordant_rate: float, alpha: float = 0.05,
                power: float = 0.8) -> int | None:
    """Rows (pairs) a two-sided paired test at `alpha` needs to detect p_other - p_base with
    `power`, given the share of discordant rows: Connor (1987), Biometrics 43:207-211,
    n = (z[1-alpha/2] sqrt(psi) + z[power] sqrt(psi - delta^2))^2 / delta^2. None when there is
    no difference to detect."""
    from scipy.stats import norm

    for name, value in (("p_base", p_base), ("p_other", p_other), ("discordant_rate", discordant_rate)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError("alpha and power must be in (0, 1)")
    delta = p_other - p_base
    if delta == 0.0 or discordant_rate == 0.0:
        return None
    if discordant_rate < abs(delta) - 1e-12:
        raise ValueError("the discordant rate cannot be smaller than the difference of the rates")
    psi = max(discordant_rate, abs(delta))
    za, zb = float(norm.isf(alpha / 2.0)), float(norm.ppf(power))
    n = (za * math.sqrt(psi) + zb * math.sqrt(max(0.0, psi - delta * delta))) ** 2 / (delta * delta)
    return int(math.ceil(n - 1e-9))


@dataclass(slots=True)
class _Series:
    """One variant's cells for one check as arrays: pass (1/0/-1 = no verdict), score (nan = none)."""

    rows: Any
    passed: Any
    score: Any

    def row_pass(self):
        """(row ids, majority pass per row) over rows with at least one verdict."""
        import numpy as np

        ok = self.passed >= 0
        ids, inverse = np.unique(self.rows[ok], return_inverse=True)
        graded = np.bincount(inverse, minlength=ids.size)
        wins = np.bincount(inverse, weights=self.passed[ok], minlength=ids.size)
        return ids, wins * 2 > graded  # strict majority: a tie fails (module docstring)

    def row_score(self):
        """(row ids, mean score per row) over rows with at least one score."""
        import numpy as np

        ok = (self.passed >= 0) & ~np.isnan(self.score)
        ids, inverse = np.unique(self.rows[ok], return_inverse=True)
        sums = np.bincount(inverse, weights=self.score[ok], minlength=ids.size)
        return ids, sums / np.bincount(inverse, minlength=ids.size)


def _seed(seed: int, *parts: str) -> list[int]:
    # Keyed by names, not positions: a variant's intervals do not change when others are added.
    return [int(seed) & 0xFFFFFFFF, *(zlib.crc32(part.encode("utf-8")) for part in parts)]


def _series(outcomes: list[Outcome], check: str):
    import numpy as np

    rows = np.fromiter((o.row for o in outcomes), dtype=np.int64, count=len(outcomes))
    if check == OVERALL:
        pairs = [(o.passed, o.score) for o in outcomes]
    else:  # a check has no verdict in a cell that errored
        missing = (None, None)
        pairs = [o.checks.get(check, missing) if o.passed is not None else missing for o in outcomes]
    passed = np.fromiter((-1 if p is None else int(bool(p)) for p, _ in pairs), dtype=np.int8, count=len(pairs))
    score = np.fromiter((math.nan if s is None else float(s) for _, s in pairs), dtype=float, count=len(pairs))
    if not np.isfinite(score[~np.isnan(score)]).all():
        raise ValueError(f"scores of {check!r} must be finite")
    return _Series(rows, passed, score)


def _check_stats(name: str, s: _Series, seed) -> CheckStats:
    n = int((s.passed >= 0).sum())
    passed = int((s.passed == 1).sum())
    ids, means = s.row_score()
    score_mean = float(means.mean()) if ids.size else None
    score_ci = _mean_interval(means, 0.95, 2000, seed) if ids.size else None
    return CheckStats(name=name, n=n, passed=passed, errors=int(s.passed.size - n),
                      pass_rate=passed / n if n else None, ci=wilson_interval(passed, n) if n else None,
                      score_mean=score_mean, score_ci=score_ci)


def _variant_stats(name: str, outcomes: list[Outcome], series: dict[str, _Series], seed: int) -> VariantStats:
    import numpy as np

    overall = _check_stats(name, series[OVERALL], _seed(seed, name, OVERALL))
    checks = {check: _check_stats(check, s, _seed(seed, name, check))
              for check, s in series.items() if check != OVERALL}
    cost = float(sum(o.cost for o in outcomes))
    latencies = np.array([o.latency_ms for o in outcomes if o.latency_ms is not None], dtype=float)
    p50, p95 = (float(v) for v in np.percentile(latencies, [50, 95])) if latencies.size else (None, None)
    return VariantStats(
        name=name, n=overall.n, passed=overall.passed, errors=overall.errors, pass_rate=overall.pass_rate,
        ci=overall.ci, score_mean=overall.score_mean, score_ci=overall.score_ci, cost=cost,
        cost_per_pass=cost / overall.passed if overall.passed else None, latency_p50_ms=p50, latency_p95_ms=p95,
        prompt_tokens=int(sum(o.prompt_tokens for o in outcomes)),
        completion_tokens=int(sum(o.completion_tokens for o in outcomes)), checks=checks)


def _compare(variant: str, baseline: str, check: str, base: _Series, other: _Series, seed) -> tuple[Comparison, tuple]:
    import numpy as np

    b_ids, b_pass = base.row_pass()
    o_ids, o_pass = other.row_pass()
    _, bi, oi = np.intersect1d(b_ids, o_ids, assume_unique=True, return_indices=True)
    bp, op = b_pass[bi], o_pass[oi]
    b, c = int((bp & ~op).sum()), int((~bp & op).sum())
    p_exact, p_mid = mcnemar(b, c)
    b_ids, b_score = base.row_score()
    o_ids, o_score = other.row_score()
    _, bi2, oi2 = np.intersect1d(b_ids, o_ids, assume_unique=True, return_indices=True)
    diff = ci = None
    if bi2.size:
        d = o_score[oi2] - b_score[bi2]
        diff = float(d.mean())
        ci = _mean_interval(d, 0.95, 2000, seed)
    n_pairs = int(bi.size)
    rates = (float(bp.mean()), float(op.mean()), (b + c) / n_pairs) if n_pairs else None
    comparison = Comparison(variant=variant, baseline=baseline, check=check, n_pairs=n_pairs, b=b, c=c,
                            p_value=p_exact, p_midp=p_mid, p_holm=p_exact, diff=diff, ci=ci,
                            verdict="inconclusive", rows_needed=None)
    return comparison, rates


def _verdict(comp: Comparison, alpha: float) -> str:
    """Significant at alpha after Holm; the direction from the score difference, unless it
    contradicts the pass/fail table (then nothing is claimed)."""
    if comp.p_holm > alpha:
        return "inconclusive"
    sign_pass = (comp.c > comp.b) - (comp.c < comp.b)
    sign_diff = 0 if comp.diff is None else (comp.diff > 0) - (comp.diff < 0)
    sign = sign_diff or sign_pass
    if sign == 0 or (sign_pass and sign != sign_pass):
        return "inconclusive"
    return "better" if sign > 0 else "worse"


def analyze(outcomes: dict[str, list[Outcome]], baseline: str, check_names: list[str], *, alpha: float = 0.05,
            seed: int = 0, model_graded: Iterable[str] | None = None) -> Analysis:
    """Everything the report shows. Comparisons: every other variant against `baseline` on OVERALL
    and each check, Holm-adjusted together. Agreement: Cohen's kappa of human labels against
    OVERALL and each model-graded check (`model_graded`; None = every check), per variant and
    POOLED, only where some cell is labelled. rows_needed is computed at alpha / (number of
    comparisons), the strictest level Holm may apply."""
    import numpy as np

    if baseline not in outcomes:
        raise ValueError(f"baseline {baseline!r} is not among the variants")
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    names = list(check_names)
    if OVERALL in names or len(set(names)) != len(names):
        raise ValueError(f"check names must be unique and not {OVERALL!r}")
    graded = set(names if model_graded is None else model_graded) & set(names)
    series: dict[str, dict[str, _Series]] = {}
    for variant, cells in outcomes.items():
        series[variant] = {check: _series(cells, check) for check in (OVERALL, *names)}
        keys = np.stack([series[variant][OVERALL].rows, [o.repeat for o in cells]], axis=1).reshape(-1, 2)
        if np.unique(keys, axis=0).shape[0] != len(cells):
            raise ValueError(f"variant {variant!r} has two outcomes for the same (row, repeat)")

    variants = [_variant_stats(v, cells, series[v], seed) for v, cells in outcomes.items()]
    comparisons, rates = [], []
    for variant in outcomes:
        if variant == baseline:
            continue
        for check in (OVERALL, *names):
            comp, rate = _compare(variant, baseline, check, series[baseline][check], series[variant][check],
                                  _seed(seed, variant, baseline, check))
            comparisons.append(comp)
            rates.append(rate)
    for comp, adjusted, rate in zip(comparisons, holm([c.p_value for c in comparisons]), rates):
        comp.p_holm = adjusted
        comp.verdict = _verdict(comp, alpha)
        if comp.verdict == "inconclusive" and rate is not None:
            comp.rows_needed = rows_needed(*rate, alpha=alpha / len(comparisons))

    agreement = []
    humans = {v: np.fromiter((-1 if o.human_pass is None else int(bool(o.human_pass)) for o in cells),
                             dtype=np.int8, count=len(cells)) for v, cells in outcomes.items()}
    for check in (OVERALL, *[n for n in names if n in graded]):
        pooled_a, pooled_h = [], []
        for variant in outcomes:
            s, human = series[variant][check], humans[variant]
            both = (s.passed >= 0) & (human >= 0)
            if both.any():
                a, h = s.passed[both].astype(bool).tolist(), human[both].astype(bool).tolist()
                agreement.append(Agreement(variant=variant, check=check, kappa=cohen_kappa(a, h), n=len(a)))
                pooled_a += a
                pooled_h += h
        if pooled_a and len(outcomes) > 1:
            agreement.append(Agreement(variant=POOLED, check=check, kappa=cohen_kappa(pooled_a, pooled_h),
                                       n=len(pooled_a)))
    return Analysis(baseline=baseline, alpha=alpha, variants=variants, comparisons=comparisons, agreement=agreement)
