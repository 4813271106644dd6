"""Verdict files for compare and summarize tests, written through the real Verdict model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from judgekit._verdicts import Verdict

POLICY = {
    "rubric": "policy",
    "rubric_version": "1.0.0",
    "rubric_hash": "policy-hash",
    "judge_model": "judge-a",
}


def verdict(record_id: str, score: float | None, **extra: Any) -> Verdict:
    """A policy verdict (harmful when score >= 5); status other than ok drops the score."""
    fields = {**POLICY, **extra.pop("rubric_fields", {})}
    status = extra.pop("status", "ok")
    ok = status == "ok" and score is not None
    return Verdict(
        id=record_id,
        status=status,
        score=score if ok else None,
        harmful=(score >= 5) if ok and score is not None else None,
        **fields,
        **extra,
    )


def write(path: Path, verdicts: Iterable[Verdict | Mapping[str, Any]]) -> Path:
    """Write verdict lines (Verdicts, or raw dicts for malformed cases)."""
    import json

    lines = [v.to_json() if isinstance(v, Verdict) else json.dumps(v) for v in verdicts]
    path.write_text("".join(line + "\n" for line in lines))
    return path


def scored(path: Path, scores: list[float | None], categories: list[str] | None = None, **extra: Any) -> Path:
    """One verdict per score, ids r0, r1, ..., with prompts and responses included."""
    return write(
        path,
        [
            verdict(
                f"r{i}",
                score,
                category=None if categories is None else categories[i % len(categories)],
                input={"prompt": f"prompt {i}", "response": f"{path.stem} answer {i}"},
                reasoning=f"{path.stem} reasoning {i}",
                **extra,
            )
            for i, score in enumerate(scores)
        ],
    )
