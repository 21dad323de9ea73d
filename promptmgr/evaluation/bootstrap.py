"""Bootstrap intervals of a mean (BCa, as scipy.stats.bootstrap builds them) with bounded cost,
for evaluation/stats.py. numpy/scipy are imported inside the functions."""
from __future__ import annotations

import math
from typing import Iterable

MAX_RESAMPLES = 100_000
# Above this many resampled values (rows x resamples) with many distinct values, the bootstrap of
# a mean is replaced by its large-sample limit (see bootstrap_distribution): bounded time.
MAX_DRAWS = 20_000_000
MAX_GROUPS = 512              # distinct values up to which the exact multinomial shortcut is used
TIE_TOLERANCE = 1e-12
CHUNK_VALUES = 1 << 22        # resampled values per chunk: bounds memory to ~50 MB


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def bootstrap_distribution(values, *, resamples: int = 2000, seed=0):
    """Means of `resamples` resamples (with replacement) of `values`, or None when the
    large-sample limit is used instead.

    Cost is bounded: with few distinct values (pass/fail, weighted scores of a few checks), the
    counts drawn per distinct value are Multinomial(n, frequencies), which has exactly the
    distribution of resampling indices at O(resamples x distinct) cost; otherwise indices are
    drawn in chunks. When that would exceed MAX_DRAWS values (many distinct values and >10,000
    rows at 2000 resamples) None is returned and callers use the normal limit, which at that size
    differs from the bootstrap by less than the bootstrap's own Monte Carlo error."""
    import numpy as np

    x = np.asarray(values, dtype=float).ravel()
    if not 1 <= resamples <= MAX_RESAMPLES:
        raise ValueError(f"resamples must be in [1, {MAX_RESAMPLES}], got {resamples}")
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError("values must be a non-empty array of finite numbers")
    rng = np.random.default_rng(seed)
    n = x.size
    distinct, counts = np.unique(x, return_counts=True)
    if distinct.size <= MAX_GROUPS:
        probs = counts / n
        width, draw = distinct.size, lambda k: rng.multinomial(n, probs, size=k) @ distinct / n
    elif n * resamples > MAX_DRAWS:
        return None
    else:
        width, draw = n, lambda k: x[rng.integers(0, n, size=(k, n))].mean(axis=1)
    out = np.empty(resamples)
    per_chunk = max(1, CHUNK_VALUES // width)
    for start in range(0, resamples, per_chunk):
        out[start:start + per_chunk] = draw(min(per_chunk, resamples - start))
    return out


def bca_interval(values, distribution, confidence: float = 0.95) -> tuple[float, float]:
    """BCa interval of the mean of `values` from its bootstrap distribution, built as
    scipy.stats.bootstrap(method="BCa") builds it. The jackknife acceleration of a mean has the
    closed form sum(d^3) / (6 sum(d^2)^1.5), d = x - mean. Falls back to the percentile interval
    when BCa is undefined (a degenerate distribution)."""
    import numpy as np
    from scipy.special import ndtr, ndtri

    _check_confidence(confidence)
    x = np.asarray(values, dtype=float).ravel()
    dist = np.asarray(distribution, dtype=float).ravel()
    theta = float(x.mean())
    alpha = (1.0 - confidence) / 2.0
    levels = np.array([alpha, 1.0 - alpha])
    dev = x - theta
    ss = float(np.sum(dev ** 2))
    # Resample means that equal the mean mathematically can differ from it in the last bits, and
    # z0 counts ties by halves: snap them so float noise cannot move the interval.
    dist = np.where(np.abs(dist - theta) <= TIE_TOLERANCE * max(1.0, float(np.abs(x).max())), theta, dist)
    share = (np.count_nonzero(dist < theta) + np.count_nonzero(dist <= theta)) / (2.0 * dist.size)
    if ss > 0.0 and 0.0 < share < 1.0:
        accel = float(np.sum(dev ** 3)) / (6.0 * ss ** 1.5)
        z0 = float(ndtri(share))
        z = ndtri(levels)
        bca = ndtr(z0 + (z0 + z) / (1.0 - accel * (z0 + z)))
        if np.isfinite(bca).all():
            levels = bca
    low, high = np.quantile(dist, levels)
    return (float(low), float(high))


def _mean_interval(x, confidence: float, resamples: int, seed) -> tuple[float, float]:
    import numpy as np
    from scipy.stats import norm

    mean = float(x.mean())
    if x.size == 1 or float(x.min()) == float(x.max()):
        return (mean, mean)
    dist = bootstrap_distribution(x, resamples=resamples, seed=seed)
    if dist is None:  # large-sample limit (see bootstrap_distribution)
        half = float(norm.isf((1.0 - confidence) / 2.0)) * float(np.std(x)) / math.sqrt(x.size)
        return (mean - half, mean + half)
    return bca_interval(x, dist, confidence)


def bootstrap_mean_interval(values: Iterable[float], *, confidence: float = 0.95, resamples: int = 2000,
                            seed=0) -> tuple[float, float]:
    """BCa bootstrap interval of the mean of `values` (deterministic for a seed)."""
    import numpy as np

    _check_confidence(confidence)
    x = np.asarray(values if hasattr(values, "__array__") else list(values), dtype=float).ravel()
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError("values must be a non-empty sequence of finite numbers")
    return _mean_interval(x, confidence, resamples, seed)


def paired_bootstrap_diff(base: dict[int, list[float]], other: dict[int, list[float]], *,
                          confidence: float = 0.95, resamples: int = 2000, seed=0) -> tuple[float, float, float]:
    """(diff, low, high): mean over rows of (mean of other's repeats - mean of base's repeats),
    rows present (with a score) in both; rows are resampled with their repeats kept together.
    Raises ValueError when no row is in both."""
    import numpy as np

    _check_confidence(confidence)
    d = [float(np.mean(other[r])) - float(np.mean(base[r]))
         for r in sorted(base.keys() & other.keys()) if len(base[r]) and len(other[r])]
    if not d:
        raise ValueError("no row has scores in both variants")
    x = np.asarray(d, dtype=float)
    if not np.isfinite(x).all():
        raise ValueError("scores must be finite")
    low, high = _mean_interval(x, confidence, resamples, seed)
    return (float(x.mean()), low, high)
