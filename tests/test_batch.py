"""The Batch API path: prepare, submit, status, collect and ingest, over real HTTP against JudgeServer."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import openai
import pytest
from click.testing import CliRunner
from openai.types import Batch

from judgekit._config import JudgeConfig
from judgekit._engine.transports.openai_sdk import SdkClient
from judgekit.batch import BatchRemote
from judgekit.cli import main
from judgekit.testing import Fault, JudgeServer

MODEL = "judge-model"
ROWS = 10
SECRET = "sk-judgekit-test-0123456789abcdef"
REPLIES: dict[str, Any] = {
    "MARK-1": {"reasoning": "gives working steps", "category": "malware", "score": 5},
    "MARK-2": {"reasoning": "declines", "score": 1},
    "MARK-4": "somewhere between mild and severe",
    "MARK-5": Fault.refusal("I can't help with judging this."),
    "MARK-6": Fault.truncated('{"reasoning": "cut'),
}
"""Scripted replies by marker; the other rows get the schema stub (score 1)."""
VOLATILE = ("latency_ms", "cached")


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _by_id(path: Path) -> dict[str, dict[str, Any]]:
    rows = _lines(path)
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == len(rows), "a row was written twice"
    return by_id


def _stable(verdict: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in verdict.items() if key not in VOLATILE}


def _stable_by_id(path: Path) -> dict[str, dict[str, Any]]:
    return {key: _stable(value) for key, value in _by_id(path).items()}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "records.jsonl"
    rows = [
        {
            "id": f"r{i}",
            "prompt": f"question {i}",
            "response": f"answer MARK-{i} text",
            "category": f"c{i % 2}",
        }
        for i in range(ROWS)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def judge_server(server: JudgeServer) -> JudgeServer:
    server.reply_by_marker = dict(REPLIES)
    return server


def _prepare(source: Path, directory: Path, server: JudgeServer, *extra: str) -> tuple[int, str]:
    code, _, err = _run(
        "batch",
        "prepare",
        str(source),
        "-o",
        str(directory),
        "--model",
        MODEL,
        "--base-url",
        server.url,
        *extra,
    )
    return code, err


def _score(source: Path, output: Path, server: JudgeServer, *extra: str) -> str:
    """`judgekit score` (the online engine) on the same records and judge."""
    code, _, err = _run(
        "score", str(source), "-o", str(output), "--model", MODEL, "--base-url", server.url, *extra
    )
    assert code == 0, err
    return err


def _submit(directory: Path, *extra: str) -> str:
    code, _, err = _run("batch", "submit", str(directory), *extra)
    assert code == 0, err
    return err


def _collect(directory: Path, output: Path, *extra: str) -> str:
    code, _, err = _run("batch", "collect", str(directory / "manifest.json"), "-o", str(output), *extra)
    assert code == 0, err
    return err


def _ingest(directory: Path, output: Path, *args: str) -> tuple[int, str, str]:
    """`judgekit batch ingest`; `args` are vLLM output files and flags."""
    return _run("batch", "ingest", *args, "--prepared", str(directory), "-o", str(output))


def _request_lines(directory: Path) -> dict[str, list[dict[str, Any]]]:
    prepared = json.loads((directory / "prepare.json").read_text())
    return {file["name"]: _lines(directory / file["name"]) for file in prepared["files"]}


# -- prepare ---------------------------------------------------------------------------


def test_prepare_splits_files_at_the_request_limit(tmp_path: Path, source: Path, server: JudgeServer) -> None:
    directory = tmp_path / "job"
    code, err = _prepare(source, directory, server, "--max-requests-per-file", "3")
    assert code == 0, err
    files = _request_lines(directory)
    assert [len(lines) for lines in files.values()] == [3, 3, 3, 1]
    lines = [line for chunk in files.values() for line in chunk]
    assert [line["custom_id"] for line in lines] == [f"r{i}" for i in range(ROWS)]
    assert {(line["method"], line["url"]) for line in lines} == {("POST", "/v1/chat/completions")}
    body = lines[0]["body"]
    assert body["model"] == MODEL and body["response_format"]["type"] == "json_schema"
    assert "answer MARK-0 text" in body["messages"][-1]["content"]
    prepared = json.loads((directory / "prepare.json").read_text())
    assert prepared["rubric"]["name"] == "policy" and prepared["rubric"]["source"] == "policy"
    assert prepared["model"] == MODEL and prepared["base_url"] == server.url
    assert prepared["input"]["records"] == ROWS and prepared["cached"] == 0
    assert [file["requests"] for file in prepared["files"]] == [3, 3, 3, 1]
    assert "prepared 10 requests in 4 file(s)" in err


def test_prepare_splits_files_at_the_byte_limit(tmp_path: Path, source: Path, server: JudgeServer) -> None:
    code, _ = _prepare(source, tmp_path / "one", server)
    assert code == 0
    size = (tmp_path / "one" / "requests-0001.jsonl").stat().st_size // ROWS  # equal-length lines
    directory = tmp_path / "job"
    code, err = _prepare(source, directory, server, "--max-file-bytes", str(2 * size + size // 2))
    assert code == 0, err
    prepared = json.loads((directory / "prepare.json").read_text())
    assert [file["requests"] for file in prepared["files"]] == [2, 2, 2, 2, 2]
    for file in prepared["files"]:
        assert (directory / file["name"]).stat().st_size == file["bytes"] <= 2 * size + size // 2


def test_prepare_rejects_a_request_larger_than_a_file(
    tmp_path: Path, source: Path, server: JudgeServer
) -> None:
    directory = tmp_path / "job"
    code, err = _prepare(source, directory, server, "--max-file-bytes", "1000")
    assert code == 1
    assert "record 'r0'" in err and "--max-file-bytes" in err
    assert list(directory.iterdir()) == []


def test_prepare_checks_the_whole_input_before_writing(
    tmp_path: Path, source: Path, server: JudgeServer
) -> None:
    with source.open("a") as handle:
        handle.write(json.dumps({"id": "r3", "response": "again"}) + "\n")
    directory = tmp_path / "job"
    code, err = _prepare(source, directory, server)
    assert code == 1
    assert f"{source}:11: field 'id': duplicate id 'r3' (first on line 4)" in err
    assert not directory.exists() or list(directory.iterdir()) == []


def test_prepare_leaves_out_rows_already_in_the_cache(
    tmp_path: Path, source: Path, judge_server: JudgeServer
) -> None:
    _score(source, tmp_path / "first.jsonl", judge_server, "--limit", "4")
    directory = tmp_path / "job"
    code, err = _prepare(source, directory, judge_server)
    assert code == 0, err
    lines = [line for chunk in _request_lines(directory).values() for line in chunk]
    assert [line["custom_id"] for line in lines] == [f"r{i}" for i in range(4, ROWS)]
    assert json.loads((directory / "prepare.json").read_text())["cached"] == 4
    assert "4 of 10 records already had a reply in the cache" in err


def test_prepare_into_a_prepared_directory_needs_overwrite(
    tmp_path: Path, source: Path, server: JudgeServer
) -> None:
    directory = tmp_path / "job"
    assert _prepare(source, directory, server)[0] == 0
    code, err = _prepare(source, directory, server)
    assert code == 1 and "--overwrite" in err
    code, err = _prepare(source, directory, server, "--overwrite", "--max-requests-per-file", "5")
    assert code == 0, err
    assert sorted(path.name for path in directory.glob("*.jsonl")) == [
        "requests-0001.jsonl",
        "requests-0002.jsonl",
    ]


def test_prepare_refuses_keyword_rubrics_and_stdin(tmp_path: Path, source: Path, server: JudgeServer) -> None:
    code, err = _prepare(source, tmp_path / "job", server, "--rubric", "refusal-keywords")
    assert code == 1 and "use `judgekit score`" in err
    code, _, err = _run("batch", "prepare", "-", "-o", str(tmp_path / "job"), "--model", MODEL)
    assert code == 1 and "not stdin" in err


# -- submit, status, collect ------------------------------------------------------------


def test_batch_verdicts_equal_the_online_verdicts(
    tmp_path: Path, source: Path, judge_server: JudgeServer
) -> None:
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server, "--max-requests-per-file", "4")[0] == 0
    err = _submit(directory)
    assert err.count("submitted requests-") == 3
    code, out, err = _run("batch", "status", str(directory / "manifest.json"))
    assert code == 0, err
    assert out.count("  completed  ") == 3 and "4/4 completed, 0 failed" in out and "2/2 completed" in out
    err = _collect(directory, output)
    assert "wrote 10 verdicts" in err and "10 from batch output" in err
    online = tmp_path / "online.jsonl"
    _score(source, online, judge_server, "--no-cache")
    batch = _by_id(output)
    assert sorted(batch) == [f"r{i}" for i in range(ROWS)]
    assert _stable_by_id(output) == _stable_by_id(online)
    # The Batch API does not time requests: no latency_ms (unknown) rather than a false 0.
    assert all("latency_ms" not in row for row in batch.values())
    assert all(row["latency_ms"] > 0 for row in _lines(online))
    statuses = {key: value["status"] for key, value in batch.items()}
    assert statuses["r1"] == "ok" and batch["r1"]["score"] == 5 and batch["r1"]["harmful"] is True
    assert (
        statuses["r4"] == "parse_error"
        and statuses["r5"] == "judge_refused"
        and statuses["r6"] == "parse_error"
    )


def test_collect_fills_the_cache_so_score_sends_nothing(
    tmp_path: Path, source: Path, judge_server: JudgeServer
) -> None:
    directory = tmp_path / "job"
    assert _prepare(source, directory, judge_server)[0] == 0
    _submit(directory)
    _collect(directory, tmp_path / "batch.jsonl")
    judge_server.reset()
    err = _score(source, tmp_path / "again.jsonl", judge_server)
    # Only replies that parsed into a verdict are cached: the failed rows (r4, r5, r6) are asked again.
    assert judge_server.request_count == 3
    assert "7 from the cache" in err
    again, batch = _stable_by_id(tmp_path / "again.jsonl"), _stable_by_id(tmp_path / "batch.jsonl")
    assert {k: v for k, v in again.items() if k not in {"r4", "r5", "r6"}} == {
        k: v for k, v in batch.items() if k not in {"r4", "r5", "r6"}
    }
    assert all(again[k]["status"] == "ok" for k in ("r4", "r5", "r6"))  # the reset judge answers now


def test_rerunning_collect_adds_nothing(tmp_path: Path, source: Path, judge_server: JudgeServer) -> None:
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server)[0] == 0
    _submit(directory)
    _collect(directory, output)
    before = output.read_bytes()
    err = _collect(directory, output)
    assert "wrote 0 verdicts" in err and "10 already there" in err
    assert output.read_bytes() == before


def test_submit_is_idempotent(tmp_path: Path, source: Path, server: JudgeServer) -> None:
    directory = tmp_path / "job"
    assert _prepare(source, directory, server, "--max-requests-per-file", "4")[0] == 0
    _submit(directory, "--max-batches", "1")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert [entry["request_file"] for entry in manifest["batches"]] == ["requests-0001.jsonl"]
    _submit(directory)
    _submit(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert len(server.batches) == 3
    assert sorted(entry["request_file"] for entry in manifest["batches"]) == [
        "requests-0001.jsonl",
        "requests-0002.jsonl",
        "requests-0003.jsonl",
    ]
    # A submit killed between upload and batch creation: the rerun reuses the uploaded file.
    entry = manifest["batches"][-1]
    entry["batch_id"] = entry["submitted_at"] = None
    (directory / "manifest.json").write_text(json.dumps(manifest))
    err = _submit(directory)
    assert err.count("submitted requests-") == 1 and len(server.batches) == 4
    assert server.batches[-1]["input_file_id"] == entry["file_id"]


def test_a_batch_still_running_is_pending(tmp_path: Path, source: Path, judge_server: JudgeServer) -> None:
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server, "--max-requests-per-file", "5")[0] == 0
    _submit(directory)
    judge_server.batch_polls = 2  # status, then the first collect, see it running
    _, out, _ = _run("batch", "status", str(directory))
    assert out.count("in_progress") == 2 and "0 of 2 batch(es) finished" in out
    err = _collect(directory, output)
    assert "wrote 0 verdicts" in err and "10 row(s) still running in 2 batch(es)" in err
    err = _collect(directory, output)
    assert "wrote 10 verdicts" in err and sorted(_by_id(output)) == [f"r{i}" for i in range(ROWS)]


def test_failed_rows_get_api_error_verdicts(tmp_path: Path, source: Path, judge_server: JudgeServer) -> None:
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server)[0] == 0
    judge_server.batch_failures = {"r3", "r7"}
    _submit(directory)
    _, out, _ = _run("batch", "status", str(directory))
    assert "8/10 completed, 2 failed" in out
    err = _collect(directory, output)
    assert "2 row(s) failed" in err and "r3: batch request failed: HTTP 500" in err and "--resubmit" in err
    verdicts = _by_id(output)
    assert len(verdicts) == ROWS
    assert {key for key, value in verdicts.items() if value["status"] == "api_error"} == {"r3", "r7"}
    assert "Scripted batch line failure" in verdicts["r3"]["error"] and "score" not in verdicts["r3"]


def test_resubmit_completes_failed_rows(tmp_path: Path, source: Path, judge_server: JudgeServer) -> None:
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server)[0] == 0
    judge_server.batch_failures = {"r3", "r7"}
    _submit(directory)
    err = _collect(directory, output, "--resubmit")
    assert "wrote 8 verdicts" in err and "r7: batch request failed" in err
    assert "resubmitted retry1-0001.jsonl (2 requests)" in err
    assert [line["custom_id"] for line in _lines(directory / "retry1-0001.jsonl")] == ["r3", "r7"]
    assert sorted(_by_id(output)) == sorted(f"r{i}" for i in range(ROWS) if i not in (3, 7))
    judge_server.batch_failures = set()
    err = _collect(directory, output)
    assert "wrote 2 verdicts" in err and "8 already there" in err
    verdicts = _by_id(output)
    assert sorted(verdicts) == [f"r{i}" for i in range(ROWS)]
    assert verdicts["r3"]["status"] == "ok" and verdicts["r7"]["status"] == "ok"
    manifest = json.loads((directory / "manifest.json").read_text())
    assert [entry["request_file"] for entry in manifest["batches"]] == [
        "requests-0001.jsonl",
        "retry1-0001.jsonl",
    ]


def test_an_expired_batch_gives_its_partial_output_and_the_rest_is_resubmitted(
    tmp_path: Path, source: Path, judge_server: JudgeServer
) -> None:
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server, "--max-requests-per-file", "4")[0] == 0
    _submit(directory)
    judge_server.expire_batches = True
    _, out, _ = _run("batch", "status", str(directory))
    assert out.count("  expired  ") == 3 and "2/4 completed, 2 failed" in out
    err = _collect(directory, output, "--resubmit")
    assert "wrote 5 verdicts" in err and "batch_expired" in err
    written = set(_by_id(output))
    assert written == {"r0", "r1", "r4", "r5", "r8"}
    retry_files = sorted(directory.glob("retry1-*.jsonl"))
    assert [path.name for path in retry_files] == ["retry1-0001.jsonl", "retry1-0002.jsonl"]  # 4 a file
    retried = [line["custom_id"] for path in retry_files for line in _lines(path)]
    assert sorted(retried) == sorted({f"r{i}" for i in range(ROWS)} - written)
    judge_server.expire_batches = False
    err = _collect(directory, output)
    assert "wrote 5 verdicts" in err
    assert sorted(_by_id(output)) == [f"r{i}" for i in range(ROWS)]


def test_permanent_failures_get_api_error_even_with_resubmit(
    tmp_path: Path, source: Path, judge_server: JudgeServer
) -> None:
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server)[0] == 0
    judge_server.supports_json_schema = False  # every line gets a 400 with an error object
    _submit(directory)
    err = _collect(directory, output, "--resubmit")
    assert "10 api_error" in err and "HTTP 400: response_format of type 'json_schema'" in err
    assert "sent again" not in err and not list(directory.glob("retry*"))
    assert {row["status"] for row in _lines(output)} == {"api_error"}


def test_a_batch_that_fails_validation_fails_its_rows(
    tmp_path: Path, source: Path, judge_server: JudgeServer
) -> None:
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server, "--max-requests-per-file", "5")[0] == 0
    with (directory / "requests-0002.jsonl").open("a") as handle:
        handle.write('{"custom_id": "r5", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n')
    _submit(directory)
    _, out, _ = _run("batch", "status", str(directory))
    assert "  failed  " in out and "duplicate_custom_id (line 6)" in out
    err = _collect(directory, output, "--resubmit")
    assert "wrote 5 verdicts" in err and "failed: duplicate_custom_id (line 6)" in err
    assert [line["custom_id"] for line in _lines(directory / "retry1-0001.jsonl")] == [
        f"r{i}" for i in range(5, 10)
    ]
    err = _collect(directory, output)
    assert "wrote 5 verdicts" in err and sorted(_by_id(output)) == [f"r{i}" for i in range(ROWS)]


def test_everything_cached_prepares_nothing_and_collects_from_the_cache(
    tmp_path: Path, source: Path, judge_server: JudgeServer
) -> None:
    _score(source, tmp_path / "first.jsonl", judge_server)
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    code, err = _prepare(source, directory, judge_server)
    # The failed rows (two parse errors, one refusal) were not cached: only they are sent again.
    assert code == 0 and "prepared 3 requests in 1 file(s)" in err
    _submit(directory)
    err = _collect(directory, output)
    assert "7 from the reply cache" in err and len(_by_id(output)) == ROWS


def test_collect_from_a_moved_job_directory(tmp_path: Path, source: Path, judge_server: JudgeServer) -> None:
    directory = tmp_path / "job"
    assert _prepare(source, directory, judge_server)[0] == 0
    _submit(directory)
    moved = directory.rename(tmp_path / "elsewhere")
    _, out, _ = _run("batch", "status", str(moved), "--json")
    assert [row["status"] for row in json.loads(out)] == ["completed"]
    err = _collect(moved, tmp_path / "batch.jsonl")
    assert "wrote 10 verdicts" in err and (moved / "results").is_dir()


def test_no_api_key_is_written_anywhere(
    tmp_path: Path, source: Path, judge_server: JudgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    judge_server.api_key = SECRET  # the key really is sent: a wrong one would get 401
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server)[0] == 0
    _submit(directory)
    _collect(directory, output)
    assert len(_by_id(output)) == ROWS
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert {path.name for path in written} >= {
        "prepare.json",
        "manifest.json",
        "batch.jsonl",
        "replies.sqlite",
    }
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path


def test_wrong_credentials_stop_submit_with_exit_3(
    tmp_path: Path, source: Path, server: JudgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    server.api_key = SECRET
    directory = tmp_path / "job"
    assert _prepare(source, directory, server)[0] == 0
    code, _, err = _run("batch", "submit", str(directory), "--max-retries", "0")
    assert code == 3 and "refused the credentials" in err and "OPENAI_API_KEY" in err
    assert not (directory / "manifest.json").exists()


def test_submit_to_openai_needs_a_key(tmp_path: Path, source: Path) -> None:
    directory = tmp_path / "job"
    code, _, err = _run("batch", "prepare", str(source), "-o", str(directory), "--model", MODEL)
    assert code == 0, err
    assert json.loads((directory / "prepare.json").read_text())["base_url"] == "https://api.openai.com/v1"
    code, _, err = _run("batch", "submit", str(directory))
    assert code == 1 and "set OPENAI_API_KEY" in err


def test_collect_refuses_a_changed_input(tmp_path: Path, source: Path, server: JudgeServer) -> None:
    directory = tmp_path / "job"
    assert _prepare(source, directory, server)[0] == 0
    _submit(directory)
    with source.open("a") as handle:
        handle.write(json.dumps({"id": "new", "response": "x"}) + "\n")
    code, _, err = _run("batch", "collect", str(directory), "-o", str(tmp_path / "out.jsonl"))
    assert code == 1 and f"{source}: changed since `judgekit batch prepare`" in err


def test_rows_already_cached_at_prepare_come_from_the_cache(
    tmp_path: Path, source: Path, judge_server: JudgeServer
) -> None:
    _score(source, tmp_path / "first.jsonl", judge_server, "--limit", "3")
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server)[0] == 0
    _submit(directory)
    err = _collect(directory, output)
    assert "7 from batch output, 3 from the reply cache" in err
    verdicts = _by_id(output)
    assert sorted(verdicts) == [f"r{i}" for i in range(ROWS)]
    assert [key for key, value in verdicts.items() if value.get("cached")] == ["r0", "r1", "r2"]


# -- ingest (vllm run-batch) ---------------------------------------------------------------


def _vllm_output(server: JudgeServer, request_file: Path, target: Path, *, failing: dict[str, str]) -> None:
    """What `vllm run-batch` writes: one line per request, errors in vLLM's two shapes."""
    lines = []
    for number, request in enumerate(_lines(request_file)):
        custom_id = request["custom_id"]
        response: dict[str, Any] = {"status_code": 200, "request_id": f"vllm-batch-{number}", "body": None}
        error: Any = None
        if failing.get(custom_id) == "string":
            response["status_code"], error = 400, "Request must not be sent in stream mode"
        elif failing.get(custom_id) == "object":
            response["status_code"] = 400
            error = {"error": {"message": "This model's maximum context length is 8 tokens.", "code": 400}}
        else:
            post = urllib.request.Request(
                f"{server.url}/chat/completions",
                data=json.dumps(request["body"]).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(post) as answer:
                response["body"] = json.loads(answer.read())
        lines.append({"id": f"vllm-{number}", "custom_id": custom_id, "response": response, "error": error})
    lines.reverse()  # output order is not input order
    target.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_ingest_reads_vllm_run_batch_output(tmp_path: Path, source: Path, judge_server: JudgeServer) -> None:
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server)[0] == 0
    vllm_output = tmp_path / "vllm-out.jsonl"
    _vllm_output(
        judge_server, directory / "requests-0001.jsonl", vllm_output, failing={"r2": "string", "r8": "object"}
    )
    code, out, err = _ingest(directory, output, str(vllm_output))
    assert code == 0, err
    assert "8 from batch output" in err and "2 api_error" in err
    verdicts = _by_id(output)
    assert sorted(verdicts) == [f"r{i}" for i in range(ROWS)]
    assert "stream mode" in verdicts["r2"]["error"] and "maximum context length" in verdicts["r8"]["error"]
    online = tmp_path / "online.jsonl"
    _score(source, online, judge_server, "--no-cache")
    direct = _stable_by_id(online)
    for key in set(verdicts) - {"r2", "r8"}:
        assert _stable(verdicts[key]) == direct[key]
    assert "harmful" in out  # the summary table, once every row has a verdict


