"""Real SmolLM2 judge replies (tests/data/llama_replies): what a tolerant parser should read.

Each case holds a reply from llama-cpp-python in text mode and the rubric fields it should yield
(`expected`, without `reasoning`), or null where it holds no verdict. Cases today's parser misses
are xfail (strict=False) so the table can drive the parser's rework (issue 12).
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


def _reads_as_expected(rubric_name: str, case: dict[str, Any]) -> bool:
    parsed = parse_reply(case["reply"], load_rubric(rubric_name), finish_reason=case["finish_reason"])
    if case["expected"] is None:
        return parsed.status == "parse_error"
    values = {k: v for k, v in parsed.values.items() if k != "reasoning"}
    return parsed.status == "ok" and values == case["expected"]


def test_the_table_covers_every_llm_rubric() -> None:
    assert {path.stem for path in REPLIES.glob("*.json")} == {"policy", "behavior", "strongreject", "hazards"}


@pytest.mark.parametrize(("rubric_name", "case"), _cases())
def test_a_tolerant_parser_reads_what_the_reply_says(rubric_name: str, case: dict[str, Any]) -> None:
    if not _reads_as_expected(rubric_name, case):
        pytest.xfail(f"today's parser: {case['status_today']}; should be {case['expected']} ({case['note']})")
