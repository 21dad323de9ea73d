"""Early stopping for two variants on pass/fail: an always-valid sequential test.

The test is a mixture sequential probability ratio test (mSPRT) on the paired discordant rows.
Under H0 (equal pass rates, rows exchangeable) each row on which exactly one variant passes is the
variant's with probability 1/2, whatever the share of concordant rows. Mixing the alternative
probability over a Beta(k, k) prior gives the likelihood ratio in closed form,

    L_n = B(k + c, k + b) / B(k, k) * 2^(b + c)      (b: only the baseline passed, c: only the variant)

which under H0 is a nonnegative martingale with mean 1, so by Ville's inequality
P(sup_n L_n >= 1/alpha) <= alpha: the test may be checked after every row and stopped at any
time (Robbins 1970, "Statistical methods related to the law of the iterated logarithm", Ann. Math.
Statist. 41:1397-1409; Johari, Koomen, Pekelis & Walsh 2022, "Always valid inference: continuous
monitoring of A/B tests", Operations Research 70(3):1806-1821). Concordant rows leave L unchanged.

The guarantee assumes rows arrive in random order: a dataset sorted by difficulty must be fed
shuffled (seeded). A minimum number of pairs guards against deciding on the first few rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_MIN_PAIRS = 30
DEFAULT_PRIOR = 1.0     # Beta(1, 1): uniform over the discordant win probability


def log_likelihood_ratio(b, c, prior: float = DEFAULT_PRIOR):
    """log L for discordant counts b, c (scalars or numpy arrays)."""
    from scipy.special import betaln

    return betaln(prior + c, prior + b) - betaln(prior, prior) + (b + c) * math.log(2.0)


class SequentialTest:
    """Fed one paired row at a time; `decided` turns "baseline" or "variant" once the evidence
    passes 1/alpha (and at least `min_pairs` rows were seen), and stays so."""

    def __init__(self, alpha: float = 0.05, *, min_pairs: int = DEFAULT_MIN_PAIRS, prior: float = DEFAULT_PRIOR):
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        if min_pairs < 1 or prior <= 0:
            raise ValueError("min_pairs must be >= 1 and prior > 0")
        self.alpha, self.min_pairs, self.prior = alpha, int(min_pairs), float(prior)
        self.threshold = math.log(1.0 / alpha)
        self.n = self.b = self.c = 0
        self._decided: str | None = None

    def add(self, base_pass: bool, other_pass: bool) -> None:
        """One row on which both variants were graded (rows with an error are not fed)."""
        self.n += 1
        if bool(base_pass) != bool(other_pass):
            if base_pass:
                self.b += 1
            else:
                self.c += 1
        if self._decided is None and self.n >= self.min_pairs and self.b != self.c \
                and float(log_likelihood_ratio(self.b, self.c, self.prior)) >= self.threshold:
            self._decided = "variant" if self.c > self.b else "baseline"

    @property
    def log_lr(self) -> float:
        return float(log_likelihood_ratio(self.b, self.c, self.prior))

    @property
    def decided(self) -> str | None:
        return self._decided


def stopping(base, other, *, alpha: float = 0.05, min_pairs: int = DEFAULT_MIN_PAIRS, prior: float = DEFAULT_PRIOR):
    """SequentialTest's rule on many experiments at once: boolean arrays (experiments x rows) of
    each variant's pass -> (stopped, index of the row it stopped at (else the last), winner is the
    variant)."""
    import numpy as np

    b = np.cumsum(base & ~other, axis=1, dtype=np.int64)
    c = np.cumsum(~base & other, axis=1, dtype=np.int64)
    seen = np.arange(1, b.shape[1] + 1)
    crossed = (log_likelihood_ratio(b, c, prior) >= math.log(1.0 / alpha)) & (seen >= min_pairs) & (b != c)
    stopped = crossed.any(axis=1)
    at = np.where(stopped, crossed.argmax(axis=1), b.shape[1] - 1)
    idx = np.arange(b.shape[0])
    return stopped, at, c[idx, at] > b[idx, at]


@dataclass(slots=True)
class Simulation:
    experiments: int
    rows: int                       # rows per experiment (the full run)
    calls_full: int                 # calls of the full runs: 2 per row
    calls_used: int                 # calls until the sequential test stopped (or the full run)
    saved: float                    # 1 - calls_used / calls_full
    decided_rate: float             # share of experiments the sequential test decided
    wrong_winner_rate: float        # decided for the worse variant, or for either when equal
    full_decided_rate: float        # the full run with the exact McNemar test at alpha
    full_wrong_winner_rate: float
    peeking_wrong_winner_rate: float  # McNemar re-tested after every row from min_pairs: not valid


def simulate(p_base: float, p_other: float, *, rows: int = 200, experiments: int = 1000, alpha: float = 0.05,
             min_pairs: int = DEFAULT_MIN_PAIRS, prior: float = DEFAULT_PRIOR, correlation: float = 0.0,
             peeking: bool = False, seed: int = 0) -> Simulation:
    """Runs `experiments` simulated experiments of `rows` paired rows with pass rates p_base and
    p_other; with probability `correlation` a row's two outcomes share one uniform draw (rows of
    common difficulty), else they are independent. The stopping rule is SequentialTest's, applied
    to all experiments at once (`stopping`; tests check it agrees with feeding the class).
    `peeking` also measures the naive rule (the fixed-sample test re-run after every row)."""
    import numpy as np
    from scipy.stats import binom

    for name, p in (("p_base", p_base), ("p_other", p_other), ("correlation", correlation)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1]")
    if not 1 <= rows <= 100_000 or not 1 <= experiments <= 100_000 or rows * experiments > 50_000_000:
        raise ValueError("rows and experiments out of bounds")
    rng = np.random.default_rng(seed)
    shape = (experiments, rows)
    u = rng.random(shape)
    shared = rng.random(shape) < correlation
    base = u < p_base
    other = np.where(shared, u, rng.random(shape)) < p_other
    stopped, at, winner_variant = stopping(base, other, alpha=alpha, min_pairs=min_pairs, prior=prior)
    b = np.cumsum(base & ~other, axis=1, dtype=np.int64)
    c = np.cumsum(~base & other, axis=1, dtype=np.int64)
    seen = np.arange(1, rows + 1)
    idx = np.arange(experiments)
    truth = (p_other > p_base) - (p_other < p_base)

    def wrong(decided, says_variant):
        if truth == 0:
            return decided
        return decided & (says_variant != (truth > 0))

    calls_used = int(2 * (at + 1).sum())
    calls_full = 2 * rows * experiments
    # The full run: exact McNemar at alpha on all rows.
    bf, cf = b[:, -1], c[:, -1]
    p_full = np.minimum(1.0, 2.0 * binom.cdf(np.minimum(bf, cf), bf + cf, 0.5))
    full_decided = (p_full <= alpha) & (bf != cf)
    peek_rate = math.nan
    if peeking:
        p_seq = np.minimum(1.0, 2.0 * binom.cdf(np.minimum(b, c), b + c, 0.5))
        peek_cross = (p_seq <= alpha) & (seen >= min_pairs) & (b != c)
        peek_stop = peek_cross.any(axis=1)
        peek_at = np.where(peek_stop, peek_cross.argmax(axis=1), rows - 1)
        peek_rate = float(wrong(peek_stop, c[idx, peek_at] > b[idx, peek_at]).mean())
    return Simulation(
        experiments=experiments, rows=rows, calls_full=calls_full, calls_used=calls_used,
        saved=1.0 - calls_used / calls_full, decided_rate=float(stopped.mean()),
        wrong_winner_rate=float(wrong(stopped, winner_variant).mean()),
        full_decided_rate=float(full_decided.mean()),
        full_wrong_winner_rate=float(wrong(full_decided, cf > bf).mean()),
        peeking_wrong_winner_rate=peek_rate)