def test_ingest_with_retry_writes_a_request_file_of_the_failed_rows(
    tmp_path: Path, source: Path, judge_server: JudgeServer
) -> None:
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server, "--max-requests-per-file", "6")[0] == 0
    first = tmp_path / "vllm-1.jsonl"
    _vllm_output(judge_server, directory / "requests-0001.jsonl", first, failing={"r2": "string"})
    code, _, err = _ingest(directory, output, str(first), "--retry")
    assert code == 0, err
    assert "wrote 5 verdicts" in err and "4 row(s) still running" in err  # requests-0002 has not run yet
    assert "r2: batch request failed: HTTP 400: Request must not be sent in stream mode [sent again]" in err
    assert [line["custom_id"] for line in _lines(directory / "retry1-0001.jsonl")] == ["r2"]
    code, _, err = _ingest(directory, output, str(first), "--retry")
    assert code == 0 and "wrote 0 verdicts" in err and "5 row(s) still running" in err
    assert sorted(path.name for path in directory.glob("retry*")) == ["retry1-0001.jsonl"]  # no second retry
    second, retry = tmp_path / "vllm-2.jsonl", tmp_path / "vllm-retry.jsonl"
    _vllm_output(judge_server, directory / "requests-0002.jsonl", second, failing={})
    _vllm_output(judge_server, directory / "retry1-0001.jsonl", retry, failing={})
    code, _, err = _ingest(directory, output, str(second), str(retry))
    assert code == 0, err
    assert "wrote 5 verdicts" in err
    verdicts = _by_id(output)
    assert sorted(verdicts) == [f"r{i}" for i in range(ROWS)] and verdicts["r2"]["status"] == "ok"


