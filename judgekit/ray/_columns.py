"""The verdict columns of every Ray path: flat, typed, and back to a Verdict."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from judgekit._verdicts import JudgeSettings, Usage, Verdict

Row = dict[str, Any]

VERDICT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("category", pa.string()),
        ("status", pa.string()),
        ("score", pa.float64()),
        ("harmful", pa.bool_()),
        ("refused", pa.bool_()),
        ("categories", pa.list_(pa.string())),
        ("fields_json", pa.string()),
        ("reasoning", pa.string()),
        ("expected_score", pa.float64()),
        ("rubric", pa.string()),
        ("rubric_version", pa.string()),
        ("rubric_hash", pa.string()),
        ("judge_model", pa.string()),
        ("output_mode", pa.string()),
        ("judge_settings_json", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("latency_ms", pa.float64()),
        ("cached", pa.bool_()),
        ("error", pa.string()),
        ("raw", pa.string()),
    ]
)
"""The verdict columns, typed: `score` is always a float, `fields_json` the rubric's fields as JSON
(`judge_settings_json` likewise the judge's request settings)."""

VERDICT_COLUMNS: tuple[str, ...] = tuple(VERDICT_SCHEMA.names)


def verdict_to_row(verdict: Verdict) -> Row:
    """A verdict as one flat row of `VERDICT_COLUMNS` (what Ray can store)."""
    usage = verdict.usage
    return {
        "id": verdict.id,
        "category": verdict.category,
        "status": verdict.status,
        "score": None if verdict.score is None else float(verdict.score),
        "harmful": verdict.harmful,
        "refused": verdict.refused,
        "categories": list(verdict.categories),
        "fields_json": json.dumps(verdict.fields) if verdict.fields else None,
        "reasoning": verdict.reasoning,
        "expected_score": verdict.expected_score,
        "rubric": verdict.rubric,
        "rubric_version": verdict.rubric_version,
        "rubric_hash": verdict.rubric_hash,
        "judge_model": verdict.judge_model,
        "output_mode": verdict.output_mode,
        "judge_settings_json": verdict.judge_settings.model_dump_json(exclude_none=True)
        if verdict.judge_settings is not None
        else None,
        "prompt_tokens": None if usage is None else usage.prompt_tokens,
        "completion_tokens": None if usage is None else usage.completion_tokens,
        "latency_ms": verdict.latency_ms,
        "cached": verdict.cached,
        "error": verdict.error,
        "raw": verdict.raw,
    }


def verdict_from_row(row: Mapping[str, Any]) -> Verdict:
    """The Verdict of a row of `VERDICT_COLUMNS` (e.g. for `judgekit.summarize_verdicts`)."""
    values = {name: plain_value(row.get(name)) for name in VERDICT_COLUMNS}
    prompt_tokens, completion_tokens = values.pop("prompt_tokens"), values.pop("completion_tokens")
    fields_json, settings_json = values.pop("fields_json"), values.pop("judge_settings_json")
    usage = None
    if prompt_tokens is not None or completion_tokens is not None:
        usage = Usage(prompt_tokens=prompt_tokens or 0, completion_tokens=completion_tokens or 0)
    return Verdict(
        **{**values, "categories": list(values["categories"] or [])},
        fields=json.loads(fields_json) if fields_json else {},
        judge_settings=JudgeSettings.model_validate_json(settings_json) if settings_json else None,
        usage=usage,
    )


def plain_value(value: Any) -> Any:
    """A Python value for a NumPy scalar or array (Ray hands rows over in NumPy types).

    NaN is a missing value: pandas-backed readers (`read_json(lines=True)`, `read_csv`) fill gaps with it.
    """
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray):
        return value.tolist()
    return None if isinstance(value, float) and math.isnan(value) else value
