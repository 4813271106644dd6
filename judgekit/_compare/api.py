"""`compare()`: several models' verdict files, per group, each against a baseline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from judgekit._compare.changed import Selection, resolve_changed, select_changed
from judgekit._compare.columns import VerdictColumns, duplicate_lines, read_columns, read_lines
from judgekit._compare.correction import (
    CORRECTION_METHOD,
    JudgeErrors,
    corrected_difference,
    read_judge_errors,
)
from judgekit._compare.labels import ModelLabels, read_labels
from judgekit._compare.models import (
    Comparison,
    Corrected,
    GroupRow,
    Measures,
    ModelGroup,
    ModelInfo,
    PairGroup,
    PairInfo,
    Settings,
)
from judgekit._compare.pairing import PairBy, Pairing, pair_verdicts
from judgekit._compare.ppi import LABELS_METHOD, difference_from_labels, rate_from_labels
from judgekit._compare.stats import Options, model_group, paired_group, unpaired_group
from judgekit._errors import InputError
from judgekit._summary import measure_names
from judgekit._version import __version__
from judgekit.metrics import adjust_p_values

Adjust = Literal["holm", "bh", "none"]
ALL = "all"
MEASURES = ("mean_score", "harmful", "refused", "partial_refused")
MAX_LISTED_IDS = 10


def compare(
    paths: Sequence[str | Path],
    *,
    names: Sequence[str] | None = None,
    baseline: str | None = None,
    by: str | None = None,
    pair_by: PairBy = "auto",
    cluster_field: str | None = None,
    allow_mixed: bool = False,
    calibration: str | Path | None = None,
    labels: str | Path | None = None,
    adjust: Adjust = "holm",
    confidence: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
    n_resamples: int = 2000,
    seed: int = 0,
    examples: int = 3,
) -> Comparison:
    """Compare the verdict files at `paths` (one per model) against the `baseline` model.

    `names` name the models (default: file stems); the baseline defaults to the first. `by`
    groups by any verdict field, judge field (`fields.*`) or included input field. Verdicts pair
    up by id, else by prompt text (`pair_by="auto"`); unpaired files are compared as independent
    samples. Files of different rubrics, judge models or judge settings are refused unless
    `allow_mixed`. A calibration report (`judgekit calibrate --json`) adds harmful rates corrected
    for the judge's errors (Rogan-Gladen); so does a `labels` file of the compared items (JSONL of
    id, model, label; a random subset of each model's verdicts): PPI++ per model and group.
    p-values are adjusted across the groups (Holm by default; "bh" for Benjamini-Hochberg).
    """
    models = _names(paths, names)
    if baseline is None:
        baseline = models[0]
    if baseline not in models:
        raise InputError(f"baseline {baseline!r} is not one of the models: {', '.join(models)}")
    if calibration is not None and labels is not None:
        raise InputError("give a calibration report or a labels file, not both (one correction at a time)")
    files = [_read(str(path), by, cluster_field) for path in paths]
    mixed = _mixed(models, files)
    if mixed and not allow_mixed:
        raise InputError(
            "the files were judged differently (" + "; ".join(mixed) + "); compare verdicts of one rubric, "
            "judge and judge settings, or pass --allow-mixed (allow_mixed=True) to compare anyway"
        )
    errors = read_judge_errors(str(calibration)) if calibration is not None else None
    options = Options(confidence, alpha, power, n_resamples, seed)
    columns = dict(zip(models, files, strict=True))
    label_sets = read_labels(str(labels), columns) if labels is not None else None
    correction = Correction(errors, label_sets, [])
    base = columns[baseline]
    pairings = {name: pair_verdicts(base, col, pair_by) for name, col in columns.items() if name != baseline}
    groups = [ALL, *sorted({g for col in files for g in col.group_names} - {ALL})] if by else [ALL]
    selections: dict[str, dict[str, Selection]] = {name: {} for name in pairings}
    rows = [
        _group_row(group, columns, baseline, pairings, options, correction, examples, selections)
        for group in groups
    ]
    rows = _with_changed(_adjusted(rows, adjust), columns, baseline, selections)
    if label_sets is not None:
        correction.warnings[:0] = _unjudged_labels(columns, label_sets)
    return Comparison(
        judgekit_version=__version__,
        models=[_info(name, col) for name, col in columns.items()],
        pairs=[_pair_info(name, base, columns[name], pairing) for name, pairing in pairings.items()],
        mixed=mixed,
        correction_warnings=correction.warnings,
        measures=_measures(files),
        settings=Settings(
            baseline=baseline,
            by=by,
            pair_by=pair_by,
            adjust=adjust,
            adjust_family=f"the {len(groups) - 1} groups of one model and one measure" if by else "none",
            confidence=confidence,
            alpha=alpha,
            power=power,
            n_resamples=n_resamples,
            seed=seed,
            cluster_field=cluster_field,
            allow_mixed=allow_mixed,
            calibration=None if calibration is None else str(calibration),
            calibration_judge=None if errors is None else errors.judge,
            correction=CORRECTION_METHOD if errors is not None else LABELS_METHOD if labels else None,
            labels=None if labels is None else str(labels),
        ),
        groups=rows,
    )


def _names(paths: Sequence[str | Path], names: Sequence[str] | None) -> list[str]:
    if len(paths) < 2:
        raise InputError("compare needs at least two verdict files")
    if any(str(path) == "-" for path in paths):
        raise InputError("compare reads files (twice, for the examples); standard input cannot be compared")
    labels = list(names) if names is not None else [Path(path).name.split(".")[0] for path in paths]
    if len(labels) != len(paths):
        raise InputError(f"{len(labels)} names for {len(paths)} files")
    if len(set(labels)) != len(labels):
        raise InputError(f"model names must differ, got {', '.join(labels)}; name them with --name FILE=NAME")
    return labels


def _read(path: str, by: str | None, cluster_field: str | None) -> VerdictColumns:
    columns = read_columns(path, by=by, cluster_field=cluster_field)
    if len(columns) == 0:
        raise InputError("holds no verdict", path=path)
    duplicates = duplicate_lines(columns)
    if duplicates:
        record_id, first, again = duplicates[0]
        more = f" ({len(duplicates) - 1} more repeated ids)" if len(duplicates) > 1 else ""
        raise InputError(
            f"id {record_id!r} is on lines {first} and {again}{more}; ids must be unique within a file "
            "(was one run appended twice? rerun it into a fresh output)",
            path=path,
            line=again,
            field="id",
        )
    return columns


def _mixed(labels: list[str], files: list[VerdictColumns]) -> list[str]:
    """What differs between (or within) the files: rubric, version, hash, judge model, settings.

    A value a verdict does not record (no judge model on an api_error, no settings in an older
    file) is no evidence of a difference and is left out.
    """
    found: dict[str, dict[str, list[str]]] = {}
    for position, what in enumerate(("rubric", "rubric version", "rubric hash", "judge model")):
        found[what] = {
            name: sorted({str(key[position]) for key in col.provenance.rubrics if key[position] is not None})
            for name, col in zip(labels, files, strict=True)
        }
    settings = {name: col.provenance.settings for name, col in zip(labels, files, strict=True)}
    for key in sorted({key for listed in settings.values() for entry in listed for key in entry}):
        found[f"judge {key}"] = {
            name: sorted({_setting(entry.get(key)) for entry in listed}) for name, listed in settings.items()
        }
    found["output mode"] = {
        name: sorted(col.provenance.output_modes) for name, col in zip(labels, files, strict=True)
    }
    differences = []
    for what, seen in found.items():
        if len({value for values in seen.values() for value in values}) > 1:
            differences.append(
                f"{what}: " + ", ".join(f"{name} {'/'.join(v) or '-'}" for name, v in seen.items())
            )
    return differences


def _setting(value: object) -> str:
    """A judge setting as the report names it; an absent one (logprobs, top_p, seed) is "unset"."""
    return "unset" if value is None else json.dumps(value)


def _measures(files: list[VerdictColumns]) -> Measures:
    rubric = files[0].provenance.rubrics[0][0]
    three_way = any(bool(np.any(col.refusal_class >= 0)) for col in files)
    harmful, refused = measure_names(rubric)
    return Measures(harmful=harmful, refused=refused, three_way=three_way)


def _info(name: str, columns: VerdictColumns) -> ModelInfo:
    rubrics = [
        {"rubric": r, "rubric_version": v, "rubric_hash": h, "judge_model": m}
        for r, v, h, m in columns.provenance.rubrics
    ]
    provenance = columns.provenance
    return ModelInfo(
        name=name,
        path=columns.path,
        rows=len(columns),
        rubrics=rubrics,
        judge_settings=provenance.settings,
        output_modes=provenance.output_modes,
        unrecorded_settings=provenance.unrecorded_settings,
    )


def _ids(columns: VerdictColumns, index: np.ndarray) -> list[str]:
    lines = [int(line) for line in columns.lines[index[:MAX_LISTED_IDS]]]
    rows = read_lines(columns.path, lines)
    return [str(rows[line]["id"]) for line in lines]


def _pair_info(name: str, base: VerdictColumns, other: VerdictColumns, pairing: Pairing) -> PairInfo:
    return PairInfo(
        model=name,
        paired_by=pairing.by,
        pairs=int(pairing.base.size),
        only_baseline=int(pairing.only_base.size) if pairing.by != "none" else 0,
        only_model=int(pairing.only_other.size) if pairing.by != "none" else 0,
        only_baseline_ids=_ids(base, pairing.only_base) if pairing.by != "none" else [],
        only_model_ids=_ids(other, pairing.only_other) if pairing.by != "none" else [],
        prompt_mismatches=pairing.prompt_mismatches,
    )


def _mask(columns: VerdictColumns, group: str) -> np.ndarray:
    if group == ALL:
        return np.ones(len(columns), dtype=bool)
    if group not in columns.group_names:
        return np.zeros(len(columns), dtype=bool)
    mask: np.ndarray = columns.groups == columns.group_names.index(group)
    return mask


@dataclass
class Correction:
    """What corrects the harmful rates (a calibration report's error rates, or labels), and warnings."""

    errors: JudgeErrors | None
    labels: dict[str, ModelLabels] | None
    warnings: list[str]


def _group_row(
    group: str,
    columns: dict[str, VerdictColumns],
    baseline: str,
    pairings: dict[str, Pairing],
    options: Options,
    correction: Correction,
    examples: int,
    selections: dict[str, dict[str, Selection]],
) -> GroupRow:
    base = columns[baseline]
    base_mask = _mask(base, group)
    errors = correction.errors
    models = {
        name: model_group(col, _mask(col, group), options, errors, group) for name, col in columns.items()
    }
    if correction.labels is not None:
        models = _label_corrected(group, models, columns, correction, options)
    differences: dict[str, PairGroup] = {}
    for name, pairing in pairings.items():
        other = columns[name]
        if pairing.by == "none":
            ia, ib = np.flatnonzero(base_mask), np.flatnonzero(_mask(other, group))
            difference = unpaired_group(base, other, base_mask, _mask(other, group), options)
        else:
            keep = base_mask[pairing.base]
            ia, ib = pairing.base[keep], pairing.other[keep]
            difference = paired_group(base, other, ia, ib, options)
            if group != ALL or len(columns[baseline].group_names) <= 1:  # else the groups list them
                selections[name][group] = select_changed(base, other, ia, ib, examples)
        if errors is not None and difference.harmful is not None:
            rates = errors.for_group(group)
            corrected = corrected_difference(
                difference.harmful.low, difference.harmful.estimate, difference.harmful.high, rates
            )
            difference = difference.model_copy(update={"harmful_corrected": corrected})
        elif correction.labels is not None and difference.harmful is not None:
            states = (correction.labels[baseline].state, correction.labels[name].state)
            found = _label_difference(base, other, ia, ib, pairing.by != "none", states, options)
            difference = difference.model_copy(update={"harmful_corrected": found})
        differences[name] = difference
    return GroupRow(group=group, models=models, differences=differences)


def _known(columns: VerdictColumns, index: np.ndarray) -> np.ndarray:
    known: np.ndarray = columns.ok[index] & (columns.harmful[index] >= 0)
    return known


def _label_corrected(
    group: str,
    models: dict[str, ModelGroup],
    columns: dict[str, VerdictColumns],
    correction: Correction,
    options: Options,
) -> dict[str, ModelGroup]:
    """Each model's group with its harmful rate corrected by its labels (PPI++); warnings noted."""
    assert correction.labels is not None
    result = {}
    for name, col in columns.items():
        keep = _mask(col, group) & col.ok & (col.harmful >= 0)
        found, warnings = rate_from_labels(
            col.harmful[keep], correction.labels[name].state[keep], options.confidence
        )
        correction.warnings += [f"{group}: {name}: {warning}" for warning in warnings]
        result[name] = models[name].model_copy(update={"harmful_corrected": found})
    return result


def _label_difference(
    base: VerdictColumns,
    other: VerdictColumns,
    ia: np.ndarray,
    ib: np.ndarray,
    paired: bool,
    states: tuple[np.ndarray, np.ndarray],
    options: Options,
) -> Corrected | None:
    """The label-corrected harmful rate of other minus base, over the units the raw difference uses."""
    if paired:
        both = _known(base, ia) & _known(other, ib)
        ia, ib = ia[both], ib[both]
    else:
        ia, ib = ia[_known(base, ia)], ib[_known(other, ib)]
    return difference_from_labels(
        (base.harmful[ia], states[0][ia]),
        (other.harmful[ib], states[1][ib]),
        paired=paired,
        clusters=(
            None if base.clusters is None else base.clusters[ia],
            None if other.clusters is None else other.clusters[ib],
        ),
        confidence=options.confidence,
        n_resamples=options.n_resamples,
        seed=options.seed,
    )


def _unjudged_labels(columns: dict[str, VerdictColumns], labels: dict[str, ModelLabels]) -> list[str]:
    """Warnings for labelled items whose verdict has no harmful decision (left out of the correction)."""
    found = []
    for name, col in columns.items():
        unjudged = int(np.count_nonzero((labels[name].state > 0) & ~(col.ok & (col.harmful >= 0))))
        if unjudged:
            found.append(f"{name}: {unjudged} labelled items have no judge verdict (failed): left out")
    return found


def _with_changed(
    rows: list[GroupRow],
    columns: dict[str, VerdictColumns],
    baseline: str,
    selections: dict[str, dict[str, Selection]],
) -> list[GroupRow]:
    """The rows with their changed prompts, read from the files in one pass per model."""
    resolved = {
        name: resolve_changed(columns[baseline], columns[name], chosen)
        for name, chosen in selections.items()
        if chosen
    }
    return [
        row.model_copy(
            update={
                "changed": {
                    name: found[row.group] for name, found in resolved.items() if found.get(row.group)
                }
            }
        )
        for row in rows
    ]


def _adjusted(rows: list[GroupRow], adjust: Adjust) -> list[GroupRow]:
    """Adjust each model's p-values of each measure across the groups (the "all" row stands alone)."""
    family = [row for row in rows if row.group != ALL]
    if not family:
        return rows
    updates: dict[tuple[str, str], dict[str, object]] = {}
    for name in family[0].differences:
        for measure in MEASURES:
            found = [(row.group, getattr(row.differences[name], measure)) for row in family]
            present = [(group, diff) for group, diff in found if diff is not None]
            adjusted = adjust_p_values([diff.p_value for _, diff in present], adjust)
            for (group, diff), p in zip(present, adjusted, strict=True):
                updates.setdefault((group, name), {})[measure] = diff.model_copy(
                    update={"p_adjusted": float(p)}
                )
    result = []
    for row in rows:
        differences = {
            name: diff.model_copy(update=updates.get((row.group, name), {}))
            for name, diff in row.differences.items()
        }
        result.append(row.model_copy(update={"differences": differences}))
    return result
