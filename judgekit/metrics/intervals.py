"""Confidence intervals and paired tests: Wilson, percentile bootstrap (optionally clustered), McNemar.

The bootstrap takes the statistic as a function of an array of item indices, so any statistic over
any aligned arrays can be resampled: `lambda idx: cohen_kappa(judge[idx], human[idx])`. Resampling
clusters keeps every item of a cluster (e.g. all responses to one prompt) together.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from judgekit.metrics._arrays import (
    NAN,
    FloatArray,
    IntArray,
    check_binary,
    check_confidence,
    paired,
    z_quantile,
)

Statistic = Callable[[IntArray], float]


@dataclass(frozen=True)
class Interval:
    """A point estimate with the bounds of its confidence interval."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile bootstrap interval; `n_dropped` resamples gave NaN and were left out."""

    estimate: float
    low: float
    high: float
    n_resamples: int
    n_dropped: int


@dataclass(frozen=True)
class PairedDifference:
    """Bootstrap interval of statistic(a) - statistic(b) on the same items, with a two-sided p-value."""

    estimate: float
    low: float
    high: float
    p_value: float
    n_resamples: int
    n_dropped: int


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test; b = items only A got right, c = items only B got right."""

    statistic: float
    p_value: float
    b: int
    c: int
    exact: bool


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval of the proportion successes / n.

    With n = 0 the estimate is NaN and the interval is (0, 1). ValueError unless
    0 <= successes <= n are whole numbers.
    """
    z = z_quantile(confidence)
    if n < 0 or not 0 <= successes <= n or int(successes) != successes or int(n) != n:
        raise ValueError(f"need whole numbers 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return Interval(estimate=NAN, low=0.0, high=1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(estimate=p, low=max(0.0, min(p, centre - half)), high=min(1.0, max(p, centre + half)))


def _cluster_members(n_items: int, clusters: npt.ArrayLike) -> list[IntArray]:
    """The item indices of each cluster."""
    ids = np.asarray(clusters)
    if ids.shape != (n_items,):
        raise ValueError(f"clusters must have one id per item ({n_items}), got shape {ids.shape}")
    _, group = np.unique(ids, return_inverse=True)
    order = np.argsort(group, kind="mergesort")
    cuts = np.flatnonzero(np.diff(group[order])) + 1
    return [part.astype(np.int64) for part in np.split(order, cuts)]


def _replicates(
    statistic: Statistic,
    n_items: int,
    clusters: npt.ArrayLike | None,
    n_resamples: int,
    seed: int | np.random.Generator | None,
) -> FloatArray:
    """The statistic on `n_resamples` bootstrap resamples of items or of clusters (NaN kept)."""
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, got {n_items}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    if clusters is None:
        draws = rng.integers(0, n_items, size=(n_resamples, n_items), dtype=np.int64)
        return np.array([statistic(draw) for draw in draws], dtype=np.float64)
    members = _cluster_members(n_items, clusters)
    draws = rng.integers(0, len(members), size=(n_resamples, len(members)))
    resamples = ([members[g] for g in draw] for draw in draws)
    return np.array([statistic(np.concatenate(parts)) for parts in resamples], dtype=np.float64)


def _percentiles(values: FloatArray, confidence: float) -> tuple[float, float]:
    if values.size == 0:
        return NAN, NAN
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def bootstrap_ci(
    statistic: Statistic,
    n_items: int,
    *,
    clusters: npt.ArrayLike | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = None,
) -> BootstrapInterval:
    """Percentile bootstrap interval of `statistic(indices)` over items 0..n_items-1.

    The estimate is `statistic(np.arange(n_items))`. With `clusters` (one id per item), whole
    clusters are drawn with replacement, as many as there are clusters. Resamples where the
    statistic is NaN (e.g. kappa on a one-class resample) are dropped and counted in `n_dropped`;
    the bounds are NaN if all are. A fixed `seed` gives the same interval every time. Bounds use
    numpy's linear quantiles.
    """
    check_confidence(confidence)
    estimate = float(statistic(np.arange(n_items, dtype=np.int64)))
    values = _replicates(statistic, n_items, clusters, n_resamples, seed)
    kept = values[~np.isnan(values)]
    low, high = _percentiles(kept, confidence)
    return BootstrapInterval(estimate, low, high, n_resamples, int(values.size - kept.size))


def paired_bootstrap_diff(
    statistic_a: Statistic,
    statistic_b: Statistic,
    n_items: int,
    *,
    clusters: npt.ArrayLike | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = None,
) -> PairedDifference:
    """Compare two judges on the same items: bootstrap interval of statistic_a - statistic_b.

    Both statistics see the same resampled indices, so item-level correlation is kept. Resamples
    where the difference is NaN are dropped and counted. The two-sided p-value for "no difference"
    is min(1, 2 (1 + min(#{d* <= 0}, #{d* >= 0})) / (1 + B)) over the B kept differences d*: never
    0 (the smallest is about 2 / B), and NaN when B is 0.
    """

    def difference(indices: IntArray) -> float:
        return float(statistic_a(indices)) - float(statistic_b(indices))

    check_confidence(confidence)
    estimate = difference(np.arange(n_items, dtype=np.int64))
    values = _replicates(difference, n_items, clusters, n_resamples, seed)
    kept = values[~np.isnan(values)]
    low, high = _percentiles(kept, confidence)
    tail = min(int(np.sum(kept <= 0)), int(np.sum(kept >= 0)))
    p_value = min(1.0, 2 * (1 + tail) / (1 + kept.size)) if kept.size else NAN
    return PairedDifference(estimate, low, high, p_value, n_resamples, int(values.size - kept.size))


def _binomial_two_sided(k: int, n: int) -> float:
    """min(1, 2 P(X <= k)) for X ~ Binomial(n, 1/2), exact in integers."""
    lower_tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, float(2 * lower_tail / 2**n))


def mcnemar(
    correct_a: npt.ArrayLike, correct_b: npt.ArrayLike, *, exact: bool | None = None
) -> McNemarResult:
    """McNemar's test that judges A and B are equally often right on the same items.

    Inputs are 0/1 per item (NaN pairs dropped). By default the exact binomial test is used when
    b + c < 25 (statistic = min(b, c), p = min(1, 2 P(Binomial(b + c, 1/2) <= min(b, c)))), else the
    chi-square test with continuity correction, statistic = (|b - c| - 1)^2 / (b + c) on 1 degree of
    freedom; both match statsmodels' mcnemar(exact=..., correction=True). With b + c = 0 (the judges
    never disagree) both tests give statistic 0 and p = 1, the limit of no evidence of a difference
    (statsmodels' chi-square gives NaN there).
    """
    a, b_ = paired(correct_a, correct_b, ("correct_a", "correct_b"))
    check_binary(a, "correct_a")
    check_binary(b_, "correct_b")
    b = int(np.sum((a == 1) & (b_ == 0)))
    c = int(np.sum((a == 0) & (b_ == 1)))
    use_exact = b + c < 25 if exact is None else exact
    if use_exact:
        return McNemarResult(float(min(b, c)), _binomial_two_sided(min(b, c), b + c), b, c, True)
    if b + c == 0:
        return McNemarResult(0.0, 1.0, b, c, False)
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return McNemarResult(statistic, math.erfc(math.sqrt(statistic / 2)), b, c, False)
