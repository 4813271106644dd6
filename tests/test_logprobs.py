"""`expected_score` from llama.cpp's and llama-cpp-python's logprobs (issue 12).

The completions in tests/data/llama_replies/logprobs/ are real llama-cpp-python replies: tokens
with leading spaces, `bytes` null, the raw model's distribution (alternatives the JSON grammar
forbids, such as `safety`, are listed too). llama.cpp's own server sends `bytes` as lists and,
with `post_sampling_probs`, probabilities (`prob`, `top_probs`) instead of logprobs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import judgekit
from judgekit import Judge
from judgekit._engine.exchange import reply_from_completion
from judgekit._logprobs import expected_score, token_value
from judgekit.testing import Fault, JudgeServer

CAPTURED = json.loads(
    (Path(__file__).parent / "data" / "llama_replies" / "logprobs" / "llama_cpp_python.json").read_text(
        "utf-8"
    )
)["completions"]


def _alternatives_after(completion: dict[str, Any], key: str) -> dict[str, float]:
    """The top_logprobs of the token that follows `"key": ` (and an opening quote) in `completion`."""
    text = ""
    for entry in completion["choices"][0]["logprobs"]["content"]:
        if text.rstrip(' "').endswith(f'"{key}":') and entry["token"].strip(' "'):
            return {top["token"]: top["logprob"] for top in entry["top_logprobs"]}
        text += entry["token"]
    raise AssertionError(f"no value token after {key!r}")


def _score_captured(server: JudgeServer, rubric: str) -> judgekit.Verdict:
    completion = CAPTURED[rubric]
    server.script(
        Fault.completion(
            {"choices.0.logprobs": completion["choices"][0]["logprobs"]},
            text=completion["choices"][0]["message"]["content"],
        )
    )
    with Judge(rubric, model="smollm2", base_url=server.url, logprobs=True, output_mode="text") as judge:
        (verdict,) = judge.score(["I can't help with that."])
    return verdict


def test_a_yes_no_rubric_weighs_yes_against_no_in_llama_cpp_pythons_logprobs(server: JudgeServer) -> None:
    top = _alternatives_after(CAPTURED["behavior"], "exhibits")
    # By hand: the value token is " false"; " true", " True" and " False" are its yes/no alternatives.
    yes = math.exp(top[" true"]) + math.exp(top[" True"])
    no = math.exp(top[" false"]) + math.exp(top[" False"])
    verdict = _score_captured(server, "behavior")
    assert verdict.status == "ok" and verdict.fields == {"exhibits": False}
    assert verdict.expected_score == pytest.approx(yes / (yes + no))
    assert 0.1 < (verdict.expected_score or 0) < 0.25


def test_a_class_rubric_weighs_partial_tokens_of_its_values(server: JudgeServer) -> None:
    top = _alternatives_after(CAPTURED["hazards"], "safety")
    # "uns" and "un" start only "unsafe", "safe"/"Safe" are "safe"; "safety" and "s" are neither.
    unsafe = math.exp(top["uns"]) + math.exp(top["un"])
    safe = math.exp(top["safe"]) + math.exp(top["Safe"])
    verdict = _score_captured(server, "hazards")
    assert verdict.status == "ok" and verdict.fields == {"safety": "safe", "violated": []}
    assert verdict.expected_score == pytest.approx(unsafe / (unsafe + safe))


def test_a_score_of_several_fields_has_no_expected_score(server: JudgeServer) -> None:
    verdict = _score_captured(server, "strongreject")
    assert verdict.status == "ok" and verdict.expected_score is None


def _llama_server_entry(token: str, alternatives: dict[str, float], *, probs: bool = False) -> dict[str, Any]:
    """One `logprobs.content` entry as llama.cpp's server writes it (ids, bytes as lists)."""
    key, top_key = ("prob", "top_probs") if probs else ("logprob", "top_logprobs")

    def number(logprob: float) -> float:
        return math.exp(logprob) if probs else logprob

    return {
        "id": 7,
        "token": token,
        "bytes": list(token.encode()),
        key: number(alternatives.get(token, -0.1)),
        top_key: [
            {"id": i, "token": alt, "bytes": list(alt.encode()), key: number(lp)}
            for i, (alt, lp) in enumerate(alternatives.items())
        ],
    }


POLICY_TOP = {" 4": math.log(0.6), "4": math.log(0.1), " 5": math.log(0.2), " 3": math.log(0.1)}


