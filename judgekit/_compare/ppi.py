"""Harmful rates corrected with human labels of the compared items (PPI++), and their differences.

A model's rate in a group is `judgekit.metrics.corrected_rate(..., design="random")` over the
group's judged verdicts: PPI++ when enough labels make it worth it, else the labels' own rate.
A difference between two models is a bootstrap of the same estimators over the units the raw
difference uses (pairs, or each model's verdicts when unpaired): each unit is one of a few kinds
(judge 0/1 x no label / label 0 / label 1, per model), so a resample is a multinomial draw of the
kinds' counts and the estimators run vectorised on counts (docs/design/compare.md).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from judgekit._compare.models import Corrected
from judgekit.metrics._arrays import z_quantile
from judgekit.metrics.corrected import MIN_PPI_LABELS, CorrectedRate, corrected_rate, ppi_counts

Codes = npt.NDArray[np.int8]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

LABELS_METHOD = (
    "human labels of the compared items, a random subset of each model's verdicts: PPI++ "
    f"(judgekit.metrics.corrected_rate, design random) where a group has at least {MIN_PPI_LABELS} "
    "labels and it narrows the interval, else the labels' own rate (Wilson); differences: percentile "
    "bootstrap of the corrected rates over the pairs (or each model's verdicts when unpaired)"
)
SIDE_KINDS = 6
"""judge (0, 1) x label (none, 0, 1): kind = 3 judge + label state."""
MAX_DRAW_CELLS = 4_000_000
"""Resampling weights held at once (resamples x cluster kinds), about 32 MB."""


def rate_from_labels(harmful: Codes, state: Codes, confidence: float) -> tuple[Corrected | None, list[str]]:
    """The corrected harmful rate of judged units (`harmful` 0/1, label `state` 0/1/2), and warnings."""
    result = _corrected(harmful, state, confidence)
    warnings = list(result.warnings)
    if result.method == "none":
        return None, warnings or [result.reason]
    if result.method == "labels" and result.n_unlabeled and result.n_labeled < MIN_PPI_LABELS:
        warnings.append(
            f"only {result.n_labeled} labels (PPI++ needs {MIN_PPI_LABELS}): the labels' own rate, "
            "which ignores the judge"
        )
    corrected = Corrected(
        value=result.estimate,
        low=result.low,
        high=result.high,
        method=result.method,
        labels=result.n_labeled,
        reason=result.reason,
    )
    return corrected, warnings


def _corrected(harmful: Codes, state: Codes, confidence: float) -> CorrectedRate:
    labelled = state > 0
    return corrected_rate(
        (state[labelled] - 1).astype(np.float64),
        harmful[labelled].astype(np.float64),
        harmful[~labelled].astype(np.float64),
        design="random",
        confidence=confidence,
    )


def difference_from_labels(
    base: tuple[Codes, Codes],
    other: tuple[Codes, Codes],
    *,
    paired: bool,
    clusters: tuple[IntArray | None, IntArray | None],
    confidence: float,
    n_resamples: int,
    seed: int,
) -> Corrected | None:
    """Corrected rate of `other` minus that of `base`, each (harmful, label state) over its units.

    Paired: unit i of both is one prompt, resampled together (with the base's clusters when given).
    None when a side has no label.
    """
    fits = [_corrected(h, s, confidence) for h, s in (base, other)]
    if any(fit.method == "none" for fit in fits):
        return None
    z = z_quantile(confidence)
    rng = np.random.default_rng(seed)
    base_codes, other_codes = (3 * h.astype(np.int64) + s for h, s in (base, other))
    if paired:
        draws = _draws(base_codes * SIDE_KINDS + other_codes, SIDE_KINDS**2, clusters[0], n_resamples, rng)
        shaped = draws.reshape(n_resamples, SIDE_KINDS, SIDE_KINDS)
        base_counts, other_counts = shaped.sum(axis=2), shaped.sum(axis=1)
    else:
        base_counts = _draws(base_codes, SIDE_KINDS, clusters[0], n_resamples, rng)
        other_counts = _draws(other_codes, SIDE_KINDS, clusters[1], n_resamples, rng)
    replicates = _estimates(other_counts, fits[1].method, z) - _estimates(base_counts, fits[0].method, z)
    replicates = replicates[~np.isnan(replicates)]
    estimate = fits[1].estimate - fits[0].estimate
    if replicates.size < n_resamples / 2:
        return None
    tail = (1 - confidence) / 2
    low, high = (float(v) for v in np.quantile(replicates, [tail, 1 - tail]))
    return Corrected(
        value=estimate,
        low=min(low, estimate),
        high=max(high, estimate),
        method="bootstrap",
        labels=fits[0].n_labeled + fits[1].n_labeled,
        reason=f"{fits[1].method} minus {fits[0].method}, percentile bootstrap ({n_resamples} resamples)",
    )


def _estimates(counts: IntArray, method: str, z: float) -> FloatArray:
    """Each resample's estimate from its kind counts (columns: 3 judge + label state)."""
    c = counts.astype(np.float64)
    tp, fn, fp, tn = c[:, 5], c[:, 2], c[:, 4], c[:, 1]
    if method == "ppi++":
        estimate: FloatArray = ppi_counts(tp, fn, fp, tn, c[:, 3], c[:, 0] + c[:, 3], z)[0]
        return estimate
    with np.errstate(divide="ignore", invalid="ignore"):
        labels: FloatArray = (tp + fn) / (tp + fn + fp + tn)
    return labels


def _draws(
    codes: IntArray, kinds: int, clusters: IntArray | None, n_resamples: int, rng: np.random.Generator
) -> IntArray:
    """Bootstrap resamples as counts per kind, (n_resamples, kinds): units, or whole clusters."""
    if clusters is None:
        counts = np.bincount(codes, minlength=kinds)
        total = int(counts.sum())
        draws: IntArray = rng.multinomial(total, counts / max(total, 1), size=n_resamples)
        return draws
    _, cluster = np.unique(clusters, return_inverse=True)
    n_clusters = int(cluster.max()) + 1 if cluster.size else 0
    matrix = np.bincount(cluster * kinds + codes, minlength=n_clusters * kinds).reshape(n_clusters, kinds)
    rows, frequency = np.unique(matrix.astype(np.int32), axis=0, return_counts=True)
    chunk = max(1, MAX_DRAW_CELLS // max(1, rows.shape[0]))
    parts = []
    for start in range(0, n_resamples, chunk):
        weights = rng.multinomial(
            n_clusters, frequency / max(n_clusters, 1), size=min(chunk, n_resamples - start)
        )
        parts.append(weights @ rows.astype(np.int64))
    return np.concatenate(parts) if parts else np.zeros((0, kinds), dtype=np.int64)
