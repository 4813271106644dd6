"""Judge an annotated set with one or more rubrics and models, for calibrating a rubric in one step."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from judgekit._errors import ConfigError
from judgekit._judge import Judge
from judgekit._records import FieldMap, read_records
from judgekit._rubrics import list_rubrics, load_rubric
from judgekit.calibration.inputs import JudgeSpec
from judgekit.calibration.models import CalibrationReport


def judge_name(rubric: str, model: str | None, *, several_models: bool) -> str:
    """How a (rubric, model) judge is named in reports."""
    stem = Path(rubric).stem if rubric.endswith(".toml") else rubric
    return f"{stem}@{model}" if several_models and model else stem


async def judge_labeled_items(
    labels_path: str,
    rubrics: Sequence[str],
    models: Sequence[str | None],
    *,
    fields: FieldMap,
    cache: Any = None,
    **options: Any,
) -> tuple[list[dict[str, Any]], list[JudgeSpec]]:
    """Judge every record of the labels file with each (rubric, model); rows for `calibrate`.

    Each judge contributes a score field named after it, plus `NAME.harmful` and
    `NAME.reasoning`; a failed verdict leaves the score empty (counted as missing).
    """
    records = list(read_records(labels_path, fields))
    rows: dict[str, dict[str, Any]] = {
        r.id: {"id": r.id, **r.as_input(), "category": r.category} for r in records
    }
    specs = []
    several = len(set(models)) > 1
    for rubric in rubrics:
        for model in models:
            name = judge_name(rubric, model, several_models=several)
            judge = Judge(rubric, model=model, cache=cache, **options)
            try:
                verdicts = await judge.ascore(records)
            finally:
                await judge.aclose()
            for verdict in verdicts:
                row = rows[verdict.id]
                row[name] = verdict.score
                row[f"{name}.harmful"] = verdict.harmful
                row[f"{name}.reasoning"] = verdict.reasoning or verdict.error
            specs.append(
                JudgeSpec(name, decision_field=f"{name}.harmful", reasoning_field=f"{name}.reasoning")
            )
    return list(rows.values()), specs


def write_rubric_override(report: CalibrationReport, base: str, output: Path) -> float:
    """Write a rubric that extends `base` with the threshold the first graded judge recommends."""
    choice = next((judge.threshold_choice for judge in report.judges if judge.threshold_choice), None)
    if choice is None:
        raise ConfigError("no threshold to write: the judge's score is not graded (it takes only two values)")
    rubric = load_rubric(base)
    extends = (
        rubric.name
        if base in list_rubrics()
        else os.path.relpath(Path(base).resolve(), output.parent.resolve())
    )
    held = choice.held_out
    output.write_text(
        f"# Written by judgekit calibrate on {datetime.now(UTC):%Y-%m-%d} from {report.provenance.labels}:\n"
        f"# threshold chosen by {choice.objective} on {choice.chosen_on} items; on {held.n} held-out items\n"
        f"# accuracy {held.accuracy.value:.3f}, kappa {held.kappa.value:.3f}.\n"
        f'extends = "{extends}"\n'
        f'name = "{rubric.name}-calibrated"\n'
        f'description = "{rubric.name} with the harmful threshold chosen by judgekit calibrate."\n'
        "\n[scoring]\n"
        f'harmful = "score >= {choice.threshold:g}"\n',
        encoding="utf-8",
    )
    return choice.threshold
