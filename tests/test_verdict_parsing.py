from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from judgekit import load_rubric
from judgekit._logprobs import expected_score
from judgekit._verdicts import parse_reply, reply_schema

POLICY = load_rubric("policy")

# (judge reply, expected score) for replies judges really send.
READABLE = [
    ('{"reasoning": "declines", "category": null, "score": 1}', 1),
    ('```json\n{"reasoning": "r", "category": "malware", "score": 5}\n```', 5),
    ('Here is my verdict:\n{"reasoning": "r", "category": "Malware", "score": "4"}\nThanks!', 4),
    ('{"reasoning": "an example {\\"score\\": 1} in prose", "category": null, "score": 3}', 3),
    ('Quoting it: {"score": 4}. My verdict:\n{"reasoning": "r", "score": 4}', 4),
    ("#reasoning: gives full steps\n#category: fraud_deception\n#score: 5", 5),
    ("reasoning: partial\nscore: **4**", 4),
    ("**Reasoning:** fine\n**Score:** 2.", 2),
    ('{"reasoning": "r", "category": "Fraud or deception", "score": 5.0}', 5),
    ('{"reasoning": "r", "category": "none", "score": "3/5"}', 3),
]


@pytest.mark.parametrize(("reply", "score"), READABLE)
def test_reads_what_judges_send(reply: str, score: int) -> None:
    parsed = parse_reply(reply, POLICY)
    assert parsed.status == "ok", parsed.error
    assert parsed.values["score"] == score


def test_bare_value_for_a_single_field_rubric() -> None:
    rubric = load_rubric("behavior")
    for reply, value in [("Yes", True), ("**no**", False), ("yes.", True)]:
        parsed = parse_reply(reply, rubric)
        assert parsed.status == "ok", (reply, parsed.error)
        assert parsed.values["exhibits"] is value


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ('{"reasoning": "r", "score": 7}', "outside 1..5"),
        ('{"reasoning": "r", "score": 2.5}', "must be an integer"),
        ('{"reasoning": "r", "score": "high"}', "must be a number"),
        ('{"reasoning": "r"}', "lacks the field(s) score"),
        ('{"reasoning": "r", "category": "weather", "score": 2}', "names no category"),
        ("The response seems fine overall.", "lacks the field(s) score"),
        ("", "empty"),
        ('{"reasoning": "r", "score": true}', "must be a number"),
    ],
)
def test_unreadable_or_out_of_range_is_a_parse_error(reply: str, error: str) -> None:
    parsed = parse_reply(reply, POLICY)
    assert parsed.status == "parse_error"
    assert parsed.error is not None and error in parsed.error


def test_truncated_reply_says_so() -> None:
    parsed = parse_reply('{"reasoning": "long', POLICY, finish_reason="length")
    assert parsed.status == "parse_error"
    assert parsed.error is not None and "max_tokens" in parsed.error


@pytest.mark.parametrize(
    ("reply", "refusal", "finish_reason"),
    [
        ("I'm sorry, but I can't help with evaluating this content.", None, "stop"),
        (None, "I can't assist with that.", "stop"),
        ("", None, "content_filter"),
    ],
)
def test_judge_refusal_is_its_own_status(reply: str | None, refusal: str | None, finish_reason: str) -> None:
    parsed = parse_reply(reply, POLICY, refusal=refusal, finish_reason=finish_reason)
    assert parsed.status == "judge_refused"


@given(st.text(max_size=300))
def test_parse_never_raises(text: str) -> None:
    parsed = parse_reply(text, POLICY)
    assert parsed.status in ("ok", "parse_error", "judge_refused")
    if parsed.status == "ok":
        assert 1 <= parsed.values["score"] <= 5


def test_reply_schema_is_strict_and_matches_fields() -> None:
    schema = reply_schema(POLICY)
    assert schema["required"] == ["reasoning", "category", "score"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["score"]["minimum"] == 1
    assert None in schema["properties"]["category"]["enum"]
    assert len(reply_schema(load_rubric("hazards"))["properties"]["violated"]["items"]["enum"]) == 14


def test_expected_score_weights_the_score_token() -> None:
    tokens = [
        ('{"', []),
        ("score", []),
        ('":', []),
        (" ", []),
        ("4", [("4", -0.357), ("5", -1.897), ("3", -1.897)]),
        ("}", []),
    ]
    assert expected_score(tokens, POLICY) == pytest.approx(4.0, abs=1e-3)
    skewed = [("score: ", []), ("5", [("5", -0.105), ("4", -2.303)])]
    assert 4.85 < (expected_score(skewed, POLICY) or 0) < 5
    assert expected_score([("hello", [])], POLICY) is None


def test_small_integer_scales_list_their_values_for_grammar_servers() -> None:
    """llama.cpp's grammars ignore minimum/maximum (a 1-5 score came back as 10) but enforce enum."""
    from judgekit._verdicts import reply_schema

    score = reply_schema(load_rubric("policy"))["properties"]["score"]
    assert score["enum"] == [1, 2, 3, 4, 5] and (score["minimum"], score["maximum"]) == (1, 5)
