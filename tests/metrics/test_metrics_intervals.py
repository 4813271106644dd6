"""Wilson, bootstrap and McNemar against hand-derived values, scipy and statsmodels."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from judgekit.metrics import (
    Interval,
    bootstrap_ci,
    cohen_kappa,
    mcnemar,
    paired_bootstrap_diff,
    wilson_interval,
)

PROPERTY = settings(max_examples=80, deadline=None, database=None)


def test_wilson_hand_derived() -> None:
    # 0/10: upper = z^2 / (n + z^2) = 3.84146 / 13.84146.
    zero = wilson_interval(0, 10)
    assert (zero.estimate, zero.low) == (0.0, 0.0)
    assert zero.high == pytest.approx(0.277533, abs=1e-6)
    # 5/10: centre 1/2, half-width z sqrt(1/40 + z^2/400) / (1 + z^2/10) = 0.364593 / 1.384146 = 0.263407.
    half = wilson_interval(5, 10)
    assert (half.low, half.high) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    assert wilson_interval(10, 10).high == 1.0


def test_wilson_matches_statsmodels() -> None:
    for successes, n, confidence in [(3, 17, 0.95), (40, 41, 0.9), (1, 2, 0.99), (250, 1000, 0.8)]:
        low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
        interval = wilson_interval(successes, n, confidence=confidence)
        assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-12)


def test_wilson_edge_and_invalid() -> None:
    empty = wilson_interval(0, 0)
    assert math.isnan(empty.estimate) and (empty.low, empty.high) == (0.0, 1.0)
    for successes, n in [(3, 2), (-1, 5), (1.5, 3)]:
        with pytest.raises(ValueError, match="successes"):
            wilson_interval(successes, n)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 2, confidence=95)


@PROPERTY
@given(st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), st.floats(0.5, 0.999))
def test_wilson_contains_its_estimate(counts: tuple[int, int], confidence: float) -> None:
    successes, n = counts
    interval = wilson_interval(successes, n, confidence=confidence)
    assert 0.0 <= interval.low <= interval.estimate <= interval.high <= 1.0 or n == 0


def test_bootstrap_percentiles_of_the_resampled_statistic() -> None:
    data = np.random.default_rng(0).normal(size=40)
    seen: list[float] = []

    def mean(indices: np.ndarray) -> float:
        seen.append(float(data[indices].mean()))
        return seen[-1]

    result = bootstrap_ci(mean, data.size, n_resamples=500, seed=1)
    assert result.estimate == pytest.approx(data.mean())
    assert (result.low, result.high) == pytest.approx(tuple(np.quantile(seen[1:], [0.025, 0.975])))
    assert (result.n_resamples, result.n_dropped) == (500, 0)


def test_bootstrap_agrees_with_scipy_percentile_bootstrap() -> None:
    data = np.random.default_rng(2).exponential(size=200)
    ours = bootstrap_ci(lambda idx: float(data[idx].mean()), data.size, n_resamples=4000, seed=3)
    theirs = stats.bootstrap(
        (data,), np.mean, n_resamples=4000, method="percentile", rng=np.random.default_rng(4)
    ).confidence_interval
    standard_error = data.std() / math.sqrt(data.size)
    assert abs(ours.low - theirs.low) < 0.1 * standard_error
    assert abs(ours.high - theirs.high) < 0.1 * standard_error


@PROPERTY
@given(st.lists(st.floats(-100, 100), min_size=1, max_size=30), st.integers(0, 2**32 - 1))
def test_bootstrap_is_reproducible_with_a_seed(values: list[float], seed: int) -> None:
    data = np.array(values)

    def mean(idx: np.ndarray) -> float:
        return float(data[idx].mean())

    first = bootstrap_ci(mean, data.size, n_resamples=50, seed=seed)
    assert first == bootstrap_ci(mean, data.size, n_resamples=50, seed=seed)
    assert first.low <= first.high


def test_bootstrap_counts_and_drops_nan_resamples() -> None:
    calls = 0

    def every_other_nan(indices: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        return math.nan if calls % 2 == 0 else float(indices.mean())

    result = bootstrap_ci(every_other_nan, 10, n_resamples=100, seed=0)
    assert (result.n_resamples, result.n_dropped) == (100, 50)
    assert not math.isnan(result.low)
    all_nan = bootstrap_ci(lambda idx: math.nan, 5, n_resamples=20, seed=0)
    assert all_nan.n_dropped == 20 and math.isnan(all_nan.low) and math.isnan(all_nan.high)


def test_bootstrap_of_kappa_drops_one_class_resamples() -> None:
    judge = np.array([1, 0, 0, 0, 0, 0, 0, 0])
    human = np.array([1, 0, 0, 0, 0, 0, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = bootstrap_ci(lambda i: cohen_kappa(judge[i], human[i]), 8, n_resamples=300, seed=5)
    assert 0 < result.n_dropped < 300


def test_cluster_bootstrap_keeps_clusters_whole() -> None:
    clusters = np.repeat(["a", "b", "c", "d", "e"], [1, 2, 3, 4, 5])
    sizes = {name: int(np.sum(clusters == name)) for name in np.unique(clusters)}

    def check(indices: np.ndarray) -> float:
        names, counts = np.unique(clusters[indices], return_counts=True)
        assert all(count % sizes[name] == 0 for name, count in zip(names, counts, strict=True))
        assert len(indices) == sum(counts)
        return float(len(indices))

    bootstrap_ci(check, clusters.size, clusters=clusters, n_resamples=200, seed=6)


def test_cluster_bootstrap_widens_for_correlated_items() -> None:
    rng = np.random.default_rng(7)
    clusters = np.repeat(np.arange(30), 10)
    values = rng.normal(size=30)[clusters] + 0.1 * rng.normal(size=300)

    def mean(idx: np.ndarray) -> float:
        return float(values[idx].mean())

    items = bootstrap_ci(mean, 300, n_resamples=1000, seed=8)
    grouped = bootstrap_ci(mean, 300, clusters=clusters, n_resamples=1000, seed=8)
    assert grouped.high - grouped.low > 2 * (items.high - items.low)


def test_singleton_clusters_equal_the_item_bootstrap() -> None:
    data = np.random.default_rng(9).normal(size=25)

    def mean(idx: np.ndarray) -> float:
        return float(data[idx].mean())

    assert bootstrap_ci(mean, 25, seed=10, n_resamples=300) == bootstrap_ci(
        mean, 25, clusters=np.arange(25), seed=10, n_resamples=300
    )


def test_bootstrap_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_items"):
        bootstrap_ci(lambda idx: 0.0, 0)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(lambda idx: 0.0, 3, n_resamples=0)
    with pytest.raises(ValueError, match="clusters"):
        bootstrap_ci(lambda idx: 0.0, 3, clusters=[1, 2])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(lambda idx: 0.0, 3, confidence=1.0)


def test_paired_bootstrap_difference() -> None:
    rng = np.random.default_rng(11)
    human = rng.integers(0, 2, 300)
    good = np.where(rng.random(300) < 0.9, human, 1 - human)
    poor = np.where(rng.random(300) < 0.6, human, 1 - human)

    def accuracy(judge: np.ndarray) -> Callable[[np.ndarray], float]:
        return lambda idx: float(np.mean(judge[idx] == human[idx]))

    result = paired_bootstrap_diff(accuracy(good), accuracy(poor), 300, n_resamples=999, seed=12)
    assert result.estimate == pytest.approx(np.mean(good == human) - np.mean(poor == human))
    assert result.low <= result.estimate <= result.high
    assert result.p_value == pytest.approx(2 / 1000)  # no resample favours the poor judge
    same = paired_bootstrap_diff(accuracy(good), accuracy(good), 300, n_resamples=200, seed=12)
    assert (same.estimate, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    again = paired_bootstrap_diff(accuracy(good), accuracy(poor), 300, n_resamples=999, seed=12)
    assert again == result


def test_mcnemar_matches_statsmodels() -> None:
    rng = np.random.default_rng(13)
    for _ in range(60):
        n = int(rng.integers(1, 200))
        a = rng.random(n) < rng.uniform(0.3, 0.9)
        b = rng.random(n) < rng.uniform(0.3, 0.9)
        table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
        result = mcnemar(a, b)
        assert (result.b, result.c) == (table[0][1], table[1][0])
        assert result.exact == (result.b + result.c < 25)
        if result.b + result.c == 0:
            assert (result.statistic, result.p_value) == (0.0, 1.0)
            continue
        for exact in (True, False):
            expected = sm_mcnemar(table, exact=exact, correction=True)
            forced = mcnemar(a, b, exact=exact)
            assert forced.statistic == pytest.approx(expected.statistic)
            assert forced.p_value == pytest.approx(expected.pvalue, rel=1e-9)
        chosen = sm_mcnemar(table, exact=result.exact, correction=True)
        assert result.p_value == pytest.approx(chosen.pvalue, rel=1e-9)


def test_mcnemar_hand_derived_and_edges() -> None:
    # b = 1, c = 5: exact p = 2 P(Binomial(6, 1/2) <= 1) = 2 (1 + 6) / 2^6 = 0.21875.
    result = mcnemar([1, 0, 0, 0, 0, 0, 1, np.nan], [0, 1, 1, 1, 1, 1, 1, 1])
    assert (result.b, result.c, result.statistic, result.p_value) == (1, 5, 1.0, 0.21875)
    never = mcnemar([1, 1], [1, 1], exact=False)  # b = c = 0: no evidence of a difference
    assert (never.statistic, never.p_value, never.b, never.c) == (0.0, 1.0, 0, 0)
    assert mcnemar([1, 1] * 400, [0, 0] * 400).p_value < 1e-100
    with pytest.raises(ValueError, match="0/1"):
        mcnemar([2, 1], [1, 1])


def test_interval_is_a_frozen_value() -> None:
    interval = Interval(0.5, 0.4, 0.6)
    with pytest.raises(AttributeError):
        interval.low = 0.0  # type: ignore[misc]