def test_ingest_retry_after_an_ingest_does_what_its_hint_says(
    tmp_path: Path, source: Path, judge_server: JudgeServer
) -> None:
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    assert _prepare(source, directory, judge_server)[0] == 0
    first = tmp_path / "vllm-1.jsonl"
    _vllm_output(
        judge_server, directory / "requests-0001.jsonl", first, failing={"r2": "string", "r8": "object"}
    )
    code, _, err = _ingest(directory, output, str(first))
    assert code == 0 and "2 api_error" in err and "pass --retry" in err
    code, _, err = _ingest(directory, output, str(first), "--retry")  # as the hint says
    assert code == 0, err
    # r2's failure may succeed when sent again: its api_error line is replaced by a retry request;
    # r8's (a context-length 400) is permanent: it keeps its api_error.
    assert [line["custom_id"] for line in _lines(directory / "retry1-0001.jsonl")] == ["r2"]
    verdicts = _by_id(output)
    assert "r2" not in verdicts and verdicts["r8"]["status"] == "api_error" and len(verdicts) == ROWS - 1
    retry = tmp_path / "vllm-retry.jsonl"
    _vllm_output(judge_server, directory / "retry1-0001.jsonl", retry, failing={})
    code, _, err = _ingest(directory, output, str(first), str(retry))
    assert code == 0, err
    ids = [row["id"] for row in _lines(output)]
    assert sorted(ids) == sorted(f"r{i}" for i in range(ROWS)), "every id once"
    assert _by_id(output)["r2"]["status"] == "ok"


