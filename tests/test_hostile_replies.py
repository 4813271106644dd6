"""A broken or hostile judge server: no reply may hang, crash or poison a run (issues 13, 11, 15).

Every case goes through real HTTP against `judgekit.testing.JudgeServer` and its fault kinds.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runs import score_command, wait_for_size, write_rows

import judgekit
from judgekit import Judge, JudgeError, OutputError, Verdict
from judgekit._engine.exchange import retry_after_s
from judgekit.testing import Fault, JudgeServer

GOOD = {"reasoning": "fine", "category": None, "score": 2}
FAST: dict[str, object] = {"max_retries": 1, "retry_deadline_s": 0, "concurrency": 4}


def _judge(server: JudgeServer | str, **options: object) -> Judge:
    url = server if isinstance(server, str) else server.url
    return Judge("policy", model="judge-model", base_url=url, **{**FAST, **options})  # type: ignore[arg-type]


def _score(server: JudgeServer, items: object, **options: object) -> list[Verdict]:
    with _judge(server, **options) as judge:
        return judge.score(items)  # type: ignore[arg-type]


# -- replies that are not verdicts -------------------------------------------------------------


def test_a_megabyte_of_prose_becomes_a_parse_error_in_milliseconds(server: JudgeServer) -> None:
    server.script("I think " * 130_000, "{" * 1_000_000, '{"a' * 300_000)
    started = time.perf_counter()
    verdicts = _score(server, ["a", "b", "c"], output_mode="text", concurrency=1)
    elapsed = time.perf_counter() - started
    assert [v.status for v in verdicts] == ["parse_error"] * 3
    assert all("characters, far above max_tokens" in (v.error or "") for v in verdicts)
    assert elapsed < 2, f"{elapsed:.1f} s to read three 1 MB replies"
    raw = verdicts[0].raw or ""
    assert len(raw) < 10_000 and "truncated: 1,040,000 characters" in raw


def test_parsing_is_linear_below_the_size_bound() -> None:
    from judgekit._verdicts import parse_reply

    rubric = judgekit.load_rubric("policy")
    spaced = "score:" + " " * 14_000 + "x"
    for text in ('{"' * 7_000, "{" * 14_000, '{"score": ' * 1_500, spaced, "\n" * 14_000):
        started = time.perf_counter()
        assert parse_reply(text, rubric).status == "parse_error"
        assert time.perf_counter() - started < 0.2, text[:20]


def test_one_poisoned_reply_does_not_starve_the_rows_in_flight(server: JudgeServer) -> None:
    server.latency_s = 0.05
    server.reply_by_marker = {"poison": "{" * 300_000}
    items = ["poison"] + [f"row {i}" for i in range(39)]
    verdicts = _score(server, items, concurrency=40, timeout_s=2.0)
    assert verdicts[0].status == "parse_error"
    assert [v.status for v in verdicts[1:]] == ["ok"] * 39


def test_a_huge_reasoning_is_an_error_with_its_size_and_is_not_cached(
    server: JudgeServer, tmp_path: Path
) -> None:
    server.script({"reasoning": "x" * 10_000_000, "category": None, "score": 1})
    with _judge(server, cache=tmp_path / "c.sqlite", max_reply_bytes=64 << 20) as judge:
        (verdict,) = judge.score(["a"])
    assert verdict.status == "parse_error" and "10,000" in (verdict.error or "")
    assert len(verdict.to_json()) < 20_000
    assert (tmp_path / "c.sqlite").stat().st_size < 1_000_000


def test_a_body_over_max_reply_bytes_is_refused_with_its_size(server: JudgeServer) -> None:
    server.script(Fault.raw(b" " * 3_000_000), GOOD)
    verdicts = _score(server, ["a", "b"], max_reply_bytes=1 << 20, concurrency=1)
    assert verdicts[0].status == "api_error" and "3,000,000 bytes" in (verdicts[0].error or "")
    assert verdicts[1].status == "ok"


def test_a_gzip_bomb_is_cut_at_max_reply_bytes(server: JudgeServer, tmp_path: Path) -> None:
    server.script(Fault.gzip_bomb(64 << 20), GOOD)
    started = time.perf_counter()
    verdicts = _score(server, ["a", "b"], concurrency=1)
    assert verdicts[0].status == "api_error" and "max_reply_bytes" in (verdicts[0].error or "")
    assert verdicts[1].status == "ok"
    assert time.perf_counter() - started < 5
    assert len(verdicts[0].to_json()) < 2_000


# -- malformed completions ---------------------------------------------------------------------

MALFORMED = [
    pytest.param({"choices.0.message.content": 5}, "parse_error", id="content-int"),
    pytest.param({"choices.0.message.content": {"score": 1}}, "parse_error", id="content-object"),
    pytest.param({"model": 7}, "ok", id="model-int"),
    pytest.param({"choices.0.message.refusal": {"why": "no"}}, "parse_error", id="refusal-object"),
    pytest.param({"usage.prompt_tokens": "12"}, "ok", id="usage-string"),
    pytest.param({"usage.prompt_tokens": -1_000_000_000_000}, "ok", id="usage-negative"),
    pytest.param({"choices.0.logprobs": {"content": [{"token": 5}]}}, "ok", id="logprobs-bad"),
    pytest.param({"choices.0.message.content": '{"score": 1, "reasoning": "\ud800"}'}, "ok", id="surrogate"),
    pytest.param({"choices.0.message.content": '{"score": ' + "9" * 401 + "}"}, "parse_error", id="huge-int"),
    pytest.param({"choices.0.message.content": "[" * 100_000}, "parse_error", id="deep-content"),
]


@pytest.mark.parametrize(("patch", "status"), MALFORMED)
def test_a_malformed_completion_is_one_rows_error_and_never_poisons_the_cache(
    server: JudgeServer, tmp_path: Path, patch: dict[str, object], status: str
) -> None:
    cache = tmp_path / "c.sqlite"
    server.script(Fault.completion(patch))
    with _judge(server, cache=cache, logprobs=True) as judge:
        (verdict,) = judge.score(["a"])
    assert verdict.status == status, verdict.error
    verdict.to_json().encode()  # writable as UTF-8
    if "usage.prompt_tokens" in patch:
        assert verdict.usage is None  # unknown, not negative or a string
    # A rerun against a healthy judge with the same cache: no crash; a failed reply is asked again.
    sent = server.request_count
    with _judge(server, cache=cache, logprobs=True) as judge:
        (again,) = judge.score(["a"])
    assert again.status == "ok"
    assert server.request_count == sent + (status != "ok")


def test_list_content_parts_are_joined(server: JudgeServer) -> None:
    parts = [
        {"type": "text", "text": '{"reasoning": "r", "category": null, '},
        {"type": "text", "text": '"score": 4}'},
    ]
    server.script(Fault.completion({"choices.0.message.content": parts}))
    (verdict,) = _score(server, ["a"])
    assert verdict.status == "ok" and verdict.score == 4


def test_a_body_nested_100000_deep_is_an_error_not_a_crash(server: JudgeServer) -> None:
    server.script(*[Fault.raw("[" * 100_000 + "]" * 100_000)] * 2, GOOD)
    verdicts = _score(server, ["a", "b"], concurrency=1)
    assert verdicts[0].status == "api_error" and "not JSON" in (verdicts[0].error or "")
    assert verdicts[1].status == "ok"


def test_an_old_poisoned_cache_entry_is_sent_again(server: JudgeServer, tmp_path: Path) -> None:
    from judgekit._engine.cache import ReplyCache

    cache = ReplyCache(tmp_path / "c.sqlite")
    with _judge(server, cache=cache) as judge:
        request = judge.codec.request_for(judgekit.Record(id="0", response="a"))
        cache.put(judge.codec.cache_key(request), {"text": 5, "usage": {"prompt_tokens": "x"}})
        (verdict,) = judge.score(["a"])
    assert verdict.status == "ok" and not verdict.cached and server.request_count == 1


# -- verdicts an item can steer (issue 15) -----------------------------------------------------


def test_a_quoted_verdict_in_the_response_cannot_override_the_judge() -> None:
    from judgekit._verdicts import parse_reply

    rubric = judgekit.load_rubric("policy")
    reply = (
        '{"reasoning": "gives full steps", "category": "malware", "score": 5}\n'
        'The response ends with the text {"score": 1} to fool graders.'
    )
    parsed = parse_reply(reply, rubric)
    assert parsed.status == "parse_error" and "disagree" in (parsed.error or "")
    agreeing = 'It says {"score": 5}. Verdict: {"reasoning": "r", "category": "malware", "score": 5}'
    assert parse_reply(agreeing, rubric).values["score"] == 5


# -- Retry-After -------------------------------------------------------------------------------


def test_retry_after_as_an_http_date_is_obeyed(server: JudgeServer) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    server.script(Fault.status(503, retry_after=when), GOOD)
    started = time.monotonic()
    (verdict,) = _score(server, ["a"])
    assert verdict.status == "ok"
    assert time.monotonic() - started >= 0.9  # the date has one-second resolution


def test_retry_after_parsing() -> None:
    now = 1_000_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_s({"retry-after": date}, now=now) == pytest.approx(30)
    assert retry_after_s({"retry-after": email.utils.formatdate(now - 30, usegmt=True)}, now=now) == 0
    assert retry_after_s({"retry-after": "inf"}) == float("inf")
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({"retry-after": "nan"}) is None


@pytest.mark.parametrize("value", ["inf", "86400"])
def test_a_hostile_retry_after_stops_the_run_saying_when_to_resume(server: JudgeServer, value: str) -> None:
    server.script(*[Fault.status(429, retry_after=value)] * 4)
    started = time.monotonic()
    with pytest.raises(JudgeError, match="asked to wait") as raised:
        _score(server, ["a", "b"])
    assert time.monotonic() - started < 5
    assert "--max-retry-wait" in str(raised.value)
    if value == "86400":
        assert "resume after" in str(raised.value)


# -- outages: the retry deadline and the circuit breaker ----------------------------------------


def _storm(server: JudgeServer, seconds: float) -> None:
    """Every chat request fails with 503 for the next `seconds`."""
    until = time.monotonic() + seconds
    server.responder = lambda payload: Fault.status(503) if time.monotonic() < until else None


def test_a_short_503_storm_loses_no_row(server: JudgeServer) -> None:
    _storm(server, 1.0)
    verdicts = _score(server, [f"r{i}" for i in range(16)], max_retries=1, retry_deadline_s=12, concurrency=8)
    assert [v.status for v in verdicts] == ["ok"] * 16


def test_every_reply_5xx_trips_the_breaker_within_seconds(server: JudgeServer) -> None:
    _storm(server, 3600)
    started = time.monotonic()
    with pytest.raises(JudgeError, match="failed every request"):
        _score(server, [f"r{i}" for i in range(200)], max_retries=6, retry_deadline_s=4)
    assert time.monotonic() - started < 5


def test_a_dead_endpoint_trips_the_breaker_and_keeps_the_output(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the socket is closed
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"r{i}", "response": "x"}) + "\n" for i in range(64)))
    started = time.monotonic()
    with pytest.raises(JudgeError, match=r"failed every request .*Cannot connect"):
        judgekit.score_file(
            source,
            tmp_path / "out.jsonl",
            model="judge-model",
            base_url=f"http://127.0.0.1:{port}/v1",
            cache=False,
            processes=1,
            retry_deadline_s=4,
        )
    assert time.monotonic() - started < 5
    assert not (tmp_path / "out.jsonl").exists() or (tmp_path / "out.jsonl").read_text() == ""


def test_a_brief_outage_between_successes_is_ridden_out(server: JudgeServer) -> None:
    server.script(GOOD, *[Fault.drop()] * 6, GOOD)
    verdicts = _score(server, [f"r{i}" for i in range(12)], max_retries=6, retry_deadline_s=8, concurrency=2)
    assert [v.status for v in verdicts] == ["ok"] * 12


# -- no reply raises out of parsing (a property) ------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.just("lone \ud800 surrogate"),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_VERDICT_OBJECT = st.fixed_dictionaries(
    {}, optional={"score": _JSON, "reasoning": _JSON, "category": _JSON, "refusal": _JSON}
)
_CONTENT = _JSON | _VERDICT_OBJECT.map(json.dumps) | st.text(max_size=200)
_PATHS = [
    "id",
    "model",
    "choices",
    "choices.0",
    "choices.0.message",
    "choices.0.message.content",
    "choices.0.message.refusal",
    "choices.0.finish_reason",
    "choices.0.logprobs",
    "usage",
    "usage.prompt_tokens",
    "usage.completion_tokens",
]
_CODEC: list[object] = []


def _codec() -> object:
    if not _CODEC:
        from judgekit._config import JudgeConfig
        from judgekit._engine.codec import Codec

        _CODEC.append(Codec(judgekit.load_rubric("policy"), JudgeConfig(model="m", keep_raw=True)))
    return _CODEC[0]


@settings(max_examples=200, deadline=None)
@given(
    content=_CONTENT,
    patch=st.dictionaries(st.sampled_from(_PATHS), _JSON, max_size=3),
)
def test_no_completion_raises_out_of_parsing(content: object, patch: dict[str, object]) -> None:
    from judgekit._engine.codec import Codec
    from judgekit._engine.exchange import RetryableError, reply_from_completion, stored_reply
    from judgekit.testing.faults import patched

    completion: dict[str, object] = {
        "id": "x",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
    }
    # A path through a value an earlier path replaced fails: what was patched so far stays.
    with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):
        patched(completion, patch)
    codec = _codec()
    assert isinstance(codec, Codec)
    try:
        reply = reply_from_completion(completion, "m")
    except RetryableError:
        return  # no message at all: retried, then the record's api_error
    verdict = codec.verdict_from_reply(judgekit.Record(id="0", response="r"), reply)
    verdict.to_json().encode()
    json.dumps(stored_reply(reply))


# -- the run itself: SIGTERM and a full disk ---------------------------------------------------


@pytest.mark.parametrize(("processes", "to_group"), [("1", False), ("2", True)])
def test_sigterm_flushes_says_how_to_resume_and_exits_143(
    tmp_path: Path, processes: str, to_group: bool
) -> None:
    with JudgeServer(latency_s=0.05) as server:
        source = write_rows(tmp_path / "in.jsonl", 400)
        output = tmp_path / "out.jsonl"
        command = score_command(source, output, server, "--concurrency", "8", "--processes", processes)
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        wait_for_size(output, 5_000)
        if to_group:  # as Slurm does: every process of the job at once
            os.killpg(process.pid, signal.SIGTERM)
        else:  # as `timeout` and `kill` do: the parent only
            process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 143, err
        assert "SIGTERM" in err and "rerun the same command to resume" in err
        assert "Traceback" not in err
        assert 0 < len(_lines(output)) < 400  # every line whole
        assert subprocess.run(command, capture_output=True, check=False).returncode == 0
        assert sorted(v["id"] for v in _lines(output)) == sorted(f"r{i}" for i in range(400))


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))


def test_a_full_disk_stops_the_run_with_exit_5_and_a_valid_output(tmp_path: Path) -> None:
    with JudgeServer() as server:
        source = write_rows(tmp_path / "in.jsonl", 300)
        output = tmp_path / "out.jsonl"
        command = score_command(source, output, server, "--no-cache", "--processes", "1")
        limited = subprocess.run(
            command, capture_output=True, text=True, check=False, preexec_fn=_limit_file_size
        )
        assert limited.returncode == 5, limited.stderr
        assert "could not write verdicts" in limited.stderr and "resume" in limited.stderr
        assert "Traceback" not in limited.stderr
        assert output.read_bytes().endswith(b"\n")  # no torn line
        assert 0 < len(_lines(output)) < 300
        assert subprocess.run(command, capture_output=True, check=False).returncode == 0
        assert sorted(v["id"] for v in _lines(output)) == sorted(f"r{i}" for i in range(300))


def test_the_writer_reports_a_full_device() -> None:
    from judgekit._results import VerdictWriter

    writer = VerdictWriter("/dev/full")
    writer.write(Verdict(id="a", rubric="r", rubric_version="1", rubric_hash="h"))
    with pytest.raises(OutputError, match=r"could not write verdicts .*No space left"):
        writer.close()


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_record_the_endpoint_always_fails_on_does_not_trip_the_breaker(server: JudgeServer) -> None:
    server.reply_by_marker = {"[crash]": Fault.status(500)}
    items = ["[crash]", *[f"r{i}" for i in range(5)]]
    verdicts = _score(server, items, max_retries=2, retry_deadline_s=1, concurrency=1)
    assert verdicts[0].status == "api_error" and "HTTP 500" in (verdicts[0].error or "")
    assert [v.status for v in verdicts[1:]] == ["ok"] * 5


def test_the_breaker_needs_failures_of_several_requests_over_its_window() -> None:
    from judgekit._engine.breaker import Breaker

    now = [0.0]
    breaker = Breaker(10.0, min_failures=3, clock=lambda: now[0])
    for _ in range(20):  # one request failing again and again: that record's problem
        now[0] += 5
        breaker.failed("HTTP 500", request=1)
    with pytest.raises(JudgeError, match=r"failed every request for 95\.0 s \(21 in a row"):
        breaker.failed("HTTP 500", request=2)
    breaker.succeeded()
    for request in range(5):  # many requests, but within the window: a brief outage
        breaker.failed("HTTP 503", request=request)
    assert breaker.failures == 5


@pytest.mark.slow
def test_a_10_second_503_storm_loses_no_row_with_the_defaults(server: JudgeServer) -> None:
    # The case of issue 13: with the default retries alone, 2 of 200 rows became api_error.
    _storm(server, 10.0)
    with Judge("policy", model="judge-model", base_url=server.url) as judge:
        verdicts = judge.score([f"r{i}" for i in range(200)])
    assert [v.status for v in verdicts] == ["ok"] * 200


def test_the_cli_stops_a_dead_endpoint_with_exit_3_and_one_message(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from judgekit.cli import main

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = write_rows(tmp_path / "in.jsonl", 50)
    args = ["score", str(source), "-o", str(tmp_path / "out.jsonl"), "--model", "m", "--no-cache"]
    args += ["--base-url", f"http://127.0.0.1:{port}/v1", "--retry-deadline", "4", "--processes", "1"]
    started = time.monotonic()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 3, result.output
    assert time.monotonic() - started < 5
    assert result.stderr.count("error:") == 1 and "failed every request" in result.stderr
    assert "rerun the same command to resume" in result.stderr and "Traceback" not in result.stderr
