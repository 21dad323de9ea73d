"""evaluation/stats.py against scipy/statsmodels, by properties, and on a hand-checked experiment."""
from __future__ import annotations

import gc
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from promptmgr.evaluation import stats
from promptmgr.evaluation.stats import (
    OVERALL, POOLED, Outcome, analyze, bca_interval, bootstrap_distribution, bootstrap_mean_interval,
    cohen_kappa, holm, mcnemar, paired_bootstrap_diff, rows_needed, wilson_interval,
)

TABLES = 1000


# ---------------------------------------------------------------- against the references

def test_wilson_equals_statsmodels_on_random_tables():
    rng = np.random.default_rng(1)
    cases = [(0, 1), (1, 1), (0, 7), (7, 7)]
    for _ in range(TABLES):
        n = int(rng.integers(1, 5000))
        cases.append((int(rng.integers(0, n + 1)), n))
    for i, (k, n) in enumerate(cases):
        confidence = (0.8, 0.9, 0.95, 0.99)[i % 4]
        ours = wilson_interval(k, n, confidence)
        ref = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
        assert ours == pytest.approx(ref, abs=1e-9), (k, n, confidence)


def test_mcnemar_equals_statsmodels_exact_and_binomtest_midp_on_random_tables():
    rng = np.random.default_rng(2)
    cases = [(0, 0), (0, 1), (3, 3), (0, 25), (400, 430)]
    for _ in range(TABLES):
        scale = int(rng.choice([5, 30, 300, 3000]))
        cases.append((int(rng.integers(0, scale)), int(rng.integers(0, scale))))
    for b, c in cases:
        table = [[int(rng.integers(0, 50)), b], [c, int(rng.integers(0, 50))]]
        exact, mid = mcnemar(b, c)
        assert exact == pytest.approx(sm_mcnemar(table, exact=True).pvalue, abs=1e-9), (b, c)
        n, k = b + c, min(b, c)
        if n == 0:
            assert (exact, mid) == (1.0, 1.0)
            continue
        # mid-p = 2 * (P(X <= k) - P(X = k) / 2), X ~ Binomial(b + c, 1/2), from scipy's binomtest
        lower = sps.binomtest(k, n, 0.5, alternative="less").pvalue
        below = sps.binomtest(k - 1, n, 0.5, alternative="less").pvalue if k > 0 else 0.0
        assert mid == pytest.approx(min(1.0, 2 * (lower - (lower - below) / 2)), abs=1e-9), (b, c)
        assert exact == pytest.approx(sps.binomtest(k, n, 0.5).pvalue, abs=1e-9), (b, c)