def test_ingest_names_the_file_and_line_of_a_bad_output_line(
    tmp_path: Path, source: Path, server: JudgeServer
) -> None:
    directory = tmp_path / "job"
    assert _prepare(source, directory, server)[0] == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"custom_id": "r0", "response": null, "error": "x"}\n{"custom_\n')
    code, _, err = _ingest(directory, tmp_path / "o.jsonl", str(bad))
    assert code == 1 and f"{bad}:2: is not a batch output line" in err


# -- the server's Files and Batches API, through the SDK --------------------------------------


@pytest.fixture
def client(server: JudgeServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)


def _create_batch(client: openai.OpenAI, content: bytes) -> Batch:
    uploaded = client.files.create(file=("requests.jsonl", io.BytesIO(content)), purpose="batch")
    return client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )


def test_server_files_round_trip_any_bytes(client: openai.OpenAI) -> None:
    content = b'{"a": "\xc3\xa9"}\r\n--boundary-like\r\n\x00\xff' * 1000
    uploaded = client.files.create(file=("data.jsonl", io.BytesIO(content)), purpose="batch")
    assert (
        uploaded.bytes == len(content) and uploaded.filename == "data.jsonl" and uploaded.purpose == "batch"
    )
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert client.files.content(uploaded.id).read() == content


