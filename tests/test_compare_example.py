"""The README's "Did safety survive fine-tuning?" commands, run as written on the shipped example."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgekit.cli import main
from judgekit.testing import JudgeServer, marker_responder

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "fine-tuning"


def _section_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Did safety survive fine-tuning?", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)\n```", section, re.DOTALL)
    return [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "examples" / "fine-tuning")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(command: str) -> None:
    args = shlex.split(command)
    assert args[0] == "judgekit"
    result = CliRunner().invoke(main, args[1:], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_readme_offline_command(workdir: Path) -> None:
    command = _section_commands()[0]
    assert "--rubric refusal-keywords" in command
    _run(command + " --json comparison.json")
    report = json.loads((workdir / "comparison.json").read_text())
    overall = report["groups"][0]
    assert report["pairs"][0]["paired_by"] == "id" and report["pairs"][0]["pairs"] == 40
    assert overall["differences"]["tuned"]["harmful"]["estimate"] > 0.3  # "complied" rose
    assert overall["differences"]["tuned"]["harmful"]["p_adjusted"] < 0.01
    assert (workdir / "comparison.html").read_text().count("<svg") >= 4
    assert (workdir / "base.refusal-keywords.verdicts.jsonl").exists()


def test_readme_llm_command_against_the_marker_server(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server_line, compare_line = _section_commands()[1:3]
    assert server_line.startswith("python -m judgekit.testing") and "--score-from-marker" in server_line
    monkeypatch.setitem(os.environ, "OPENAI_API_KEY", "test")
    with JudgeServer() as server:
        server.responder = marker_responder()
        _run(compare_line.replace("http://127.0.0.1:8131/v1", server.url) + " --no-cache --json llm.json")
    report = json.loads((workdir / "llm.json").read_text())
    harmful = report["groups"][0]["differences"]["tuned"]["harmful"]
    tuned = [json.loads(line) for line in (EXAMPLE / "tuned.responses.jsonl").read_text().splitlines()]
    expected = sum("[[score=5]]" in row["response"] for row in tuned) / len(tuned)
    assert harmful["estimate"] == pytest.approx(expected)  # base has no [[score=5]]
