"""Helpers for tests that run `judgekit score` against the local judge server."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

from judgekit._engine.processes import ShardedJob
from judgekit._judge import Judge
from judgekit._records import FieldMap
from judgekit.testing import JudgeServer

ROOT = Path(__file__).parent.parent


def harmbench_converter() -> ModuleType:
    """examples/harmbench_to_jsonl.py, imported by path (examples/ is no package)."""
    spec = importlib.util.spec_from_file_location(
        "harmbench_to_jsonl", ROOT / "examples" / "harmbench_to_jsonl.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sharded_job(
    judge: Judge, source: Path, output: Path, *, cache_path: Path | None = None, processes: int = 2
) -> ShardedJob:
    """A job of `processes` workers judging `source` into `output` with `judge`'s rubric and config."""
    return ShardedJob(
        rubric=judge.rubric,
        config=judge.config,
        cache_path=cache_path,
        input_path=str(source),
        output_path=str(output),
        overwrite=False,
        fields=FieldMap(),
        limit=None,
        processes=processes,
    )


def write_rows(path: Path, rows: int) -> Path:
    """`rows` records with ids r0, r1, ... whose responses carry the marker [row-N]."""
    path.write_text(
        "".join(json.dumps({"id": f"r{i}", "response": f"[row-{i}]"}) + "\n" for i in range(rows))
    )
    return path


def server_args(server: JudgeServer) -> tuple[str, ...]:
    """The options pointing `judgekit score` at `server`."""
    return ("--model", "judge-model", "--base-url", server.url, "--max-retries", "2")


def score_command(source: Path, output: Path, server: JudgeServer, *extra: str) -> list[str]:
    """`judgekit score SOURCE -o OUTPUT` against `server`, as a subprocess command."""
    return [
        sys.executable,
        "-m",
        "judgekit",
        "score",
        str(source),
        "-o",
        str(output),
        *server_args(server),
        *extra,
    ]


def wait_for_size(path: Path, size: int) -> None:
    """Wait (at most 30 s) until `path` holds `size` bytes."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < size):
        time.sleep(0.01)


def requests_per_row(server: JudgeServer) -> Counter[str]:
    """How many requests `server` received for each [row-N] marker."""
    users = [next(m["content"] for m in r["messages"] if m["role"] == "user") for r in server.requests]
    return Counter(text[text.index("[row-") :].split("]")[0] for text in users)