def test_holm_equals_statsmodels_on_random_p_values(monkeypatch):
    # multipletests runs a full gc.collect() per call (0.1 s here): not what is being tested.
    monkeypatch.setattr(gc, "collect", lambda *args: 0)
    rng = np.random.default_rng(3)
    for _ in range(TABLES):
        m = int(rng.integers(1, 25))
        p = rng.random(m) ** 3
        if rng.random() < 0.3:  # ties, zeros and ones
            p[rng.integers(0, m, size=m // 2)] = rng.choice([0.0, 1.0, p[0]])
        ref = multipletests(p, method="holm")[1]
        assert holm(p.tolist()) == pytest.approx(ref.tolist(), abs=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels' kappa variance on degenerate tables
def test_kappa_equals_statsmodels_on_random_tables():
    rng = np.random.default_rng(4)
    checked = 0
    for _ in range(TABLES // 2):
        n = int(rng.integers(1, 200))
        a = rng.random(n) < rng.random()
        b = np.where(rng.random(n) < rng.random(), a, rng.random(n) < 0.5)
        ours = cohen_kappa(a.tolist(), b.tolist())
        table = [[int((a & b).sum()), int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
        chance = (a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean()))
        if chance >= 1.0:
            assert ours is None
            continue
        assert ours == pytest.approx(sm_kappa(table).kappa, abs=1e-9)
        checked += 1
    assert checked > TABLES // 2 * 0.9


def _random_sample(rng):
    n = int(rng.integers(2, 60))
    kind = rng.integers(0, 3)
    if kind == 0:    # pass/fail
        return (rng.random(n) < rng.random()).astype(float)
    if kind == 1:    # weighted scores of a few checks
        return rng.integers(0, 5, size=n) / 4
    return rng.beta(rng.uniform(0.3, 3), rng.uniform(0.3, 3), size=n)


def _snapped(x, dist):
    """Resample means equal to the mean up to float noise, set to it exactly, as bca_interval does
    (BCa counts ties with the mean by halves; scipy counts whatever the last bits say)."""
    theta = float(np.mean(x))
    tolerance = stats.TIE_TOLERANCE * max(1.0, float(np.abs(x).max()))
    return np.where(np.abs(dist - theta) <= tolerance, theta, dist)


def test_bca_interval_equals_scipy_on_the_same_bootstrap_distribution():
    """The interval construction (BCa: bias correction, jackknife acceleration, quantiles) equals
    scipy's exactly when scipy is handed our bootstrap distribution."""
    rng = np.random.default_rng(5)
    compared = 0
    for i in range(TABLES):
        x = _random_sample(rng)
        if x.min() == x.max():
            continue
        dist = _snapped(x, bootstrap_distribution(x, resamples=500, seed=i))
        ref = sps.bootstrap((x,), np.mean, n_resamples=0, method="BCa", confidence_level=0.95,
                            bootstrap_result=SimpleNamespace(bootstrap_distribution=dist)).confidence_interval
        if np.isnan(ref.low) or np.isnan(ref.high):
            continue
        assert bca_interval(x, dist, 0.95) == pytest.approx((ref.low, ref.high), abs=1e-9)
        assert bootstrap_mean_interval(x, resamples=500, seed=i) == pytest.approx((ref.low, ref.high), abs=1e-9)
        compared += 1
    assert compared > TABLES * 0.9


def test_paired_bootstrap_equals_scipy_paired_on_the_same_distribution():
    rng = np.random.default_rng(6)
    for i in range(200):
        n = int(rng.integers(3, 40))
        repeats = int(rng.integers(1, 4))
        base = {r: rng.random(repeats).round(1).tolist() for r in range(n)}
        other = {r: rng.random(repeats).round(1).tolist() for r in range(1, n + 1)}  # rows 0 and n unpaired
        rows = sorted(base.keys() & other.keys())
        b = np.array([np.mean(base[r]) for r in rows])
        o = np.array([np.mean(other[r]) for r in rows])
        if np.ptp(o - b) == 0:
            continue
        diff, low, high = paired_bootstrap_diff(base, other, resamples=400, seed=i)
        assert diff == pytest.approx(float(np.mean(o - b)), abs=1e-12)
        dist = _snapped(o - b, bootstrap_distribution(o - b, resamples=400, seed=i))
        # mean(o - b), not mean(o) - mean(b): the two differ in the last bits (see _snapped)
        ref = sps.bootstrap((b, o), lambda b, o, axis=-1: np.mean(o - b, axis=axis),
                            paired=True, n_resamples=0, method="BCa",
                            bootstrap_result=SimpleNamespace(bootstrap_distribution=dist)).confidence_interval
        assert (low, high) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_bootstrap_resampling_matches_scipy_within_monte_carlo_error():
    """Our resampling (multinomial counts per distinct value, or indices) against scipy's own
    resampling: each endpoint within 5 Monte Carlo standard errors of the difference of two
    independent bootstraps, and no systematic shift over the samples."""
    rng = np.random.default_rng(7)
    resamples = 10_000
    shifts = []
    for i in range(100):
        x = _random_sample(rng)[:40]
        if x.min() == x.max():
            continue
        ours = bootstrap_mean_interval(x, resamples=resamples, seed=i)
        res = sps.bootstrap((x,), np.mean, n_resamples=resamples, method="BCa", rng=np.random.default_rng(i))
        sd = float(np.std(res.bootstrap_distribution))
        # SE of a 2.5% quantile of B draws, plus the BCa level's own noise (z0 estimated): ~0.085 sd
        # each at B = 2000, scaled to B; difference of two independent estimates: x sqrt(2).
        se = 0.085 * sd * np.sqrt(2000 / resamples) * np.sqrt(2)
        step = np.ptp(x) / x.size  # atoms of a discrete bootstrap distribution
        for mine, theirs in zip(ours, (res.confidence_interval.low, res.confidence_interval.high)):
            assert abs(mine - theirs) <= 5 * se + step, (x, ours, res.confidence_interval)
            shifts.append((mine - theirs) / sd)
    assert abs(np.mean(shifts)) < 0.02


def test_large_continuous_samples_use_the_normal_limit_within_monte_carlo_error():
    x = np.random.default_rng(8).beta(0.5, 2.0, size=12_000)
    assert bootstrap_distribution(x, resamples=2000) is None  # bounded cost path
    low, high = bootstrap_mean_interval(x)
    ref = sps.bootstrap((x,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(0))
    sd = float(np.std(ref.bootstrap_distribution))
    assert abs(low - ref.confidence_interval.low) < 0.5 * sd
    assert abs(high - ref.confidence_interval.high) < 0.5 * sd


def test_few_distinct_values_shortcut_has_the_index_resampling_distribution():
    x = np.repeat([0.0, 0.5, 1.0], [30, 10, 60])
    shortcut = bootstrap_distribution(x, resamples=20_000, seed=1)
    rng = np.random.default_rng(2)
    plain = x[rng.integers(0, x.size, size=(20_000, x.size))].mean(axis=1)
    assert sps.ks_2samp(shortcut, plain).pvalue > 0.001
    assert np.std(shortcut) == pytest.approx(np.std(x) / np.sqrt(x.size), rel=0.03)


def test_rows_needed_follows_connor_and_gives_the_stated_power():
    z_a, z_b = sps.norm.isf(0.025), sps.norm.ppf(0.8)
    psi, delta = 0.3, 0.1
    expected = int(np.ceil((z_a * np.sqrt(psi) + z_b * np.sqrt(psi - delta ** 2)) ** 2 / delta ** 2))
    assert rows_needed(0.5, 0.6, psi) == expected == 234  # 233.09 rounded up
    assert rows_needed(0.6, 0.5, psi) == expected  # two-sided
    assert rows_needed(0.5, 0.5, 0.2) is None
    # The exact power of the exact McNemar test at that many rows is close to the 80% asked for.
    n = rows_needed(0.5, 0.6, psi)
    k = np.arange(n + 1)
    p_win = (psi + delta) / (2 * psi)
    power = 0.0
    for d in range(n + 1):
        pd = sps.binom.pmf(d, n, psi)
        if pd < 1e-12:
            continue
        cs = k[: d + 1]
        reject = np.minimum(1, 2 * sps.binom.cdf(np.minimum(cs, d - cs), d, 0.5)) <= 0.05
        power += pd * sps.binom.pmf(cs[reject], d, p_win).sum()
    assert 0.72 < power < 0.88
    with pytest.raises(ValueError):
        rows_needed(0.5, 0.9, 0.1)  # fewer discordant rows than the difference: impossible
    with pytest.raises(ValueError):
        rows_needed(0.5, 0.6, 0.3, alpha=0)


def test_bad_inputs_raise_value_error():
    for call in (lambda: wilson_interval(3, 2), lambda: wilson_interval(1, 2, 1.0), lambda: mcnemar(-1, 2),
                 lambda: holm([0.5, 1.5]), lambda: holm([float("nan")]), lambda: cohen_kappa([True], []),
                 lambda: bootstrap_mean_interval([]), lambda: bootstrap_mean_interval([1.0, float("inf")]),
                 lambda: bootstrap_mean_interval([1.0, 2.0], resamples=0),
                 lambda: paired_bootstrap_diff({1: [1.0]}, {2: [1.0]})):
        with pytest.raises(ValueError):
            call()


# ---------------------------------------------------------------- properties

@settings(max_examples=200)
@given(st.integers(0, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_contains_the_rate_within_0_1_and_is_symmetric(kn, confidence):
    k, n = kn
    low, high = wilson_interval(k, n, confidence)
    rate = k / n if n else 0.5
    assert 0.0 <= low <= rate <= high <= 1.0
    mirror = wilson_interval(n - k, n, confidence)
    assert (low, high) == pytest.approx((1 - mirror[1], 1 - mirror[0]), abs=1e-12)


@settings(max_examples=200)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=60), st.integers(0, 2 ** 32 - 1))
def test_bootstrap_interval_contains_the_mean_within_the_data_range(values, seed):
    low, high = bootstrap_mean_interval(values, resamples=300, seed=seed)
    mean = float(np.mean(values))
    assert min(values) - 1e-12 <= low <= mean + 1e-12
    assert mean - 1e-12 <= high <= max(values) + 1e-12
    assert bootstrap_mean_interval(values, resamples=300, seed=seed) == (low, high)  # deterministic


@settings(max_examples=200)
@given(st.integers(0, 5000), st.integers(0, 5000))
def test_mcnemar_is_symmetric_and_midp_is_below_exact(b, c):
    exact, mid = mcnemar(b, c)
    assert (exact, mid) == mcnemar(c, b)
    assert 0.0 <= mid <= exact <= 1.0


@settings(max_examples=200)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_holm_is_monotone_at_least_raw_and_order_free(p, random):
    adjusted = holm(p)
    assert all(raw <= adj <= 1.0 for raw, adj in zip(p, adjusted))
    for i in range(len(p)):
        for j in range(len(p)):
            if p[i] <= p[j]:
                assert adjusted[i] <= adjusted[j]
    order = list(range(len(p)))
    random.shuffle(order)
    assert holm([p[i] for i in order]) == [adjusted[i] for i in order]


@settings(max_examples=200)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=80))
def test_kappa_within_bounds_symmetric_and_one_on_self(pairs):
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    kappa = cohen_kappa(a, b)
    assert kappa == cohen_kappa(b, a)
    if kappa is not None:
        assert -1.0 <= kappa <= 1.0
    if cohen_kappa(a, a) is not None:
        assert cohen_kappa(a, a) == 1.0


@settings(max_examples=100)
@given(st.dictionaries(st.integers(0, 30), st.lists(st.floats(0, 1), min_size=1, max_size=3), min_size=1),
       st.dictionaries(st.integers(0, 30), st.lists(st.floats(0, 1), min_size=1, max_size=3), min_size=1))
def test_paired_diff_is_antisymmetric_and_inside_its_interval(base, other):
    if not base.keys() & other.keys():
        return
    diff, low, high = paired_bootstrap_diff(base, other, resamples=200)
    back, _, _ = paired_bootstrap_diff(other, base, resamples=200)
    assert diff == pytest.approx(-back, abs=1e-12)
    assert -1.0 - 1e-12 <= low <= diff + 1e-12 <= high + 2e-12 <= 1.0 + 3e-12


# ---------------------------------------------------------------- analyze

def _cell(row, passed, score, c1, *, repeat=0, cost=0.01, latency=None, human=None):
    checks = {} if passed is None else {"c1": (c1, None if c1 is None else float(c1))}
    return Outcome(row=row, repeat=repeat, passed=passed, score=score, checks=checks, cost=cost,
                   latency_ms=latency, prompt_tokens=10, completion_tokens=4, human_pass=human)


def _example():
    a = [_cell(0, True, 1.0, True, latency=100, human=True), _cell(1, True, 0.8, False, latency=200, human=True),
         _cell(2, False, 0.2, False, latency=300, human=False), _cell(3, False, 0.0, False, latency=400, human=False),
         _cell(4, True, 1.0, True, latency=500), _cell(5, None, None, None, human=True)]  # an error, labelled
    b = [_cell(0, True, 1.0, True, human=True), _cell(1, False, 0.4, True, human=False),
         _cell(2, True, 0.9, True), _cell(3, True, 1.0, True), _cell(4, True, 0.6, True), _cell(5, True, 1.0, False)]
    return {"A": a, "B": b}


def test_analyze_on_a_hand_checked_experiment():
    result = analyze(_example(), "A", ["c1"], model_graded=["c1"])
    a, b = result.variants
    assert (a.name, a.n, a.passed, a.errors, a.pass_rate) == ("A", 5, 3, 1, 0.6)
    assert a.ci == pytest.approx((0.2307242812760129, 0.8823792257673522), abs=1e-12)  # Wilson 3/5
    assert a.score_mean == pytest.approx(0.6) and a.score_ci[0] <= 0.6 <= a.score_ci[1]
    assert a.cost == pytest.approx(0.06) and a.cost_per_pass == pytest.approx(0.02)
    assert (a.latency_p50_ms, a.latency_p95_ms) == (300.0, 480.0)
    assert (a.prompt_tokens, a.completion_tokens) == (60, 24)
    assert (b.n, b.passed, b.errors, b.latency_p50_ms) == (6, 5, 0, None)
    assert b.pass_rate == pytest.approx(5 / 6) and b.score_mean == pytest.approx(4.9 / 6)
    assert b.ci == pytest.approx((0.43649717781352965, 0.9699466302516933), abs=1e-12)
    c1a = a.checks["c1"]
    assert (c1a.n, c1a.passed, c1a.errors) == (5, 2, 1)
    assert c1a.ci == pytest.approx((0.11762077423264788, 0.7692757187239871), abs=1e-12)
    assert (b.checks["c1"].n, b.checks["c1"].passed) == (6, 5)

    overall, c1 = result.comparisons
    # Rows 0-4 are graded in both (row 5 errored in A). Overall: only A passes row 1 (b = 1), only B
    # rows 2 and 3 (c = 2): exact p = min(1, 2 P(X <= 1)) = 1 with X ~ Bin(3, 1/2); mid-p = 1 - 3/8.
    assert (overall.check, overall.n_pairs, overall.b, overall.c) == (OVERALL, 5, 1, 2)
    assert (overall.p_value, overall.p_midp) == pytest.approx((1.0, 0.625))
    assert overall.diff == pytest.approx((0 - 0.4 + 0.7 + 1.0 - 0.4) / 5)
    # c1: B passes rows 1, 2, 3 that A fails: p = 2 / 8, mid-p = 1 / 8.
    assert (c1.check, c1.n_pairs, c1.b, c1.c) == ("c1", 5, 0, 3)
    assert (c1.p_value, c1.p_midp) == pytest.approx((0.25, 0.125))
    assert c1.diff == pytest.approx(0.6)
    # Holm over the two: 0.25 * 2 = 0.5, then max(0.5, 1.0).
    assert (overall.p_holm, c1.p_holm) == pytest.approx((1.0, 0.5))
    assert (overall.verdict, c1.verdict) == ("inconclusive", "inconclusive")
    # Connor at alpha / 2: overall psi = 0.6, delta = 0.2 -> 140 rows; c1 psi = delta = 0.6 -> 13.
    assert (overall.rows_needed, c1.rows_needed) == (140, 13)
    for comp in result.comparisons:
        assert comp.ci[0] <= comp.diff <= comp.ci[1]

    kappas = {(g.variant, g.check): (g.kappa, g.n) for g in result.agreement}
    assert kappas == {("A", OVERALL): (1.0, 4), ("B", OVERALL): (1.0, 2), (POOLED, OVERALL): (1.0, 6),
                      ("A", "c1"): (0.5, 4), ("B", "c1"): (0.0, 2), (POOLED, "c1"): (pytest.approx(1 / 3), 6)}
    assert result.to_dict()["comparisons"][1]["p_holm"] == pytest.approx(0.5)


def test_analyze_is_deterministic_and_keyed_by_name():
    first = analyze(_example(), "A", ["c1"], seed=3)
    assert analyze(_example(), "A", ["c1"], seed=3) == first
    more = _example()
    more["C"] = more["B"]
    again = analyze(more, "A", ["c1"], seed=3)
    assert again.variants[1] == first.variants[1]
    assert again.comparisons[0].ci == first.comparisons[0].ci


def test_analyze_pairs_repeats_by_row_majority_and_mean():
    base = [_cell(0, True, 1.0, True, repeat=0), _cell(0, False, 0.0, True, repeat=1),   # tie: fails
            _cell(1, True, 1.0, True, repeat=0), _cell(1, True, 0.5, True, repeat=1),
            _cell(2, False, 0.0, True, repeat=0), _cell(2, None, None, None, repeat=1)]  # one graded: fails
    other = [_cell(0, True, 1.0, True, repeat=0), _cell(0, True, 1.0, True, repeat=1),
             _cell(1, False, 0.0, True, repeat=0), _cell(1, True, 1.0, True, repeat=1),   # tie: fails
             _cell(2, True, 1.0, True, repeat=0), _cell(2, True, 0.5, True, repeat=1)]
    overall = analyze({"A": base, "B": other}, "A", []).comparisons[0]
    assert (overall.n_pairs, overall.b, overall.c) == (3, 1, 2)
    # row means: A 0.5, 0.75, 0.0; B 1.0, 0.5, 0.75
    assert overall.diff == pytest.approx((0.5 - 0.25 + 0.75) / 3)


def test_analyze_verdicts_follow_holm_and_direction():
    rng = np.random.default_rng(9)
    cells = {}
    for name, rate in (("base", 0.5), ("good", 0.8), ("bad", 0.2), ("same", 0.5)):
        passes = rng.random(400) < rate
        cells[name] = [Outcome(row=i, repeat=0, passed=bool(p), score=float(p), checks={}) for i, p in enumerate(passes)]
    verdicts = {c.variant: (c.verdict, c.rows_needed) for c in analyze(cells, "base", []).comparisons}
    assert verdicts["good"] == ("better", None) and verdicts["bad"] == ("worse", None)
    assert verdicts["same"][0] == "inconclusive"


def test_analyze_rejects_bad_input():
    with pytest.raises(ValueError):
        analyze(_example(), "missing", ["c1"])
    with pytest.raises(ValueError):
        analyze(_example(), "A", [OVERALL])
    twice = _example()
    twice["A"].append(_cell(0, True, 1.0, True))
    with pytest.raises(ValueError):
        analyze(twice, "A", ["c1"])


def test_analyze_handles_a_variant_with_only_errors():
    cells = {"A": _example()["A"], "B": [_cell(0, None, None, None), _cell(1, None, None, None)]}
    result = analyze(cells, "A", ["c1"])
    b = result.variants[1]
    assert (b.n, b.errors, b.pass_rate, b.ci, b.score_mean, b.cost_per_pass) == (0, 2, None, None, None, None)
    overall = result.comparisons[0]
    assert (overall.n_pairs, overall.p_value, overall.diff, overall.ci, overall.rows_needed) == (0, 1.0, None, None, None)
    empty = analyze({"A": [], "B": cells["A"]}, "A", ["c1"])
    assert (empty.variants[0].n, empty.variants[0].latency_p50_ms, empty.comparisons[0].n_pairs) == (0, None, 0)
