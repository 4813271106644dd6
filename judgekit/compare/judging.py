"""Judging response files before comparing them: through the bulk engine, resumable."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from judgekit import bulk
from judgekit.judge import Judge
from judgekit.records import FieldMap


def verdicts_path(responses: str | Path, directory: str | Path, rubric: str) -> Path:
    """Where the verdicts of a response file go: `DIR/<file stem>.<rubric>.verdicts.jsonl`."""
    stem = Path(responses).name.split(".")[0]
    return Path(directory) / f"{stem}.{Path(rubric).stem}.verdicts.jsonl"


def score_responses(input_path: str, output_path: str, *, rubric: str, **options: Any) -> None:
    """Judge every record of `input_path` not yet in `output_path` (a rerun resumes), inputs kept.

    The one place `compare` calls the engine: options are Judge's (model, base_url, cache, ...).
    """
    judge = Judge(rubric, include_input=True, **options)

    async def run() -> None:
        try:
            await bulk.score_file(judge, input_path, output_path, fields=FieldMap())
        finally:
            await judge.aclose()

    asyncio.run(run())
