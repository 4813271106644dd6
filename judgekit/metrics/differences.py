"""Differences between two models' verdicts: intervals, tests, multiplicity and detectable effects.

Paired (the same prompts answered by both models) and unpaired versions of each:

- means: percentile bootstrap interval of the mean difference and a permutation-test p-value
  (sign flips when paired), optionally resampling and permuting whole clusters;
- proportions: Newcombe's hybrid score intervals (1998; method 10 of the paired paper, with its
  continuity-adjusted phi, and method 10 of the unpaired paper), exact McNemar p-values;
- many groups at once: Holm and Benjamini-Hochberg adjusted p-values;
- the minimum detectable difference at a sample size, alpha and power.

The bootstraps resample *kinds* of units rather than units: items (or clusters) with equal value
(and size) are interchangeable, so drawing how many of each kind a resample holds (a multinomial)
has exactly the distribution of drawing the units, at a cost that does not grow with n when scores
are on a small scale (a million 1-5 scores have 9 kinds of difference).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from judgekit.metrics._arrays import (
    NAN,
    FloatArray,
    IntArray,
    as_float_array,
    check_binary,
    check_confidence,
    paired,
    z_quantile,
)
from judgekit.metrics.intervals import Interval, wilson_interval

_MAX_KINDS = 4096
"""Above this many kinds of unit, a bootstrap draws units instead of kind counts."""
_CHUNK_CELLS = 1 << 22
"""Draws (resamples x units or kinds) held at once: bounds a bootstrap's memory."""


@dataclass(frozen=True)
class MeanDifference:
    """mean(a) - mean(b): percentile bootstrap interval, two-sided permutation-test p-value."""

    estimate: float
    low: float
    high: float
    p_value: float
    n_a: int
    n_b: int
    paired: bool
    n_resamples: int


@dataclass(frozen=True)
class RateDifference:
    """rate(a) - rate(b) with its interval and a two-sided p-value, and the method used for each."""

    estimate: float
    low: float
    high: float
    p_value: float
    n_a: int
    n_b: int
    paired: bool
    interval_method: str
    test_method: str
    only_a: int = 0
    """Paired only: items positive for a and not b (b in McNemar's table)."""
    only_b: int = 0
    """Paired only: items positive for b and not a (c in McNemar's table)."""


# --- bootstrap of means ------------------------------------------------------------------------


def _units(values: FloatArray, clusters: npt.ArrayLike | None) -> tuple[FloatArray, FloatArray]:
    """Per resampling unit (item, or cluster): the sum of its values and its number of items."""
    if clusters is None:
        return values, np.ones_like(values)
    _, group = np.unique(np.asarray(clusters), return_inverse=True)
    sums = np.bincount(group, weights=values).astype(np.float64)
    sizes = np.bincount(group).astype(np.float64)
    return sums, sizes


def bootstrap_means(
    values: npt.ArrayLike,
    *,
    clusters: npt.ArrayLike | None = None,
    n_resamples: int = 2000,
    seed: int | np.random.Generator | None = None,
) -> FloatArray:
    """The mean of `values` (NaN dropped) on `n_resamples` bootstrap resamples of items or clusters.

    With `clusters` (one id per value) whole clusters are drawn, as many as there are, and a
    resample's mean is its total over its item count. Memory is bounded whatever the size.
    """
    data = as_float_array(values, "values")
    keep = ~np.isnan(data)
    if clusters is not None:
        ids = np.asarray(clusters)
        if ids.shape != data.shape:
            raise ValueError(f"clusters must have one id per value ({data.size}), got shape {ids.shape}")
        clusters = ids[keep]
    data = data[keep]
    if data.size == 0:
        raise ValueError("values holds no number to resample")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    if clusters is None:  # every unit has size 1: the kinds are the distinct values
        values_, counts = np.unique(data, return_counts=True)
        if values_.size <= _MAX_KINDS:
            return _kind_resamples(
                np.column_stack([values_, np.ones_like(values_)]), counts, n_resamples, rng
            )
    sums, sizes = _units(data, clusters)
    kinds, counts = np.unique(np.column_stack([sums, sizes]), axis=0, return_counts=True)
    if kinds.shape[0] <= _MAX_KINDS:
        return _kind_resamples(kinds, counts, n_resamples, rng)
    return _unit_resamples(sums, sizes, n_resamples, rng)


