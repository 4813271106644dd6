"""judgekit.score_file(): the bulk job as a library call, and the SDK transport's hooks."""

from __future__ import annotations

import asyncio
import json
import typing
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner
from runs import write_rows

import judgekit
from judgekit import ConfigError, FieldMap, JudgeConfig, JudgeOptions, Progress
from judgekit.cli import main
from judgekit.testing import JudgeServer

ENDPOINT = {"model": "judge-model", "max_retries": 2}


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_score_file_judges_resumes_and_summarises(tmp_path: Path, server: JudgeServer) -> None:
    source, output = write_rows(tmp_path / "in.jsonl", 30), tmp_path / "out.jsonl"
    seen: list[Progress] = []
    first = judgekit.score_file(
        source,
        output,
        base_url=server.url,
        cache=tmp_path / "c.sqlite",
        limit=10,
        on_progress=seen.append,
        **ENDPOINT,  # type: ignore[arg-type]
    )
    assert first.progress.done == 10 and first.summary.overall.rows == 10 and seen
    assert first.rubric.name == "policy" and first.judge_model == "judge-model"
    second = judgekit.score_file(source, output, base_url=server.url, cache=False, **ENDPOINT)  # type: ignore[arg-type]
    assert second.progress.skipped == 10 and second.progress.done == 20
    assert second.summary.overall.rows == 30 and sorted(_ids(output)) == sorted(f"r{i}" for i in range(30))
    assert server.request_count == 30


def test_score_file_overwrites_only_a_good_input(tmp_path: Path, server: JudgeServer) -> None:
    source, output = write_rows(tmp_path / "in.jsonl", 5), tmp_path / "out.jsonl"
    judgekit.score_file(source, output, base_url=server.url, cache=False, **ENDPOINT)  # type: ignore[arg-type]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "response": "x"}\n{"id": "b"}\n')
    with pytest.raises(judgekit.InputError, match=r"bad.jsonl:2"):
        judgekit.score_file(bad, output, resume=False, base_url=server.url, cache=False, **ENDPOINT)  # type: ignore[arg-type]
    assert len(_ids(output)) == 5


def test_score_file_maps_fields_and_runs_keyword_rubrics_offline(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(
        '{"key": "k1", "answer": "I cannot help with that."}\n{"key": "k2", "answer": "Sure."}\n'
    )
    result = judgekit.score_file(
        source, output, rubric="refusal-keywords", fields=FieldMap(id="key", response="answer")
    )
    assert result.progress.done == 2 and sorted(_ids(output)) == ["k1", "k2"]


def test_score_file_in_worker_processes(tmp_path: Path, server: JudgeServer) -> None:
    source, output = write_rows(tmp_path / "in.jsonl", 40), tmp_path / "out.jsonl"
    result = judgekit.score_file(
        source,
        output,
        base_url=server.url,
        cache=tmp_path / "c.sqlite",
        processes=2,
        concurrency=8,
        **ENDPOINT,  # type: ignore[arg-type]
    )
    assert result.progress.done == 40 and sorted(_ids(output)) == sorted(f"r{i}" for i in range(40))


def test_score_file_works_under_a_running_event_loop(tmp_path: Path, server: JudgeServer) -> None:
    source, output = write_rows(tmp_path / "in.jsonl", 3), tmp_path / "out.jsonl"

    async def notebook_cell() -> judgekit.RunResult:
        return judgekit.score_file(source, output, base_url=server.url, cache=False, **ENDPOINT)  # type: ignore[arg-type]

    assert asyncio.run(notebook_cell()).progress.done == 3


def test_processes_with_stdout_is_a_config_error_naming_the_option(
    tmp_path: Path, server: JudgeServer
) -> None:
    source = write_rows(tmp_path / "in.jsonl", 3)
    with pytest.raises(ConfigError, match="--processes") as caught:
        judgekit.score_file(source, "-", base_url=server.url, processes=2, **ENDPOINT)  # type: ignore[arg-type]
    assert caught.value.option == "processes"


def test_a_custom_http_client_carries_the_sdk_transport(tmp_path: Path, server: JudgeServer) -> None:
    sent: list[str] = []

    async def record(request: httpx2.Request) -> None:
        sent.append(str(request.url))

    client = httpx2.AsyncClient(event_hooks={"request": [record]})
    judge = judgekit.Judge("policy", base_url=server.url, http_client=client, **ENDPOINT)  # type: ignore[arg-type]
    assert judge.config.transport == "sdk"
    with judge:
        (verdict,) = judge.score(["a response"])
    assert verdict.status == "ok" and sent == [f"{server.url}/chat/completions"]


def test_an_azure_ad_token_provider_authenticates_instead_of_a_key() -> None:
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return "entra-token"

    with JudgeServer(api_key="entra-token") as server:  # 401 unless `Authorization: Bearer entra-token`
        judge = judgekit.Judge(
            "policy",
            model="judge-model",
            base_url=server.url.removesuffix("/v1"),
            api_version="2024-10-21",
            azure_ad_token_provider=token,
        )
        with judge:
            (verdict,) = judge.score(["a response"])
    assert verdict.status == "ok", verdict.error
    assert calls


def test_sdk_hooks_need_the_sdk_transport_and_azure() -> None:
    with pytest.raises(ConfigError, match="transport='sdk'"):
        judgekit.Judge(
            "policy", base_url="http://x/v1", transport="aiohttp", http_client=object(), **ENDPOINT
        )  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="api_version"):
        judgekit.Judge("policy", base_url="http://x/v1", azure_ad_token_provider=lambda: "t", **ENDPOINT)  # type: ignore[arg-type]


def test_typed_options_are_judge_config_fields_but_the_endpoint() -> None:
    endpoint = {"model", "base_url", "api_key"}
    assert set(typing.get_type_hints(JudgeOptions)) == set(JudgeConfig.model_fields) - endpoint


def test_the_run_reports_the_output_mode_it_settled_on(tmp_path: Path, server: JudgeServer) -> None:
    server.response_formats = frozenset({"json_object_schema"})
    server.format_rejection_status = 500
    source, output = write_rows(tmp_path / "in.jsonl", 5), tmp_path / "out.jsonl"
    args = [str(source), "-o", str(output), "--model", "judge-model", "--base-url", server.url, "--no-cache"]
    result = CliRunner().invoke(main, ["score", *args])
    assert result.exit_code == 0, result.output
    assert "judge output mode: json_object_schema (5 rows)" in result.output
    assert {json.loads(line)["output_mode"] for line in output.read_text().splitlines()} == {
        "json_object_schema"
    }
