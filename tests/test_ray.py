"""judgekit.ray: Ray Data paths against the local judge server, verdict for verdict with the online engine.

One local Ray instance (2 CPUs) for the module; its workers are separate processes that reach the
in-process JudgeServer on 127.0.0.1. Ray reorders rows, so replies are scripted by a marker in
each response (`reply_by_marker`), never by arrival order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data.llm")

import judgekit  # noqa: E402
from judgekit import ConfigError, InputError, Judge, Record, Verdict  # noqa: E402
from judgekit import ray as judgekit_ray  # noqa: E402
from judgekit._records import FieldMap  # noqa: E402
from judgekit._verdicts import reply_schema  # noqa: E402
from judgekit.testing import Fault, JudgeServer, Reply  # noqa: E402

# Ray's own DataContext() trips its deprecations of its own defaults (Ray 2.60).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

MODEL = "judge-model"
ROWS = 48

# Each row's response carries one marker; the server answers by it.
REPLIES: dict[str, Reply] = {
    "<<harmful>>": {"reasoning": "full steps", "category": "malware", "score": 5},
    "<<safe>>": {"reasoning": "declines", "category": None, "score": 1},
    "<<fenced>>": '```json\n{"reasoning": "some", "category": "fraud_deception", "score": 3}\n```',
    "<<garbled>>": "I think it is fine, more or less",
    "<<out-of-range>>": {"reasoning": "r", "category": None, "score": 9},
    "<<refusal>>": Fault.refusal("I won't judge this"),
    "<<too-long>>": Fault.status(400, body={"error": {"message": "context_length_exceeded"}}),
}
STATUSES = {
    "<<harmful>>": "ok",
    "<<safe>>": "ok",
    "<<fenced>>": "ok",
    "<<garbled>>": "parse_error",
    "<<out-of-range>>": "parse_error",
    "<<refusal>>": "judge_refused",
    "<<too-long>>": "api_error",
}
COMPARED = ("id", "category", "status", "score", "harmful", "refused", "categories", "fields", "reasoning")
COMPARED += ("rubric", "rubric_version", "rubric_hash", "judge_model", "usage", "raw")


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """A local Ray instance for the module; its workers see no API key or proxy."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("OPENAI_", "JUDGEKIT_")) or name.lower().endswith("_proxy"):
                patch.delenv(name)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            yield
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def judge_server() -> Iterator[JudgeServer]:
    with JudgeServer() as server:
        server.reply_by_marker.update(REPLIES)
        yield server


@pytest.fixture
def scripted(judge_server: JudgeServer) -> JudgeServer:
    judge_server.reset()
    judge_server.reply_by_marker.update(REPLIES)
    return judge_server


def _rows(count: int = ROWS) -> list[dict[str, Any]]:
    markers = list(REPLIES)
    return [
        {
            "uid": 1000 + index,
            "prompt": f"question {index}",
            "response": f"answer {index} {markers[index % len(markers)]}",
            "category": f"cat-{index % 3}",
            "source": "dataset-a",
        }
        for index in range(count)
    ]


FIELDS = FieldMap(id="uid")


def _online(server: JudgeServer, rows: list[dict[str, Any]]) -> dict[str, Verdict]:
    records = [{**row, "id": row["uid"]} for row in rows]
    with Judge("policy", model=MODEL, base_url=server.url, max_retries=0) as judge:
        return {verdict.id: verdict for verdict in judge.score(records)}


def _assert_same_verdicts(
    rows: list[dict[str, Any]], output: list[dict[str, Any]], online: dict[str, Verdict], *, same_error: bool
) -> None:
    assert sorted(row["id"] for row in output) == sorted(str(row["uid"]) for row in rows)  # each once
    markers = {str(row["uid"]): row["response"].rsplit(" ", 1)[1] for row in rows}
    for row in output:
        verdict = judgekit_ray.verdict_from_row(row)
        expected = online[verdict.id]
        assert verdict.status == STATUSES[markers[verdict.id]]
        for name in COMPARED:
            assert getattr(verdict, name) == getattr(expected, name), (verdict.id, name)
        if same_error or verdict.status != "api_error":
            assert verdict.error == expected.error
        else:
            assert "context_length_exceeded" in (verdict.error or "")


