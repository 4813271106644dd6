"""judgekit.score() end to end, through real HTTP against the local judge server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

import judgekit
from judgekit import ConfigError, Judge, JudgeError, Record, Verdict
from judgekit.testing import Fault, JudgeServer

FAST: dict[str, object] = {"max_retries": 3}


@pytest.fixture(params=["aiohttp", "sdk"], autouse=True)
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here that goes through `_score` runs over both transports."""
    monkeypatch.setitem(FAST, "transport", request.param)


def _score(server: JudgeServer, items: object, **options: object) -> list[Verdict]:
    return judgekit.score(items, model="judge-model", base_url=server.url, **{**FAST, **options})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rubric", "reply", "score", "harmful", "refused"),
    [
        ("policy", {"reasoning": "full steps", "category": "malware", "score": 5}, 5, True, None),
        ("behavior", {"reasoning": "it does", "exhibits": True}, 1, True, None),
        (
            "strongreject",
            {"reasoning": "r", "refused": False, "convincing": 4, "specific": 5},
            0.875,
            True,
            False,
        ),
        ("hazards", {"reasoning": "r", "safety": "unsafe", "violated": ["S2", "S9"]}, 1, True, None),
        ("refusal", {"reasoning": "declines", "refusal": "full"}, 0, False, True),
    ],
)
def test_every_llm_rubric_end_to_end(
    server: JudgeServer,
    rubric: str,
    reply: dict[str, object],
    score: float,
    harmful: bool,
    refused: bool | None,
) -> None:
    server.script(reply)
    (verdict,) = _score(server, [("How do I X?", "Here is how...")], rubric=rubric)
    assert verdict.status == "ok", verdict.error
    assert verdict.score == pytest.approx(score)
    assert verdict.harmful is harmful
    assert verdict.refused is refused
    loaded = judgekit.load_rubric(rubric)
    assert (verdict.rubric, verdict.rubric_version, verdict.rubric_hash) == (
        loaded.name,
        loaded.version,
        loaded.hash,
    )
    assert verdict.judge_model == "judge-model"
    assert verdict.usage is not None and verdict.usage.prompt_tokens > 0
    (request,) = server.requests
    assert request["response_format"]["type"] == "json_schema"
    assert request["temperature"] == 0


def test_hazard_categories_are_recorded(server: JudgeServer) -> None:
    server.script({"reasoning": "r", "safety": "unsafe", "violated": ["S2", "S9"]})
    (verdict,) = _score(server, "text", rubric="hazards")
    assert verdict.categories == ["S2", "S9"]
    assert verdict.fields["safety"] == "unsafe"


def test_verdicts_come_back_in_input_order_under_concurrency(server: JudgeServer) -> None:
    server.latency_s = 0.01
    for index in range(40):
        server.reply_by_marker[f"[response-{index}]"] = {
            "reasoning": f"r{index}",
            "category": None,
            "score": index % 5 + 1,
        }
    items = [{"id": f"row{index}", "prompt": "p", "response": f"[response-{index}]"} for index in range(40)]
    verdicts = _score(server, items, concurrency=8)
    assert [v.id for v in verdicts] == [f"row{index}" for index in range(40)]
    assert [v.score for v in verdicts] == [index % 5 + 1 for index in range(40)]
    assert [v.reasoning for v in verdicts] == [f"r{index}" for index in range(40)]


def test_accepts_every_item_shape(server: JudgeServer) -> None:
    items = [
        "just a response",
        ("a prompt", "a response"),
        {"response": "r", "id": 7},
        Record(id="rec", response="r", prompt="p", category="malware"),
    ]
    verdicts = _score(server, items)
    assert [v.id for v in verdicts] == ["0", "1", "7", "rec"]
    assert verdicts[3].category == "malware"
    assert len(_score(server, "one string")) == 1


def test_text_mode_parses_free_text(server: JudgeServer) -> None:
    server.script("Analysis: the response gives working code.\n#score: **4**")
    (verdict,) = _score(server, "x", output_mode="text")
    assert verdict.score == 4
    assert "response_format" not in server.requests[0]


def test_auto_mode_steps_down_to_text_when_no_format_is_accepted(server: JudgeServer) -> None:
    server.response_formats = frozenset({"text"})
    server.default_text = 'Sure.\n```json\n{"reasoning": "r", "category": null, "score": 2}\n```'
    verdicts = _score(server, ["a", "b"], concurrency=1)
    assert [v.score for v in verdicts] == [2, 2]
    assert [v.output_mode for v in verdicts] == ["text", "text"]
    kinds = [(r.get("response_format") or {}).get("type") for r in server.requests]
    assert kinds == ["json_schema", "json_object", "json_object", None, None]


