"""A binary rate corrected for judge error, by the estimator the data at hand allow.

- Every judged item labelled: the labels' own rate with a Wilson interval (the judge adds nothing).
- Labelled items a random subset of the judged ones (design "random"): PPI++ on the 2x2 counts,
  its weight and variance taken from the counts plus one item in each disagreement cell (so a
  sample without disagreements still carries the judge's uncertain bias); the labels' Wilson
  interval instead when that is narrower.
- Labels from a separate validation sample (design "validation", e.g. drawn by label): the
  Rogan-Gladen correction of the unlabelled items' judge rate, with Lang & Reiczigel's (2014)
  adjusted interval.

Intervals are clipped to [0, 1] and always contain the estimate. The count-level functions are
vectorised so that `bench/coverage.py` simulates exactly what runs here; docs/design/coverage.md
gives the simulated coverage and the rule for warnings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from judgekit.metrics._arrays import NAN, FloatArray, as_float_array, check_binary, paired, z_quantile

Design = Literal["random", "validation"]
Method = Literal["labels", "ppi++", "rogan-gladen", "none"]
METHODS: tuple[Method, ...] = ("labels", "ppi++", "rogan-gladen", "none")
"""Codes of the vectorised functions' `method` arrays index this tuple."""

MIN_PPI_LABELS = 50
"""PPI++ runs only with at least this many labels: below it, its normal interval undercovers."""
MIN_CLASS_LABELS = 15
"""Rogan-Gladen needs this many labelled positives and negatives to trust its interval: with fewer,
Lang-Reiczigel's coverage fell to 64% (3 positives), 85% (5) and 92% (10) in bench/coverage.py's grid."""


@dataclass(frozen=True)
class CorrectedRate:
    """A corrected rate: which estimator ran and why, its interval, and what the labels were worth."""

    estimate: float
    low: float
    high: float
    method: Method
    reason: str
    n_labeled: int
    n_unlabeled: int
    effective_labels: float
    """Labels a labels-only (Wilson) estimate would need for the same precision."""
    warnings: tuple[str, ...] = ()
    """Why the interval should not be trusted; empty when it can be."""


def _clip(values: FloatArray) -> FloatArray:
    return np.clip(values, 0.0, 1.0)


BOUNDARY_COUNTS = 3
"""Wilson's bound is replaced by the Poisson one within this many counts of 0 or n (see below)."""


def _poisson_lower(count: int, tail: float) -> float:
    """The mean m with P(Poisson(m) >= count) = tail, by bisection."""
    low, high = 0.0, float(count + 10)
    for _ in range(100):
        mid = (low + high) / 2
        below = sum(math.exp(-mid) * mid**i / math.factorial(i) for i in range(count))
        low, high = (mid, high) if 1 - below < tail else (low, mid)
    return (low + high) / 2


def wilson_bounds(successes: npt.ArrayLike, n: npt.ArrayLike, z: float) -> tuple[FloatArray, FloatArray]:
    """Vectorised Wilson score bounds with a boundary fix; (0, 1) where n is 0.

    Wilson's interval undercovers just above 0 (and below 1): with 1 to 3 successes its lower bound
    is lowered to the Poisson one, m / n with P(Poisson(m) >= k) = (1 - confidence) / 2, as in
    Brown, Cai & DasGupta's (2001) modified Wilson interval; likewise for the upper bound.
    """
    k, size = np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / size
        denominator = 1 + z * z / size
        centre = (p + z * z / (2 * size)) / denominator
        half = z * np.sqrt(p * (1 - p) / size + z * z / (4 * size * size)) / denominator
        low, high = np.minimum(p, centre - half), np.maximum(p, centre + half)
        tail = math.erfc(z / math.sqrt(2)) / 2
        for count in range(1, BOUNDARY_COUNTS + 1):
            bound = _poisson_lower(count, tail) / size
            low = np.where(k == count, np.minimum(low, bound), low)
            high = np.where(size - k == count, np.maximum(high, 1 - bound), high)
    low = np.where(size > 0, np.maximum(0.0, low), 0.0)
    high = np.where(size > 0, np.minimum(1.0, high), 1.0)
    return low, high


