"""Calibration inputs: judged rows and human labels, read, checked and joined by id."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from judgekit._errors import InputError
from judgekit._records import read_rows

FloatArray = npt.NDArray[np.float64]
Rows = Iterable[Mapping[str, Any]]

_JUDGE_SPEC = re.compile(r"^(?P<field>.+?)(?::(?P<threshold>[-+]?\d+(?:\.\d+)?))?$")
_TRUE = {"1", "true", "yes", "unsafe", "harmful"}
_FALSE = {"0", "false", "no", "safe", "unharmful"}


@dataclass(frozen=True)
class JudgeSpec:
    """One judge column: a field of the judged rows, and the threshold that makes it binary."""

    field: str
    threshold: float | None = None
    decision_field: str | None = None
    """Boolean field holding the judge's own harmful decision, used when there is no threshold."""
    reasoning_field: str = "reasoning"

    @classmethod
    def parse(cls, text: str) -> JudgeSpec:
        """`score`, or `rating:10` for "harmful when rating >= 10"."""
        match = _JUDGE_SPEC.match(text)
        assert match is not None
        field, threshold = match.group("field"), match.group("threshold")
        decision = "harmful" if field == "score" else None
        return cls(field, float(threshold) if threshold is not None else None, decision_field=decision)

    @property
    def name(self) -> str:
        """How reports name this judge."""
        return self.field if self.threshold is None else f"{self.field}>={self.threshold:g}"


@dataclass(frozen=True)
class JudgeColumn:
    """One judge's values over the joined items (NaN where it gave no verdict)."""

    spec: JudgeSpec
    scores: FloatArray
    predictions: FloatArray | None
    """0/1 harmful decisions, NaN where missing; None when graded with no threshold."""
    errors: int
    """Rows whose verdict failed (status not ok): excluded, as are missing values."""

    @property
    def graded(self) -> bool:
        """Whether the scores take more values than 0 and 1."""
        present = self.scores[~np.isnan(self.scores)]
        return bool(np.setdiff1d(np.unique(present), [0.0, 1.0]).size)


@dataclass(frozen=True)
class LabelTable:
    """Human labels: items x annotators, NaN where an annotator did not label an item."""

    ids: list[str]
    annotators: list[str]
    values: FloatArray
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Other fields of the label rows by id (category, prompt, response, ...)."""
    classes: list[str] | None = None
    """Class names when the labels are classes (values are their codes 0..k-1); None for numbers."""
    ordered: bool = True
    """Whether the classes' order means something (declared with --label-order)."""

    def subset(self, ids: Sequence[str]) -> LabelTable:
        """The table restricted to `ids`, in that order."""
        position = {item: index for index, item in enumerate(self.ids)}
        rows = [position[item] for item in ids]
        attributes = {item: self.attributes.get(item, {}) for item in ids}
        return LabelTable(
            ids=list(ids),
            annotators=self.annotators,
            values=self.values[rows],
            attributes=attributes,
            classes=self.classes,
            ordered=self.ordered,
        )

    def binary(self) -> bool:
        """Whether every label is 0 or 1 (class labels never are: they get the multi-class report)."""
        present = self.values[~np.isnan(self.values)]
        return self.classes is None and bool(np.isin(present, [0.0, 1.0]).all())


def read_jsonl(source: str | Path | Rows) -> list[dict[str, Any]]:
    """Rows of a JSONL file (`-`, `.gz`; errors name file and line), or rows given directly."""
    if not isinstance(source, str | Path):
        return [dict(row) for row in source]
    return [row for _, row in read_rows(source)]


def label_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    label_fields: Sequence[str],
    annotator_field: str | None = None,
    id_field: str = "id",
    source: str = "labels",
    classes: Sequence[str] | None = None,
    ordered: bool = True,
) -> LabelTable:
    """Labels as an items x annotators table.

    Wide form: one row per item, one field per annotator. Long form: one row per item and
    annotator, with `annotator_field` naming the annotator and one label field. With `classes`,
    each label must be one of them and is stored as its position.
    """

    def value(raw: Any, name: str, line: int) -> float:
        if classes is None:
            return _number(raw, name, source, line)
        return class_code(raw, classes, name=name, source=source, line=line)

    if annotator_field is not None and len(label_fields) != 1:
        raise InputError("with --annotator-field, give exactly one --label-field (the label)", path=source)
    cells: dict[str, dict[str, float]] = {}
    attributes: dict[str, dict[str, Any]] = {}
    for line, row in enumerate(rows, start=1):
        item = _id(row, id_field, source, line)
        attributes.setdefault(item, {}).update(
            {k: v for k, v in row.items() if k not in label_fields and k not in (id_field, annotator_field)}
        )
        if annotator_field is None:
            for name in label_fields:
                cells.setdefault(item, {})[name] = value(row.get(name), name, line)
        else:
            annotator = str(row.get(annotator_field, ""))
            if not annotator:
                raise InputError("missing annotator", path=source, line=line, field=annotator_field)
            cells.setdefault(item, {})[annotator] = value(row.get(label_fields[0]), label_fields[0], line)
    annotators = (
        list(label_fields) if annotator_field is None else sorted({a for c in cells.values() for a in c})
    )
    ids = list(cells)
    values = np.array([[cells[i].get(a, math.nan) for a in annotators] for i in ids], dtype=np.float64)
    if not ids or np.isnan(values).all():
        raise InputError(
            f"no labels found in fields {', '.join(label_fields)}; name them with --label-field", path=source
        )
    return LabelTable(
        ids=ids,
        annotators=annotators,
        values=values,
        attributes=attributes,
        classes=list(classes) if classes is not None else None,
        ordered=ordered,
    )