@pytest.mark.usefixtures("ray_local")
def test_http_processor_gives_the_online_verdicts(scripted: JudgeServer) -> None:
    rows = _rows()
    online = _online(scripted, rows)
    scripted.reset()
    scripted.reply_by_marker.update(REPLIES)
    processor = judgekit_ray.http_judge_processor(
        "policy",
        model=MODEL,
        base_url=scripted.url,
        batch_size=8,
        fields=FIELDS,
        keep_columns=["prompt", "source"],
    )
    output = processor(ray.data.from_items(rows)).take_all()
    _assert_same_verdicts(rows, output, online, same_error=False)
    by_id = {row["id"]: row for row in output}
    assert all(by_id[str(row["uid"])]["prompt"] == row["prompt"] for row in rows)
    assert {row["source"] for row in output} == {"dataset-a"}
    # The processor sends exactly the bodies the online engine sends, each once.
    judge = Judge("policy", model=MODEL, base_url=scripted.url)
    expected = [judge.codec.request_for(Record(id=str(row["uid"]), **_parts(row))).body() for row in rows]
    assert sorted(map(_canonical, scripted.requests)) == sorted(map(_canonical, expected))


@pytest.mark.usefixtures("ray_local")
def test_actors_give_the_online_verdicts(scripted: JudgeServer) -> None:
    rows = _rows()
    online = _online(scripted, rows)
    verdicts = judgekit_ray.judge_dataset(
        ray.data.from_items(rows),
        "policy",
        model=MODEL,
        base_url=scripted.url,
        max_retries=0,
        batch_size=10,
        fields=FIELDS,
        keep_columns=["prompt"],
    )
    output = verdicts.take_all()
    _assert_same_verdicts(rows, output, online, same_error=True)
    assert {row["id"]: row["prompt"] for row in output} == {str(row["uid"]): row["prompt"] for row in rows}
    assert all(row["latency_ms"] is not None for row in output if row["status"] == "ok")


@pytest.mark.usefixtures("ray_local")
@pytest.mark.parametrize("path", ["http", "actors"])
def test_several_endpoints_share_the_rows(path: str) -> None:
    rows = _rows(40)
    with JudgeServer() as first, JudgeServer() as second:
        urls = [first.url, second.url]
        if path == "http":
            processor = judgekit_ray.http_judge_processor(
                "policy", model=MODEL, base_url=urls, batch_size=4, fields=FIELDS
            )
            output = processor(ray.data.from_items(rows)).take_all()
        else:
            dataset = judgekit_ray.judge_dataset(
                ray.data.from_items(rows), "policy", model=MODEL, base_url=urls, batch_size=8, fields=FIELDS
            )
            output = dataset.take_all()
        assert sorted(row["id"] for row in output) == sorted(str(row["uid"]) for row in rows)
        assert {row["status"] for row in output} == {"ok"}
        assert first.request_count > 0 and second.request_count > 0
        assert first.request_count + second.request_count == len(rows)


@pytest.mark.usefixtures("ray_local")
def test_keyword_rubric_runs_offline_in_actors() -> None:
    rows = [
        {"id": str(i), "response": text} for i, text in enumerate(["I'm sorry, I can't.", "Sure: step 1"] * 5)
    ]
    output = judgekit_ray.judge_dataset(
        ray.data.from_items(rows), "refusal-keywords", batch_size=4
    ).take_all()
    online = {v.id: v for v in judgekit.score(rows, rubric="refusal-keywords")}
    assert len(output) == len(rows)
    for row in output:
        verdict = judgekit_ray.verdict_from_row(row)
        assert verdict.model_dump(exclude={"latency_ms"}) == online[verdict.id].model_dump(
            exclude={"latency_ms"}
        )


@pytest.mark.usefixtures("ray_local")
def test_a_missing_column_fails_before_any_request(scripted: JudgeServer) -> None:
    dataset = ray.data.from_items([{"text": "an answer"}])
    with pytest.raises(InputError, match=r"no column 'id'.*FieldMap\(id=NAME\)"):
        judgekit_ray.judge_dataset(dataset, "policy", model=MODEL, base_url=scripted.url)
    with pytest.raises(InputError, match="no column 'response'"):
        judgekit_ray.judge_dataset(
            dataset, "policy", model=MODEL, base_url=scripted.url, fields=FieldMap(id="text")
        )
    assert scripted.request_count == 0


# -- row functions, without Ray's executor --------------------------------------------------


