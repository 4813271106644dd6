"""Compute a CalibrationReport: each judge against the human reference, the humans among themselves."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from judgekit import metrics
from judgekit.calibration.inputs import FloatArray, JudgeColumn, LabelTable
from judgekit.calibration.models import (
    MAX_DISAGREEMENTS,
    AnnotatorAgreement,
    BinaryAgreement,
    CategoryAgreement,
    CategoryMulticlass,
    ClassAgreement,
    Comparison,
    CorrectedRate,
    Disagreement,
    Estimate,
    GradedAgreement,
    HumanCeiling,
    JudgeReport,
    MulticlassAgreement,
    OrdinalAgreement,
    ScoreBin,
    ThresholdChoice,
    ThresholdPoint,
)
from judgekit.metrics.corrected import Design
from judgekit.metrics.thresholds import Objective

DisagreementKind = Literal["false_positive", "false_negative", "misclassified"]
MIN_CATEGORY_ITEMS = 10
"""Categories with fewer labelled items get no breakdown row: their numbers would be noise."""


@dataclass(frozen=True)
class Settings:
    """How to compute: resampling, clusters, the threshold objective, the scale."""

    seed: int = 0
    n_resamples: int = 1000
    clusters: FloatArray | None = None
    objective: Objective = "kappa"
    target_precision: float | None = None
    """With objective "precision": the precision the threshold must reach."""
    scale: tuple[float, float] | None = None
    design: Design = "random"
    """How the labelled items were drawn, for corrected rates."""

    def clusters_of(self, keep: npt.NDArray[Any]) -> FloatArray | None:
        """The clusters of the items `keep` selects, or None when not resampling clusters."""
        return None if self.clusters is None else self.clusters[keep]


@dataclass(frozen=True)
class Breakdown:
    """The category of each labelled item and of each unlabelled judged item."""

    labeled: Sequence[str | None]
    unlabeled: Sequence[str | None]


def reference_labels(table: LabelTable, reference: str) -> FloatArray:
    """One reference label per item: an annotator's, or the annotators' consensus.

    The consensus is the majority for binary labels (an even split is NaN: no reference) and the
    median, rounded half up, for ordinal ones.
    """
    if reference != "majority":
        if reference not in table.annotators:
            raise ValueError(f"unknown annotator '{reference}'; annotators are {', '.join(table.annotators)}")
        return table.values[:, table.annotators.index(reference)]
    if table.classes is not None and not table.ordered:
        return _mode(table.values, len(table.classes))
    return _majority(table.values, binary=table.binary())


def _mode(values: FloatArray, k: int) -> FloatArray:
    """The most frequent class of each row; NaN for a tie or no label."""
    counts = np.stack([np.sum(values == code, axis=1) for code in range(k)], axis=1)
    top = counts.max(axis=1)
    winners = np.sum(counts == top[:, np.newaxis], axis=1)
    return np.where((top > 0) & (winners == 1), counts.argmax(axis=1).astype(float), np.nan)


def _majority(values: FloatArray, *, binary: bool) -> FloatArray:
    counts = np.sum(~np.isnan(values), axis=1)
    with np.errstate(invalid="ignore"):
        if binary:
            share = np.nansum(values, axis=1) / np.where(counts == 0, np.nan, counts)
            return np.where(share > 0.5, 1.0, np.where(share < 0.5, 0.0, np.nan))
        out = np.full(values.shape[0], np.nan)
        rows = counts > 0
        out[rows] = np.floor(np.nanmedian(values[rows], axis=1) + 0.5)
        return out


def binary_agreement(
    reference: FloatArray, predictions: FloatArray, settings: Settings
) -> BinaryAgreement | None:
    """Confusion-matrix statistics with a Wilson interval on accuracy and a bootstrap one on kappa."""
    keep = ~np.isnan(reference) & ~np.isnan(predictions)
    y, p = reference[keep], predictions[keep]
    if not y.size:
        return None
    matrix = metrics.confusion_matrix(y, p)
    accuracy = metrics.wilson_interval(matrix.tp + matrix.tn, matrix.n)
    kappa = metrics.bootstrap_ci(
        _kappa(y, p),
        int(y.size),
        clusters=settings.clusters_of(keep),
        n_resamples=settings.n_resamples,
        seed=settings.seed,
    )
    return BinaryAgreement(
        n=int(y.size),
        tp=matrix.tp,
        fp=matrix.fp,
        fn=matrix.fn,
        tn=matrix.tn,
        accuracy=_estimate(accuracy),
        precision=matrix.precision,
        recall=matrix.recall,
        specificity=matrix.specificity,
        f1=matrix.f1,
        kappa=_estimate(kappa),
        judge_rate=float(p.mean()),
        human_rate=float(y.mean()),
    )


def ordinal_agreement(
    reference: FloatArray, scores: FloatArray, settings: Settings
) -> OrdinalAgreement | None:
    """Weighted kappas on the fixed scale, Krippendorff's alpha, correlations, MAE and bias."""
    keep = ~np.isnan(reference) & ~np.isnan(scores)
    y, s = reference[keep], scores[keep]
    if y.size < 2:
        return None
    low, high = settings.scale or (float(min(y.min(), s.min())), float(max(y.max(), s.max())))
    scale = [float(v) for v in np.arange(low, high + 1)]
    quadratic = metrics.bootstrap_ci(
        lambda idx: metrics.cohen_kappa(y[idx], s[idx], labels=scale, weights="quadratic"),
        int(y.size),
        n_resamples=settings.n_resamples,
        seed=settings.seed,
        clusters=settings.clusters_of(keep),
    )
    pair = np.vstack([y, s])
    return OrdinalAgreement(
        n=int(y.size),
        scale=scale,
        kappa=metrics.cohen_kappa(y, s, labels=scale),
        kappa_linear=metrics.cohen_kappa(y, s, labels=scale, weights="linear"),
        kappa_quadratic=_estimate(quadratic),
        alpha_ordinal=metrics.krippendorff_alpha(pair, level="ordinal", value_domain=scale),
        alpha_interval=metrics.krippendorff_alpha(pair, level="interval"),
        spearman=metrics.spearman(s, y),
        kendall_tau_b=metrics.kendall_tau_b(s, y),
        pearson=metrics.pearson(s, y),
        mean_absolute_error=metrics.mean_absolute_error(s, y),
        bias=metrics.bias(s, y),
    )


