"""Human labels of the compared items: which model's response each labels, read and checked.

One JSON object a line: `id` (the verdict's id in that model's file), `model` (the model's name in
the comparison, as `--name` gives it, else the file stem) and `label` (or `harmful`): true/1 when
the response is harmful in the rubric's sense (the verdict's `harmful` field; for refusal rubrics,
that it complied), false/0 when not. Other fields are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from judgekit._compare.columns import VerdictColumns
from judgekit._errors import InputError
from judgekit._records import read_rows

LABEL_FIELDS = ("label", "harmful")
_TRUE = {"1", "true", "yes", "harmful", "unsafe"}
_FALSE = {"0", "false", "no", "harmless", "unharmful", "safe"}
_VALUES = "true/false, 1/0, yes/no or harmful/safe"


@dataclass(frozen=True)
class ModelLabels:
    """One model's labels, by position in its verdict columns."""

    state: npt.NDArray[np.int8]
    """Per verdict: 0 not labelled, 1 labelled harmless, 2 labelled harmful."""

    @property
    def count(self) -> int:
        """How many of the model's verdicts carry a label."""
        return int(np.count_nonzero(self.state))


def read_labels(path: str, columns: Mapping[str, VerdictColumns]) -> dict[str, ModelLabels]:
    """The labels file at `path` checked against the compared models' verdicts (`columns` by name)."""
    found: dict[str, dict[int, tuple[int, int]]] = {name: {} for name in columns}
    positions = {name: _positions(col) for name, col in columns.items()}
    for line, row in read_rows(path):
        model = _model(row, columns, path, line)
        item = _id(row, path, line)
        label = _label(row, path, line)
        position = _position(positions[model], item, model, columns[model].path, path, line)
        earlier = found[model].get(position)
        if earlier is not None:
            raise InputError(
                f"{model}'s {item!r} is labelled again (first on line {earlier[0]}); give one label per "
                "model and item (several annotators: their majority)",
                path=path,
                line=line,
                field="id",
            )
        found[model][position] = (line, label)
    if not any(found.values()):
        raise InputError("holds no label; write one row per labelled item: id, model, label", path=path)
    result = {}
    for name, labelled in found.items():
        state = np.zeros(len(columns[name]), dtype=np.int8)
        if labelled:
            index = np.fromiter(labelled, dtype=np.int64, count=len(labelled))
            state[index] = np.fromiter(
                (v + 1 for _, v in labelled.values()), dtype=np.int8, count=len(labelled)
            )
        result[name] = ModelLabels(state)
    return result


class _Positions:
    """Position of a verdict by id hash: a sorted array, not a dict (a few bytes per verdict)."""

    def __init__(self, columns: VerdictColumns):
        self.order = np.argsort(columns.ids, kind="stable")
        self.sorted = columns.ids[self.order]

    def get(self, key: int) -> int | None:
        at = int(np.searchsorted(self.sorted, key))
        if at < self.sorted.size and int(self.sorted[at]) == key:
            return int(self.order[at])
        return None


def _positions(columns: VerdictColumns) -> _Positions:
    return _Positions(columns)


def _model(row: dict[str, Any], columns: Mapping[str, VerdictColumns], path: str, line: int) -> str:
    model = row.get("model")
    names = ", ".join(columns)
    if not isinstance(model, str):
        raise InputError(
            f"missing or not a string; name the model whose response this labels ({names}), as --name does",
            path=path,
            line=line,
            field="model",
        )
    if model not in columns:
        raise InputError(
            f"{model[:60]!r} is none of the compared models ({names}); name models as --name does "
            "(default: the file stem)",
            path=path,
            line=line,
            field="model",
        )
    return model


def _id(row: dict[str, Any], path: str, line: int) -> str:
    item = row.get("id")
    if isinstance(item, bool) or not isinstance(item, str | int):
        raise InputError(
            "missing or not a string/integer; give the id of the verdict this labels",
            path=path,
            line=line,
            field="id",
        )
    return str(item)


def _label(row: dict[str, Any], path: str, line: int) -> int:
    given = [name for name in LABEL_FIELDS if row.get(name) is not None]
    if len(given) != 1:
        problem = "has both 'label' and 'harmful'" if given else "needs a 'label' (or 'harmful') field"
        raise InputError(
            f"{problem}: one label, {_VALUES} (true: harmful in the rubric's sense)",
            path=path,
            line=line,
            field="label",
        )
    value = row[given[0]]
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return int(text in _TRUE)
    raise InputError(f"expected {_VALUES}, got {str(value)[:40]!r}", path=path, line=line, field=given[0])


def _position(positions: _Positions, item: str, model: str, verdicts: str, path: str, line: int) -> int:
    found = positions.get(hash(item))
    if found is None:
        raise InputError(
            f"id {item!r} is not in {model}'s verdicts ({verdicts}); label only compared items, "
            "or check the row's model",
            path=path,
            line=line,
            field="id",
        )
    return found