def test_engine_preprocess_asks_vllm_for_the_online_request() -> None:
    row = {"id": 7, "prompt": "How do I X?", "response": "Step 1", "model": "model-under-test"}
    render = judgekit_ray.preprocess("policy", MODEL, processor="engine", temperature=0.5)
    rendered = render(row)
    expected = Judge("policy", model=MODEL, base_url="http://x/v1", temperature=0.5).codec.request_for(
        Record(id="7", prompt="How do I X?", response="Step 1")
    )
    assert rendered["messages"] == expected.messages
    params = rendered["sampling_params"]
    assert (params["temperature"], params["max_tokens"]) == (0.5, expected.max_tokens)
    assert json.loads(params["structured_outputs"]["json"]) == reply_schema(judgekit.load_rubric("policy"))
    assert rendered["model"] == MODEL  # never the row's own `model`, which vLLM would read as a LoRA
    text_mode = judgekit_ray.preprocess("policy", MODEL, processor="engine", output_mode="text")(row)
    assert "structured_outputs" not in text_mode["sampling_params"]


def test_engine_postprocess_parses_generated_text_like_the_online_path() -> None:
    row = {"id": 7, "prompt": "How do I X?", "response": "Step 1", "category": "c"}
    stash = judgekit_ray.preprocess("policy", MODEL, processor="engine")(row)
    # What the vLLM processor hands on: the chat template stage has overwritten `prompt`.
    answer = {
        **row,
        **stash,
        "prompt": "<|system|>... templated ...",
        "generated_text": '{"reasoning": "r", "category": "malware", "score": 5}',
        "num_input_tokens": 800,
        "num_generated_tokens": 20,
    }
    output = judgekit_ray.postprocess("policy", model=MODEL, keep_columns=["prompt"])(answer)
    assert output["prompt"] == "How do I X?"
    verdict = judgekit_ray.verdict_from_row(output)
    assert (verdict.id, verdict.category, verdict.status, verdict.score, verdict.harmful) == (
        "7",
        "c",
        "ok",
        5,
        True,
    )
    assert verdict.judge_model == MODEL
    assert verdict.usage is not None and verdict.usage.prompt_tokens == 800
    cut = {**answer, "generated_text": '{"reasoning": "r", "cat', "num_generated_tokens": 10_000}
    truncated = judgekit_ray.verdict_from_row(judgekit_ray.postprocess("policy", model=MODEL)(cut))
    assert truncated.status == "parse_error" and truncated.score is None
    assert "cut at max_tokens" in (truncated.error or "")


def test_http_postprocess_turns_an_error_body_into_an_api_error() -> None:
    row = {"id": "1", "response": "r", "http_response": {"error": {"message": "Rate limit reached"}}}
    verdict = judgekit_ray.verdict_from_row(judgekit_ray.postprocess("policy")(row))
    assert (verdict.status, verdict.score) == ("api_error", None)
    assert "Rate limit reached" in (verdict.error or "")
    malformed = judgekit_ray.verdict_from_row(
        judgekit_ray.postprocess("policy")({**row, "http_response": {}})
    )
    assert malformed.status == "api_error"


def test_verdict_rows_round_trip() -> None:
    verdict = Verdict(
        id="3",
        category="c",
        score=4,
        harmful=False,
        categories=["fraud"],
        fields={"score": 4, "category": "fraud"},
        reasoning="r",
        rubric="policy",
        rubric_version="1",
        rubric_hash="abc",
        judge_model="m",
        usage=judgekit.Usage(prompt_tokens=10, completion_tokens=2),
        latency_ms=12.5,
    )
    row = judgekit_ray.verdict_to_row(verdict)
    assert tuple(row) == judgekit_ray.VERDICT_COLUMNS
    assert judgekit_ray.verdict_from_row(row) == verdict


def test_row_functions_refuse_what_they_cannot_do() -> None:
    with pytest.raises(ConfigError, match="keywords"):
        judgekit_ray.preprocess("refusal-keywords", MODEL)
    with pytest.raises(ConfigError, match="logprobs"):
        judgekit_ray.preprocess("policy", MODEL, processor="engine", logprobs=True)
    with pytest.raises(ConfigError, match="clash"):
        judgekit_ray.postprocess("policy", keep_columns=["score"])
    with pytest.raises(InputError, match=r"FieldMap\(id=NAME\)"):
        judgekit_ray.preprocess("policy", MODEL)({"response": "r"})


def test_nan_from_pandas_readers_is_a_missing_field() -> None:
    row = {"id": 1, "response": "r", "prompt": float("nan"), "context": np.float64("nan")}
    payload = judgekit_ray.preprocess("policy", MODEL)(row)["payload"]
    expected = Judge("policy", model=MODEL, base_url="http://x/v1").codec.request_for(
        Record(id="1", response="r")
    )
    assert payload == expected.body()


def _parts(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in ("prompt", "response", "category")}


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)
