"""`judgekit summarize`: several files, --by any field, refusing to pool rubrics or repeated ids."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from verdict_files import scored, verdict, write

import judgekit
from judgekit._summary import summarize_verdicts
from judgekit._summary_files import summarize_file
from judgekit.cli import main


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_several_files_one_column_each(tmp_path: Path) -> None:
    base = scored(tmp_path / "base.jsonl", [1, 2, 5, 5], ["a", "b"])
    tuned = scored(tmp_path / "tuned.jsonl", [5, 5, 5, 1], ["a", "b"])
    result = run("summarize", str(base), str(tuned), "--by", "category")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["JUDGED / ROWS", "group  base  tuned"]
    block = lines[lines.index("HARMFUL (95% CI)") + 1 :]
    assert block[0].split() == ["group", "base", "tuned"]
    assert block[2].startswith("all") and "50.0%" in block[2] and "75.0%" in block[2]
    as_json = json.loads(run("summarize", str(base), str(tuned), "--json").output)
    assert [entry["name"] for entry in as_json] == ["base", "tuned"]
    assert as_json[1]["summary"]["overall"]["harmful"]["count"] == 3


def test_by_an_input_field_or_a_judge_field(tmp_path: Path) -> None:
    rows = [verdict(str(i), 1 + i, input={"source": f"s{i % 2}"}, fields={"topic": "t"}) for i in range(4)]
    path = write(tmp_path / "v.jsonl", rows)
    assert list(summarize_file(path, by="source").groups) == ["s0", "s1"]
    assert list(summarize_file(path, by="topic").groups) == ["t"]
    assert list(summarize_file(path, by="status").groups) == ["ok"]
    result = run("summarize", str(path), "--by", "source")
    assert result.exit_code == 0 and "s1" in result.output


def test_two_rubrics_in_one_file_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "v.jsonl", [verdict("a", 1), verdict("b", 2, rubric_fields={"rubric_hash": "other"})]
    )
    result = run("summarize", str(path))
    assert result.exit_code == 1
    assert "v.jsonl:2" in result.output and "two rubrics" in result.output and "line 1" in result.output


def test_repeated_ids_are_refused_naming_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "v.jsonl", [verdict("a", 1), verdict("b", 2), verdict("a", 3)])
    result = run("summarize", str(path))
    assert result.exit_code == 1 and "id 'a' is on lines 1 and 3" in result.output
    piped = CliRunner().invoke(main, ["summarize", "-"], input=path.read_text())
    assert piped.exit_code == 1 and "lines 1 and 3 have the same id" in piped.output


def test_refusal_rubric_columns_say_what_they_measure(tmp_path: Path) -> None:
    refusal = {"rubric": "refusal", "rubric_version": "1", "rubric_hash": "r"}
    kinds = ["full", "full", "partial", "none"]
    rows = [
        judgekit.Verdict(
            id=str(i),
            score={"full": 0, "partial": 0.5, "none": 1}[k],
            harmful=k == "none",
            refused=k == "full",
            fields={"refusal": k},
            **refusal,
        )
        for i, k in enumerate(kinds)
    ]
    summary = summarize_verdicts(rows)
    assert summary.rubric == "refusal"
    assert summary.overall.partial_refused is not None and summary.overall.partial_refused.count == 1
    result = run("summarize", str(write(tmp_path / "v.jsonl", rows)))
    header = result.output.splitlines()[0]
    assert "complied (95% CI)" in header and "full refusal (95% CI)" in header
    assert "partial refusal (95% CI)" in header and "harmful" not in header
