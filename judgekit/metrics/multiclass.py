"""Multi-class judge-vs-label statistics: the k x k confusion matrix, per-class precision and recall, F1s.

Classes are coded 0..k-1 (a float array, NaN for missing; pairs with a NaN are dropped). Rows of
the matrix are the labels (the reference), columns the judge, as in scikit-learn. A rate whose
denominator is zero is NaN, never 0 (scikit-learn returns 0 with a warning there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from judgekit.metrics._arrays import NAN, FloatArray, IntArray, paired


@dataclass(frozen=True, eq=False)
class MulticlassMatrix:
    """Counts of a k-class judge against k-class labels: `counts[i, j]` items labelled i, judged j."""

    counts: IntArray

    @property
    def n(self) -> int:
        """Number of pairs counted."""
        return int(self.counts.sum())

    @property
    def support(self) -> IntArray:
        """Items labelled with each class."""
        result: IntArray = self.counts.sum(axis=1)
        return result

    @property
    def accuracy(self) -> float:
        """Share of pairs on the diagonal; equals micro-averaged F1, precision and recall."""
        return float(np.trace(self.counts)) / self.n if self.n else NAN

    @property
    def precision(self) -> FloatArray:
        """Per class: of the items the judge put in it, the share labelled so (NaN if it put none)."""
        return _divide(np.diag(self.counts), self.counts.sum(axis=0))

    @property
    def recall(self) -> FloatArray:
        """Per class: of the items labelled with it, the share the judge put there (NaN without any)."""
        return _divide(np.diag(self.counts), self.counts.sum(axis=1))

    @property
    def f1(self) -> FloatArray:
        """Per class 2 tp / (2 tp + fp + fn): NaN only when the class is neither labelled nor judged."""
        diagonal = np.diag(self.counts)
        return _divide(2 * diagonal, self.counts.sum(axis=0) + self.counts.sum(axis=1))

    @property
    def macro_f1(self) -> float:
        """Mean of the per-class F1 over the classes that occur (as labels or verdicts)."""
        values = self.f1[~np.isnan(self.f1)]
        return float(values.mean()) if values.size else NAN

    @property
    def micro_f1(self) -> float:
        """F1 of the pooled counts: for single-label data, the accuracy."""
        return self.accuracy

    @property
    def label_rates(self) -> FloatArray:
        """Share of items labelled with each class."""
        return _divide(self.counts.sum(axis=1), np.full(len(self.counts), self.n))

    @property
    def judge_rates(self) -> FloatArray:
        """Share of items the judge put in each class."""
        return _divide(self.counts.sum(axis=0), np.full(len(self.counts), self.n))


def _divide(numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> FloatArray:
    top, bottom = np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)
    out = np.full(top.shape, NAN)
    np.divide(top, bottom, out=out, where=bottom != 0)
    return out


def multiclass_confusion(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, n_classes: int) -> MulticlassMatrix:
    """The k x k confusion matrix of class codes 0..n_classes-1 (labels in rows, the judge in columns).

    NaN pairs are dropped; ValueError for a code that is not a whole number in range.
    """
    if n_classes < 1:
        raise ValueError(f"n_classes must be at least 1, got {n_classes}")
    truth, pred = paired(y_true, y_pred, ("y_true", "y_pred"))
    for values, name in ((truth, "y_true"), (pred, "y_pred")):
        bad = values[(values != np.round(values)) | (values < 0) | (values >= n_classes)]
        if bad.size:
            raise ValueError(f"{name} holds {bad[0]!r}, not a class code 0..{n_classes - 1}")
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (truth.astype(np.int64), pred.astype(np.int64)), 1)
    return MulticlassMatrix(counts)