def class_key(value: Any) -> str | None:
    """How a label value names its class: text stripped, numbers as `1` or `0.5`; None if missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{value:g}"
    return str(value).strip()


def class_code(value: Any, classes: Sequence[str], *, name: str, source: str, line: int | None) -> float:
    """The position of `value`'s class in `classes`; NaN if missing; InputError for another value."""
    key = class_key(value)
    if key is None or key == "":
        return math.nan
    folded = [c.lower() for c in classes]
    if key.lower() not in folded:
        raise InputError(
            f"{key[:40]!r} is not one of the classes {', '.join(classes)}; "
            "list every class with --label-order",
            path=source,
            line=line,
            field=name,
        )
    return float(folded.index(key.lower()))


def text_classes(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> list[str] | None:
    """The sorted class names when some label is text that is not a number or yes/no; else None."""
    keys = {class_key(row.get(name)) for row in rows for name in fields} - {None, ""}
    text = [k for k in keys if k is not None and not _numeric_text(k)]
    return sorted(k for k in keys if k is not None) if text else None


def _numeric_text(text: str) -> bool:
    if text.lower() in _TRUE | _FALSE:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def judge_column(
    rows_by_id: Mapping[str, Mapping[str, Any]],
    ids: Sequence[str],
    spec: JudgeSpec,
    *,
    source: str = "judged",
    require_values: bool = True,
    classes: Sequence[str] | None = None,
) -> JudgeColumn:
    """The judge's scores and binary decisions for `ids`, in that order.

    With `classes` the judge's values are class names, stored as codes in `scores`
    (`predictions` is None). A dotted field (`fields.refusal`) reads a nested value.
    """
    scores = np.full(len(ids), math.nan)
    decisions = np.full(len(ids), math.nan)
    decision_field = spec.decision_field if spec.threshold is None else None
    errors = 0
    for position, item in enumerate(ids):
        row = rows_by_id.get(item)
        if row is None:
            continue
        if row.get("status", "ok") != "ok":
            errors += 1
            continue
        raw = field_value(row, spec.field)
        if classes is not None:
            scores[position] = class_code(raw, classes, name=spec.field, source=source, line=None)
            continue
        scores[position] = _number(raw, spec.field, source, None)
        if decision_field is not None and isinstance(row.get(decision_field), bool):
            decisions[position] = float(row[decision_field])
    present = scores[~np.isnan(scores)]
    if not present.size and require_values:
        raise InputError(
            f"no judge values in field '{spec.field}'; name the judge's field with --judge-field",
            path=source,
            field=spec.field,
        )
    predictions: FloatArray | None
    if classes is not None:
        predictions = None
    elif spec.threshold is not None:
        predictions = np.where(np.isnan(scores), math.nan, (scores >= spec.threshold).astype(float))
    elif decision_field is not None and not np.isnan(decisions[~np.isnan(scores)]).any():
        predictions = decisions
    elif np.isin(present, [0.0, 1.0]).all():
        predictions = scores.copy()
    else:
        predictions = None
    return JudgeColumn(spec=spec, scores=scores, predictions=predictions, errors=errors)


def field_value(row: Mapping[str, Any], name: str) -> Any:
    """`row[name]`, or for a dotted name absent at the top (`fields.refusal`) the nested value."""
    if name in row or "." not in name:
        return row.get(name)
    value: Any = row
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _id(row: Mapping[str, Any], id_field: str, source: str, line: int) -> str:
    value = row.get(id_field)
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(
            "missing or not a string/integer; map it with --id-field", path=source, line=line, field=id_field
        )
    return str(value)


def _number(value: Any, name: str, source: str, line: int | None) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise InputError(
            f"expected a number, true/false or yes/no, got {str(value)[:40]!r}",
            path=source,
            line=line,
            field=name,
        ) from None


def rows_by_id(
    rows: Sequence[Mapping[str, Any]], *, id_field: str, source: str
) -> dict[str, Mapping[str, Any]]:
    """Index judged rows by id; a repeated id is an error (it would count twice)."""
    indexed: dict[str, Mapping[str, Any]] = {}
    for line, row in enumerate(rows, start=1):
        item = _id(row, id_field, source, line)
        if item in indexed:
            raise InputError(f"duplicate id {item!r}", path=source, line=line, field=id_field)
        indexed[item] = row
    return indexed