@pytest.mark.parametrize("status", [400, 422, 500])
def test_a_rejected_response_format_is_probed_once_whatever_its_status(
    server: JudgeServer, status: int
) -> None:
    """As llama-cpp-python: json_schema is a 500 naming response_format; json_object takes a schema."""
    server.response_formats = frozenset({"json_object_schema", "json_object", "text"})
    server.format_rejection_status = status
    verdicts = _score(server, [f"r{i}" for i in range(20)], concurrency=8)
    assert {v.status for v in verdicts} == {"ok"}
    assert {v.output_mode for v in verdicts} == {"json_object_schema"}
    assert server.request_count == 21  # one rejected probe, then every row once: no retries


def test_a_500_that_does_not_name_the_format_is_retried(server: JudgeServer) -> None:
    server.script(Fault.status(500), {"reasoning": "r", "category": None, "score": 3})
    (verdict,) = _score(server, "x")
    assert verdict.score == 3 and verdict.output_mode == "json_schema" and server.request_count == 2


def test_a_rerun_after_a_step_down_is_answered_by_the_cache(server: JudgeServer, tmp_path: Path) -> None:
    server.response_formats = frozenset({"json_object"})
    cache = str(tmp_path / "cache.sqlite")
    with Judge("policy", model="judge-model", base_url=server.url, cache=cache, **FAST) as judge:  # type: ignore[arg-type]
        first = judge.score(["a", "b"])
    sent = server.request_count
    with Judge("policy", model="judge-model", base_url=server.url, cache=cache, **FAST) as judge:  # type: ignore[arg-type]
        again = judge.score(["a", "b"])
    assert server.request_count == sent and all(v.cached for v in again)
    assert [v.score for v in again] == [v.score for v in first]


def test_explicit_json_schema_mode_stops_when_unsupported(server: JudgeServer) -> None:
    server.supports_json_schema = False
    with pytest.raises(JudgeError, match="--output-mode"):
        _score(server, "a", output_mode="json_schema")


@pytest.mark.parametrize("mode", ["json_schema", "json_object_schema", "json_object", "text"])
def test_every_output_mode_sends_its_format(server: JudgeServer, mode: str) -> None:
    (verdict,) = _score(server, "x", output_mode=mode)
    assert verdict.status == "ok" and verdict.output_mode == mode
    response_format = server.requests[0].get("response_format")
    expected = {
        "json_schema": "json_schema",
        "json_object_schema": "json_object",
        "json_object": "json_object",
    }
    assert (response_format or {}).get("type") == expected.get(mode)
    assert ("schema" in (response_format or {})) is (mode == "json_object_schema")


def test_judge_failures_become_statuses_with_raw_text(server: JudgeServer) -> None:
    server.reply_by_marker.update(
        {
            "bad-range": '{"reasoning": "r", "score": 9}',
            "gibberish": "I think it is fine.",
            "refuses": Fault.refusal("I won't evaluate this."),
            "filtered": Fault.content_filter(),
        }
    )
    verdicts = _score(server, ["bad-range", "gibberish", "refuses", "filtered"])
    assert [v.status for v in verdicts] == ["parse_error", "parse_error", "judge_refused", "judge_refused"]
    assert all(v.score is None and v.harmful is None and v.error for v in verdicts)
    assert verdicts[0].raw == '{"reasoning": "r", "score": 9}'
    assert verdicts[2].raw == "I won't evaluate this."


def test_retries_transient_faults_then_succeeds(server: JudgeServer) -> None:
    server.script(
        Fault.status(429, retry_after_s=0.01),
        Fault.status(500),
        Fault.drop(),
        Fault.status(503),
        {"reasoning": "r", "category": None, "score": 3},
    )
    (verdict,) = _score(server, "x", max_retries=4)
    assert verdict.status == "ok" and verdict.score == 3
    assert server.request_count == 5


def test_gives_up_after_max_retries_with_an_api_error(server: JudgeServer) -> None:
    server.script(*[Fault.status(500)] * 3)
    (verdict,) = _score(server, "x", max_retries=2, retry_deadline_s=0)
    assert verdict.status == "api_error"
    assert verdict.error is not None and "gave up after 2 retries" in verdict.error
    assert server.request_count == 3


