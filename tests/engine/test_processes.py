"""Runs split across worker processes: each row judged once, resumable, stoppable, no orphans."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from runs import requests_per_row, score_command, sharded_job, wait_for_size, write_rows

from judgekit._engine import processes
from judgekit._engine.processes import auto_processes
from judgekit._judge import Judge
from judgekit._records import Shard, read_records
from judgekit._summary import Summarizer, summarize_verdicts
from judgekit._verdicts import Verdict
from judgekit.testing import JudgeServer


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_two_workers(
    tmp_path: Path, server: JudgeServer, rows: int, output: Path
) -> tuple[list[str], subprocess.Popen[str], list[int]]:
    """A 2-process run of `rows` rows, once it has written some verdicts, and its workers' pids."""
    source = write_rows(tmp_path / "in.jsonl", rows)
    command = score_command(source, output, server, "--concurrency", "8", "--processes", "2")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_size(output, 5_000)
    return command, process, _children(process.pid)


def test_shards_split_the_records_exactly(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"id": f"r{i}", "response": "x"}) + ("\n\n" if i % 3 else "\n") for i in range(10))
    )
    every = [r.id for r in read_records(source)]
    parts = [[r.id for r in read_records(source, shard=Shard(index=i, of=3))] for i in range(3)]
    assert sorted(itertools.chain(*parts)) == sorted(every) and all(parts)
    limited = [[r.id for r in read_records(source, limit=7, shard=Shard(index=i, of=3))] for i in range(3)]
    assert sorted(itertools.chain(*limited)) == sorted(every[:7])


def test_merged_summaries_equal_one_summary() -> None:
    verdicts = [
        Verdict(
            id=str(i),
            rubric="r",
            rubric_version="1",
            rubric_hash="h",
            category=f"c{i % 2}",
            score=i % 5,
            harmful=i % 5 >= 3,
            refused=i % 4 == 0,
        )
        for i in range(20)
    ] + [Verdict(id="e", rubric="r", rubric_version="1", rubric_hash="h", status="api_error", error="x")]
    halves = Summarizer(by="category"), Summarizer(by="category")
    for index, verdict in enumerate(verdicts):
        halves[index % 2].add(verdict, verdict.category)
    halves[0].merge(halves[1])
    assert halves[0].summary() == summarize_verdicts(verdicts, by="category")


def test_auto_processes_follow_the_requests_in_flight() -> None:
    assert auto_processes(16) == 1
    assert auto_processes(64) == min(2, len(os.sched_getaffinity(0)))


