"""Difference statistics against scipy, statsmodels, published values and hand-derived formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize

from judgekit.metrics import (
    adjust_p_values,
    bh_adjust,
    bootstrap_means,
    holm_adjust,
    mcnemar_exact_p,
    mdd_means,
    mdd_paired_proportions,
    mdd_proportions,
    newcombe_paired_interval,
    newcombe_unpaired_interval,
    paired_bootstrap_diff,
    paired_mean_difference,
    paired_rate_difference,
    permutation_p,
    sign_flip_p,
    unpaired_mean_difference,
    unpaired_rate_difference,
)


def test_newcombe_paired_matches_published_values() -> None:
    # Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables" (2017), ch. 8:
    # Cavo et al. 2012, table [[59, 6], [16, 80]]: -0.0621 (95% CI -0.1186 to -0.0046).
    interval = newcombe_paired_interval(59, 6, 16, 80)
    assert interval.estimate == pytest.approx(-0.0621, abs=5e-5)
    assert (interval.low, interval.high) == pytest.approx((-0.1186, -0.0046), abs=5e-5)


def _newcombe_paired_oracle(a: int, b: int, c: int, d: int) -> tuple[float, float]:
    """Method 10 written out from the paper, with statsmodels' Wilson limits."""
    from statsmodels.stats.proportion import proportion_confint

    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = proportion_confint(a + b, n, method="wilson")
    l2, u2 = proportion_confint(a + c, n, method="wilson")
    cross = a * d - b * c
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0)
    phi = corrected / math.sqrt(margins) if margins else 0.0
    low = p1 - p2 - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    high = p1 - p2 + math.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    return low, high


@pytest.mark.parametrize("table", [(1, 1, 7, 12), (30, 2, 9, 40), (0, 0, 0, 10), (5, 0, 0, 5), (0, 3, 4, 0)])
def test_newcombe_paired_matches_formula(table: tuple[int, int, int, int]) -> None:
    interval = newcombe_paired_interval(*table)
    low, high = _newcombe_paired_oracle(*table)
    assert (interval.low, interval.high) == pytest.approx((max(-1, low), min(1, high)), abs=1e-12)
    assert interval.low <= interval.estimate <= interval.high


def test_newcombe_paired_covers_at_nominal_rate() -> None:
    rng = np.random.default_rng(3)
    cells = np.array([0.2, 0.15, 0.05, 0.6])
    truth = cells[1] - cells[2]
    covered = 0
    for table in rng.multinomial(80, cells, size=2000):
        interval = newcombe_paired_interval(*(int(v) for v in table))
        covered += interval.low <= truth <= interval.high
    assert 0.93 <= covered / 2000 <= 0.975


@pytest.mark.parametrize("counts", [(7, 34, 1, 34), (0, 16, 15, 72), (40, 40, 0, 25), (3, 10, 3, 10)])
def test_newcombe_unpaired_matches_statsmodels(counts: tuple[int, int, int, int]) -> None:
    interval = newcombe_unpaired_interval(*counts)
    low, high = confint_proportions_2indep(*counts, method="newcomb", compare="diff")
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-10)


@pytest.mark.parametrize(("b", "c"), [(0, 0), (3, 9), (12, 12), (40, 61), (1000, 1100), (0, 25)])
def test_mcnemar_exact_matches_statsmodels(b: int, c: int) -> None:
    expected = sm_mcnemar([[10, b], [c, 10]], exact=True).pvalue
    assert mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_exact_for_millions_matches_scipy() -> None:
    expected = stats.binomtest(499_000, 1_000_000, 0.5).pvalue
    assert mcnemar_exact_p(499_000, 501_000) == pytest.approx(expected, rel=1e-6)


def test_paired_rate_difference_from_arrays() -> None:
    a = np.array([1, 1, 1, 0, 0, 1, 0, np.nan])
    b = np.array([1, 0, 0, 0, 1, 0, 0, 1])
    result = paired_rate_difference(a, b)
    assert (result.only_a, result.only_b, result.n_a) == (3, 1, 7)
    assert result.estimate == pytest.approx(2 / 7)
    assert result.p_value == pytest.approx(sm_mcnemar([[1, 3], [1, 2]], exact=True).pvalue)
    assert result.paired


def test_unpaired_rate_difference_p_is_the_score_test() -> None:
    result = unpaired_rate_difference(30, 100, 18, 90)
    pooled = 48 / 190
    z = (0.3 - 0.2) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 90))
    assert result.p_value == pytest.approx(2 * stats.norm.sf(z))
    assert not result.paired


