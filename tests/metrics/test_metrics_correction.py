"""Rogan-Gladen and prediction-powered means: forward formulas, simulations, hand-derived values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judgekit.metrics import effective_labels, ppi_mean, ppi_plus_plus_mean, rogan_gladen

PROPERTY = settings(max_examples=80, deadline=None, database=None)
rates = st.floats(0.0, 1.0)
good_rates = st.floats(0.55, 1.0)


@PROPERTY
@given(rates, good_rates, good_rates)
def test_rogan_gladen_inverts_the_forward_formula(prevalence: float, se: float, sp: float) -> None:
    observed = prevalence * se + (1 - prevalence) * (1 - sp)
    result = rogan_gladen(observed, se, sp, n_judged=1000, n_positives=50, n_negatives=80)
    assert result.estimate == pytest.approx(prevalence, abs=1e-9)
    assert 0.0 <= result.low <= result.estimate <= result.high <= 1.0


@st.composite
def better_than_chance(draw: st.DrawFn) -> tuple[float, float]:
    """se, sp in [0, 1] with se + sp > 1.0001, drawn directly (filtering rejected too many inputs)."""
    se = draw(st.floats(0.0002, 1.0))
    return se, draw(st.floats(min(1.0, 1.0001 - se + 1e-9), 1.0))


@PROPERTY
@given(rates, better_than_chance(), st.integers(1, 10_000), st.sampled_from(["wald", "lang-reiczigel"]))
def test_rogan_gladen_interval_contains_its_clipped_estimate(
    q: float, accuracy: tuple[float, float], n: int, method: str
) -> None:
    se, sp = accuracy
    assert se + sp > 1.0001
    result = rogan_gladen(q, se, sp, n_judged=n, n_positives=20, n_negatives=20, method=method)  # type: ignore[arg-type]
    assert 0.0 <= result.low <= result.estimate <= result.high <= 1.0


def test_rogan_gladen_hand_derived() -> None:
    # q = 0.3, se = 0.9, sp = 0.95: p = (0.3 + 0.95 - 1) / 0.85 = 0.294118.
    # With se and sp known, Var p = q (1 - q) / n / 0.85^2: half-width 1.959964 sqrt(0.21 / 400) / 0.85.
    result = rogan_gladen(0.3, 0.9, 0.95, n_judged=400)
    half = 1.959964 * math.sqrt(0.21 / 400) / 0.85
    assert result.estimate == pytest.approx(0.25 / 0.85)
    assert (result.low, result.high) == pytest.approx((0.25 / 0.85 - half, 0.25 / 0.85 + half), rel=1e-6)


def test_rogan_gladen_delta_method_matches_simulation() -> None:
    rng = np.random.default_rng(0)
    p, se, sp, n_judged, n_pos, n_neg = 0.2, 0.85, 0.9, 2000, 150, 300
    q = p * se + (1 - p) * (1 - sp)
    q_hat = rng.binomial(n_judged, q, 20_000) / n_judged
    se_hat = rng.binomial(n_pos, se, 20_000) / n_pos
    sp_hat = rng.binomial(n_neg, sp, 20_000) / n_neg
    simulated_sd = np.std((q_hat + sp_hat - 1) / (se_hat + sp_hat - 1))
    result = rogan_gladen(q, se, sp, n_judged=n_judged, n_positives=n_pos, n_negatives=n_neg)
    delta_sd = (result.high - result.low) / (2 * 1.959964)
    assert delta_sd == pytest.approx(simulated_sd, rel=0.05)


def test_rogan_gladen_lang_reiczigel_hand_derived() -> None:
    # 60 of 200 flagged, se 27/30, sp 28/30, z = 1.959964: q~ = (40 + z^2/2) / (200 + z^2),
    # se~ = 28/32, sp~ = 29/32; p~ = (q~ + sp~ - 1) / (se~ + sp~ - 1); shift 2 z^2 (p~ v_se - (1-p~) v_sp).
    z = 1.959964
    q, se, sp = (60 + z * z / 2) / (200 + z * z), 28 / 32, 29 / 32
    v_se, v_sp, youden = se * (1 - se) / 32, sp * (1 - sp) / 32, se + sp - 1
    p = (q + sp - 1) / youden
    sd = math.sqrt(q * (1 - q) / (200 + z * z) + p * p * v_se + (1 - p) ** 2 * v_sp) / youden
    centre = p + 2 * z * z * (p * v_se - (1 - p) * v_sp)
    result = rogan_gladen(
        0.3, 0.9, 28 / 30, n_judged=200, n_positives=30, n_negatives=30, method="lang-reiczigel"
    )
    assert result.estimate == pytest.approx((0.3 + 28 / 30 - 1) / (0.9 + 28 / 30 - 1))
    assert result.low > 0
    assert (result.low, result.high) == pytest.approx((centre - z * sd, centre + z * sd), rel=1e-5)
    with pytest.raises(ValueError, match="needs n_positives"):
        rogan_gladen(0.2, 0.9, 0.9, n_judged=200, method="lang-reiczigel")


def test_rogan_gladen_edges_and_errors() -> None:
    # Below the false-positive floor: the raw estimate is negative and clipped to 0.
    assert rogan_gladen(0.02, 0.9, 0.9, n_judged=100).estimate == 0.0
    chance = rogan_gladen(0.5, 0.5, 0.5, n_judged=100)
    assert math.isnan(chance.estimate) and math.isnan(chance.low)
    for kwargs, message in [
        ({"judge_positive_rate": 1.2}, "judge_positive_rate"),
        ({"sensitivity": -0.1}, "sensitivity"),
        ({"n_judged": 0}, "n_judged"),
        ({"n_positives": 2.5}, "n_positives"),
        ({"confidence": 0.0}, "confidence"),
    ]:
        arguments: dict[str, object] = {
            "judge_positive_rate": 0.3,
            "sensitivity": 0.9,
            "specificity": 0.9,
            "n_judged": 100,
            **kwargs,
        }
        with pytest.raises(ValueError, match=message):
            rogan_gladen(**arguments)  # type: ignore[arg-type]


def simulate(rng: np.random.Generator, n: int, big_n: int, accuracy: float) -> tuple[np.ndarray, ...]:
    """Binary labels with prevalence 0.3 and a judge that agrees with them with the given accuracy."""
    y_all = (rng.random(n + big_n) < 0.3).astype(float)
    judge = np.where(rng.random(n + big_n) < accuracy, y_all, 1 - y_all)
    return y_all[:n], judge[:n], judge[n:]


def test_ppi_mean_hand_formula() -> None:
    rng = np.random.default_rng(1)
    y, f, u = simulate(rng, 50, 400, 0.8)
    result = ppi_mean(y, f, u)
    assert result.estimate == pytest.approx(u.mean() - (f - y).mean())
    standard_error = math.sqrt(np.var(f - y, ddof=1) / 50 + np.var(u, ddof=1) / 400)
    assert result.std_error == pytest.approx(standard_error)
    assert (result.low, result.high) == pytest.approx(
        (result.estimate - 1.959964 * standard_error, result.estimate + 1.959964 * standard_error)
    )
    assert (result.lam, result.n_labeled, result.n_unlabeled) == (1.0, 50, 400)
    assert ppi_plus_plus_mean(y, f, u, lam=0.0).estimate == pytest.approx(y.mean())


def test_ppi_is_unbiased_covers_and_beats_labels_only() -> None:
    rng = np.random.default_rng(2)
    classic, tuned, covered, width_ratio = [], [], 0, []
    for _ in range(400):
        y, f, u = simulate(rng, 100, 2000, 0.9)
        ppi, plus, labels_only = (
            ppi_mean(y, f, u),
            ppi_plus_plus_mean(y, f, u),
            ppi_plus_plus_mean(y, f, u, lam=0),
        )
        classic.append(ppi.estimate)
        tuned.append(plus.estimate)
        covered += ppi.low <= 0.3 <= ppi.high
        width_ratio.append((ppi.high - ppi.low) / (labels_only.high - labels_only.low))
        assert plus.std_error <= labels_only.std_error
    for estimates in (classic, tuned):
        assert np.mean(estimates) == pytest.approx(0.3, abs=3 * np.std(estimates) / math.sqrt(400))
    assert 0.92 <= covered / 400 <= 0.98
    # 90%-accurate judge: Var(Y - F) = 0.1 - 0.04^2, Var(U) = 0.34 * 0.66, Var(Y) = 0.21, n/N = 0.05.
    expected_ratio = math.sqrt((0.1 - 0.04**2 + 0.05 * 0.34 * 0.66) / 0.21)
    assert np.mean(width_ratio) == pytest.approx(expected_ratio, abs=0.02)
    assert np.mean(np.array(width_ratio) < 1) > 0.95


def test_ppi_plus_plus_lam_agrees_with_the_paper_formula() -> None:
    # Paper: lam = Cov(Y, F) / ((1 + n/N) Var(F)), Var(F) from all predictions (as ppi_py computes it).
    rng = np.random.default_rng(3)
    y, f, u = simulate(rng, 500, 5000, 0.85)
    pooled = np.var(np.r_[f, u], ddof=1)
    paper = np.cov(y, f)[0, 1] / ((1 + 500 / 5000) * pooled)
    assert ppi_plus_plus_mean(y, f, u).lam == pytest.approx(paper, abs=0.02)
    useless = rng.random(5500)  # predictions unrelated to the labels: lam near 0
    assert ppi_plus_plus_mean(y, useless[:500], useless[500:]).lam < 0.15


@PROPERTY
@given(
    st.lists(st.tuples(st.floats(-10, 10), st.floats(-10, 10)), min_size=2, max_size=30),
    st.lists(st.floats(-10, 10), min_size=2, max_size=60),
)
def test_ppi_plus_plus_never_wider_than_labels_only(
    labeled: list[tuple[float, float]], unlabeled: list[float]
) -> None:
    y, f = np.array([p[0] for p in labeled]), np.array([p[1] for p in labeled])
    tuned = ppi_plus_plus_mean(y, f, unlabeled)
    classical = ppi_plus_plus_mean(y, f, unlabeled, lam=0.0)
    assert 0.0 <= tuned.lam <= 1.0
    assert tuned.std_error <= classical.std_error * (1 + 1e-9) + 1e-12
    assert tuned.low <= tuned.estimate <= tuned.high
    assert effective_labels(y, f, unlabeled) >= len(y) * (1 - 1e-9) or np.var(y) == 0


def test_effective_labels_hand_derived() -> None:
    # Perfect predictions and U = Y: lam = N / (N + n), Var = Var(Y) / (n + N), worth n + N labels.
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    assert ppi_plus_plus_mean(y, y, y).lam == pytest.approx(0.5)
    assert effective_labels(y, y, y) == pytest.approx(16.0)
    assert effective_labels(y, y, y, lam=0.0) == pytest.approx(8.0)
    # Classic PPI with perfect predictions: Var = Var(U) / N, so Var(Y) / (Var(U) / N) labels.
    u = np.tile(y, 4)
    assert effective_labels(y, y, u, lam=1.0) == pytest.approx(np.var(y, ddof=1) * 32 / np.var(u, ddof=1))


def test_ppi_edge_cases() -> None:
    result = ppi_mean([1.0], [1.0], [0.0, 1.0])
    assert math.isnan(result.estimate) and result.n_labeled == 1
    assert math.isnan(ppi_plus_plus_mean([1, 0], [1, 0], [np.nan, 1]).estimate)  # one usable prediction
    assert math.isnan(effective_labels([1, 1], [1, 0], [0, 1]))  # constant labels
    dropped = ppi_mean([1, 0, np.nan, 1], [1, 0, 1, np.nan], [1, 0, np.nan, 1])
    assert (dropped.n_labeled, dropped.n_unlabeled) == (2, 3)
    with pytest.raises(ValueError, match="lam"):
        ppi_plus_plus_mean([1, 0], [1, 0], [1, 0], lam=math.nan)
    with pytest.raises(ValueError, match="length"):
        ppi_mean([1, 0], [1], [1, 0])


def test_ppi_bounds_clip_a_rate() -> None:
    # 4 labels and 6 unlabelled items: the CLT interval runs past 1 unless clipped.
    y, f, u = [1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1, 1, 0]
    assert ppi_mean(y, f, u).high > 1
    clipped = ppi_mean(y, f, u, bounds=(0.0, 1.0))
    assert 0.0 <= clipped.low <= clipped.estimate <= clipped.high == 1.0
