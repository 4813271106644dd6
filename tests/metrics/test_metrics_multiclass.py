"""The k x k confusion matrix and its per-class, macro and micro statistics, against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import f1_score, precision_recall_fscore_support

from judgekit.metrics import multiclass_confusion


@pytest.mark.parametrize("seed", range(5))
def test_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    truth = rng.integers(0, k, 200)
    judge = np.where(rng.random(200) < 0.7, truth, rng.integers(0, k, 200))
    matrix = multiclass_confusion(truth, judge, n_classes=k)
    labels = list(range(k))
    assert (matrix.counts == sk_confusion(truth, judge, labels=labels)).all()
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, judge, labels=labels, zero_division=np.nan
    )
    np.testing.assert_allclose(matrix.precision, precision)
    np.testing.assert_allclose(matrix.recall, recall)
    np.testing.assert_allclose(matrix.f1, f1)
    assert (matrix.support == support).all()
    assert matrix.macro_f1 == pytest.approx(f1_score(truth, judge, labels=labels, average="macro"))
    assert matrix.micro_f1 == pytest.approx(f1_score(truth, judge, labels=labels, average="micro"))


def test_hand_derived_with_an_unused_class_and_missing_pairs() -> None:
    # Labels 0 0 1 1 2, judge 0 1 1 1 1; class 2 never judged, one pair missing.
    matrix = multiclass_confusion([0, 0, 1, 1, 2, np.nan], [0, 1, 1, 1, 1, 0], n_classes=3)
    assert matrix.counts.tolist() == [[1, 1, 0], [0, 2, 0], [0, 1, 0]]
    assert matrix.n == 5 and matrix.accuracy == pytest.approx(3 / 5)
    assert math.isnan(matrix.precision[2]) and matrix.recall[2] == 0 and matrix.f1[2] == 0
    assert matrix.precision[1] == pytest.approx(2 / 4) and matrix.recall[0] == pytest.approx(1 / 2)
    assert matrix.macro_f1 == pytest.approx((2 / 3 + 4 / 6 + 0) / 3)
    assert matrix.label_rates.tolist() == [0.4, 0.4, 0.2] and matrix.judge_rates.tolist() == [0.2, 0.8, 0.0]


def test_codes_are_checked() -> None:
    with pytest.raises(ValueError, match="class code"):
        multiclass_confusion([0, 3], [0, 1], n_classes=3)
    with pytest.raises(ValueError, match="class code"):
        multiclass_confusion([0, 1], [0, 0.5], n_classes=3)
