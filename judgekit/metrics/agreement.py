"""Chance-corrected agreement between raters: Cohen's kappa, Fleiss' kappa, Krippendorff's alpha.

Ratings are numbers (a rubric's scale, or 0/1) with NaN for a missing rating. Each statistic is NaN,
not an exception, when it is undefined (no usable pairs, or no variation to correct for chance).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from judgekit.metrics._arrays import NAN, FloatArray, IntArray, as_float_array, paired

KappaWeights = Literal["linear", "quadratic"]
AlphaLevel = Literal["nominal", "ordinal", "interval"]


def _levels(values: npt.ArrayLike, name: str) -> FloatArray:
    """A declared list of levels: numbers, no NaN, no repeats; its order is the scale's order."""
    levels = as_float_array(values, name)
    if np.isnan(levels).any():
        raise ValueError(f"{name} must not contain NaN")
    if np.unique(levels).size != levels.size:
        raise ValueError(f"{name} must not repeat a value: {levels.tolist()}")
    if levels.size == 0:
        raise ValueError(f"{name} must not be empty")
    return levels


def _positions(values: FloatArray, levels: FloatArray, name: str) -> IntArray:
    """Index of each value within `levels`; ValueError for a value that is not a level."""
    sorter = np.argsort(levels)
    found = np.searchsorted(levels, values, sorter=sorter).clip(0, levels.size - 1)
    positions = sorter[found]
    outside = values[levels[positions] != values]
    if outside.size:
        raise ValueError(f"{name} holds {outside[0]!r}, which is not among the levels {levels.tolist()}")
    result: IntArray = positions.astype(np.int64)
    return result


def _disagreement_weights(k: int, weights: KappaWeights | None) -> FloatArray:
    gap = np.abs(np.subtract.outer(np.arange(k), np.arange(k))).astype(np.float64)
    if weights is None:
        return (gap > 0).astype(np.float64)
    if weights == "linear":
        return gap
    if weights == "quadratic":
        return gap**2
    raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")


def cohen_kappa(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    labels: npt.ArrayLike | None = None,
    weights: KappaWeights | None = None,
) -> float:
    """Cohen's kappa between two raters, optionally weighted (as sklearn's cohen_kappa_score).

    Pairs with a NaN on either side are dropped. `labels` fixes the scale (e.g. a rubric's 1..5):
    unused levels still count, and weights use the levels' positions in `labels` (in the sorted
    observed values when None), as sklearn does. A value outside `labels` raises ValueError
    (sklearn silently drops it). NaN when no pair remains, or when expected disagreement is zero,
    i.e. both raters used one and the same level only (sklearn's default there too).
    """
    x, y = paired(a, b, ("a", "b"))
    scale = np.unique(np.r_[x, y]) if labels is None else _levels(labels, "labels")
    weight = _disagreement_weights(scale.size, weights)
    if x.size == 0:
        return NAN
    observed = np.zeros((scale.size, scale.size))
    np.add.at(observed, (_positions(x, scale, "a"), _positions(y, scale, "b")), 1.0)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / x.size
    expected_disagreement = float(np.sum(weight * expected))
    if expected_disagreement == 0:
        return NAN
    return 1.0 - float(np.sum(weight * observed)) / expected_disagreement


def _value_counts(ratings: FloatArray, levels: FloatArray, name: str) -> FloatArray:
    """Units x levels table of how many ratings of each unit (row of `ratings`) took each level."""
    units, _ = np.nonzero(~np.isnan(ratings))
    counts = np.zeros((ratings.shape[0], levels.size))
    np.add.at(counts, (units, _positions(ratings[~np.isnan(ratings)], levels, name)), 1.0)
    return counts


