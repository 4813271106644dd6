"""judgekit against a real OpenAI-compatible server: llama-cpp-python serving SmolLM2-135M-Instruct.

Rows are few and retries low to keep the run within CI's budget: SmolLM2 answers one request at
a time, in about 1-15 s on 2 cores.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest
from click.testing import CliRunner
from realserver import MODEL_ALIAS, N_CTX, LlamaServer
from runs import harmbench_converter

import judgekit
from judgekit._config import OutputMode
from judgekit.cli import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parent.parent.parent
HARMBENCH = ROOT / "tests" / "data" / "harmbench"
LLM_RUBRICS = ("policy", "behavior", "strongreject", "hazards")
MODES = get_args(OutputMode)
ROWS = 2
"""Rows per rubric and mode: enough to tell 'all api_error' from 'some verdicts'."""
MAX_RESPONSE_CHARS = 1500
"""Short responses keep prompts well inside n_ctx (2048 tokens) and each request near 10 s."""
QUEUE_ROWS = 8
QUEUE_TIMEOUT_FACTOR = 4
"""At concurrency 8 and 64 the timeout is this many times the slowest request of the same rows
run one at a time (the baseline): each request alone fits with room to spare, but sent at once
the last of 8 in a one-slot server's queue waits for all the others (about 6 times the slowest
here). Flow control must send no more than the server answers in time (see FlowControl)."""

COMPLETED = (0, 4)
"""Exit codes of a run that went through every row: 4 says no row parsed into a verdict, which a
135M model's replies often do not (the tests here check the engine, not the model's judgement)."""
MAX_TOKENS = "160"
"""Grammar-constrained generation runs at 2-7 tokens/s here: a short budget keeps each request
under a minute (a reply cut short is a parse_error, which these tests allow)."""


def harmbench_rows(count: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """`count` HarmBench validation rows whose prompts fit the server's context."""
    rows = harmbench_converter().read_rows(HARMBENCH)
    rows = [r for r in rows if len(str(r["response"])) <= MAX_RESPONSE_CHARS]
    return random.Random(seed).sample(rows, count)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if v is not None}) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def score(
    server: LlamaServer, source: Path, output: Path, *options: str
) -> tuple[int, str, list[dict[str, Any]]]:
    """Run `judgekit score` in-process against the server; (exit code, stderr, verdicts)."""
    args = [
        "score", str(source), "-o", str(output), "--overwrite", "--model", MODEL_ALIAS,
        "--base-url", server.url, "--no-cache", *options,
    ]  # fmt: skip
    result = CliRunner().invoke(main, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    verdicts = read_jsonl(output) if output.exists() else []
    return result.exit_code, result.stderr, verdicts


def statuses(verdicts: list[dict[str, Any]]) -> Counter[str]:
    return Counter(v["status"] for v in verdicts)


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("records") / "records.jsonl", harmbench_rows(ROWS))


def _mode_param(rubric: str, mode: str) -> Any:
    return pytest.param(rubric, mode, id=f"{rubric}-{mode}")


def test_the_server_lists_its_model(llama_server: LlamaServer) -> None:
    assert [m["id"] for m in llama_server.models()["data"]] == [MODEL_ALIAS]  # type: ignore[index]


@pytest.mark.parametrize(("rubric", "mode"), [_mode_param(r, m) for r in LLM_RUBRICS for m in MODES])
def test_every_rubric_in_every_output_mode(
    llama_server: LlamaServer, records: Path, tmp_path: Path, rubric: str, mode: str
) -> None:
    started = time.monotonic()
    code, err, verdicts = score(
        llama_server, records, tmp_path / "out.jsonl", "--rubric", rubric, "--output-mode", mode,
        "--max-retries", "1", "--max-tokens", MAX_TOKENS,
    )  # fmt: skip
    if mode == "json_schema":  # llama-cpp-python rejects it with a 500: the run stops at once, once
        assert code == 3 and "--output-mode" in err, err
        assert time.monotonic() - started < 30 and not verdicts
        return
    assert code in COMPLETED, err
    assert len(verdicts) == ROWS
    counts = statuses(verdicts)
    assert counts["api_error"] < ROWS, f"every row is api_error: {verdicts[0].get('error')}"
    expected = "json_object_schema" if mode == "auto" else mode
    assert {v.get("output_mode") for v in verdicts} == {expected}, verdicts


def test_logprobs_give_an_expected_score(llama_server: LlamaServer, records: Path, tmp_path: Path) -> None:
    code, err, verdicts = score(
        llama_server, records, tmp_path / "out.jsonl", "--rubric", "behavior",
        "--output-mode", "json_object_schema", "--logprobs",
    )  # fmt: skip
    assert code in COMPLETED, err
    ok = [v for v in verdicts if v["status"] == "ok"]
    assert ok, statuses(verdicts)
    assert all(v.get("expected_score") is not None for v in ok)


