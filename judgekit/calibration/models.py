"""The calibration report: pydantic models, JSON-serializable (undefined statistics are null)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")


class Estimate(_Model):
    """A statistic with its 95% interval (Wilson for proportions, bootstrap otherwise)."""

    value: float
    low: float | None = None
    high: float | None = None


class BinaryAgreement(_Model):
    """Judge's harmful decisions against the human reference."""

    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    accuracy: Estimate
    precision: float
    recall: float
    specificity: float
    f1: float
    kappa: Estimate
    judge_rate: float
    """Share the judge called harmful."""
    human_rate: float
    """Share the reference calls harmful."""


class GradedAgreement(_Model):
    """How well the judge's graded score ranks harmful above harmless."""

    roc_auc: float
    pr_auc: float
    roc: list[tuple[float, float]] = []
    """ROC curve points (false-positive rate, true-positive rate), for the report's chart."""
    pr: list[tuple[float, float]] = []
    """Precision-recall points (recall, precision), one per threshold, for the report's chart."""


class OrdinalAgreement(_Model):
    """Judge score against an ordinal human label on the rubric's scale."""

    n: int
    scale: list[float]
    kappa: float
    kappa_linear: float
    kappa_quadratic: Estimate
    alpha_ordinal: float
    alpha_interval: float
    spearman: float
    kendall_tau_b: float
    pearson: float
    mean_absolute_error: float
    bias: float
    """Mean of judge minus human."""


class ThresholdPoint(_Model):
    """One point of the threshold curve (rule: harmful when score >= threshold)."""

    threshold: float
    precision: float
    recall: float
    specificity: float
    f1: float
    kappa: float


class ScoreBin(_Model):
    """How many harmful and harmless items (by the reference) got one score value."""

    score: float
    harmful: int
    harmless: int


class ThresholdChoice(_Model):
    """A threshold chosen on one half of the items and checked on the other half."""

    objective: str
    threshold: float
    chosen_on: int
    held_out: BinaryAgreement
    curve: list[ThresholdPoint]
    """On all labelled items, for the report's chart."""


class CorrectedRate(_Model):
    """The positive rate once the judge's errors are corrected with the human labels.

    The estimator is chosen for the data (see `judgekit.metrics.corrected_rate`): the labels' own
    rate when every judged item is labelled, PPI++ when labels are a random subset, Rogan-Gladen
    when they are a separate validation sample.
    """

    judge_rate: float
    """The judge's raw positive rate over the items whose rate is estimated."""
    n_judged: int
    n_labeled: int
    n_unlabeled: int
    design: Literal["random", "validation"]
    estimate: Estimate
    """The corrected rate and its 95% interval, clipped to [0, 1]."""
    method: Literal["labels", "ppi++", "rogan-gladen", "none"]
    reason: str
    """Why this estimator ran."""
    effective_labels: float
    """Human labels a labels-only estimate would need for the same precision."""
    warnings: list[str] = []
    """Why the interval should not be trusted; empty when it can be."""
    labels_only: Estimate
    """The rate from the human labels alone (Wilson interval)."""


class ClassAgreement(_Model):
    """One class of multi-class labels: how the judge finds it, and its rate."""

    label: str
    support: int
    """Items the reference puts in this class."""
    precision: float
    recall: float
    f1: float
    label_rate: Estimate
    """Share of labelled items in this class (Wilson interval)."""
    judge_rate: float
    """Share of labelled items the judge puts in this class."""
    corrected: CorrectedRate | None = None
    """This class's rate corrected for judge error (the class against the rest)."""


class MulticlassAgreement(_Model):
    """The judge's classes against the reference's, over k text classes."""

    n: int
    classes: list[str]
    ordered: bool
    """Whether the classes have a declared order; weighted kappas are given only then."""
    confusion: list[list[int]]
    """confusion[i][j]: items the reference puts in class i and the judge in class j."""
    accuracy: Estimate
    kappa: Estimate
    kappa_linear: float | None = None
    kappa_quadratic: float | None = None
    macro_f1: float
    micro_f1: float
    per_class: list[ClassAgreement]