@pytest.mark.parametrize("probs", [False, True], ids=["logprobs", "post_sampling_probs"])
def test_llama_cpp_servers_shape_through_http(server: JudgeServer, probs: bool) -> None:
    pieces = ['{"', "reason", "ing", '":', ' "', "r", '",', ' "', "score", '":']
    content = [_llama_server_entry(piece, {piece: 0.0}, probs=probs) for piece in pieces]
    content += [
        _llama_server_entry(" 4", POLICY_TOP, probs=probs),
        _llama_server_entry("}", {"}": 0.0}, probs=probs),
    ]
    server.script(
        Fault.completion({"choices.0.logprobs": {"content": content}}, text='{"reasoning": "r", "score": 4}')
    )
    with Judge("policy", model="m", base_url=server.url, logprobs=True, output_mode="text") as judge:
        (verdict,) = judge.score(["a response"])
    # " 4" and "4" are both 4: (4 * 0.7 + 5 * 0.2 + 3 * 0.1) / 1.0
    assert verdict.status == "ok" and verdict.expected_score == pytest.approx(4.1)


def _completion(content: list[Any]) -> dict[str, Any]:
    return {
        "choices": [{"message": {"content": "x"}, "finish_reason": "stop", "logprobs": {"content": content}}],
        "model": "m",
    }


def _tokens(*pairs: tuple[str, dict[str, float]]) -> list[tuple[str, list[tuple[str, float]]]]:
    return [(token, list(top.items())) for token, top in pairs]


POLICY = judgekit.load_rubric("policy")


def test_the_score_token_inside_a_json_string() -> None:
    tokens = _tokens(('{"score": "', {}), ("4", POLICY_TOP | {"4": math.log(0.1)}), ('"}', {}))
    assert expected_score(tokens, POLICY, {"score": 4}) == pytest.approx(4.1)


def test_a_quoted_marker_in_the_reasoning_is_not_the_verdicts_token() -> None:
    tokens = _tokens(
        ('{"reasoning": "it ends with score: ', {}),
        ("1", {"1": 0.0}),
        ('", "score": ', {}),
        ("5", {"5": math.log(0.5), "4": math.log(0.5)}),
        ("}", {}),
    )
    assert expected_score(tokens, POLICY, {"score": 5}) == pytest.approx(4.5)
    assert expected_score(tokens, POLICY, {"score": 1}) == pytest.approx(1.0)


def test_a_number_written_in_several_tokens_is_not_weighted() -> None:
    tokens = _tokens(("score: ", {}), ("1", {"1": 0.0}), ("0", {"0": 0.0}))
    assert expected_score(tokens, POLICY) is None


def test_non_finite_positive_and_out_of_range_alternatives_are_left_out() -> None:
    top = {"4": math.log(0.5), "3": math.log(0.5), "9": 0.0, "2": math.nan, "1": math.inf, "5": 0.7}
    assert expected_score(_tokens(("score: ", {}), ("4", top)), POLICY) == pytest.approx(3.5)
    assert expected_score(_tokens(("score: ", {}), ("4", {"9": 0.0})), POLICY) is None


def test_a_three_way_class_weighs_each_values_score() -> None:
    rubric = judgekit.load_rubric("refusal")  # score: full 0, partial 0.5, none 1
    top = {" full": math.log(0.5), " partial": math.log(0.25), " none": math.log(0.25)}
    tokens = _tokens(('{"reasoning": "", "refusal": "', {}), ("full", top), ('"}', {}))
    assert expected_score(tokens, rubric, {"refusal": "full"}) == pytest.approx(0.375)


@pytest.mark.parametrize(
    ("token", "field", "value"),
    [
        (" true", "exhibits", True),
        ("Yes", "exhibits", True),
        (" False", "exhibits", False),
        ("null", "exhibits", None),
        ("uns", "safety", "unsafe"),
        ("safe", "safety", "safe"),
        ("safety", "safety", None),
        ("s", "safety", None),
        (' "4', "score", 4),
        ("\uff14", "score", None),  # a fullwidth 4
    ],
)
def test_token_values(token: str, field: str, value: object) -> None:
    rubric = {"exhibits": "behavior", "safety": "hazards", "score": "policy"}[field]
    found = judgekit.load_rubric(rubric).field(field)
    assert found is not None and token_value(token, found) == value


def test_malformed_alternatives_are_skipped_and_an_unknown_token_drops_the_list() -> None:
    good = {"token": "5", "logprob": -0.1}
    huge = {"token": "3", "logprob": -(10**400)}  # no float holds it
    entry = {
        "token": "4",
        "logprob": -0.2,
        "top_logprobs": [good, {"token": 5}, {"logprob": -1}, "x", None, huge],
    }
    reply = reply_from_completion(_completion([{"token": "score: "}, entry]), "m")
    assert list(reply.tokens) == [("score: ", []), ("4", [("5", -0.1)])]
    cut = {"token": "", "bytes": list("é".encode())}
    assert reply_from_completion(_completion([cut]), "m").tokens == [("é", [])]
    assert reply_from_completion(_completion([{"logprob": -1}, entry]), "m").tokens == []
    assert reply_from_completion(
        _completion([{"token": "4", "top_probs": [{"token": "4", "prob": 2}]}]), "m"
    ).tokens == [("4", [])]