def ppi_counts(
    tp: npt.ArrayLike,
    fn: npt.ArrayLike,
    fp: npt.ArrayLike,
    tn: npt.ArrayLike,
    flagged: npt.ArrayLike,
    n_unlabeled: npt.ArrayLike,
    z: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """PPI++ for a 0/1 rate from counts: (estimate, low, high, effective labels), vectorised.

    tp, fn, fp, tn count the labelled items by (label, judge); `flagged` of `n_unlabeled` other
    items the judge called positive. The estimate is lam u + y - lam f on the raw means; lam and the
    variance Var(Y - lam F)/n + lam^2 Var(U)/N come from the counts plus one item in each
    disagreement cell (fn, fp; as Bonett & Price's 2012 paired-proportion interval) and half an item
    per unlabelled outcome, and the interval is centred on the adjusted estimate.
    """
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (tp, fn, fp, tn))
    m, big = np.asarray(flagged, dtype=np.float64), np.asarray(n_unlabeled, dtype=np.float64)
    n = a + b + c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        y_bar, f_bar, u_bar = (a + b) / n, (a + c) / n, m / big
        n_adj, big_adj = n + 2, big + 1
        p11, p10, p01 = a / n_adj, (b + 1) / n_adj, (c + 1) / n_adj
        py, pf = p11 + p10, p11 + p01
        u_adj = (m + 0.5) / big_adj
        var_y, var_f, var_u = py * (1 - py), pf * (1 - pf), u_adj * (1 - u_adj)
        covariance = p11 - py * pf
        lam = np.clip(covariance / (var_f + n / big * var_u), 0.0, 1.0)
        estimate = _clip(lam * u_bar + y_bar - lam * f_bar)
        centre = lam * u_adj + py - lam * pf
        variance = (var_y - 2 * lam * covariance + lam * lam * var_f) / n_adj + lam * lam * var_u / big_adj
        half = z * np.sqrt(variance)
        effective = var_y / variance
    low = np.minimum(estimate, _clip(centre - half))
    high = np.maximum(estimate, _clip(centre + half))
    return estimate, low, high, effective