class CategoryMulticlass(_Model):
    """Multi-class agreement within one category of --by."""

    category: str
    n: int
    accuracy: float
    macro_f1: float
    kappa: float


MAX_DISAGREEMENTS = 50
"""A judge report lists at most this many false positives, and as many false negatives."""


class Disagreement(_Model):
    """An item where judge and reference disagree, with what a reader needs to judge it."""

    id: str
    kind: Literal["false_positive", "false_negative", "misclassified"]
    score: float | None
    labels: dict[str, float | str | None]
    """Each annotator's label (a class name for class labels)."""
    prompt: str | None = None
    response: str | None = None
    reasoning: str | None = None
    category: str | None = None
    reference_class: str | None = None
    """For class labels: the reference's class and the judge's."""
    judge_class: str | None = None


class CategoryAgreement(_Model):
    """Binary agreement and the corrected harmful rate within one category."""

    category: str
    agreement: BinaryAgreement
    corrected: CorrectedRate | None = None


class JudgeReport(_Model):
    """Everything about one judge."""

    name: str
    field: str
    threshold: float | None
    n_items: int
    """Labelled items with a verdict from this judge and a reference label."""
    missing: int
    """Labelled items this judge has no value for."""
    errors: int
    """Verdicts that failed (status not ok): excluded."""
    binary: BinaryAgreement | None = None
    graded: GradedAgreement | None = None
    ordinal: OrdinalAgreement | None = None
    multiclass: MulticlassAgreement | None = None
    multiclass_by_category: list[CategoryMulticlass] = []
    by_category: list[CategoryAgreement] = []
    threshold_choice: ThresholdChoice | None = None
    score_bins: list[ScoreBin] = []
    """Scores by reference label, for graded judges (the report's histogram)."""
    corrected: CorrectedRate | None = None
    disagreements: list[Disagreement] = []
    false_positives: int = 0
    """All false positives (binary judges), of which `disagreements` lists the first MAX_DISAGREEMENTS."""
    false_negatives: int = 0
    misclassified: int = 0
    """Class labels: all items whose judged class differs from the reference's."""


class AnnotatorAgreement(_Model):
    """One annotator against the majority of the others (leave-one-out)."""

    annotator: str
    n: int
    accuracy: float
    kappa: float


class HumanCeiling(_Model):
    """How much the annotators agree among themselves: the bar a judge is measured against."""

    annotators: list[str]
    alpha: Estimate
    level: str
    fleiss_kappa: float
    leave_one_out: list[AnnotatorAgreement]


class Comparison(_Model):
    """Two judges on the same items, paired."""

    a: str
    b: str
    n: int
    mcnemar_statistic: float
    mcnemar_p: float
    mcnemar_exact: bool
    accuracy_difference: Estimate
    accuracy_p: float
    kappa_difference: Estimate
    kappa_p: float


class JoinReport(_Model):
    """How judged rows and labels matched up by id."""

    judged_rows: int
    labeled_items: int
    joined: int
    only_judged: int
    only_labeled: int
    only_labeled_examples: list[str]
    reference_ties: int
    """Items whose annotators split evenly: no reference label, excluded."""


class Provenance(_Model):
    """Where the numbers come from."""

    judgekit_version: str
    judged: str
    labels: str
    judge_fields: list[str]
    label_fields: list[str]
    reference: str
    by: str | None
    cluster_field: str | None
    seed: int
    n_resamples: int
    rubrics: list[dict[str, Any]]
    """Rubric name, version, hash and judge model of verdict rows, when the judged file has them."""
    positive_label: str = "harmful"
    """What a positive verdict means, for the report's wording: "harmful", or "non-refusal" when
    the rubric measures refusal (its `harmful` means the response did not refuse)."""
    label_order: list[str] | None = None
    """Text labels in their declared order (ordinal), or sorted (nominal); None for numeric labels."""
    ordered: bool = True
    """Whether the labels' order means something: weighted kappas and ordinal statistics need it."""


class CalibrationReport(_Model):
    """Agreement of one or more judges with human labels."""

    provenance: Provenance
    join: JoinReport
    human_ceiling: HumanCeiling | None
    judges: list[JudgeReport]
    comparisons: list[Comparison]
