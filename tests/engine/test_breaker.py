"""One circuit breaker for a run across worker processes: replies in any worker reset it for all."""

from __future__ import annotations

import json
import multiprocessing
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from runs import score_command, sharded_job, write_rows

import judgekit
from judgekit._engine import processes, sender
from judgekit._engine.breaker import Breaker, SharedCounts
from judgekit._errors import JudgeError
from judgekit._judge import Judge
from judgekit.testing import Fault, JudgeServer
from judgekit.testing.chat import message_texts

_RETRIES = {"max_retries": 1, "retry_deadline_s": 4.0}  # a breaker window of 1 s


def _job(tmp_path: Path, server_url: str, rows: int, **options: Any) -> processes.ShardedJob:
    """A 2-worker job over rows r0..r{rows-1}: worker 0 judges the even rows, worker 1 the odd."""
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": f"r{i}", "response": "[down]" if i % 2 == 0 else "[up]"}) + "\n"
            for i in range(rows)
        )
    )
    judge = Judge("policy", model="judge-model", base_url=server_url, **{**_RETRIES, **options})
    return sharded_job(judge, source, tmp_path / "out.jsonl")


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries 50 ms apart, in forked workers too: outages of a second with no tail of long waits."""
    monkeypatch.setattr(sender, "backoff_s", lambda attempt: 0.05)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.usefixtures("quick_retries")
def test_one_worker_failing_while_another_gets_replies_does_not_trip(
    tmp_path: Path, server: JudgeServer
) -> None:
    # Worker 0's records fail for 1.2 s, longer than the window: alone it would trip.
    outage_ends: list[float] = []

    def respond(payload: dict[str, Any]) -> Fault | None:
        text = " ".join(message_texts(payload["messages"]))
        if "[down]" in text:
            outage_ends[:] = outage_ends or [time.monotonic() + 1.2]
            return Fault.status(500) if time.monotonic() < outage_ends[0] else None
        return Fault.delay(0.1)  # worker 1 gets replies, ten a second for each request in flight

    server.responder = respond
    job = _job(tmp_path, server.url, 240, concurrency=16)
    result = processes.score_file_in_processes(job)
    assert result.summary.overall.rows == 240 and result.progress.errors == 0
    assert result.progress.retries >= 100  # worker 0's first eight records failed for 1.2 s
    assert sorted(v["id"] for v in _lines(tmp_path / "out.jsonl")) == sorted(f"r{i}" for i in range(240))


@pytest.mark.usefixtures("quick_retries")
def test_a_brief_outage_of_every_worker_is_ridden_out(tmp_path: Path, server: JudgeServer) -> None:
    until: list[float] = []

    def respond(payload: dict[str, Any]) -> Fault | None:
        until[:] = until or [time.monotonic() + 0.6]
        return Fault.status(503) if time.monotonic() < until[0] else None

    server.responder = respond
    result = processes.score_file_in_processes(_job(tmp_path, server.url, 64, concurrency=16))
    assert result.summary.overall.rows == 64 and result.progress.errors == 0
    assert result.progress.retries >= 16


@pytest.mark.usefixtures("quick_retries")
def test_failures_of_every_worker_add_up_and_trip_once(tmp_path: Path, server: JudgeServer) -> None:
    server.responder = lambda payload: Fault.status(500)
    job = _job(tmp_path, server.url, 200, concurrency=8, max_retries=20)
    started = time.monotonic()
    with pytest.raises(JudgeError, match=r"failed every request for 1\.\d s .*HTTP 500"):
        processes.score_file_in_processes(job)
    assert time.monotonic() - started < 4


def _count_failures(counts: SharedCounts, failures: int) -> None:
    breaker = Breaker(60.0, shared=counts)
    for request in range(failures):
        breaker.failed("HTTP 500", request)


def test_the_counts_are_one_across_processes_started_by_fork_or_spawn() -> None:
    for method in ("fork", "spawn"):
        context = multiprocessing.get_context(method)
        counts = SharedCounts(context)
        here = Breaker(60.0, shared=counts)
        here.failed("HTTP 500", request=1)
        worker = context.Process(target=_count_failures, args=(counts, 3))
        worker.start()
        worker.join()
        assert worker.exitcode == 0 and here.failures == 4, method
        here.succeeded()  # a reply in one process resets the count for all
        assert Breaker(60.0, shared=counts).failures == 0


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens there once the socket is closed


def test_a_dead_endpoint_stops_every_worker_with_exit_3_and_one_message(tmp_path: Path) -> None:
    source, output = write_rows(tmp_path / "in.jsonl", 200), tmp_path / "out.jsonl"
    with JudgeServer() as server:  # a first run writes 40 verdicts; then the endpoint is gone
        judgekit.score_file(source, output, model="judge-model", base_url=server.url, limit=40, cache=False)
        command = score_command(source, output, server, "--processes", "2", "--retry-deadline", "4")
    command[command.index("--base-url") + 1] = f"http://127.0.0.1:{_dead_port()}/v1"
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert time.monotonic() - started < 8
    assert completed.returncode == 3, completed.stderr
    assert completed.stderr.count("the judge failed") == 1
    assert "failed every request" in completed.stderr and "Cannot connect" in completed.stderr
    lines = _lines(output)
    assert len(lines) >= 40 and len({v["id"] for v in lines}) == len(lines)
    assert [v["status"] for v in lines[:40]] == ["ok"] * 40