def fleiss_kappa(ratings: npt.ArrayLike, *, counts: bool = False) -> float:
    """Fleiss' kappa for many raters on a nominal scale.

    `ratings` is items x raters with NaN for a missing rating, or, with `counts=True`, an
    items x categories table of how many raters chose each category (statsmodels' layout). With
    complete data this is statsmodels' fleiss_kappa. With missing ratings each item's agreement uses
    its own number of raters m_i, P_i = (sum_j n_ij^2 - m_i) / (m_i (m_i - 1)), and category
    shares pool all ratings; items rated fewer than twice are dropped. NaN when no item has two
    ratings or all ratings fall in one category.
    """
    matrix = as_float_array(ratings, "ratings", ndim=2)
    if counts:
        if np.isnan(matrix).any() or (matrix < 0).any() or (matrix != np.round(matrix)).any():
            raise ValueError("with counts=True, ratings must hold non-negative whole counts")
        table = matrix
    else:
        table = _value_counts(matrix, np.unique(matrix[~np.isnan(matrix)]), "ratings")
    raters = table.sum(axis=1)
    table, raters = table[raters >= 2], raters[raters >= 2]
    category_totals = table.sum(axis=0)
    if raters.size == 0 or np.count_nonzero(category_totals) < 2:
        return NAN
    item_agreement = ((table**2).sum(axis=1) - raters) / (raters * (raters - 1))
    shares = category_totals / category_totals.sum()
    chance = float(np.sum(shares**2))
    return (float(item_agreement.mean()) - chance) / (1.0 - chance)


def _alpha_distances(level: AlphaLevel, domain: FloatArray, n_v: FloatArray) -> FloatArray:
    """Squared distance delta^2 between every two values of the domain, per Krippendorff (2011)."""
    if level == "nominal":
        return 1.0 - np.eye(domain.size)
    if level == "interval":
        return np.subtract.outer(domain, domain) ** 2
    low = np.minimum.outer(np.arange(domain.size), np.arange(domain.size))
    high = np.maximum.outer(np.arange(domain.size), np.arange(domain.size))
    cumulative = np.cumsum(n_v)
    between = cumulative[high] - cumulative[low] + n_v[low]
    distances: FloatArray = (between - (n_v[low] + n_v[high]) / 2) ** 2
    return distances


def krippendorff_alpha(
    reliability_data: npt.ArrayLike,
    *,
    level: AlphaLevel = "nominal",
    value_domain: npt.ArrayLike | None = None,
) -> float:
    """Krippendorff's alpha for any number of raters with missing ratings (as the `krippendorff` package).

    `reliability_data` is raters x items with NaN for a missing rating. alpha = 1 - D_o / D_e from
    the coincidence matrix of pairable values; items with fewer than two ratings are not pairable.
    Distances: nominal 0/1; interval (c - k)^2; ordinal Krippendorff's rank metric
    (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2 over the pairable-value frequencies n_g, so only order
    matters and unused levels change nothing. `value_domain` (default: the sorted observed values)
    gives the ordinal order and rejects out-of-domain values with ValueError. NaN when no item is
    pairable or every pairable value is the same (D_e = 0; the package raises there). Meant for a
    discrete scale: memory grows with the square of the number of distinct values.
    """
    if level not in ("nominal", "ordinal", "interval"):
        raise ValueError(f"level must be 'nominal', 'ordinal' or 'interval', got {level!r}")
    data = as_float_array(reliability_data, "reliability_data", ndim=2)
    observed = np.unique(data[~np.isnan(data)])
    domain = observed if value_domain is None else _levels(value_domain, "value_domain")
    value_counts = _value_counts(data.T, domain, "reliability_data")
    raters = value_counts.sum(axis=1)
    pairable, weight = value_counts[raters >= 2], 1.0 / (raters[raters >= 2] - 1)
    if pairable.shape[0] == 0:
        return NAN
    coincidences = (pairable * weight[:, np.newaxis]).T @ pairable - np.diag(weight @ pairable)
    n_v = coincidences.sum(axis=0)
    expected = (np.outer(n_v, n_v) - np.diag(n_v)) / (n_v.sum() - 1)
    distances = _alpha_distances(level, domain, n_v)
    expected_disagreement = float(np.sum(expected * distances))
    if expected_disagreement <= 0:
        return NAN
    return 1.0 - float(np.sum(coincidences * distances)) / expected_disagreement
