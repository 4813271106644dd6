"""Calibration: how far a judge agrees with human labels, where it goes wrong, and how to correct it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from judgekit._errors import ConfigError, InputError, JudgekitError
from judgekit._rubrics import load_rubric
from judgekit._version import __version__
from judgekit.calibration.analysis import (
    Breakdown,
    Settings,
    comparisons,
    human_ceiling,
    judge_report,
    reference_labels,
)
from judgekit.calibration.inputs import (
    JudgeSpec,
    Rows,
    class_key,
    judge_column,
    label_table,
    read_jsonl,
    rows_by_id,
    text_classes,
)
from judgekit.calibration.models import CalibrationReport, JoinReport, Provenance
from judgekit.metrics.corrected import Design
from judgekit.metrics.thresholds import Objective

__all__ = ["CalibrationReport", "JudgeSpec", "calibrate", "check_objective"]

_DEFAULT_LABEL = re.compile(r"^(label|human(_\w+)?|annotator_\w+)$")
_RUBRIC_KEYS = ("rubric", "rubric_version", "rubric_hash", "judge_model")


def calibrate(
    judged: str | Path | Rows,
    labels: str | Path | Rows,
    *,
    judge_fields: Sequence[str | JudgeSpec] = ("score",),
    label_fields: Sequence[str] | None = None,
    annotator_field: str | None = None,
    id_field: str = "id",
    reference: str = "majority",
    by: str | None = None,
    cluster_field: str | None = None,
    objective: Objective = "kappa",
    target_precision: float | None = None,
    scale: tuple[float, float] | None = None,
    seed: int = 0,
    n_resamples: int = 1000,
    design: Design = "random",
    label_order: Sequence[str] | None = None,
    nominal: bool = False,
) -> CalibrationReport:
    """Compare judge verdicts with human labels.

    `judged` is judgekit's verdict JSONL or any JSONL with an id and a score field; each of
    `judge_fields` is one judge (`field` or `field:threshold`, harmful when the value is at least
    the threshold; judgekit's `score` uses the verdict's own `harmful`). `labels` has one row per
    item with one field per annotator (`label_fields`), or one row per (item, annotator) with
    `annotator_field`. The reference is the annotators' majority (median for ordinal labels) or
    one annotator by name. `by` breaks results down by a field of the labels or the judged rows;
    `cluster_field` (e.g. the prompt id) makes bootstrap intervals resample whole clusters.
    `design` says how the labelled items were drawn: "random" (a random subset of the judged
    items) or "validation" (a separate sample, e.g. by label, that only measures the judge).
    Text labels are classes: `label_order` declares them in order (weighted kappas then apply), or
    `nominal` takes them unordered; numbers become classes too with either option.
    """
    check_objective(objective, target_precision)
    judged_rows = read_jsonl(judged)
    label_rows = read_jsonl(labels)
    judged_source = str(judged) if isinstance(judged, str | Path) else "<rows>"
    labels_source = str(labels) if isinstance(labels, str | Path) else "<rows>"
    fields = list(label_fields) if label_fields else _default_label_fields(label_rows, labels_source)
    classes = _classes(label_rows, fields, label_order, nominal, labels_source)
    table = label_table(
        label_rows,
        label_fields=fields,
        annotator_field=annotator_field,
        id_field=id_field,
        source=labels_source,
        classes=classes,
        ordered=label_order is not None,
    )
    judged_by_id = rows_by_id(judged_rows, id_field=id_field, source=judged_source)
    ids = [item for item in table.ids if item in judged_by_id]
    if not ids:
        raise InputError(
            f"no id of the labels file occurs in {judged_source}; check --id-field", path=labels_source
        )
    joined = table.subset(ids)
    try:
        reference_values = reference_labels(joined, reference)
    except ValueError as error:
        raise InputError(str(error), path=labels_source) from None
    settings = Settings(
        seed=seed,
        n_resamples=n_resamples,
        objective=objective,
        target_precision=target_precision,
        scale=scale,
        clusters=_clusters(ids, cluster_field, joined.attributes, judged_by_id),
        design=design,
    )
    labeled = set(ids)
    unlabeled_ids = [item for item in judged_by_id if item not in labeled]
    breakdown = None
    if by:
        breakdown = Breakdown(
            labeled=[_lookup(item, by, joined.attributes, judged_by_id) for item in ids],
            unlabeled=[_lookup(item, by, {}, judged_by_id) for item in unlabeled_ids],
        )
    specs = [field if isinstance(field, JudgeSpec) else JudgeSpec.parse(field) for field in judge_fields]
    columns = [judge_column(judged_by_id, ids, spec, source=judged_source, classes=classes) for spec in specs]
    reports = []
    for spec, column in zip(specs, columns, strict=True):
        rest = judge_column(
            judged_by_id, unlabeled_ids, spec, source=judged_source, require_values=False, classes=classes
        )
        unlabeled = rest.scores if classes is not None else rest.predictions
        if unlabeled is None:
            unlabeled = np.full(len(unlabeled_ids), np.nan)
        reports.append(
            judge_report(ids, reference_values, column, unlabeled, joined, judged_by_id, breakdown, settings)
        )
    only_labeled = [item for item in table.ids if item not in judged_by_id]
    return CalibrationReport(
        provenance=Provenance(
            judgekit_version=__version__,
            judged=judged_source,
            labels=labels_source,
            judge_fields=[spec.name for spec in specs],
            label_fields=joined.annotators,
            reference=reference,
            by=by,
            cluster_field=cluster_field,
            seed=seed,
            n_resamples=n_resamples,
            rubrics=_rubrics(judged_rows),
            positive_label=_positive_label(_rubrics(judged_rows)),
            label_order=classes,
            ordered=classes is None or label_order is not None,
        ),
        join=JoinReport(
            judged_rows=len(judged_rows),
            labeled_items=len(table.ids),
            joined=len(ids),
            only_judged=len(judged_by_id) - len(ids),
            only_labeled=len(only_labeled),
            only_labeled_examples=only_labeled[:10],
            reference_ties=int(np.sum(np.isnan(reference_values) & ~np.isnan(joined.values).all(axis=1))),
        ),
        human_ceiling=human_ceiling(joined, settings),
        judges=reports,
        comparisons=comparisons(reference_values, columns, settings),
    )


def check_objective(objective: Objective, target_precision: float | None) -> None:
    """Raise ConfigError unless `target_precision` is given exactly when the objective is "precision"."""
    if objective == "precision" and target_precision is None:
        raise ConfigError("--objective precision needs --target-precision P")
    if objective != "precision" and target_precision is not None:
        raise ConfigError("--target-precision goes with --objective precision")


def _default_label_fields(rows: Sequence[Mapping[str, Any]], source: str) -> list[str]:
    names = sorted({name for row in rows for name in row if _DEFAULT_LABEL.match(name)})
    if not names:
        raise InputError(
            "no label fields (label, human, human_*, annotator_*); name them with --label-field", path=source
        )
    return names


def _lookup(
    item: str, name: str, attributes: Mapping[str, Mapping[str, Any]], judged: Mapping[str, Mapping[str, Any]]
) -> Any:
    for source in (attributes.get(item, {}), judged.get(item, {}), judged.get(item, {}).get("input") or {}):
        if name in source:
            return source[name]
    return None


def _clusters(
    ids: Sequence[str],
    field: str | None,
    attributes: Mapping[str, Mapping[str, Any]],
    judged: Mapping[str, Mapping[str, Any]],
) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    if field is None:
        return None
    names = [_lookup(item, field, attributes, judged) for item in ids]
    codes: dict[Any, int] = {}
    return np.array(
        [
            codes.setdefault(name if name is not None else ("(none)", i), len(codes))
            for i, name in enumerate(names)
        ],
        dtype=np.float64,
    )


def _classes(
    rows: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    label_order: Sequence[str] | None,
    nominal: bool,
    source: str,
) -> list[str] | None:
    """The label classes: declared, found (nominal), or None for numeric labels."""
    if label_order is not None and nominal:
        raise ConfigError("give --label-order (ordered classes) or --nominal (unordered), not both")
    if label_order is not None:
        if len(set(label_order)) != len(label_order) or len(label_order) < 2:
            raise ConfigError(
                f"--label-order needs two or more distinct classes, got {','.join(label_order)}"
            )
        return list(label_order)
    names = {class_key(row.get(name)) for row in rows for name in fields} - {None, ""}
    if nominal:
        return sorted(n for n in names if n is not None)
    found = text_classes(rows, fields)
    if found is not None:
        raise InputError(
            f"the labels are text classes ({', '.join(found[:6])}); declare their order with "
            f"--label-order {','.join(found[:6])} (reorder as they rank), or pass --nominal",
            path=source,
        )
    return None


def _positive_label(rubrics: Sequence[Mapping[str, Any]]) -> str:
    """The positive class's name: "non-refusal" when every rubric of the verdicts measures refusal."""
    names = {str(entry["rubric"]) for entry in rubrics if entry.get("rubric")}
    if not names:
        return "harmful"
    for name in names:
        try:
            if load_rubric(name).scoring.refused is None:
                return "harmful"
        except JudgekitError:
            return "harmful"
    return "non-refusal"


def _rubrics(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row.get(name) for name in _RUBRIC_KEYS)
        if any(key) and key not in seen:
            seen[key] = {name: row.get(name) for name in _RUBRIC_KEYS}
    return list(seen.values())
