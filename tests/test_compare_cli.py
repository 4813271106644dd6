"""`judgekit compare`: tables, report files, names, errors, and judging response files first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_compare import CATEGORIES, _scores
from verdict_files import scored

from judgekit.cli import main
from judgekit.testing import JudgeServer, marker_responder


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str, str]:
    base = scored(
        tmp_path / "base.jsonl", _scores(1, 220, 0), CATEGORIES * 4 + ["a much longer category name"]
    )
    tuned = scored(
        tmp_path / "tuned.jsonl", _scores(1, 220, 2), CATEGORIES * 4 + ["a much longer category name"]
    )
    more = scored(
        tmp_path / "more.jsonl", _scores(1, 220, 3), CATEGORIES * 4 + ["a much longer category name"]
    )
    return str(base), str(tuned), str(more)


def test_table_fits_110_columns_and_states_the_adjustment(files: tuple[str, str, str]) -> None:
    result = run("compare", *files, "--by", "category")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 110
    assert "p adj: Holm across the 4 groups" in result.output
    assert "tuned vs base: paired by id, 220 pairs" in result.output
    assert "MEAN SCORE" in result.output and "HARMFUL RATE" in result.output
    bh = run("compare", *files[:2], "--by", "category", "--adjust", "bh")
    assert "p adj: Benjamini-Hochberg" in bh.output


def test_writes_json_markdown_and_html(files: tuple[str, str, str], tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = run(
        "compare",
        *files[:2],
        "--name",
        "base=before",
        "--name",
        f"{files[1]}=after",
        "--by",
        "category",
        "--json",
        f"{out}.json",
        "--markdown",
        f"{out}.md",
        "--html",
        f"{out}.html",
        "--seed",
        "7",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(Path(f"{out}.json").read_text())
    assert [m["name"] for m in report["models"]] == ["before", "after"]
    assert report["settings"]["seed"] == 7
    markdown = Path(f"{out}.md").read_text()
    assert "| group | n | before | after | after - before | p adj | MDD |" in markdown
    assert "<svg" in Path(f"{out}.html").read_text()


def test_json_to_stdout_moves_the_table_to_stderr(files: tuple[str, str, str]) -> None:
    result = CliRunner().invoke(main, ["compare", *files[:2], "--json", "-"])
    assert json.loads(result.stdout)["settings"]["baseline"] == "base"
    assert "MEAN SCORE" in result.stderr


def test_baseline_option(files: tuple[str, str, str]) -> None:
    result = run("compare", *files, "--baseline", "tuned")
    assert "base vs tuned: paired by id" in result.output


def test_mixed_verdicts_exit_1_with_the_fix(tmp_path: Path, files: tuple[str, str, str]) -> None:
    other = scored(tmp_path / "other.jsonl", [1, 2], rubric_fields={"rubric_hash": "zzz"})
    result = CliRunner().invoke(main, ["compare", files[0], str(other)])
    assert result.exit_code == 1
    assert "rubric hash" in result.stderr and "--allow-mixed" in result.stderr
    allowed = run("compare", files[0], str(other), "--allow-mixed")
    assert allowed.exit_code == 0 and "mixed (--allow-mixed): rubric hash" in allowed.output


def test_bad_name_is_a_usage_error(files: tuple[str, str, str]) -> None:
    result = CliRunner().invoke(main, ["compare", *files[:2], "--name", "nothing=x"])
    assert result.exit_code == 2 and "none of the files" in result.output


def _responses(path: Path, marker: str | None = None, refuse: bool = False) -> Path:
    rows = []
    for i in range(12):
        text = "I can't help with that." if refuse and i % 3 else f"Sure, step one for task {i}."
        if marker is not None:
            text += f" [[score={5 if i % 2 else 1}]]" if marker == "alternate" else f" [[score={marker}]]"
        rows.append({"id": f"p{i}", "prompt": f"task {i}", "response": text, "category": CATEGORIES[i % 3]})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_from_responses_offline_with_keywords_resumes(tmp_path: Path) -> None:
    base = _responses(tmp_path / "base.responses.jsonl", refuse=True)
    tuned = _responses(tmp_path / "tuned.responses.jsonl")
    args = [
        "compare",
        str(base),
        str(tuned),
        "--rubric",
        "refusal-keywords",
        "--json",
        str(tmp_path / "c.json"),
    ]
    result = run(*args)
    assert result.exit_code == 0, result.output
    verdicts = tmp_path / "base.refusal-keywords.verdicts.jsonl"
    assert len(verdicts.read_text().splitlines()) == 12
    assert "COMPLIED RATE" in result.output and "REFUSAL RATE" in result.output
    report = json.loads((tmp_path / "c.json").read_text())
    refused = report["groups"][0]["differences"]["tuned"]["refused"]
    assert refused["estimate"] == pytest.approx(-8 / 12)
    again = run(*args)
    assert again.exit_code == 0 and len(verdicts.read_text().splitlines()) == 12


def test_from_responses_with_an_llm_judge(tmp_path: Path, server: JudgeServer) -> None:
    server.responder = marker_responder()
    base = _responses(tmp_path / "base.jsonl", marker="1")
    tuned = _responses(tmp_path / "tuned.jsonl", marker="alternate")
    result = run(
        "compare",
        str(base),
        str(tuned),
        "--rubric",
        "policy",
        "--model",
        "judge",
        "--base-url",
        server.url,
        "--no-cache",
        "--verdicts-dir",
        str(tmp_path / "verdicts"),
        "--json",
        str(tmp_path / "c.json"),
        env={"OPENAI_API_KEY": "test"},
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "c.json").read_text())
    difference = report["groups"][0]["differences"]["tuned"]
    assert difference["harmful"]["estimate"] == pytest.approx(0.5)
    assert difference["mean_score"]["estimate"] == pytest.approx(2.0)
    assert (tmp_path / "verdicts" / "tuned.policy.verdicts.jsonl").exists()
