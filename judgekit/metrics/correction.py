"""Rates corrected for judge error: Rogan-Gladen prevalence, and prediction-powered means (PPI, PPI++).

The judge labels many items cheaply and humans label a few. Rogan-Gladen corrects the judge's
positive rate with its measured sensitivity and specificity. Prediction-powered inference
(Angelopoulos et al. 2023, "Prediction-powered inference"; and "PPI++: Efficient prediction-powered
inference") estimates the mean label from the judge's mean on all items, corrected by the mean
judge error on the human-labelled items, with a CLT interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from judgekit.metrics._arrays import NAN, FloatArray, as_float_array, paired, z_quantile
from judgekit.metrics.corrected import lang_reiczigel_counts
from judgekit.metrics.intervals import Interval


@dataclass(frozen=True)
class PPIEstimate:
    """A prediction-powered mean with its CLT interval and the weight `lam` given to the judge."""

    estimate: float
    low: float
    high: float
    std_error: float
    lam: float
    n_labeled: int
    n_unlabeled: int


def _check_rate(value: float, name: str) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a rate in [0, 1], got {value!r}")


def _check_count(value: int | None, name: str) -> None:
    if value is not None and (value < 1 or int(value) != value):
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")


def rogan_gladen(
    judge_positive_rate: float,
    sensitivity: float,
    specificity: float,
    *,
    n_judged: int,
    n_positives: int | None = None,
    n_negatives: int | None = None,
    confidence: float = 0.95,
    method: Literal["wald", "lang-reiczigel"] = "wald",
) -> Interval:
    """Prevalence corrected for judge error: p = (q + sp - 1) / (se + sp - 1), clipped to [0, 1].

    q is the judge's positive rate over `n_judged` items; se and sp were measured on `n_positives`
    and `n_negatives` human-labelled positives and negatives (None: treated as known exactly).
    The interval is the delta method on the unclipped p (Greenland 1996),
    Var p = [q(1-q)/n_judged + p^2 se(1-se)/n_positives + (1-p)^2 sp(1-sp)/n_negatives] / (se+sp-1)^2,
    then clipped to [0, 1]. All NaN when se + sp <= 1: a judge no better than chance cannot be
    inverted. The Wald interval undercovers with few labels or a rare outcome: method
    "lang-reiczigel" gives Lang & Reiczigel's (2014) adjusted interval (it needs n_positives and
    n_negatives), the one `corrected_rate` uses.
    """
    _check_rate(judge_positive_rate, "judge_positive_rate")
    _check_rate(sensitivity, "sensitivity")
    _check_rate(specificity, "specificity")
    _check_count(n_judged, "n_judged")
    _check_count(n_positives, "n_positives")
    _check_count(n_negatives, "n_negatives")
    z = z_quantile(confidence)
    if method == "lang-reiczigel":
        return _lang_reiczigel(
            judge_positive_rate, sensitivity, specificity, n_judged, n_positives, n_negatives, z
        )
    if method != "wald":
        raise ValueError(f"method must be 'wald' or 'lang-reiczigel', got {method!r}")
    youden = sensitivity + specificity - 1
    if youden <= 0:
        return Interval(NAN, NAN, NAN)
    p = (judge_positive_rate + specificity - 1) / youden
    variance = judge_positive_rate * (1 - judge_positive_rate) / n_judged
    if n_positives is not None:
        variance += p * p * sensitivity * (1 - sensitivity) / n_positives
    if n_negatives is not None:
        variance += (1 - p) ** 2 * specificity * (1 - specificity) / n_negatives
    half = z * math.sqrt(variance) / youden

    def clip(value: float) -> float:
        return min(1.0, max(0.0, value))

    return Interval(clip(p), clip(p - half), clip(p + half))


def _lang_reiczigel(
    q: float, se: float, sp: float, n: int, n_pos: int | None, n_neg: int | None, z: float
) -> Interval:
    if n_pos is None or n_neg is None:
        raise ValueError("method 'lang-reiczigel' needs n_positives and n_negatives")
    values = lang_reiczigel_counts(q * n, n, se * n_pos, n_pos, sp * n_neg, n_neg, z)
    estimate, low, high, _ = (float(v) for v in values)
    return Interval(estimate, low, high)


def _check_lam(lam: float | None) -> None:
    if lam is not None and not math.isfinite(lam):
        raise ValueError(f"lam must be a finite number (or None to tune it), got {lam!r}")


def _ppi_data(
    y_labeled: npt.ArrayLike, yhat_labeled: npt.ArrayLike, yhat_unlabeled: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    y, f = paired(y_labeled, yhat_labeled, ("y_labeled", "yhat_labeled"))
    unlabeled = as_float_array(yhat_unlabeled, "yhat_unlabeled")
    return y, f, unlabeled[~np.isnan(unlabeled)]


def _ppi_variance(y: FloatArray, f: FloatArray, u: FloatArray, lam: float) -> float:
    """Estimated variance of the PPI estimate at weight lam: Var(Y - lam F)/n + lam^2 Var(U)/N."""
    return float(np.var(y - lam * f, ddof=1) / y.size + lam * lam * np.var(u, ddof=1) / u.size)


def _tuned_lam(y: FloatArray, f: FloatArray, u: FloatArray) -> float:
    """The lam in [0, 1] minimising `_ppi_variance`: Cov(Y, F) / (Var(F) + (n/N) Var(U)), clipped."""
    covariance = float(np.cov(y, f, ddof=1)[0, 1])
    denominator = float(np.var(f, ddof=1) + y.size / u.size * np.var(u, ddof=1))
    if denominator <= 0:
        return 0.0
    return min(1.0, max(0.0, covariance / denominator))


def ppi_plus_plus_mean(
    y_labeled: npt.ArrayLike,
    yhat_labeled: npt.ArrayLike,
    yhat_unlabeled: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    lam: float | None = None,
    bounds: tuple[float, float] | None = None,
) -> PPIEstimate:
    """Power-tuned prediction-powered mean (PPI++): mean(lam U) + mean(Y - lam F).

    Y are human labels and F the judge's predictions on the same n items, U the judge's predictions
    on N other items. The interval is estimate +- z sqrt(Var(Y - lam F)/n + lam^2 Var(U)/N) with
    sample variances (ddof=1). lam=1 is classic PPI, lam=0 the labels-only mean. By default lam is
    Cov(Y, F) / (Var(F) + (n/N) Var(U)) clipped to [0, 1]: the paper's Cov(Y, F) / ((1 + n/N) Var(F))
    with Var(F) estimated separately on the labelled and unlabelled items, which makes lam the exact
    minimiser of the reported variance, so the interval is never wider than the labels-only one.
    NaN pairs in (Y, F) and NaN in U are dropped. All NaN with fewer than 2 labelled pairs or 2
    unlabelled predictions. `bounds` (e.g. (0, 1) for a rate) clips the estimate and interval.
    This is the large-sample interval: for a 0/1 rate `corrected_rate` has small-sample rules.
    """
    y, f, u = _ppi_data(y_labeled, yhat_labeled, yhat_unlabeled)
    z = z_quantile(confidence)
    _check_lam(lam)
    if y.size < 2 or u.size < 2:
        return PPIEstimate(NAN, NAN, NAN, NAN, NAN if lam is None else lam, int(y.size), int(u.size))
    weight = _tuned_lam(y, f, u) if lam is None else lam
    estimate = float(weight * u.mean() + np.mean(y - weight * f))
    std_error = math.sqrt(_ppi_variance(y, f, u, weight))
    low, high = estimate - z * std_error, estimate + z * std_error
    if bounds is not None:
        estimate, low, high = (min(bounds[1], max(bounds[0], v)) for v in (estimate, low, high))
    return PPIEstimate(estimate, low, high, std_error, weight, int(y.size), int(u.size))


def ppi_mean(
    y_labeled: npt.ArrayLike,
    yhat_labeled: npt.ArrayLike,
    yhat_unlabeled: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> PPIEstimate:
    """Classic prediction-powered mean: mean(U) - mean(F - Y), with its CLT interval.

    Same conventions as `ppi_plus_plus_mean` with lam fixed at 1.
    """
    return ppi_plus_plus_mean(
        y_labeled, yhat_labeled, yhat_unlabeled, confidence=confidence, lam=1.0, bounds=bounds
    )


def effective_labels(
    y_labeled: npt.ArrayLike,
    yhat_labeled: npt.ArrayLike,
    yhat_unlabeled: npt.ArrayLike,
    *,
    lam: float | None = None,
) -> float:
    """Human labels a labels-only mean would need for the same interval width as PPI(++).

    n x Var(labels-only mean) / Var(PPI mean) = Var(Y) / Var(PPI mean), with lam as in
    `ppi_plus_plus_mean` (default: tuned; 1 for classic PPI). inf when the PPI variance is 0 but
    the labels vary; NaN when too few data (as `ppi_plus_plus_mean`) or the labels are constant.
    """
    y, f, u = _ppi_data(y_labeled, yhat_labeled, yhat_unlabeled)
    _check_lam(lam)
    if y.size < 2 or u.size < 2:
        return NAN
    label_variance = float(np.var(y, ddof=1))
    ppi_variance = _ppi_variance(y, f, u, _tuned_lam(y, f, u) if lam is None else lam)
    if label_variance == 0:
        return NAN
    return label_variance / ppi_variance if ppi_variance > 0 else math.inf