def test_both_transports_judge_every_row(llama_server: LlamaServer, records: Path, tmp_path: Path) -> None:
    outcomes = {}
    for transport in ("aiohttp", "sdk"):
        code, err, verdicts = score(
            llama_server, records, tmp_path / f"{transport}.jsonl", "--rubric", "behavior",
            "--output-mode", "text", "--transport", transport, "--keep-raw",
        )  # fmt: skip
        assert code in COMPLETED, err
        assert statuses(verdicts)["api_error"] == 0, verdicts
        outcomes[transport] = sorted(v["id"] for v in verdicts)
    # Replies are not compared: at temperature 0 llama.cpp still varies when it reuses the
    # previous prompt's KV cache (seen: the same request worded differently the second time).
    assert outcomes["aiohttp"] == outcomes["sdk"]


@dataclass(frozen=True)
class Baseline:
    source: Path
    slowest_s: float
    total_s: float


@pytest.fixture(scope="module")
def queue_baseline(llama_server: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    """The queue test's rows judged one at a time with the default timeout: each one's own latency."""
    folder = tmp_path_factory.mktemp("queue")
    source = write_jsonl(folder / "in.jsonl", harmbench_rows(QUEUE_ROWS, seed=5))
    served_before = llama_server.completions_served()
    code, err, verdicts = score(
        llama_server, source, folder / "out.jsonl", "--rubric", "behavior", "--output-mode", "text",
        "--concurrency", "1",
    )  # fmt: skip
    assert code in COMPLETED, err
    assert statuses(verdicts)["api_error"] == 0, verdicts
    assert llama_server.completions_served() - served_before == QUEUE_ROWS
    latencies = [v["latency_ms"] / 1000 for v in verdicts]
    return Baseline(source, max(latencies), sum(latencies))


def test_concurrency_1_queues_nothing(queue_baseline: Baseline) -> None:
    assert queue_baseline.slowest_s < 120


@pytest.mark.parametrize("concurrency", [8, 64])
def test_concurrency_above_the_slots_queues_without_timeouts(
    llama_server: LlamaServer, queue_baseline: Baseline, tmp_path: Path, concurrency: int
) -> None:
    timeout_s = max(5.0, QUEUE_TIMEOUT_FACTOR * queue_baseline.slowest_s)
    served_before = llama_server.completions_served()
    started = time.monotonic()
    code, err, verdicts = score(
        llama_server, queue_baseline.source, tmp_path / "out.jsonl", "--rubric", "behavior",
        "--output-mode", "text", "--concurrency", str(concurrency), "--timeout", f"{timeout_s:.1f}",
        "--max-retries", "1",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert code in COMPLETED, err
    failed = [v for v in verdicts if v["status"] == "api_error"]
    assert not failed, (
        f"{len(failed)} api_error in {elapsed:.0f} s with a {timeout_s:.0f} s timeout "
        f"(one at a time: {queue_baseline.total_s:.0f} s in all): {failed[0].get('error')}"
    )
    # Every request the server computed was needed: nothing was abandoned and sent again.
    assert llama_server.completions_served() - served_before == QUEUE_ROWS


def test_a_record_longer_than_the_context_gets_api_error_and_the_run_goes_on(
    llama_server: LlamaServer, tmp_path: Path
) -> None:
    rows = harmbench_rows(2, seed=7)
    rows.insert(1, {**rows[0], "id": "too-long", "response": "word " * (2 * N_CTX)})
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    started = time.monotonic()
    code, err, verdicts = score(
        llama_server, source, tmp_path / "out.jsonl", "--rubric", "behavior", "--output-mode", "text"
    )
    assert code in COMPLETED, err
    by_id = {v["id"]: v for v in verdicts}
    assert by_id["too-long"]["status"] == "api_error"
    assert "context" in by_id["too-long"]["error"]
    assert [by_id[r["id"]]["status"] != "api_error" for r in rows if r["id"] != "too-long"] == [True, True]
    assert time.monotonic() - started < 60, "a 400 must not be retried"


def test_calibrate_behavior_end_to_end(llama_server: LlamaServer, tmp_path: Path) -> None:
    converter = harmbench_converter()
    rows = harmbench_rows(40, seed=3)
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        [{k: r[k] for k in converter.LABEL_FIELDS if r.get(k) is not None} for r in rows],
    )
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        main,
        [
            "calibrate", str(labels), "--rubric", "behavior", "--model", MODEL_ALIAS,
            "--base-url", llama_server.url, "--no-cache", "--json", str(report), "--resamples", "100",
            "--max-tokens", "64", "--concurrency", "2",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    judged = json.loads(report.read_text())
    assert judged["judges"], judged


def test_score_from_python(llama_server: LlamaServer) -> None:
    rows = harmbench_rows(2, seed=11)
    verdicts = judgekit.score(
        rows,
        rubric="behavior",
        model=MODEL_ALIAS,
        base_url=llama_server.url,
        output_mode="text",
        concurrency=2,
    )
    assert [v.id for v in verdicts] == [r["id"] for r in rows]
    assert all(v.status != "api_error" for v in verdicts), [v.error for v in verdicts]
    assert all(v.latency_ms for v in verdicts)