def lang_reiczigel_counts(
    flagged: npt.ArrayLike,
    n_judged: npt.ArrayLike,
    true_positives: npt.ArrayLike,
    n_positives: npt.ArrayLike,
    true_negatives: npt.ArrayLike,
    n_negatives: npt.ArrayLike,
    z: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Rogan-Gladen with Lang & Reiczigel's adjusted interval: (estimate, low, high, effective labels).

    The judge flagged `flagged` of `n_judged` items; it caught `true_positives` of `n_positives`
    labelled positives and cleared `true_negatives` of `n_negatives` labelled negatives. The interval
    adds z^2/2 of z^2 to the judged counts and 1 of 2 to each validation count, then shifts the
    delta-method interval by 2 z^2 (p Var(se) - (1 - p) Var(sp)). NaN where se + sp <= 1 or a class
    has no labelled item. A count of 0 in n_positives or n_negatives with a rate given treats that
    rate as known (no validation uncertainty).
    """
    k, n = np.asarray(flagged, dtype=np.float64), np.asarray(n_judged, dtype=np.float64)
    kp, np_ = np.asarray(true_positives, dtype=np.float64), np.asarray(n_positives, dtype=np.float64)
    kn, nn = np.asarray(true_negatives, dtype=np.float64), np.asarray(n_negatives, dtype=np.float64)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        youden = kp / np_ + kn / nn - 1
        estimate = _clip((k / n + kn / nn - 1) / youden)
        q, se, sp = (k + z2 / 2) / (n + z2), (kp + 1) / (np_ + 2), (kn + 1) / (nn + 2)
        var_se, var_sp = se * (1 - se) / (np_ + 2), sp * (1 - sp) / (nn + 2)
        adjusted_youden = se + sp - 1
        p = (q + sp - 1) / adjusted_youden
        sd = np.sqrt(q * (1 - q) / (n + z2) + p * p * var_se + (1 - p) ** 2 * var_sp) / np.abs(
            adjusted_youden
        )
        centre = p + 2 * z2 * (p * var_se - (1 - p) * var_sp)
        clipped = _clip(p)
        effective = clipped * (1 - clipped) / (sd * sd)
        bad = (youden <= 0) | (adjusted_youden <= 0) | ~np.isfinite(youden)
        low = np.where(bad, NAN, np.minimum(estimate, _clip(centre - z * sd)))
        high = np.where(bad, NAN, np.maximum(estimate, _clip(centre + z * sd)))
    return np.where(bad, NAN, estimate), low, high, np.where(bad, NAN, effective)


def random_design(
    tp: npt.ArrayLike,
    fn: npt.ArrayLike,
    fp: npt.ArrayLike,
    tn: npt.ArrayLike,
    flagged: npt.ArrayLike,
    n_unlabeled: npt.ArrayLike,
    z: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """The estimator chosen for labels that are a random subset: (estimate, low, high, eff, method code).

    Wilson on the labels when nothing is unlabelled, with fewer than MIN_PPI_LABELS labels, or when
    its interval is narrower than PPI++'s.
    """
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (tp, fn, fp, tn))
    n, big = a + b + c + d, np.asarray(n_unlabeled, dtype=np.float64)
    labels_low, labels_high = wilson_bounds(a + b, n, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        labels_estimate = np.where(n > 0, (a + b) / n, NAN)
        estimate, low, high, effective = ppi_counts(a, b, c, d, flagged, big, z)
    use_ppi = (big > 0) & (n >= MIN_PPI_LABELS) & ((high - low) < (labels_high - labels_low))
    method = np.where(use_ppi, METHODS.index("ppi++"), METHODS.index("labels")).astype(np.int64)
    return (
        np.where(use_ppi, estimate, labels_estimate),
        np.where(use_ppi, low, labels_low),
        np.where(use_ppi, high, labels_high),
        np.where(use_ppi, effective, n),
        method,
    )


def validation_trusted(
    n_positives: npt.ArrayLike, n_negatives: npt.ArrayLike, n_judged: npt.ArrayLike
) -> npt.NDArray[np.bool_]:
    """Vectorised: whether a Rogan-Gladen interval with these sample sizes is reported without warning."""
    positives, negatives = np.asarray(n_positives), np.asarray(n_negatives)
    result: npt.NDArray[np.bool_] = (
        (positives >= MIN_CLASS_LABELS) & (negatives >= MIN_CLASS_LABELS) & (np.asarray(n_judged) > 0)
    )
    return result


def validation_warnings(n_positives: int, n_negatives: int, n_judged: int) -> tuple[str, ...]:
    """Why a Rogan-Gladen interval cannot be trusted with these sample sizes (empty: it can)."""
    found = []
    if n_judged == 0:
        found.append("no unlabelled item to correct: the validation design needs judged items without labels")
    if n_positives < MIN_CLASS_LABELS:
        found.append(
            f"only {n_positives} labelled positives (fewer than {MIN_CLASS_LABELS}): the judge's sensitivity "
            "is too uncertain for the interval"
        )
    if n_negatives < MIN_CLASS_LABELS:
        found.append(
            f"only {n_negatives} labelled negatives (fewer than {MIN_CLASS_LABELS}): the judge's specificity "
            "is too uncertain for the interval"
        )
    return tuple(found)


def _binary_inputs(
    y_labeled: npt.ArrayLike, yhat_labeled: npt.ArrayLike, yhat_unlabeled: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    y, f = paired(y_labeled, yhat_labeled, ("y_labeled", "yhat_labeled"))
    u = as_float_array(yhat_unlabeled, "yhat_unlabeled")
    u = u[~np.isnan(u)]
    for values, name in ((y, "y_labeled"), (f, "yhat_labeled"), (u, "yhat_unlabeled")):
        check_binary(values, name)
    return y, f, u


def corrected_rate(
    y_labeled: npt.ArrayLike,
    yhat_labeled: npt.ArrayLike,
    yhat_unlabeled: npt.ArrayLike = (),
    *,
    design: Design = "random",
    confidence: float = 0.95,
) -> CorrectedRate:
    """The positive rate corrected for judge error, by the estimator the data allow (see the module).

    `y_labeled` are 0/1 human labels, `yhat_labeled` the judge's 0/1 verdicts on the same items
    (NaN pairs dropped), `yhat_unlabeled` its verdicts on items nobody labelled (NaN dropped).
    With design "random" the labelled items are a random subset of all judged items and the rate is
    theirs; with "validation" the labels only measure the judge (e.g. drawn by label) and the rate is
    the unlabelled items'. `warnings` says when the interval cannot be trusted.
    """
    if design not in ("random", "validation"):
        raise ValueError(f"design must be 'random' or 'validation', got {design!r}")
    z = z_quantile(confidence)
    y, f, u = _binary_inputs(y_labeled, yhat_labeled, yhat_unlabeled)
    tp, fn = int(np.sum((y == 1) & (f == 1))), int(np.sum((y == 1) & (f == 0)))
    fp, tn = int(np.sum((y == 0) & (f == 1))), int(np.sum((y == 0) & (f == 0)))
    n, big, flagged = int(y.size), int(u.size), int(u.sum())
    if design == "validation":
        return _validation(tp, fn, fp, tn, flagged, big, z)
    if n == 0:
        reason = "no labelled item: the judge's errors cannot be measured"
        return CorrectedRate(NAN, NAN, NAN, "none", reason, 0, big, NAN, (reason,))
    estimate, low, high, effective, code = (float(v) for v in random_design(tp, fn, fp, tn, flagged, big, z))
    method = METHODS[int(code)]
    if method == "ppi++":
        reason = f"{n} labelled items drawn at random from {n + big} judged: PPI++ on the judge's verdicts"
    elif big == 0:
        reason = "every judged item is labelled: the labels' own rate"
    elif n < MIN_PPI_LABELS:
        reason = f"only {n} labels (PPI++ needs {MIN_PPI_LABELS} for its interval): the labels' own rate"
    else:
        reason = f"PPI++'s interval was no narrower than the {n} labels' own: their rate (Wilson)"
    return CorrectedRate(estimate, low, high, method, reason, n, big, effective)


def _validation(tp: int, fn: int, fp: int, tn: int, flagged: int, big: int, z: float) -> CorrectedRate:
    positives, negatives = tp + fn, tn + fp
    warnings = validation_warnings(positives, negatives, big)
    n = positives + negatives
    if big == 0 or positives == 0 or negatives == 0:
        return CorrectedRate(NAN, NAN, NAN, "none", warnings[0], n, big, NAN, warnings)
    values = lang_reiczigel_counts(flagged, big, tp, positives, tn, negatives, z)
    estimate, low, high, effective = (float(v) for v in values)
    reason = (
        f"labels from a separate validation sample ({positives} positives, {negatives} negatives): "
        "Rogan-Gladen with Lang-Reiczigel's interval"
    )
    if np.isnan(estimate):
        warnings = (*warnings, "the judge is no better than chance on the labels (se + sp <= 1)")
    return CorrectedRate(estimate, low, high, "rogan-gladen", reason, n, big, effective, warnings)
