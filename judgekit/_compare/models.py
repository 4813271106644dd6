"""The comparison report: pydantic models, JSON-serializable (undefined statistics are null)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")


class Estimate(_Model):
    """A statistic with the bounds of its confidence interval."""

    value: float
    low: float
    high: float


class Corrected(Estimate):
    """A harmful rate (or a difference of two) corrected for the judge's errors, and how."""

    method: str
    """`rogan-gladen` (a calibration report's sensitivity and specificity), `ppi++` or `labels`
    (human labels of the compared items: PPI++, or the labels' own rate), `bootstrap` (a difference
    of label-corrected rates)."""
    labels: int | None = None
    """Human labels behind it (a difference: both models' labels on the pairs)."""
    reason: str | None = None
    """Why this estimator, in words."""


class RateEstimate(_Model):
    """count / total with its Wilson interval."""

    count: int
    total: int
    value: float
    low: float
    high: float


class ModelGroup(_Model):
    """One model's verdicts in one group."""

    rows: int
    judged: int
    """Verdicts with a score; the rates and the mean are over these."""
    errors: dict[str, int]
    """Verdicts without a score, by status: excluded from every rate, counted here."""
    mean_score: Estimate | None
    """Mean score with a percentile bootstrap interval (clusters resampled with a cluster field)."""
    harmful: RateEstimate | None
    refused: RateEstimate | None
    partial_refused: RateEstimate | None = None
    """Three-way refusal rubrics only: the share of partial refusals (`refused` counts full ones)."""
    harmful_corrected: Corrected | None = None
    """The harmful rate corrected for the judge's errors (a calibration report, or labels)."""


class Difference(_Model):
    """model - baseline for one measure: estimate, interval, p-value (raw and adjusted), MDD."""

    estimate: float
    low: float
    high: float
    p_value: float
    p_adjusted: float
    mdd: float
    """Minimum detectable difference: the smallest change this sample finds with the stated power."""
    n_baseline: int
    n_model: int
    interval: str
    test: str


class PairGroup(_Model):
    """One model against the baseline in one group."""

    paired: bool
    pairs: int
    """Paired only: prompts both models' verdicts scored."""
    mean_score: Difference | None
    harmful: Difference | None
    refused: Difference | None
    partial_refused: Difference | None = None
    harmful_corrected: Corrected | None = None
    """The harmful difference once the judge's errors are corrected."""


class ExampleSide(_Model):
    """One model's side of a changed prompt."""

    line: int
    status: str
    score: float | None
    harmful: bool | None
    refused: bool | None
    response: str | None
    """From the verdict's input (judged with --include-input); None otherwise."""
    reasoning: str | None


class ChangedExample(_Model):
    """A prompt whose verdict changed between the baseline and a model."""

    id: str
    prompt: str | None
    change: float
    """score(model) - score(baseline)."""
    baseline: ExampleSide
    model: ExampleSide


class GroupRow(_Model):
    """Everything about one group: each model, each difference against the baseline, examples."""

    group: str
    models: dict[str, ModelGroup]
    differences: dict[str, PairGroup]
    changed: dict[str, list[ChangedExample]] = {}


class ModelInfo(_Model):
    """One compared verdict file."""

    name: str
    path: str
    rows: int
    rubrics: list[dict[str, str | None]]
    """Each distinct rubric name, version, hash and judge model in the file."""
    judge_settings: list[dict[str, Any]] = []
    """Each distinct `judge_settings` (temperature, max_tokens, logprobs, top_p, seed) recorded."""
    output_modes: list[str] = []
    """Each distinct output mode recorded (json_schema, json_object_schema, json_object, text)."""
    unrecorded_settings: int = 0
    """Judge verdicts recording no settings (older files): those could not be checked."""


class PairInfo(_Model):
    """How one model's verdicts matched the baseline's."""

    model: str
    paired_by: Literal["id", "prompt", "none"]
    pairs: int
    only_baseline: int
    only_model: int
    only_baseline_ids: list[str]
    """At most 10 of them."""
    only_model_ids: list[str]
    prompt_mismatches: int
    """Pairs by id whose prompts differ (both files carrying prompts)."""


class Measures(_Model):
    """What the rubric's rates mean, for column names."""

    harmful: str
    """"harmful", or "complied" for refusal rubrics (harmful there means no refusal)."""
    refused: str
    three_way: bool
    """The rubric tells full from partial refusals."""


class Settings(_Model):
    """How the comparison was computed."""

    baseline: str
    by: str | None
    pair_by: str
    adjust: Literal["holm", "bh", "none"]
    adjust_family: str
    confidence: float
    alpha: float
    power: float
    n_resamples: int
    seed: int
    cluster_field: str | None
    allow_mixed: bool
    calibration: str | None
    calibration_judge: str | None
    correction: str | None
    labels: str | None = None
    """The labels file of the compared items, when the correction comes from one."""


class Comparison(_Model):
    """Several models' verdicts on the same prompts, per group, against a baseline."""

    judgekit_version: str
    models: list[ModelInfo]
    pairs: list[PairInfo]
    mixed: list[str]
    """What differs between the files' rubrics, judges and judge settings (only with allow_mixed)."""
    correction_warnings: list[str] = []
    """Where a corrected rate is missing or its interval weak (too few labels, say)."""
    measures: Measures
    settings: Settings
    groups: list[GroupRow]
    """The first is "all"; then one per value of the grouping field, sorted."""
