"""Per-group statistics of one model, and of one model against the baseline, over columns."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from judgekit._compare.columns import VerdictColumns
from judgekit._compare.correction import JudgeErrors, corrected_rate
from judgekit._compare.models import Difference, Estimate, ModelGroup, PairGroup, RateEstimate
from judgekit.metrics import (
    MeanDifference,
    RateDifference,
    bootstrap_means,
    mdd_means,
    mdd_paired_proportions,
    mdd_proportions,
    paired_mean_difference,
    paired_rate_difference_from_table,
    unpaired_mean_difference,
    unpaired_rate_difference,
    wilson_interval,
)

Mask = npt.NDArray[np.bool_]
Index = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Options:
    """Statistical settings shared by every group."""

    confidence: float
    alpha: float
    power: float
    n_resamples: int
    seed: int


def _rate(count: int, total: int, confidence: float) -> RateEstimate | None:
    if total == 0:
        return None
    interval = wilson_interval(count, total, confidence=confidence)
    return RateEstimate(count=count, total=total, value=count / total, low=interval.low, high=interval.high)


def _clusters(columns: VerdictColumns, index: Index | Mask) -> npt.NDArray[np.int64] | None:
    return None if columns.clusters is None else columns.clusters[index]


def model_group(
    columns: VerdictColumns, mask: Mask, options: Options, errors: JudgeErrors | None, group: str
) -> ModelGroup:
    """One model's verdicts where `mask` is true: counts, mean score and rates with intervals."""
    ok = mask & columns.ok
    judged = int(ok.sum())
    codes, counts = np.unique(columns.statuses[mask & ~columns.ok], return_counts=True)
    failures = {columns.status_names[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}
    mean = None
    if judged:
        replicates = bootstrap_means(
            columns.scores[ok],
            clusters=_clusters(columns, ok),
            n_resamples=options.n_resamples,
            seed=options.seed,
        )
        tail = (1 - options.confidence) / 2
        low, high = np.quantile(replicates, [tail, 1 - tail])
        mean = Estimate(value=float(columns.scores[ok].mean()), low=float(low), high=float(high))
    harmful_known = ok & (columns.harmful >= 0)
    refused_known = ok & (columns.refused >= 0)
    three_way = ok & (columns.refusal_class >= 0)
    harmful = _rate(
        int(np.sum(columns.harmful[harmful_known] == 1)), int(harmful_known.sum()), options.confidence
    )
    corrected = None
    if errors is not None and harmful is not None:
        corrected = corrected_rate(harmful.value, harmful.total, errors.for_group(group), options.confidence)
    return ModelGroup(
        rows=int(mask.sum()),
        judged=judged,
        errors=dict(sorted(failures.items())),
        mean_score=mean,
        harmful=harmful,
        refused=_rate(
            int(np.sum(columns.refused[refused_known] == 1)), int(refused_known.sum()), options.confidence
        ),
        partial_refused=_rate(
            int(np.sum(columns.refusal_class[three_way] == 1)), int(three_way.sum()), options.confidence
        )
        if three_way.any()
        else None,
        harmful_corrected=corrected,
    )


def _from_mean(result: MeanDifference, mdd: float) -> Difference | None:
    method = "paired bootstrap" if result.paired else "bootstrap"
    return _difference(
        result,
        mdd,
        interval=f"{method} percentile ({result.n_resamples} resamples)",
        test="sign-flip permutation test" if result.paired else "permutation test",
    )


def _from_rate(result: RateDifference, mdd: float) -> Difference | None:
    return _difference(result, mdd, interval=result.interval_method, test=result.test_method)


def _difference(
    result: MeanDifference | RateDifference, mdd: float, *, interval: str, test: str
) -> Difference | None:
    """The report's difference for one statistic, unadjusted (Holm/BH adjust it later); None if NaN."""
    if math.isnan(result.estimate):
        return None
    return Difference(
        estimate=result.estimate,
        low=result.low,
        high=result.high,
        p_value=result.p_value,
        p_adjusted=result.p_value,
        mdd=mdd,
        n_baseline=result.n_b,
        n_model=result.n_a,
        interval=interval,
        test=test,
    )


def _paired_rate(
    base: npt.NDArray[np.int8], other: npt.NDArray[np.int8], value: int, options: Options
) -> Difference | None:
    """Paired difference of the share of `value` among pairs where both codes are known (>= 0)."""
    known = (base >= 0) & (other >= 0)
    x, y = other[known] == value, base[known] == value
    both, only_model, only_base = int(np.sum(x & y)), int(np.sum(x & ~y)), int(np.sum(~x & y))
    n = int(known.sum())
    if n == 0:
        return None
    result = paired_rate_difference_from_table(
        both, only_model, only_base, n - both - only_model - only_base, confidence=options.confidence
    )
    noise = 2 * min(only_model, only_base) / n  # discordance with no effect: the symmetric part
    mdd = mdd_paired_proportions(noise, n, alpha=options.alpha, power=options.power)
    return _from_rate(result, mdd)


def _unpaired_rate(
    base: npt.NDArray[np.int8], other: npt.NDArray[np.int8], value: int, options: Options
) -> Difference | None:
    base_known, other_known = base[base >= 0], other[other >= 0]
    if base_known.size == 0 or other_known.size == 0:
        return None
    positives_base, positives_other = int(np.sum(base_known == value)), int(np.sum(other_known == value))
    result = unpaired_rate_difference(
        positives_other, other_known.size, positives_base, base_known.size, confidence=options.confidence
    )
    mdd = mdd_proportions(
        positives_base / base_known.size,
        base_known.size,
        other_known.size,
        alpha=options.alpha,
        power=options.power,
    )
    return _from_rate(result, mdd)


def paired_group(
    base: VerdictColumns, other: VerdictColumns, base_index: Index, other_index: Index, options: Options
) -> PairGroup:
    """Paired differences (model - baseline) over the pairs (base_index[i], other_index[i])."""
    both_ok = base.ok[base_index] & other.ok[other_index]
    ia, ib = base_index[both_ok], other_index[both_ok]
    mean = None
    if ia.size:
        result = paired_mean_difference(
            other.scores[ib],
            base.scores[ia],
            clusters=_clusters(base, ia),
            n_resamples=options.n_resamples,
            confidence=options.confidence,
            seed=options.seed,
        )
        sd = float(np.std(other.scores[ib] - base.scores[ia], ddof=1)) if ia.size > 1 else math.nan
        sd = sd if sd > 0 else math.nan  # no spread: nothing to scale a detectable change by
        mean = _from_mean(result, mdd_means(sd, int(ia.size), alpha=options.alpha, power=options.power))
    three_way = bool(np.any(base.refusal_class[ia] >= 0))
    return PairGroup(
        paired=True,
        pairs=int(ia.size),
        mean_score=mean,
        harmful=_paired_rate(base.harmful[ia], other.harmful[ib], 1, options),
        refused=_paired_rate(base.refused[ia], other.refused[ib], 1, options),
        partial_refused=_paired_rate(base.refusal_class[ia], other.refusal_class[ib], 1, options)
        if three_way
        else None,
    )


def unpaired_group(
    base: VerdictColumns, other: VerdictColumns, base_mask: Mask, other_mask: Mask, options: Options
) -> PairGroup:
    """Unpaired differences (model - baseline) of two independent sets of verdicts."""
    a, b = base_mask & base.ok, other_mask & other.ok
    mean = None
    if a.any() and b.any():
        result = unpaired_mean_difference(
            other.scores[b],
            base.scores[a],
            clusters_a=_clusters(other, b),
            clusters_b=_clusters(base, a),
            n_resamples=options.n_resamples,
            confidence=options.confidence,
            seed=options.seed,
        )
        pooled = np.concatenate(
            [other.scores[b] - other.scores[b].mean(), base.scores[a] - base.scores[a].mean()]
        )
        sd = float(np.sqrt(np.sum(pooled**2) / max(1, pooled.size - 2)))
        mean = _from_mean(
            result, mdd_means(sd, int(a.sum()), int(b.sum()), alpha=options.alpha, power=options.power)
        )
    three_way = bool(np.any(base.refusal_class[a] >= 0))
    return PairGroup(
        paired=False,
        pairs=0,
        mean_score=mean,
        harmful=_unpaired_rate(base.harmful[a], other.harmful[b], 1, options),
        refused=_unpaired_rate(base.refused[a], other.refused[b], 1, options),
        partial_refused=_unpaired_rate(base.refusal_class[a], other.refusal_class[b], 1, options)
        if three_way
        else None,
    )
