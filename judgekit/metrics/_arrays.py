"""Shared input handling: array coercion, pairwise NaN removal, argument checks, normal quantiles."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
NAN = math.nan


_DIMENSIONS = {1: "one-dimensional", 2: "two-dimensional"}


def as_float_array(values: npt.ArrayLike, name: str, *, ndim: int = 1) -> FloatArray:
    """Return `values` as a float array of `ndim` (1 or 2) dimensions; NaN marks a missing value."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers (NaN for missing): {exc}") from None
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {_DIMENSIONS[ndim]}, got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError(f"{name} contains an infinite value; use NaN for a missing value")
    return array


def paired(a: npt.ArrayLike, b: npt.ArrayLike, names: tuple[str, str]) -> tuple[FloatArray, FloatArray]:
    """Return `a` and `b` as float vectors of equal length, keeping only pairs where neither is NaN."""
    x = as_float_array(a, names[0])
    y = as_float_array(b, names[1])
    if x.shape != y.shape:
        raise ValueError(f"{names[0]} and {names[1]} differ in length: {x.size} != {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def check_binary(values: FloatArray, name: str) -> None:
    """Raise ValueError unless every value is 0 or 1."""
    bad = values[(values != 0) & (values != 1)]
    if bad.size:
        raise ValueError(f"{name} must hold 0/1 (or booleans), found {bad[0]!r}")


def check_confidence(confidence: float) -> None:
    """Raise ValueError unless 0 < confidence < 1."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")


def z_quantile(confidence: float) -> float:
    """Two-sided standard normal quantile: 1.959964 for 0.95."""
    check_confidence(confidence)
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def ratio(numerator: float, denominator: float) -> float:
    """Return numerator / denominator, or NaN when the denominator is 0."""
    return numerator / denominator if denominator else NAN


def midranks(values: FloatArray) -> FloatArray:
    """Ranks 1..n with ties given the mean of the ranks they span (as scipy.stats.rankdata)."""
    sorter = np.argsort(values, kind="mergesort")
    ordered = values[sorter]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(starts) - 1
    bounds = np.r_[np.flatnonzero(starts), values.size]
    mean_rank = (bounds[:-1] + bounds[1:] + 1) / 2
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[sorter] = mean_rank[group]
    return ranks
