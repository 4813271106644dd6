"""docs/cli.md is the CLI's own --help output, so the docs cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from judgekit.cli import main

DOC = Path(__file__).parent.parent / "docs" / "cli.md"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def _help_document() -> str:
    parts = ["# judgekit command line\n\nGenerated from `--help`; `pytest --update-golden` rewrites it.\n"]
    for path in _commands(main):
        output = CliRunner().invoke(main, [*path, "--help"], prog_name="judgekit", terminal_width=100).output
        title = " ".join(("judgekit", *path))
        parts.append(f"## `{title}`\n\n```\n{output.rstrip()}\n```\n")
    return "\n".join(parts)


def test_cli_docs_match_help(request: pytest.FixtureRequest) -> None:
    document = _help_document()
    if request.config.getoption("--update-golden"):
        DOC.write_text(document, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == document, "CLI help changed: run pytest --update-golden"