def test_bootstrap_means_by_kind_has_the_item_bootstrap_distribution() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(1, 6, size=300).astype(float)
    by_kind = bootstrap_means(values, n_resamples=20_000, seed=1)
    by_item = values[rng.integers(0, values.size, size=(20_000, values.size))].mean(axis=1)
    assert by_kind.mean() == pytest.approx(by_item.mean(), abs=0.005)
    assert by_kind.std() == pytest.approx(by_item.std(), rel=0.03)
    assert by_kind.std() == pytest.approx(values.std() / math.sqrt(values.size), rel=0.03)


def test_paired_mean_difference_matches_scipy_bootstrap() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(1, 6, size=400).astype(float)
    b = np.clip(a + rng.integers(-1, 3, size=400), 1, 5)
    ours = paired_mean_difference(a, b, n_resamples=20_000, seed=2)
    theirs = stats.bootstrap(
        (a, b), lambda x, y: np.mean(x - y), paired=True, method="percentile", n_resamples=20_000, rng=3
    )
    assert ours.estimate == pytest.approx(np.mean(a - b))
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=0.01)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=0.01)
    assert ours.p_value < 0.001


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sign_flip_p_matches_scipy_exactly_for_small_samples(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 6, size=10).astype(float)
    b = rng.integers(1, 6, size=10).astype(float)
    theirs = stats.permutation_test(
        (a, b), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=np.inf
    ).pvalue
    assert sign_flip_p(a - b) == pytest.approx(theirs)


def test_sign_flip_p_is_honest_at_tiny_samples() -> None:
    # Four identical +4 changes: only 2 of the 16 sign patterns are as extreme; p = 2 x 1/16.
    assert sign_flip_p([4.0, 4.0, 4.0, 4.0]) == pytest.approx(0.125)
    assert paired_mean_difference([5, 5, 5, 5], [1, 1, 1, 1], seed=0).p_value == pytest.approx(0.125)


def test_sign_flip_p_monte_carlo_matches_scipy() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(1, 6, size=300).astype(float)
    b = np.clip(a + rng.integers(-2, 2, size=300) + (rng.random(300) < 0.1), 1, 5)
    ours = sign_flip_p(a - b, n_resamples=20_000, seed=1)
    theirs = stats.permutation_test(
        (a, b), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=20_000, rng=2
    ).pvalue
    assert ours == pytest.approx(theirs, abs=0.015)


def test_permutation_p_matches_scipy() -> None:
    rng = np.random.default_rng(8)
    small_a, small_b = rng.integers(1, 6, size=6).astype(float), rng.integers(1, 6, size=5).astype(float)
    exact = stats.permutation_test(
        (small_a, small_b), lambda x, y: np.mean(x) - np.mean(y), n_resamples=np.inf
    ).pvalue
    assert permutation_p(small_a, small_b) == pytest.approx(exact)
    a, b = rng.integers(1, 6, size=200).astype(float), rng.integers(1, 6, size=150).astype(float) + 0.3
    ours = permutation_p(a, b, n_resamples=20_000, seed=0)
    theirs = stats.permutation_test(
        (a, b), lambda x, y: np.mean(x) - np.mean(y), n_resamples=20_000, rng=1
    ).pvalue
    assert ours == pytest.approx(theirs, abs=0.015)


def test_clustered_sign_flip_flips_whole_clusters() -> None:
    # Two clusters of opposite sign: 4 patterns, the observed total 0 is the median, p = 1.
    assert sign_flip_p([1.0, 1.0, -1.0, -1.0], clusters=[0, 0, 1, 1]) == pytest.approx(1.0)
    # One cluster of three: 2 patterns; p = 2 x 1/2 = 1 however large the change.
    assert sign_flip_p([3.0, 3.0, 3.0], clusters=["c", "c", "c"]) == pytest.approx(1.0)


def test_paired_mean_difference_drops_unscored_pairs() -> None:
    result = paired_mean_difference([1, 2, np.nan, 4], [1, np.nan, 3, 2], seed=0)
    assert (result.n_a, result.estimate) == (2, 1.0)


