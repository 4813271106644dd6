"""The public surface, the installed wheel, and the README commands CI runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import judgekit

ROOT = Path(__file__).parent.parent

PUBLIC = [
    "CalibrationReport",
    "Comparison",
    "ConfigError",
    "FieldMap",
    "InputError",
    "Judge",
    "JudgeConfig",
    "JudgeError",
    "JudgeOptions",
    "JudgekitError",
    "OutputError",
    "Progress",
    "PromptError",
    "Record",
    "ReplyCache",
    "Rubric",
    "RubricError",
    "RunResult",
    "Summary",
    "Usage",
    "Verdict",
    "__version__",
    "ascore",
    "calibrate",
    "compare",
    "list_rubrics",
    "load_rubric",
    "read_records",
    "read_verdicts",
    "score",
    "score_file",
    "summarize_verdicts",
]


def test_public_api_is_pinned() -> None:
    assert judgekit.__all__ == PUBLIC
    for name in PUBLIC:
        assert hasattr(judgekit, name)


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```(?:bash|sh)\n(.*?)\n```", readme, re.DOTALL)
    test_command = next(command for command in commands if "pytest" in command)
    assert test_command.strip() in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.slow
def test_non_editable_wheel_finds_every_builtin_rubric(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("judgekit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "judgekit/rubrics/policy.toml" in names and "judgekit/prompts/policy.jinja" in names
    assert "judgekit/py.typed" in names
    assert not any(name.startswith(("tests/", "examples/")) or "harmbench" in name for name in names)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
    )
    probe = (
        "import judgekit, sys; from judgekit._prompts import render_messages; "
        "assert judgekit.__file__.startswith(sys.argv[1]), judgekit.__file__; "
        "names = judgekit.list_rubrics(); "
        "[judgekit.load_rubric(n) for n in names]; "
        "print(','.join(names))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe, str(target)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(target)},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert set(completed.stdout.strip().split(",")) == set(judgekit.list_rubrics())


def test_import_judgekit_loads_no_transport() -> None:
    """`import judgekit` stays light: the HTTP stack loads when a judge first sends."""
    code = (
        "import sys, judgekit, judgekit.cli\n"
        "loaded = {'aiohttp', 'openai', 'ray'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