def _kind_resamples(
    kinds: FloatArray, counts: IntArray, n_resamples: int, rng: np.random.Generator
) -> FloatArray:
    units = int(counts.sum())
    shares = counts / units
    chunk = max(1, _CHUNK_CELLS // kinds.shape[0])
    means = []
    for start in range(0, n_resamples, chunk):
        drawn = rng.multinomial(units, shares, size=min(chunk, n_resamples - start)).astype(np.float64)
        means.append((drawn @ kinds[:, 0]) / (drawn @ kinds[:, 1]))
    return np.concatenate(means)


def _unit_resamples(
    sums: FloatArray, sizes: FloatArray, n_resamples: int, rng: np.random.Generator
) -> FloatArray:
    chunk = max(1, _CHUNK_CELLS // sums.size)
    means = []
    for start in range(0, n_resamples, chunk):
        drawn = rng.integers(0, sums.size, size=(min(chunk, n_resamples - start), sums.size))
        means.append(sums[drawn].sum(axis=1) / sizes[drawn].sum(axis=1))
    return np.concatenate(means)


def _percentile_interval(replicates: FloatArray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return float(low), float(high)


_EXACT_PATTERNS = 4096
"""Permutation tests enumerate every relabelling when there are at most this many."""


def _two_sided(null: FloatArray, observed: float, exact: bool) -> float:
    """min(1, 2 min(P(T* >= T), P(T* <= T))), exact or Monte Carlo ((1 + #) / (1 + B), never 0)."""
    tolerance = 1e-9 * max(1.0, abs(observed))
    upper = int(np.sum(null >= observed - tolerance))
    lower = int(np.sum(null <= observed + tolerance))
    if exact:
        return min(1.0, 2 * min(upper, lower) / null.size)
    return min(1.0, 2 * (1 + min(upper, lower)) / (1 + null.size))


def _dropped(values: FloatArray, clusters: npt.ArrayLike | None) -> tuple[FloatArray, npt.ArrayLike | None]:
    keep = ~np.isnan(values)
    if clusters is None:
        return values[keep], None
    ids = np.asarray(clusters)
    if ids.shape != values.shape:
        raise ValueError(f"clusters must have one id per value ({values.size}), got shape {ids.shape}")
    return values[keep], ids[keep]


def sign_flip_p(
    differences: npt.ArrayLike,
    *,
    clusters: npt.ArrayLike | None = None,
    n_resamples: int = 2000,
    seed: int | np.random.Generator | None = None,
) -> float:
    """Paired permutation (sign-flip) test that the mean difference is 0; two-sided p-value.

    Under "no difference" each unit's difference (an item's, or a cluster's total) is as likely
    to have either sign. The statistic is the total difference; the p-value doubles the smaller
    tail (as scipy's `permutation_test`). Exact over every sign pattern when there are at most
    4096, else `n_resamples` random ones. Valid at any sample size, unlike a bootstrap p-value.
    NaN without data.
    """
    data, ids = _dropped(as_float_array(differences, "differences"), clusters)
    if data.size == 0:
        return NAN
    sums, _ = _units(data, ids)
    observed = float(sums.sum())
    if 2**sums.size <= _EXACT_PATTERNS:
        patterns = (np.arange(2**sums.size)[:, None] >> np.arange(sums.size)) & 1
        return _two_sided((1 - 2 * patterns) @ sums, observed, exact=True)
    rng = np.random.default_rng(seed)
    kinds, counts = np.unique(sums, return_counts=True)
    null = []
    if kinds.size <= _MAX_KINDS:  # how many units of each kind keep their sign: a binomial
        chunk = max(1, _CHUNK_CELLS // kinds.size)
        for start in range(0, n_resamples, chunk):
            kept = rng.binomial(counts, 0.5, size=(min(chunk, n_resamples - start), kinds.size))
            null.append((2 * kept - counts) @ kinds)
    else:
        chunk = max(1, _CHUNK_CELLS // sums.size)
        for start in range(0, n_resamples, chunk):
            signs = 1 - 2 * rng.integers(0, 2, size=(min(chunk, n_resamples - start), sums.size))
            null.append(signs @ sums)
    return _two_sided(np.concatenate(null).astype(np.float64), observed, exact=False)


def permutation_p(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    clusters_a: npt.ArrayLike | None = None,
    clusters_b: npt.ArrayLike | None = None,
    n_resamples: int = 2000,
    seed: int | np.random.Generator | None = None,
) -> float:
    """Two-sample permutation test that mean(a) = mean(b); two-sided p-value (NaN dropped).

    Units (items, or whole clusters) are relabelled between the samples, the statistic is
    mean(a) - mean(b) over items, and the smaller tail is doubled (as scipy's `permutation_test`).
    Exact over every relabelling when there are at most 4096, else `n_resamples` random ones.
    """
    x, ids_a = _dropped(as_float_array(a, "a"), clusters_a)
    y, ids_b = _dropped(as_float_array(b, "b"), clusters_b)
    if x.size == 0 or y.size == 0:
        return NAN
    sums_a, sizes_a = _units(x, ids_a)
    sums_b, sizes_b = _units(y, ids_b)
    sums, sizes = np.concatenate([sums_a, sums_b]), np.concatenate([sizes_a, sizes_b])
    m_a, total_sum, total_size = sums_a.size, float(sums.sum()), float(sizes.sum())

    def statistic(sum_a: FloatArray, size_a: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(sum_a / size_a - (total_sum - sum_a) / (total_size - size_a), dtype=np.float64)

    observed = float(statistic(np.array([sums_a.sum()]), np.array([sizes_a.sum()]))[0])
    if math.comb(sums.size, m_a) <= _EXACT_PATTERNS:
        chosen = np.array(list(itertools.combinations(range(sums.size), m_a)), dtype=np.int64)
        return _two_sided(
            statistic(sums[chosen].sum(axis=1), sizes[chosen].sum(axis=1)), observed, exact=True
        )
    rng = np.random.default_rng(seed)
    kinds, counts = np.unique(np.column_stack([sums, sizes]), axis=0, return_counts=True)
    null = []
    if kinds.shape[0] <= _MAX_KINDS:  # how many units of each kind land in a: multivariate hypergeometric
        chunk = max(1, _CHUNK_CELLS // kinds.shape[0])
        for start in range(0, n_resamples, chunk):
            drawn = rng.multivariate_hypergeometric(counts, m_a, size=min(chunk, n_resamples - start))
            null.append(statistic(drawn @ kinds[:, 0], drawn @ kinds[:, 1]))
    else:
        for _ in range(n_resamples):
            chosen = rng.permutation(sums.size)[:m_a]
            null.append(statistic(np.array([sums[chosen].sum()]), np.array([sizes[chosen].sum()])))
    return _two_sided(np.concatenate(null), observed, exact=False)


def paired_mean_difference(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    clusters: npt.ArrayLike | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = None,
) -> MeanDifference:
    """mean(a - b) over items scored in both: paired percentile bootstrap interval, sign-flip p.

    `a[i]` and `b[i]` are the two models' scores of the same item i (NaN: not scored; such pairs
    are dropped). With `clusters` (one id per item) whole clusters are resampled and sign-flipped.
    The p-value is the paired permutation test's (`sign_flip_p`), valid at any sample size.
    """
    check_confidence(confidence)
    x = as_float_array(a, "a")
    y = as_float_array(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b differ in length: {x.size} != {y.size}")
    differences = x - y
    n = int(np.sum(~np.isnan(differences)))
    if n == 0:
        return MeanDifference(NAN, NAN, NAN, NAN, 0, 0, True, n_resamples)
    replicates = bootstrap_means(differences, clusters=clusters, n_resamples=n_resamples, seed=seed)
    low, high = _percentile_interval(replicates, confidence)
    estimate = float(np.nanmean(differences))
    p_value = sign_flip_p(differences, clusters=clusters, n_resamples=n_resamples, seed=seed)
    return MeanDifference(estimate, low, high, p_value, n, n, True, n_resamples)


def unpaired_mean_difference(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    clusters_a: npt.ArrayLike | None = None,
    clusters_b: npt.ArrayLike | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = None,
) -> MeanDifference:
    """mean(a) - mean(b) of independent samples: each bootstrapped on its own, permutation p.

    NaN values are dropped; clusters (one id per value) are resampled and permuted whole.
    """
    check_confidence(confidence)
    x = as_float_array(a, "a")
    y = as_float_array(b, "b")
    n_a, n_b = int(np.sum(~np.isnan(x))), int(np.sum(~np.isnan(y)))
    if n_a == 0 or n_b == 0:
        return MeanDifference(NAN, NAN, NAN, NAN, n_a, n_b, False, n_resamples)
    rng = np.random.default_rng(seed)
    replicates = bootstrap_means(x, clusters=clusters_a, n_resamples=n_resamples, seed=rng) - bootstrap_means(
        y, clusters=clusters_b, n_resamples=n_resamples, seed=rng
    )
    low, high = _percentile_interval(replicates, confidence)
    estimate = float(np.nanmean(x) - np.nanmean(y))
    p_value = permutation_p(
        x, y, clusters_a=clusters_a, clusters_b=clusters_b, n_resamples=n_resamples, seed=rng
    )
    return MeanDifference(estimate, low, high, p_value, n_a, n_b, False, n_resamples)


# --- proportions -----------------------------------------------------------------------------


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value: min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2).

    Computed in log space, so it stays fast and accurate for millions of discordant pairs. 1 when
    there is no discordant pair.
    """
    if only_a < 0 or only_b < 0 or int(only_a) != only_a or int(only_b) != only_b:
        raise ValueError(f"need whole counts >= 0, got only_a={only_a}, only_b={only_b}")
    n, k = int(only_a + only_b), int(min(only_a, only_b))
    if n == 0:
        return 1.0
    steps = np.arange(1, k + 1, dtype=np.float64)
    log_comb = np.concatenate([[0.0], np.cumsum(np.log((n - steps + 1) / steps))])
    top = float(log_comb.max())
    log_tail = top + math.log(float(np.sum(np.exp(log_comb - top)))) - n * math.log(2)
    return min(1.0, 2 * math.exp(log_tail))


def newcombe_paired_interval(
    both: int, only_a: int, only_b: int, neither: int, *, confidence: float = 0.95
) -> Interval:
    """Newcombe's hybrid score interval for p_a - p_b on paired items (1998, paired, method 10).

    From the 2x2 table of the pairs: `both` positive, `only_a`, `only_b`, `neither`. Square-and-add
    of the Wilson intervals of p_a = (both + only_a)/n and p_b = (both + only_b)/n, with their
    correlation phi estimated as (ad - bc) / sqrt(product of margins), and ad - bc moved n/2
    towards 0 when positive (0 when within n/2; Newcombe's adjustment). NaN with n = 0.
    """
    n = both + only_a + only_b + neither
    if min(both, only_a, only_b, neither) < 0:
        raise ValueError("table counts must be >= 0")
    if n == 0:
        return Interval(NAN, NAN, NAN)
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    wilson_a = wilson_interval(both + only_a, n, confidence=confidence)
    wilson_b = wilson_interval(both + only_b, n, confidence=confidence)
    phi = _paired_phi(both, only_a, only_b, neither)
    down_a, up_a = p_a - wilson_a.low, wilson_a.high - p_a
    down_b, up_b = p_b - wilson_b.low, wilson_b.high - p_b
    delta = p_a - p_b
    lower = delta - math.sqrt(max(0.0, down_a**2 - 2 * phi * down_a * up_b + up_b**2))
    upper = delta + math.sqrt(max(0.0, up_a**2 - 2 * phi * up_a * down_b + down_b**2))
    return Interval(delta, max(-1.0, lower), min(1.0, upper))


def _paired_phi(both: int, only_a: int, only_b: int, neither: int) -> float:
    n = both + only_a + only_b + neither
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    if margins == 0:
        return 0.0
    cross = both * neither - only_a * only_b
    adjusted = cross - n / 2 if cross > n / 2 else (float(cross) if cross < 0 else 0.0)
    return adjusted / math.sqrt(margins)


def newcombe_unpaired_interval(
    positives_a: int, n_a: int, positives_b: int, n_b: int, *, confidence: float = 0.95
) -> Interval:
    """Newcombe's hybrid score interval for p_a - p_b of independent samples (1998, method 10).

    Square-and-add of the two Wilson intervals; it matches statsmodels'
    `confint_proportions_2indep(method="newcomb")`. NaN when either sample is empty.
    """
    if n_a == 0 or n_b == 0:
        return Interval(NAN, NAN, NAN)
    p_a, p_b = positives_a / n_a, positives_b / n_b
    wilson_a = wilson_interval(positives_a, n_a, confidence=confidence)
    wilson_b = wilson_interval(positives_b, n_b, confidence=confidence)
    delta = p_a - p_b
    lower = delta - math.hypot(p_a - wilson_a.low, wilson_b.high - p_b)
    upper = delta + math.hypot(wilson_a.high - p_a, p_b - wilson_b.low)
    return Interval(delta, lower, upper)


def _two_proportion_p(positives_a: int, n_a: int, positives_b: int, n_b: int) -> float:
    """Two-sided pooled z-test p-value (the score test) for p_a = p_b; 1 when both rates are 0 or 1."""
    pooled = (positives_a + positives_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance == 0:
        return 1.0
    z = (positives_a / n_a - positives_b / n_b) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def paired_rate_difference(a: npt.ArrayLike, b: npt.ArrayLike, *, confidence: float = 0.95) -> RateDifference:
    """rate(a) - rate(b) on paired 0/1 outcomes: Newcombe's paired interval, exact McNemar p.

    NaN pairs are dropped; with no pair left everything is NaN.
    """
    x, y = paired(a, b, ("a", "b"))
    check_binary(x, "a")
    check_binary(y, "b")
    both = int(np.sum((x == 1) & (y == 1)))
    only_a = int(np.sum((x == 1) & (y == 0)))
    only_b = int(np.sum((x == 0) & (y == 1)))
    return paired_rate_difference_from_table(
        both, only_a, only_b, x.size - both - only_a - only_b, confidence=confidence
    )


def paired_rate_difference_from_table(
    both: int, only_a: int, only_b: int, neither: int, *, confidence: float = 0.95
) -> RateDifference:
    """`paired_rate_difference` from the counts of the paired 2x2 table."""
    interval = newcombe_paired_interval(both, only_a, only_b, neither, confidence=confidence)
    n = both + only_a + only_b + neither
    p_value = mcnemar_exact_p(only_a, only_b) if n else NAN
    return RateDifference(
        interval.estimate, interval.low, interval.high, p_value, n, n, True,
        "Newcombe paired hybrid score (method 10)", "exact McNemar", only_a, only_b,
    )  # fmt: skip


def unpaired_rate_difference(
    positives_a: int, n_a: int, positives_b: int, n_b: int, *, confidence: float = 0.95
) -> RateDifference:
    """rate(a) - rate(b) of independent samples: Newcombe's hybrid score interval, pooled z-test p."""
    interval = newcombe_unpaired_interval(positives_a, n_a, positives_b, n_b, confidence=confidence)
    p_value = _two_proportion_p(positives_a, n_a, positives_b, n_b) if n_a and n_b else NAN
    return RateDifference(
        interval.estimate, interval.low, interval.high, p_value, n_a, n_b, False,
        "Newcombe hybrid score (method 10)", "two-proportion z-test",
    )  # fmt: skip


# --- multiplicity ----------------------------------------------------------------------------


def _valid_p(p_values: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    p = as_float_array(p_values, "p_values")
    known = ~np.isnan(p)
    if np.any((p[known] < 0) | (p[known] > 1)):
        raise ValueError("p_values must lie in [0, 1] (NaN for a missing one)")
    return p, known


def holm_adjust(p_values: npt.ArrayLike) -> FloatArray:
    """Holm's step-down adjusted p-values (family-wise error); NaN stays NaN and is not counted."""
    p, known = _valid_p(p_values)
    values = p[known]
    order = np.argsort(values, kind="mergesort")
    m = values.size
    stepped = np.maximum.accumulate((m - np.arange(m)) * values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1.0, stepped)
    result = p.copy()
    result[known] = adjusted
    return result


def bh_adjust(p_values: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate); NaN stays NaN, not counted."""
    p, known = _valid_p(p_values)
    values = p[known]
    order = np.argsort(values, kind="mergesort")[::-1]
    m = values.size
    ranks = np.arange(m, 0, -1)
    stepped = np.minimum.accumulate(m / ranks * values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1.0, stepped)
    result = p.copy()
    result[known] = adjusted
    return result


def adjust_p_values(p_values: npt.ArrayLike, method: str = "holm") -> FloatArray:
    """Adjusted p-values by `method`: "holm" (default), "bh" (Benjamini-Hochberg) or "none"."""
    if method == "holm":
        return holm_adjust(p_values)
    if method == "bh":
        return bh_adjust(p_values)
    if method == "none":
        return _valid_p(p_values)[0].copy()
    raise ValueError(f"unknown adjustment {method!r}; use 'holm', 'bh' or 'none'")


# --- minimum detectable difference -----------------------------------------------------------


def _check_power(alpha: float, power: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, got {power!r}")


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _detectable_z(alpha: float, power: float) -> float:
    """The standardised shift d/se at which a two-sided z-test at `alpha` has `power` (both tails)."""
    _check_power(alpha, power)
    z = z_quantile(1 - alpha)
    low, high = 0.0, z + 40.0
    for _ in range(200):
        middle = (low + high) / 2
        if _normal_cdf(middle - z) + _normal_cdf(-middle - z) < power:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def mdd_means(
    sd: float, n_a: int, n_b: int | None = None, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest mean difference a two-sided z-test at `alpha` detects with `power`.

    Paired (n_b None): `sd` is the SD of the per-item differences over `n_a` pairs, se = sd/sqrt(n).
    Unpaired: `sd` is the common SD, se = sd sqrt(1/n_a + 1/n_b). Matches statsmodels'
    `NormalIndPower` (ratio 0 for paired) times sd. NaN with no item.
    """
    if n_a < 1 or (n_b is not None and n_b < 1) or not math.isfinite(sd):
        return NAN
    se = sd / math.sqrt(n_a) if n_b is None else sd * math.sqrt(1 / n_a + 1 / n_b)
    return _detectable_z(alpha, power) * se


def mdd_proportions(p_base: float, n_a: int, n_b: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest change of a rate from `p_base` that independent samples detect (arcsine scale).

    Cohen's h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0)) is detectable from h = shift * sqrt(1/n_a + 1/n_b)
    (as statsmodels' `NormalIndPower`); the result is the larger of the detectable rise and fall
    from p_base, so any change at least this large either way is detected with `power` (a rise or
    fall that would leave [0, 1] is not counted). NaN without data or a known p_base.
    """
    if n_a < 1 or n_b < 1 or not 0 <= p_base <= 1:
        return NAN
    h = _detectable_z(alpha, power) * math.sqrt(1 / n_a + 1 / n_b)
    angle = math.asin(math.sqrt(p_base))
    changes = [
        abs(math.sin(target) ** 2 - p_base)
        for target in (angle + h / 2, angle - h / 2)
        if 0 <= target <= math.pi / 2
    ]
    return max(changes) if changes else NAN


def mdd_paired_proportions(
    discordant_rate: float, n: int, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest paired rate difference McNemar's test detects over `n` pairs (Connor 1987).

    `discordant_rate` is the share of pairs that differ with no effect at all (the noise, e.g.
    2 min(b, c) / n from an observed table); a true difference d adds d one-directional
    discordant pairs, so psi = discordant_rate + d. Solves Connor's
    n = (z_a sqrt(psi) + z_b sqrt(psi - d^2))^2 / d^2 for d, with z_a the two-sided alpha quantile
    and z_b the power quantile. NaN when no d <= 1 is detectable or n < 1.
    """
    _check_power(alpha, power)
    if n < 1 or not 0 <= discordant_rate <= 1:
        return NAN
    z_a, z_b = z_quantile(1 - alpha), NormalDist().inv_cdf(power)

    def needed(d: float) -> float:
        psi = min(1.0, discordant_rate + d)
        return (z_a * math.sqrt(psi) + z_b * math.sqrt(max(0.0, psi - d * d))) ** 2 / (d * d)

    low, high = 0.0, 1.0 - discordant_rate
    if high <= 0 or needed(high) > n:
        return NAN
    for _ in range(200):
        middle = (low + high) / 2
        if middle == 0 or needed(middle) > n:
            low = middle
        else:
            high = middle
    return high