def test_clustered_paired_difference_matches_paired_bootstrap_diff() -> None:
    rng = np.random.default_rng(7)
    clusters = np.repeat(np.arange(60), 5)
    shift = rng.normal(0, 1, size=60)[clusters]
    a = np.round(np.clip(3 + shift + rng.normal(0, 0.5, size=300), 1, 5))
    b = np.round(np.clip(2.8 + shift + rng.normal(0, 0.5, size=300), 1, 5))
    ours = paired_mean_difference(a, b, clusters=clusters, n_resamples=4000, seed=1)
    theirs = paired_bootstrap_diff(
        lambda i: float(a[i].mean()),
        lambda i: float(b[i].mean()),
        300,
        clusters=clusters,
        n_resamples=4000,
        seed=2,
    )
    assert ours.low == pytest.approx(theirs.low, abs=0.03)
    assert ours.high == pytest.approx(theirs.high, abs=0.03)


def test_bootstrap_means_many_kinds_draws_units() -> None:
    values = np.random.default_rng(1).normal(size=6000)
    means = bootstrap_means(values, n_resamples=500, seed=0)
    assert means.std() == pytest.approx(values.std() / math.sqrt(values.size), rel=0.1)


def test_unpaired_mean_difference_matches_scipy_bootstrap() -> None:
    rng = np.random.default_rng(11)
    a = rng.integers(1, 6, size=250).astype(float)
    b = rng.integers(2, 6, size=180).astype(float)
    ours = unpaired_mean_difference(a, b, n_resamples=20_000, seed=4)
    theirs = stats.bootstrap(
        (a, b), lambda x, y: np.mean(x) - np.mean(y), method="percentile", n_resamples=20_000, rng=5
    )
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=0.015)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=0.015)
    assert (ours.n_a, ours.n_b, ours.paired) == (250, 180, False)


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_adjustments_match_statsmodels(method: str) -> None:
    p = np.random.default_rng(2).uniform(0, 0.2, size=11)
    ours = holm_adjust(p) if method == "holm" else bh_adjust(p)
    np.testing.assert_allclose(ours, multipletests(p, method=method)[1], rtol=1e-12)


def test_adjustments_keep_nan_out_of_the_family() -> None:
    p = [0.01, np.nan, 0.04, 0.03]
    adjusted = adjust_p_values(p, "holm")
    assert math.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2, 3]], multipletests([0.01, 0.04, 0.03], method="holm")[1])
    with pytest.raises(ValueError, match="unknown adjustment"):
        adjust_p_values(p, "bonferroni-ish")


@pytest.mark.parametrize(("n_a", "n_b"), [(100, 100), (50, 200), (1000, None), (30, None)])
def test_mdd_means_matches_statsmodels_power(n_a: int, n_b: int | None) -> None:
    ratio = 0 if n_b is None else n_b / n_a
    effect = NormalIndPower().solve_power(nobs1=n_a, alpha=0.05, power=0.8, ratio=ratio)
    assert mdd_means(1.3, n_a, n_b) == pytest.approx(1.3 * effect, rel=1e-6)


@pytest.mark.parametrize("p_base", [0.05, 0.3, 0.5, 0.97])
def test_mdd_proportions_is_the_detectable_cohen_h(p_base: float) -> None:
    h = NormalIndPower().solve_power(nobs1=200, alpha=0.05, power=0.9, ratio=1.5)
    change = mdd_proportions(p_base, 200, 300, alpha=0.05, power=0.9)
    # The rise or the fall is exactly h on Cohen's arcsine scale, the other at least h: both detected.
    shifts = [
        abs(proportion_effectsize(p, p_base)) for p in (p_base + change, p_base - change) if 0 <= p <= 1
    ]
    assert min(abs(s - h) for s in shifts) == pytest.approx(0, abs=1e-5)
    assert all(s >= h - 1e-5 for s in shifts)


@pytest.mark.parametrize("noise", [0.0, 0.05, 0.2])
def test_mdd_paired_proportions_solves_connors_sample_size(noise: float) -> None:
    d = mdd_paired_proportions(noise, 400)
    psi = noise + d
    z_a, z_b = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    needed = (z_a * math.sqrt(psi) + z_b * math.sqrt(psi - d * d)) ** 2 / (d * d)
    assert needed == pytest.approx(400, rel=1e-6)
    assert math.isnan(mdd_paired_proportions(0.5, 3))


def test_mdd_paired_proportions_grows_with_noise_and_shrinks_with_n() -> None:
    assert mdd_paired_proportions(0.0, 400) < mdd_paired_proportions(0.2, 400)
    assert mdd_paired_proportions(0.1, 1600) < mdd_paired_proportions(0.1, 400)