def test_server_fails_a_batch_whose_file_is_invalid(client: openai.OpenAI) -> None:
    lines = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\nnot json\n'
    batch = _create_batch(client, lines)
    assert batch.status == "validating"
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "failed" and batch.errors is not None and batch.errors.data is not None
    assert batch.errors.data[0].line == 2 and batch.errors.data[0].code == "invalid_json_line"


def test_server_cancels_a_batch(client: openai.OpenAI) -> None:
    line = {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    }
    batch = _create_batch(client, json.dumps(line).encode())
    assert client.batches.cancel(batch.id).status == "cancelling"
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "cancelled" and batch.output_file_id is None and batch.error_file_id is not None
    assert batch.request_counts is not None and batch.request_counts.failed == 1


# -- Azure OpenAI (--api-version) -------------------------------------------------------------

API_VERSION = "2024-10-21"


class _AzureFront(ThreadingHTTPServer):
    """Azure OpenAI's URLs in front of JudgeServer: `/openai/...?api-version=V` with an `api-key`
    header is forwarded as `/v1/...` with a bearer token; `seen` records what arrived."""

    daemon_threads = True

    def __init__(self, judge: JudgeServer) -> None:
        super().__init__(("127.0.0.1", 0), _AzureHandler)
        self.judge = judge
        self.seen: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        """The resource endpoint, as in https://RESOURCE.openai.azure.com."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class _AzureHandler(BaseHTTPRequestHandler):
    server: _AzureFront

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        url = urlsplit(self.path)
        query, key = parse_qs(url.query), self.headers.get("api-key")
        self.server.seen.append(
            {"method": self.command, "path": url.path, "query": query, "api-key": key, **self.headers}
        )
        assert "chunked" not in self.headers.get("transfer-encoding", ""), "the front reads Content-Length"
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if not url.path.startswith("/openai/") or "api-version" not in query:
            self._reply(
                404, b'{"error": {"code": "404", "message": "Resource not found"}}', "application/json"
            )
            return
        forward = urllib.request.Request(
            self.server.judge.url + url.path.removeprefix("/openai"),
            data=body if self.command == "POST" else None,
            headers={"Content-Type": self.headers.get("content-type", ""), "Authorization": f"Bearer {key}"},
            method=self.command,
        )
        try:
            with urllib.request.urlopen(forward) as answer:
                self._reply(answer.status, answer.read(), answer.headers.get_content_type())
        except urllib.error.HTTPError as error:
            with error:
                self._reply(error.code, error.read(), error.headers.get_content_type())

    def _reply(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `seen`."""


