"""Real SmolLM2 judge replies (tests/data/llama_replies): what the tolerant parser reads.

Each case holds a reply from llama-cpp-python in text mode and the rubric fields it must yield
(`expected`, without `reasoning`), or null where it holds no verdict and must stay a
`parse_error` (never `judge_refused`: an echoed response that refuses is not the judge refusing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from judgekit._rubrics import load_rubric
from judgekit._verdicts import parse_reply

REPLIES = Path(__file__).parent / "data" / "llama_replies"


def _cases() -> list[Any]:
    params = []
    for path in sorted(REPLIES.glob("*.json")):
        table = json.loads(path.read_text(encoding="utf-8"))
        for case in table["cases"]:
            params.append(pytest.param(table["rubric"], case, id=f"{table['rubric']}-{case['id']}"))
    return params


def test_the_table_covers_every_llm_rubric() -> None:
    assert {path.stem for path in REPLIES.glob("*.json")} == {"policy", "behavior", "strongreject", "hazards"}


@pytest.mark.parametrize(("rubric_name", "case"), _cases())
def test_the_parser_reads_what_the_reply_says(rubric_name: str, case: dict[str, Any]) -> None:
    parsed = parse_reply(case["reply"], load_rubric(rubric_name), finish_reason=case["finish_reason"])
    if case["expected"] is None:
        assert parsed.status == "parse_error", (parsed, case["note"])
        assert parsed.error
        return
    assert parsed.status == "ok", (parsed.error, case["note"])
    assert {k: v for k, v in parsed.values.items() if k != "reasoning"} == case["expected"], case["note"]
    # A verdict read from a sentence says so; one read from a JSON object does not.
    assert parsed.parsed_from == (None if "JSON" in case["note"] else "sentence"), parsed


def test_echoed_replies_say_they_echo() -> None:
    table = json.loads((REPLIES / "hazards.json").read_text(encoding="utf-8"))
    echoed = [case for case in table["cases"] if "echoes" in case["note"]]
    assert len(echoed) >= 10
    for case in echoed:
        parsed = parse_reply(case["reply"], load_rubric("hazards"), finish_reason=case["finish_reason"])
        assert "echoes the judged text back" in (parsed.error or ""), case["id"]