def test_two_processes_judge_every_row_once_like_one(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", 300)
    with JudgeServer(latency_s=0.005) as server:
        single, double = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
        for output, processes in ((single, "1"), (double, "2")):
            completed = _run(
                score_command(
                    source, output, server, "--no-cache", "--concurrency", "16", "--processes", processes
                )
            )
            assert completed.returncode == 0, completed.stderr
        assert "judged 300 records" in completed.stderr and "300" in completed.stdout
        assert sorted(_ids(double)) == sorted(f"r{i}" for i in range(300))
        by_id = {json.loads(line)["id"]: json.loads(line) for line in single.read_text().splitlines()}
        for line in double.read_text().splitlines():
            verdict = json.loads(line)
            assert verdict["score"] == by_id[verdict["id"]]["score"]
        assert set(requests_per_row(server).values()) == {2}  # once per run


def test_a_sharded_run_resumes_and_the_shared_cache_answers(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", 200)
    output = tmp_path / "out.jsonl"
    with JudgeServer() as server:
        first = score_command(source, output, server, "--limit", "50", "--processes", "2")
        assert subprocess.run(first, capture_output=True, check=False).returncode == 0
        assert server.request_count == 50
        completed = _run(score_command(source, output, server, "--processes", "3"))
        assert completed.returncode == 0, completed.stderr
        assert "50 already there" in completed.stderr and "200" in completed.stdout  # whole-file table
        assert sorted(_ids(output)) == sorted(f"r{i}" for i in range(200))
        assert server.request_count == 200
        again = tmp_path / "again.jsonl"
        completed = _run(score_command(source, again, server, "--processes", "2"))
        assert "200 from the cache" in completed.stderr and server.request_count == 200


def test_an_auth_failure_in_a_worker_stops_the_run_with_exit_3(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", 100)
    with JudgeServer(api_key="right") as server:
        completed = _run(score_command(source, tmp_path / "o.jsonl", server, "--processes", "2"))
    assert completed.returncode == 3 and "credentials" in completed.stderr
    assert completed.stderr.count("the judge failed") == 1


def test_stdin_takes_one_process(tmp_path: Path, server: JudgeServer) -> None:
    command = score_command(Path("-"), tmp_path / "o.jsonl", server, "--processes", "2")
    completed = subprocess.run(command, input="", capture_output=True, text=True, check=False)
    assert completed.returncode == 2 and "--processes" in completed.stderr


def test_ctrl_c_stops_every_worker_with_valid_output(tmp_path: Path) -> None:
    rows = 600
    output = tmp_path / "out.jsonl"
    with JudgeServer(latency_s=0.05) as server:
        command, process, workers = _start_two_workers(tmp_path, server, rows, output)
        process.send_signal(signal.SIGINT)  # the parent alone: it must stop its workers itself
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        assert not any(_alive(pid) for pid in workers)
        assert 0 < len(_ids(output)) < rows  # every line is complete JSON
        assert subprocess.run(command, capture_output=True, check=False).returncode == 0
        assert sorted(_ids(output)) == sorted(f"r{i}" for i in range(rows))


def test_workers_stop_when_the_parent_is_killed(tmp_path: Path) -> None:
    rows = 2000
    output = tmp_path / "out.jsonl"
    with JudgeServer(latency_s=0.05) as server:
        command, process, workers = _start_two_workers(tmp_path, server, rows, output)
        assert len(workers) == 2
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)  # the workers hold its stderr until they stop
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.02)
        assert not any(_alive(pid) for pid in workers), "orphaned workers go on writing"
        sent = server.request_count
        assert sent < rows
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        assert completed.returncode == 0, completed.stderr
        assert sorted(_ids(output)) == sorted(f"r{i}" for i in range(rows)), "every row exactly once"
        repeated = [row for row, count in requests_per_row(server).items() if count > 1]
        assert len(repeated) <= 8, f"only rows in flight at the kill may be sent again: {repeated}"


def test_processes_appending_to_one_output_never_tear_lines(tmp_path: Path) -> None:
    writers = 2
    output = tmp_path / "out.jsonl"
    script = (
        "import sys\n"
        "from judgekit._results import VerdictWriter\n"
        "from judgekit._verdicts import Verdict\n"
        "name = sys.argv[2]\n"
        "with VerdictWriter(sys.argv[1]) as writer:\n"
        "    for i in range(3000):\n"
        "        writer.write(Verdict(id=f'{name}-{i}', rubric='r', rubric_version='1', rubric_hash='h',\n"
        "                             reasoning='x' * (i % 5000), score=1))\n"
        "        if i % 7 == 0:\n"
        "            writer.flush()\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(output), f"w{n}"]) for n in range(writers)
    ]
    assert all(process.wait(timeout=60) == 0 for process in processes)
    ids = _ids(output)  # every line parses
    assert sorted(ids) == sorted(f"w{n}-{i}" for n in range(writers) for i in range(3000))


def test_workers_check_the_input_and_the_first_bad_line_is_reported(
    tmp_path: Path, server: JudgeServer
) -> None:
    source = write_rows(tmp_path / "in.jsonl", 40)
    lines = source.read_text().splitlines()
    lines[30] = '{"id": "late", "response": 7}'  # record 30: the first worker's (of 2)
    lines[11] = "{not json"  # record 11: the second worker's, and earlier in the file
    source.write_text("\n".join(lines) + "\n")
    output = tmp_path / "out.jsonl"
    output.write_text("kept\n")
    completed = _run(score_command(source, output, server, "--processes", "2", "--overwrite"))
    assert (
        completed.returncode == 1
        and f"{source}:12" in completed.stderr
        and "invalid JSON" in completed.stderr
    )
    assert output.read_text() == "kept\n", "nothing already written is lost"
    assert server.request_count == 0


def test_an_id_repeated_across_workers_names_both_lines(tmp_path: Path, server: JudgeServer) -> None:
    source = write_rows(tmp_path / "in.jsonl", 10)
    lines = source.read_text().splitlines()
    lines[5] = lines[2]  # records 2 and 5 go to different workers of 2
    source.write_text("\n".join(lines) + "\n")
    completed = _run(score_command(source, tmp_path / "out.jsonl", server, "--processes", "2"))
    assert completed.returncode == 1 and "duplicate id 'r2' (first on line 3)" in completed.stderr
    assert f"{source}:6" in completed.stderr and server.request_count == 0


def test_spawned_workers_as_on_macos(
    tmp_path: Path, server: JudgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "START_METHOD", "spawn")  # fresh interpreters, arguments pickled
    source = write_rows(tmp_path / "in.jsonl", 60)
    output = tmp_path / "out.jsonl"
    judge = Judge("policy", model="judge-model", base_url=server.url, concurrency=4)
    job = sharded_job(judge, source, output, cache_path=tmp_path / "cache.sqlite")
    result = processes.score_file_in_processes(job)
    assert result.summary.overall.rows == 60 and result.progress.total == 60
    assert sorted(_ids(output)) == sorted(f"r{i}" for i in range(60))
    assert server.request_count == 60


def _spawned_workers(parent: int) -> list[int]:
    return [pid for pid in _children(parent) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_sigterm_stops_a_spawned_worker_as_ctrl_c_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "START_METHOD", "spawn")  # a fresh interpreter: no inherited handler
    source, output = write_rows(tmp_path / "in.jsonl", 2000), tmp_path / "out.jsonl"
    with JudgeServer(latency_s=0.05) as server:
        judge = Judge("policy", model="judge-model", base_url=server.url, concurrency=8)
        job = sharded_job(judge, source, output)

        def terminate_the_workers() -> None:  # as Slurm does, though the parent is spared here
            wait_for_size(output, 5_000)
            for pid in _spawned_workers(os.getpid()):
                os.kill(pid, signal.SIGTERM)

        killer = threading.Thread(target=terminate_the_workers)
        killer.start()
        try:
            with pytest.raises(KeyboardInterrupt):  # not "judgekit-worker-0 died (exit code -15)"
                processes.score_file_in_processes(job)
        finally:
            killer.join()
    assert 0 < len(_ids(output)) < 2000  # every line whole
