"""Judging response files before comparing them: through the bulk engine, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from judgekit._api import score_file


def verdicts_path(responses: str | Path, directory: str | Path, rubric: str) -> Path:
    """Where the verdicts of a response file go: `DIR/<file stem>.<rubric>.verdicts.jsonl`."""
    stem = Path(responses).name.split(".")[0]
    return Path(directory) / f"{stem}.{Path(rubric).stem}.verdicts.jsonl"


def score_responses(
    input_path: str, output_path: str, *, rubric: str, cache: Path | None, **options: Any
) -> None:
    """Judge every record of `input_path` not yet in `output_path` (a rerun resumes), inputs kept.

    The one place `compare` calls the engine: `judgekit.score_file`, with the reply cache at
    `cache` (None: no cache) and `options` such as model, base_url and concurrency.
    """
    score_file(input_path, output_path, rubric=rubric, cache=cache or False, include_input=True, **options)