def test_context_too_long_is_a_row_error_and_the_run_goes_on(server: JudgeServer) -> None:
    server.max_context_tokens = 1500
    verdicts = _score(server, ["short", "long " * 4000])
    assert verdicts[0].status == "ok"
    assert verdicts[1].status == "api_error" and "400" in (verdicts[1].error or "")


def test_bad_key_stops_the_run_with_one_message() -> None:
    with JudgeServer(api_key="right-key") as keyed:
        with pytest.raises(JudgeError, match="refused the credentials") as raised:
            judgekit.score(
                ["a", "b", "c"], model="judge-model", base_url=keyed.url, api_key="wrong-key", max_retries=0
            )
        assert "wrong-key" not in str(raised.value)
        assert keyed.request_count <= 3


def test_unknown_model_stops_the_run(server: JudgeServer) -> None:
    server.models = {"judge-model"}
    with pytest.raises(JudgeError, match="does not know model 'other'"):
        judgekit.score("a", model="other", base_url=server.url)


def test_logprobs_give_an_expected_score(server: JudgeServer) -> None:
    server.script({"reasoning": "r", "category": None, "score": 4})
    (verdict,) = _score(server, "x", logprobs=True)
    assert verdict.score == 4
    assert verdict.expected_score == pytest.approx(4.0, abs=0.01)
    assert server.requests[0]["logprobs"] is True


def test_keep_raw_keeps_the_reply(server: JudgeServer) -> None:
    server.script({"reasoning": "r", "category": None, "score": 1})
    (verdict,) = _score(server, "x", keep_raw=True)
    assert json.loads(verdict.raw or "")["score"] == 1


def test_no_endpoint_fails_at_once_and_suggests_offline_rubric() -> None:
    with pytest.raises(ConfigError, match="refusal-keywords") as raised:
        judgekit.score("x")
    assert "JUDGEKIT_MODEL" in str(raised.value) and "OPENAI_BASE_URL" in str(raised.value)


def test_environment_configures_the_judge(server: JudgeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("JUDGEKIT_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    (verdict,) = judgekit.score("x")
    assert verdict.judge_model == "env-model"
    assert "sk-secret-value" not in verdict.to_json()
    assert "sk-secret-value" not in repr(Judge(base_url=server.url, model="m").config)


def test_refusal_keywords_needs_no_endpoint() -> None:
    verdicts = judgekit.score(
        ["I'm sorry, I can't help with that.", "Step 1: mix the..."], rubric="refusal-keywords"
    )
    assert [v.refused for v in verdicts] == [True, False]
    assert [v.harmful for v in verdicts] == [False, True]
    assert verdicts[0].judge_model is None


def test_score_works_inside_a_running_event_loop(server: JudgeServer) -> None:
    async def notebook_cell() -> list[Verdict]:
        return _score(server, "x")

    assert asyncio.run(notebook_cell())[0].status == "ok"


def test_ascore_and_a_reused_judge(server: JudgeServer) -> None:
    async def run() -> tuple[list[Verdict], list[Verdict]]:
        async with Judge(model="judge-model", base_url=server.url) as judge:
            return await judge.ascore(["a"]), await judge.ascore(["b", "c"])

    first, second = asyncio.run(run())
    assert len(first) == 1 and len(second) == 2
    with Judge(model="judge-model", base_url=server.url) as judge:
        assert len(judge.score(["a"]) + judge.score(["b"])) == 2


def test_duplicate_ids_are_an_input_error() -> None:
    with pytest.raises(judgekit.InputError, match="duplicate id 'a'"):
        judgekit.score(
            [{"id": "a", "response": "x"}, {"id": "a", "response": "y"}], rubric="refusal-keywords"
        )


def test_rpm_budget_paces_requests(server: JudgeServer) -> None:
    started = time.monotonic()
    verdicts = _score(server, [f"r{i}" for i in range(16)], rpm=600, concurrency=16)
    elapsed = time.monotonic() - started
    assert all(v.status == "ok" for v in verdicts)
    # 600/min is 10/s with a one-second burst: 16 requests need at least ~0.5 s.
    assert elapsed >= 0.45


def test_retry_after_pauses_then_every_record_is_judged(server: JudgeServer) -> None:
    server.script(Fault.status(429, retry_after_s=0.3))
    started = time.monotonic()
    verdicts = _score(server, [f"r{i}" for i in range(6)], concurrency=1)
    assert all(v.status == "ok" for v in verdicts)
    assert time.monotonic() - started >= 0.3
