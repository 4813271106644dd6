"""The prompts whose verdict changed most between the baseline and a model, with their text.

Selection works on the columns (bounded: `limit` per group and model); the text of the chosen
lines is then read in one pass over each file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from judgekit._compare.columns import VerdictColumns, field_value, read_lines
from judgekit._compare.models import ChangedExample, ExampleSide

Selection = list[tuple[int, int, float]]
"""(baseline line, model line, score change) of each chosen pair."""


def select_changed(
    base: VerdictColumns,
    other: VerdictColumns,
    base_index: npt.NDArray[np.int64],
    other_index: npt.NDArray[np.int64],
    limit: int,
) -> Selection:
    """The `limit` pairs with the largest score change (a flip of the harmful verdict breaks ties)."""
    ok = base.ok[base_index] & other.ok[other_index]
    ia, ib = base_index[ok], other_index[ok]
    if ia.size == 0 or limit < 1:
        return []
    change = other.scores[ib] - base.scores[ia]
    flipped = (base.harmful[ia] != other.harmful[ib]).astype(np.float64)
    strength = np.abs(change) + 0.5 * flipped
    chosen = np.argsort(-strength, kind="stable")[:limit]
    chosen = chosen[strength[chosen] > 0]
    return [(int(base.lines[ia[i]]), int(other.lines[ib[i]]), float(change[i])) for i in chosen]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _side(line: int, row: dict[str, Any]) -> ExampleSide:
    score = row.get("score")
    return ExampleSide(
        line=line,
        status=str(row.get("status", "ok")),
        score=float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
        harmful=row.get("harmful") if isinstance(row.get("harmful"), bool) else None,
        refused=row.get("refused") if isinstance(row.get("refused"), bool) else None,
        response=_text((row.get("input") or {}).get("response")),
        reasoning=_text(row.get("reasoning")) or _text(field_value(row, "reasoning")),
    )


def resolve_changed(
    base: VerdictColumns, other: VerdictColumns, selections: dict[str, Selection]
) -> dict[str, list[ChangedExample]]:
    """Per group, the selected pairs as examples with prompts, responses and reasoning."""
    base_rows = read_lines(base.path, [b for chosen in selections.values() for b, _, _ in chosen])
    other_rows = read_lines(other.path, [o for chosen in selections.values() for _, o, _ in chosen])
    examples: dict[str, list[ChangedExample]] = {}
    for group, chosen in selections.items():
        examples[group] = []
        for base_line, other_line, change in chosen:
            base_row, other_row = base_rows[base_line], other_rows[other_line]
            prompt = _text((base_row.get("input") or {}).get("prompt")) or _text(
                (other_row.get("input") or {}).get("prompt")
            )
            examples[group].append(
                ChangedExample(
                    id=str(base_row["id"]),
                    prompt=prompt,
                    change=change,
                    baseline=_side(base_line, base_row),
                    model=_side(other_line, other_row),
                )
            )
    return examples
