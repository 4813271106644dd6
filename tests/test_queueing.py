"""Flow control against a server that queues: sent what it can answer within the timeout.

A one-slot `JudgeServer` computes one request at a time, as llama.cpp's server does, through
real HTTP on 127.0.0.1. Without queue control a run at concurrency 64 sends every row at once
and the rows at the back of the server's queue time out and are sent again while the server
still computes them (a timeout storm).
"""

from __future__ import annotations

import json
from pathlib import Path

import judgekit
from judgekit._engine.flow import SLOW_START_LIMIT
from judgekit.testing import JudgeServer

SERVICE_S = 0.1
"""Each request's compute time on the one slot."""


def _records(path: Path, count: int) -> Path:
    rows = [{"id": f"r{i}", "prompt": f"question {i}", "response": f"answer {i}"} for i in range(count)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_one_slot_server_at_concurrency_64_is_judged_without_timeouts(tmp_path: Path) -> None:
    rows = 24
    timeout_s = 10 * SERVICE_S  # sent at once, the last 14 rows would time out
    with JudgeServer(latency_s=SERVICE_S, slots=1) as server:
        result = judgekit.score_file(
            _records(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl", rubric="behavior",
            model="judge-model", base_url=server.url, cache=False, processes=1,
            concurrency=64, timeout_s=timeout_s, max_retries=1,
        )  # fmt: skip
        sent = len(server.requests)
    overall = result.summary.overall
    assert (overall.judged, overall.errors) == (rows, {}), overall
    assert sent == rows  # nothing timed out and was sent again
    assert result.progress.retries == 0
    assert result.progress.concurrency <= SLOW_START_LIMIT * 2


def test_a_parallel_server_is_driven_up_to_the_cap(tmp_path: Path) -> None:
    with JudgeServer(latency_s=0.02) as server:
        result = judgekit.score_file(
            _records(tmp_path / "in.jsonl", 300), tmp_path / "out.jsonl", rubric="behavior",
            model="judge-model", base_url=server.url, cache=False, processes=1, concurrency=32,
        )  # fmt: skip
    assert result.summary.overall.judged == 300
    assert result.progress.concurrency == 32