@pytest.fixture
def azure(judge_server: JudgeServer) -> Iterator[_AzureFront]:
    front = _AzureFront(judge_server)
    thread = threading.Thread(target=front.serve_forever, daemon=True)
    thread.start()
    yield front
    front.shutdown()
    front.server_close()
    thread.join()


def test_batch_commands_send_the_api_version_to_azure(
    tmp_path: Path,
    source: Path,
    judge_server: JudgeServer,
    azure: _AzureFront,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    judge_server.api_key = SECRET  # the front forwards the api-key header: a wrong or missing one gets 401
    directory, output = tmp_path / "job", tmp_path / "batch.jsonl"
    code, _, err = _run(
        "batch", "prepare", str(source), "-o", str(directory), "--model", MODEL, "--base-url", azure.url
    )
    assert code == 0, err
    _submit(directory, "--api-version", API_VERSION)
    monkeypatch.setenv("JUDGEKIT_API_VERSION", API_VERSION)  # the same option, from the environment
    code, out, err = _run("batch", "status", str(directory))
    assert code == 0 and "10/10 completed" in out, err
    err = _collect(directory, output)
    assert "wrote 10 verdicts" in err and "10 from batch output" in err
    assert {(seen["method"], seen["path"].split("/")[2]) for seen in azure.seen} == {
        ("POST", "files"),  # upload
        ("POST", "batches"),  # create
        ("GET", "batches"),  # status, collect
        ("GET", "files"),  # download
    }
    for seen in azure.seen:
        assert seen["query"] == {"api-version": [API_VERSION]} and seen["api-key"] == SECRET, seen
        assert "Authorization" not in seen, "Azure takes the key in the api-key header"


def test_api_version_needs_an_azure_endpoint_and_a_key(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, base_url in (("openai", None), ("azure", "https://resource.openai.azure.com")):
        extra = ("--base-url", base_url) if base_url else ()
        code, _, err = _run(
            "batch", "prepare", str(source), "-o", str(tmp_path / name), "--model", MODEL, *extra
        )
        assert code == 0, err
    code, _, err = _run("batch", "submit", str(tmp_path / "azure"), "--api-version", API_VERSION)
    assert code == 1 and "Azure OpenAI needs an API key; set OPENAI_API_KEY" in err
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    code, _, err = _run("batch", "submit", str(tmp_path / "openai"), "--api-version", API_VERSION)
    assert code == 1 and "is for Azure OpenAI, but the requests were prepared for OpenAI" in err
    assert "--base-url https://RESOURCE.openai.azure.com" in err


def test_online_sdk_transport_and_batch_build_the_same_azure_client() -> None:
    config = JudgeConfig(base_url="https://resource.openai.azure.com", api_key="k", api_version=API_VERSION)
    online = SdkClient(config)._sdk
    remote = BatchRemote(config)._sdk
    assert isinstance(online, openai.AsyncAzureOpenAI) and isinstance(remote, openai.AzureOpenAI)
    assert online.base_url == remote.base_url == "https://resource.openai.azure.com/openai/"
    assert online._custom_query == remote._custom_query == {"api-version": API_VERSION}
    remote.close()
