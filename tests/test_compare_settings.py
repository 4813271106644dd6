"""Judge settings in verdicts (recorded once per run) and compare's refusal of a mix of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from verdict_files import scored, verdict, write

import judgekit
from judgekit._compare.tables import comparison_text
from judgekit._errors import InputError
from judgekit.testing import JudgeServer, marker_responder


def _responses(path: Path) -> Path:
    rows = [
        {"id": f"p{i}", "prompt": f"task {i}", "response": f"answer {i} [[score={1 + i % 5}]]"}
        for i in range(6)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_the_engine_records_the_settings_and_compare_refuses_a_mix(
    tmp_path: Path, server: JudgeServer
) -> None:
    server.responder = marker_responder()
    responses = _responses(tmp_path / "responses.jsonl")
    common = {"rubric": "policy", "model": "judge", "base_url": server.url, "api_key": "k", "cache": False}
    cold, warm = tmp_path / "cold.jsonl", tmp_path / "warm.jsonl"
    judgekit.score_file(responses, cold, temperature=0.0, max_tokens=300, **common)  # type: ignore[arg-type]
    judgekit.score_file(responses, warm, temperature=0.7, max_tokens=300, logprobs=True, **common)  # type: ignore[arg-type]
    line = json.loads(cold.read_text().splitlines()[0])
    assert line["judge_settings"] == {"temperature": 0.0, "max_tokens": 300}
    assert line["output_mode"] == "json_schema"
    assert json.loads(warm.read_text().splitlines()[0])["judge_settings"] == {
        "temperature": 0.7,
        "max_tokens": 300,
        "logprobs": True,
    }
    assert next(iter(judgekit.read_verdicts(cold))).judge_settings is not None
    with pytest.raises(
        InputError, match=r"judge logprobs: cold unset, warm true; judge temperature: cold 0.0, warm 0.7"
    ):
        judgekit.compare([cold, warm])
    result = judgekit.compare([cold, warm], allow_mixed=True)
    assert result.mixed == ["judge logprobs: cold unset, warm true", "judge temperature: cold 0.0, warm 0.7"]
    assert result.models[1].judge_settings == [{"temperature": 0.7, "max_tokens": 300, "logprobs": True}]
    assert judgekit.compare([cold, cold], names=["a", "b"]).mixed == []


def test_output_modes_differ(tmp_path: Path) -> None:
    settings = {"temperature": 0.0, "max_tokens": 512}
    base = write(
        tmp_path / "base.jsonl",
        [verdict(f"r{i}", i + 1, output_mode="json_schema", judge_settings=settings) for i in range(4)],
    )
    text = write(
        tmp_path / "text.jsonl",
        [verdict(f"r{i}", i + 1, output_mode="text", judge_settings=settings) for i in range(4)],
    )
    with pytest.raises(InputError, match="output mode: base json_schema, text text"):
        judgekit.compare([base, text])


def test_files_without_settings_load_and_say_so(tmp_path: Path) -> None:
    old = scored(tmp_path / "old.jsonl", [1, 2, 3], output_mode="json_schema")
    settings = {"temperature": 0.0, "max_tokens": 512}
    new = scored(tmp_path / "new.jsonl", [1, 2, 5], output_mode="json_schema", judge_settings=settings)
    assert all(v.judge_settings is None for v in judgekit.read_verdicts(old))
    result = judgekit.compare([old, new])
    assert result.mixed == [] and result.models[0].unrecorded_settings == 3
    text = comparison_text(result)
    assert "old: 3 verdicts record no judge settings" in text


def test_an_api_error_without_a_judge_model_is_no_mix(tmp_path: Path) -> None:
    rows = [verdict("r0", 1), verdict("r1", None, status="api_error", rubric_fields={"judge_model": None})]
    base, other = write(tmp_path / "base.jsonl", rows), scored(tmp_path / "other.jsonl", [1, 5])
    assert judgekit.compare([base, other]).mixed == []


def test_ray_columns_carry_the_settings() -> None:
    pytest.importorskip("pyarrow")
    from judgekit.ray._columns import verdict_from_row, verdict_to_row

    settings = {"temperature": 0.2, "max_tokens": 64, "seed": 7}
    original = verdict("r0", 3, output_mode="text", judge_settings=settings)
    row = verdict_to_row(original)
    assert json.loads(row["judge_settings_json"]) == settings and row["output_mode"] == "text"
    assert verdict_from_row(row) == original