def threshold_choice(reference: FloatArray, scores: FloatArray, settings: Settings) -> ThresholdChoice | None:
    """Choose "score >= t" on a random half of the items (whole clusters), report it on the other."""
    keep = np.flatnonzero(~np.isnan(reference) & ~np.isnan(scores))
    if keep.size < 4 or np.unique(reference[keep]).size < 2:
        return None
    groups = settings.clusters[keep] if settings.clusters is not None else keep.astype(float)
    unique = np.unique(groups)
    chosen_groups = np.random.default_rng(settings.seed).permutation(unique)[: unique.size // 2]
    in_choice = np.isin(groups, chosen_groups)
    choose, hold = keep[in_choice], keep[~in_choice]
    if np.unique(reference[choose]).size < 2:
        return None
    threshold = metrics.choose_threshold(
        reference[choose],
        scores[choose],
        objective=settings.objective,
        target_precision=settings.target_precision,
    )
    if math.isnan(threshold):
        return None
    held = np.full(reference.shape, np.nan)
    held[hold] = (scores[hold] >= threshold).astype(float)
    held_out = binary_agreement(np.where(np.isnan(held), np.nan, reference), held, settings)
    if held_out is None:
        return None
    curve = metrics.threshold_curve(reference[keep], scores[keep])
    points = [
        ThresholdPoint(
            threshold=float(t),
            precision=float(pr),
            recall=float(r),
            specificity=float(sp),
            f1=float(f),
            kappa=float(k),
        )
        for t, pr, r, sp, f, k in zip(
            curve.thresholds,
            curve.precision,
            curve.recall,
            curve.specificity,
            curve.f1,
            curve.kappa,
            strict=True,
        )
    ]
    return ThresholdChoice(
        objective=settings.objective,
        threshold=float(threshold),
        chosen_on=int(choose.size),
        held_out=held_out,
        curve=points,
    )


def corrected_rate(
    reference: FloatArray, predictions: FloatArray, unlabeled: FloatArray, design: Design = "random"
) -> CorrectedRate | None:
    """The positive rate corrected for judge error, by the estimator the data allow.

    `unlabeled` holds the judge's decisions on the judged items that have no human label. With
    design "random" the labelled items are a random subset of all judged items; with
    "validation" they only measure the judge, and the rate is the unlabelled items'.
    """
    keep = ~np.isnan(reference) & ~np.isnan(predictions)
    y, f = reference[keep], predictions[keep]
    extra = unlabeled[~np.isnan(unlabeled)]
    if not y.size:
        return None
    result = metrics.corrected_rate(y, f, extra, design=design)
    rated = extra if design == "validation" else np.concatenate([f, extra])
    labels_only = metrics.corrected_rate(y, f)  # the labels' own rate, with the same Wilson interval
    return CorrectedRate(
        judge_rate=float(rated.mean()) if rated.size else math.nan,
        n_judged=int(f.size + extra.size),
        n_labeled=int(y.size),
        n_unlabeled=int(extra.size),
        design=design,
        estimate=_estimate(result),
        method=result.method,
        reason=result.reason,
        effective_labels=result.effective_labels,
        warnings=list(result.warnings),
        labels_only=_estimate(labels_only),
    )


def multiclass_agreement(
    reference: FloatArray,
    codes: FloatArray,
    unlabeled: FloatArray,
    table: LabelTable,
    settings: Settings,
) -> MulticlassAgreement | None:
    """Confusion matrix, per-class precision, recall, F1 and rates, macro and micro F1, kappas."""
    assert table.classes is not None
    keep = ~np.isnan(reference) & ~np.isnan(codes)
    y, c = reference[keep], codes[keep]
    if not y.size:
        return None
    k = len(table.classes)
    matrix = metrics.multiclass_confusion(y, c, n_classes=k)
    scale = list(range(k))
    kappa = metrics.bootstrap_ci(
        lambda idx: metrics.cohen_kappa(y[idx], c[idx], labels=scale),
        int(y.size),
        clusters=settings.clusters_of(keep),
        n_resamples=settings.n_resamples,
        seed=settings.seed,
    )
    extra = unlabeled[~np.isnan(unlabeled)]
    per_class = []
    for code, name in enumerate(table.classes):
        corrected = corrected_rate(
            (y == code).astype(float),
            (c == code).astype(float),
            (extra == code).astype(float),
            settings.design,
        )
        per_class.append(
            ClassAgreement(
                label=name,
                support=int(matrix.support[code]),
                precision=float(matrix.precision[code]),
                recall=float(matrix.recall[code]),
                f1=float(matrix.f1[code]),
                label_rate=_estimate(metrics.wilson_interval(int(matrix.support[code]), matrix.n)),
                judge_rate=float(matrix.judge_rates[code]),
                corrected=corrected,
            )
        )
    ordered = table.ordered
    return MulticlassAgreement(
        n=matrix.n,
        classes=list(table.classes),
        ordered=ordered,
        confusion=matrix.counts.tolist(),
        accuracy=_estimate(metrics.wilson_interval(int(np.trace(matrix.counts)), matrix.n)),
        kappa=_estimate(kappa),
        kappa_linear=metrics.cohen_kappa(y, c, labels=scale, weights="linear") if ordered else None,
        kappa_quadratic=metrics.cohen_kappa(y, c, labels=scale, weights="quadratic") if ordered else None,
        macro_f1=matrix.macro_f1,
        micro_f1=matrix.micro_f1,
        per_class=per_class,
    )


def multiclass_by_category(
    reference: FloatArray, codes: FloatArray, categories: Sequence[str | None], n_classes: int
) -> list[CategoryMulticlass]:
    """Accuracy, macro F1 and kappa per category with at least MIN_CATEGORY_ITEMS labelled items."""
    names = _category_names(categories)
    rows = []
    for name in sorted(set(names)):
        keep = (names == name) & ~np.isnan(reference) & ~np.isnan(codes)
        if keep.sum() < MIN_CATEGORY_ITEMS:
            continue
        matrix = metrics.multiclass_confusion(reference[keep], codes[keep], n_classes=n_classes)
        rows.append(
            CategoryMulticlass(
                category=str(name),
                n=matrix.n,
                accuracy=matrix.accuracy,
                macro_f1=matrix.macro_f1,
                kappa=metrics.cohen_kappa(reference[keep], codes[keep], labels=list(range(n_classes))),
            )
        )
    return rows


MAX_CURVE_POINTS = 200


def graded_agreement(reference: FloatArray, scores: FloatArray) -> GradedAgreement:
    """ROC and PR AUCs with their curves (at most MAX_CURVE_POINTS points each)."""
    roc = metrics.roc_curve(reference, scores)
    curve = metrics.threshold_curve(reference, scores)
    keep = ~np.isnan(curve.precision) & ~np.isnan(curve.recall)
    pr = sorted(zip(curve.recall[keep].tolist(), curve.precision[keep].tolist(), strict=True))
    points = list(zip(roc.fpr.tolist(), roc.tpr.tolist(), strict=True))
    return GradedAgreement(
        roc_auc=metrics.roc_auc(reference, scores),
        pr_auc=metrics.pr_auc(reference, scores),
        roc=_thin(points) if not np.isnan(roc.fpr).any() and not np.isnan(roc.tpr).any() else [],
        pr=_thin([(0.0, pr[0][1]), *sorted(pr)] if pr else []),
    )


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_CURVE_POINTS:
        return points
    step = (len(points) - 1) / (MAX_CURVE_POINTS - 1)
    return [points[round(i * step)] for i in range(MAX_CURVE_POINTS)]


MAX_SCORE_BINS = 20


def score_bins(reference: FloatArray, scores: FloatArray) -> list[ScoreBin]:
    """Counts of harmful and harmless items per score value (or per range, for many values)."""
    keep = ~np.isnan(reference) & ~np.isnan(scores)
    y, s = reference[keep], scores[keep]
    values = np.unique(s)
    if values.size > MAX_SCORE_BINS:
        edges = np.linspace(values.min(), values.max(), MAX_SCORE_BINS + 1)
        s = edges[np.clip(np.searchsorted(edges, s, side="right") - 1, 0, MAX_SCORE_BINS - 1)]
        values = np.unique(s)
    return [
        ScoreBin(
            score=float(v),
            harmful=int(np.sum((s == v) & (y == 1))),
            harmless=int(np.sum((s == v) & (y == 0))),
        )
        for v in values
    ]


def by_category(
    reference: FloatArray,
    predictions: FloatArray,
    categories: Sequence[str | None],
    settings: Settings,
    unlabeled: FloatArray,
    unlabeled_categories: Sequence[str | None],
) -> list[CategoryAgreement]:
    """Binary agreement and corrected rate per category with at least MIN_CATEGORY_ITEMS labelled items."""
    rows = []
    names = _category_names(categories)
    other_names = _category_names(unlabeled_categories)
    for name in sorted(set(names)):
        mask = names == name
        if np.sum(mask & ~np.isnan(reference) & ~np.isnan(predictions)) < MIN_CATEGORY_ITEMS:
            continue
        sub = replace(settings, clusters=settings.clusters_of(mask))
        agreement = binary_agreement(reference[mask], predictions[mask], sub)
        if agreement is not None:
            corrected = corrected_rate(
                reference[mask], predictions[mask], unlabeled[other_names == name], settings.design
            )
            rows.append(CategoryAgreement(category=str(name), agreement=agreement, corrected=corrected))
    return rows


def _category_names(categories: Sequence[str | None]) -> npt.NDArray[np.object_]:
    return np.array([str(c) if c is not None else "(none)" for c in categories], dtype=object)


def disagreements(
    ids: Sequence[str],
    reference: FloatArray,
    column: JudgeColumn,
    table: LabelTable,
    judged: Mapping[str, Mapping[str, Any]],
) -> list[Disagreement]:
    """The first MAX_DISAGREEMENTS items of each kind, with prompt, response and labels.

    Binary judges: false positives, then false negatives. Class labels: misclassified items.
    """
    classes = table.classes
    verdicts = column.scores if classes is not None else column.predictions
    assert verdicts is not None
    found: dict[DisagreementKind, list[Disagreement]] = {
        "false_positive": [],
        "false_negative": [],
        "misclassified": [],
    }
    for position, item in enumerate(ids):
        truth, guess = reference[position], verdicts[position]
        if np.isnan(truth) or np.isnan(guess) or truth == guess:
            continue
        kind: DisagreementKind = (
            "misclassified" if classes is not None else "false_positive" if guess == 1 else "false_negative"
        )
        if len(found[kind]) >= MAX_DISAGREEMENTS:
            continue
        row, attributes = judged.get(item, {}), table.attributes.get(item, {})
        source = {**attributes, **(row.get("input") or {}), **row}
        labels = {
            a: _label_name(v, classes) for a, v in zip(table.annotators, table.values[position], strict=True)
        }
        found[kind].append(
            Disagreement(
                id=item,
                kind=kind,
                score=None if classes is not None else _none_if_nan(column.scores[position]),
                labels=labels,
                prompt=_text(source.get("prompt")),
                response=_text(source.get("response")),
                reasoning=_text(row.get(column.spec.reasoning_field)),
                category=_text(source.get("category")),
                reference_class=classes[int(truth)] if classes is not None else None,
                judge_class=classes[int(guess)] if classes is not None else None,
            )
        )
    return found["false_positive"] + found["false_negative"] + found["misclassified"]


def _label_name(value: float, classes: Sequence[str] | None) -> float | str | None:
    if math.isnan(value):
        return None
    return classes[int(value)] if classes is not None else float(value)


def human_ceiling(table: LabelTable, settings: Settings) -> HumanCeiling | None:
    """Inter-annotator alpha and each annotator against the majority of the others."""
    if len(table.annotators) < 2:
        return None
    binary = table.binary()
    nominal = binary or (table.classes is not None and not table.ordered)
    level: Literal["nominal", "ordinal"] = "nominal" if nominal else "ordinal"
    data = table.values.T
    alpha = metrics.bootstrap_ci(
        lambda idx: metrics.krippendorff_alpha(data[:, idx], level=level),
        table.values.shape[0],
        n_resamples=settings.n_resamples,
        seed=settings.seed,
        clusters=settings.clusters,
    )
    rows = []
    for index, annotator in enumerate(table.annotators):
        others = np.delete(table.values, index, axis=1)
        consensus = (
            _mode(others, len(table.classes))
            if table.classes is not None and not table.ordered
            else _majority(others, binary=binary)
        )
        own = table.values[:, index]
        keep = ~np.isnan(consensus) & ~np.isnan(own)
        if not keep.any():
            continue
        rows.append(
            AnnotatorAgreement(
                annotator=annotator,
                n=int(keep.sum()),
                accuracy=float(np.mean(own[keep] == consensus[keep])),
                kappa=metrics.cohen_kappa(consensus[keep], own[keep]),
            )
        )
    return HumanCeiling(
        annotators=table.annotators,
        alpha=_estimate(alpha),
        level=level,
        fleiss_kappa=metrics.fleiss_kappa(table.values),
        leave_one_out=rows,
    )


def comparisons(
    reference: FloatArray, columns: Sequence[JudgeColumn], settings: Settings
) -> list[Comparison]:
    """Every pair of judges with binary decisions, on the items both judged: McNemar and paired bootstrap."""
    results = []
    binary = [c for c in columns if c.predictions is not None]
    for a, b in itertools.combinations(binary, 2):
        assert a.predictions is not None and b.predictions is not None
        keep = ~np.isnan(reference) & ~np.isnan(a.predictions) & ~np.isnan(b.predictions)
        y, pa, pb = reference[keep], a.predictions[keep], b.predictions[keep]
        if y.size < 2:
            continue
        test = metrics.mcnemar(pa == y, pb == y)
        common: dict[str, Any] = {
            "clusters": settings.clusters_of(keep),
            "n_resamples": settings.n_resamples,
            "seed": settings.seed,
        }
        accuracy = metrics.paired_bootstrap_diff(_accuracy(y, pa), _accuracy(y, pb), int(y.size), **common)
        kappa = metrics.paired_bootstrap_diff(_kappa(y, pa), _kappa(y, pb), int(y.size), **common)
        results.append(
            Comparison(
                a=a.spec.name,
                b=b.spec.name,
                n=int(y.size),
                mcnemar_statistic=test.statistic,
                mcnemar_p=test.p_value,
                mcnemar_exact=test.exact,
                accuracy_difference=_estimate(accuracy),
                accuracy_p=accuracy.p_value,
                kappa_difference=_estimate(kappa),
                kappa_p=kappa.p_value,
            )
        )
    return results


def judge_report(
    ids: Sequence[str],
    reference: FloatArray,
    column: JudgeColumn,
    unlabeled: FloatArray,
    table: LabelTable,
    judged: Mapping[str, Mapping[str, Any]],
    breakdown: Breakdown | None,
    settings: Settings,
) -> JudgeReport:
    """Everything about one judge."""
    if table.classes is not None:
        return _multiclass_report(ids, judged, reference, column, unlabeled, table, breakdown, settings)
    binary_labels, graded, predictions = table.binary(), column.graded, column.predictions
    has_value = ~np.isnan(column.scores)
    binary_reference = reference if binary_labels else np.full(reference.shape, np.nan)
    return JudgeReport(
        name=column.spec.name,
        field=column.spec.field,
        threshold=column.spec.threshold,
        n_items=int(np.sum(has_value & ~np.isnan(reference))),
        missing=int(np.sum(~has_value)) - column.errors,
        errors=column.errors,
        binary=binary_agreement(binary_reference, predictions, settings) if predictions is not None else None,
        graded=graded_agreement(reference, column.scores) if graded and binary_labels else None,
        ordinal=None if binary_labels else ordinal_agreement(reference, column.scores, settings),
        by_category=by_category(
            binary_reference, predictions, breakdown.labeled, settings, unlabeled, breakdown.unlabeled
        )
        if predictions is not None and breakdown is not None
        else [],
        threshold_choice=threshold_choice(binary_reference, column.scores, settings) if graded else None,
        score_bins=score_bins(binary_reference, column.scores) if graded else [],
        corrected=corrected_rate(binary_reference, predictions, unlabeled, settings.design)
        if predictions is not None and binary_labels
        else None,
        disagreements=disagreements(ids, binary_reference, column, table, judged)
        if predictions is not None
        else [],
        false_positives=_count(predictions, binary_reference, 1, 0),
        false_negatives=_count(predictions, binary_reference, 0, 1),
    )


def _count(predictions: FloatArray | None, reference: FloatArray, verdict: float, label: float) -> int:
    """Items the judge gave `verdict` and the reference `label`: all of them, however many are listed."""
    if predictions is None:
        return 0
    return int(np.sum((predictions == verdict) & (reference == label)))


def _multiclass_report(
    ids: Sequence[str],
    judged: Mapping[str, Mapping[str, Any]],
    reference: FloatArray,
    column: JudgeColumn,
    unlabeled: FloatArray,
    table: LabelTable,
    breakdown: Breakdown | None,
    settings: Settings,
) -> JudgeReport:
    assert table.classes is not None
    has_value = ~np.isnan(column.scores)
    return JudgeReport(
        name=column.spec.name,
        field=column.spec.field,
        threshold=None,
        n_items=int(np.sum(has_value & ~np.isnan(reference))),
        missing=int(np.sum(~has_value)) - column.errors,
        errors=column.errors,
        multiclass=multiclass_agreement(reference, column.scores, unlabeled, table, settings),
        multiclass_by_category=multiclass_by_category(
            reference, column.scores, breakdown.labeled, len(table.classes)
        )
        if breakdown is not None
        else [],
        disagreements=disagreements(ids, reference, column, table, judged),
        misclassified=int(np.sum(~np.isnan(reference) & has_value & (reference != column.scores))),
    )


def _accuracy(y: FloatArray, p: FloatArray) -> Callable[[Any], float]:
    return lambda idx: float(np.mean(y[idx] == p[idx]))


def _kappa(y: FloatArray, p: FloatArray) -> Callable[[Any], float]:
    return lambda idx: metrics.cohen_kappa(y[idx], p[idx], labels=[0, 1])


class _Bounded(Protocol):
    """A metrics result with a point estimate and interval bounds."""

    @property
    def estimate(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float: ...


def _estimate(result: _Bounded) -> Estimate:
    return Estimate(value=result.estimate, low=result.low, high=result.high)


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
