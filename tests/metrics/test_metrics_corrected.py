"""corrected_rate: which estimator runs for which data, hand-derived values, coverage where it mattered."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judgekit.metrics import corrected_rate, wilson_interval
from judgekit.metrics.corrected import MIN_PPI_LABELS, ppi_counts, random_design, wilson_bounds

Z = 1.959963984540054
PROPERTY = settings(max_examples=100, deadline=None, database=None)


def _items(tp: int, fn: int, fp: int, tn: int) -> tuple[list[int], list[int]]:
    """Labels and verdicts with the given confusion counts."""
    return [1] * tp + [1] * fn + [0] * fp + [0] * tn, [1] * tp + [0] * fn + [1] * fp + [0] * tn


def test_every_item_labelled_gives_the_labels_own_wilson_rate() -> None:
    # The example: 439 judged items, all labelled, 76 positives; the judge flagged 55.
    y, f = _items(tp=45, fn=31, fp=10, tn=353)
    result = corrected_rate(y, f)
    wilson = wilson_interval(76, 439)
    assert (result.method, result.n_labeled, result.n_unlabeled) == ("labels", 439, 0)
    assert (result.estimate, result.low, result.high) == pytest.approx(
        (wilson.estimate, wilson.low, wilson.high)
    )
    assert (round(result.low, 3), round(result.high, 3)) == (0.141, 0.211)
    assert result.effective_labels == 439 and not result.warnings
    assert "every judged item is labelled" in result.reason


def test_wilson_bounds_match_wilson_away_from_the_boundary_and_poisson_at_it() -> None:
    for k, n in [(4, 50), (25, 50), (46, 50), (100, 400), (0, 30), (30, 30)]:
        low, high = wilson_bounds(k, n, Z)
        expected = wilson_interval(k, n)
        assert (float(low), float(high)) == pytest.approx((expected.low, expected.high)), (k, n)
    # One success in 50: lower bound -ln(0.975) / 50, where P(Poisson(m) >= 1) = 0.025.
    low, _ = wilson_bounds(1, 50, Z)
    assert float(low) == pytest.approx(-math.log(0.975) / 50, rel=1e-6)
    _, high = wilson_bounds(49, 50, Z)
    assert float(high) == pytest.approx(1 + math.log(0.975) / 50, rel=1e-6)
    # Two successes: m solves 1 - e^-m (1 + m) = 0.025, m = 0.2422.
    low, _ = wilson_bounds(2, 100, Z)
    assert float(low) == pytest.approx(0.2422 / 100, rel=1e-3)


def test_ppi_counts_hand_derived() -> None:
    # 100 labels: tp 20, fn 2, fp 5, tn 73; the judge flags 300 of 1,000 other items.
    estimate, low, high, effective = ppi_counts(20, 2, 5, 73, 300, 1000, Z)
    p11, p10, p01 = 20 / 102, 3 / 102, 6 / 102
    py, pf, u = p11 + p10, p11 + p01, 300.5 / 1001
    cov = p11 - py * pf
    lam = cov / (pf * (1 - pf) + 0.1 * u * (1 - u))
    variance = (py * (1 - py) - 2 * lam * cov + lam**2 * pf * (1 - pf)) / 102 + lam**2 * u * (1 - u) / 1001
    centre = lam * u + py - lam * pf
    assert float(estimate) == pytest.approx(lam * 0.3 + 0.22 - lam * 0.25)
    assert (float(low), float(high)) == pytest.approx(
        (centre - Z * math.sqrt(variance), centre + Z * math.sqrt(variance))
    )
    assert float(effective) == pytest.approx(py * (1 - py) / variance)


def test_random_subset_uses_ppi_when_it_is_narrower() -> None:
    rng = np.random.default_rng(0)
    truth = (rng.random(5000) < 0.2).astype(float)
    judge = np.where(rng.random(5000) < 0.95, truth, 1 - truth)
    result = corrected_rate(truth[:200], judge[:200], judge[200:])
    labels_only = wilson_interval(int(truth[:200].sum()), 200)
    assert result.method == "ppi++" and result.n_unlabeled == 4800
    assert result.high - result.low < labels_only.high - labels_only.low
    assert result.effective_labels > 200 and result.low <= result.estimate <= result.high
    assert result.low <= truth.mean() <= result.high


def test_few_labels_or_a_useless_judge_fall_back_to_the_labels() -> None:
    # The case: 4 labels and 6 unlabelled items gave [0.093, 1.407] from plain PPI.
    few = corrected_rate([1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1, 1, 0])
    assert few.method == "labels" and f"only 4 labels (PPI++ needs {MIN_PPI_LABELS}" in few.reason
    assert 0 <= few.low <= few.estimate <= few.high <= 1
    rng = np.random.default_rng(1)
    truth, noise = (rng.random(3000) < 0.3).astype(float), (rng.random(3000) < 0.5).astype(float)
    useless = corrected_rate(truth[:300], noise[:300], noise[300:])
    assert useless.method == "labels" and "no narrower" in useless.reason


def test_validation_design_corrects_the_unlabelled_rate_and_warns_without_positives() -> None:
    # 30 labelled positives (27 caught), 30 negatives (28 cleared); 60 of 200 other items flagged.
    y, f = _items(tp=27, fn=3, fp=2, tn=28)
    result = corrected_rate(y, f, [1] * 60 + [0] * 140, design="validation")
    assert result.method == "rogan-gladen" and not result.warnings
    assert result.estimate == pytest.approx((0.3 + 28 / 30 - 1) / (0.9 + 28 / 30 - 1))
    assert result.low <= result.estimate <= result.high
    y, f = _items(tp=0, fn=0, fp=2, tn=28)
    blind = corrected_rate(y, f, [1] * 60 + [0] * 140, design="validation")
    assert blind.method == "none" and math.isnan(blind.estimate)
    assert any("0 labelled positives" in w for w in blind.warnings)
    nothing = corrected_rate([], [], [1, 0])
    assert nothing.method == "none" and nothing.warnings


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="design"):
        corrected_rate([1], [1], design="stratified")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="0/1"):
        corrected_rate([1, 2], [1, 1])
    dropped = corrected_rate([1, 0, np.nan], [1, np.nan, 0], [np.nan, 1])
    assert (dropped.n_labeled, dropped.n_unlabeled) == (1, 1)


@pytest.mark.parametrize("labels", [50, 100, 200])
def test_ppi_covers_where_plain_ppi_plus_plus_did_not(labels: int) -> None:
    # The regime (N = 2,000, p = 0.05, se 0.95, sp 0.98): PPI++ covered 66-91% here.
    rng = np.random.default_rng(labels)
    p, se, sp, draws = 0.05, 0.95, 0.98, 4000
    counts = rng.multinomial(labels, [p * se, p * (1 - se), (1 - p) * (1 - sp), (1 - p) * sp], size=draws)
    flagged = rng.binomial(2000 - labels, p * se + (1 - p) * (1 - sp), draws)
    _, low, high, _, _ = random_design(*counts.T, flagged, np.full(draws, 2000 - labels), Z)
    assert np.mean((low <= p) & (p <= high)) >= 0.93


@PROPERTY
@given(
    st.tuples(*(st.integers(0, 60) for _ in range(4))),
    st.integers(0, 500),
    st.floats(0.0, 1.0),
)
def test_intervals_hold_their_estimate_within_zero_and_one(
    counts: tuple[int, int, int, int], big: int, flagged_share: float
) -> None:
    flagged = round(big * flagged_share)
    y, f = _items(*counts)
    for design in ("random", "validation"):
        result = corrected_rate(y, f, [1] * flagged + [0] * (big - flagged), design=design)  # type: ignore[arg-type]
        if result.method != "none" and not math.isnan(result.estimate):
            assert 0.0 <= result.low <= result.estimate <= result.high <= 1.0


def test_validation_design_flags_too_few_labelled_positives() -> None:
    y, f = _items(tp=9, fn=1, fp=3, tn=47)  # 10 labelled positives: below MIN_CLASS_LABELS (15)
    result = corrected_rate(y, f, [1] * 30 + [0] * 170, design="validation")
    assert result.method == "rogan-gladen" and not math.isnan(result.estimate)
    assert result.warnings == (
        "only 10 labelled positives (fewer than 15): the judge's sensitivity is too uncertain "
        "for the interval",
    )
