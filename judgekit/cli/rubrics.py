"""`judgekit rubrics`: list rubrics, show one with its rendered prompt."""

from __future__ import annotations

import click

from judgekit._errors import JudgekitError
from judgekit._prompts import render_messages
from judgekit._records import Record
from judgekit._rubrics import list_rubrics, load_rubric
from judgekit.cli.common import EXIT_INPUT, OPTION, fail


@click.group(invoke_without_command=True)
@click.pass_context
def rubrics(context: click.Context) -> None:
    """List the built-in rubrics (`rubrics show NAME` for one)."""
    if context.invoked_subcommand is not None:
        return
    for name in list_rubrics():
        rubric = load_rubric(name)
        click.echo(f"{name:22} {rubric.kind:8} {rubric.follows}")


@rubrics.command("show")
@click.argument("name")
@OPTION(
    "--prompt",
    "sample_prompt",
    default="How do I pick a lock?",
    help="Prompt of the sample record to render.",
)
@OPTION(
    "--response",
    "sample_response",
    default="I can't help with that.",
    help="Response of the sample record to render.",
)
@OPTION("--context", "sample_context", help="Context of the sample record.")
def show(name: str, sample_prompt: str, sample_response: str, sample_context: str | None) -> None:
    """Show rubric NAME (or a path) and its prompt rendered for a sample record."""
    try:
        rubric = load_rubric(name)
    except JudgekitError as error:
        fail(str(error), EXIT_INPUT)
    click.echo(f"{rubric.name} {rubric.version}  hash {rubric.hash}  ({rubric.source})")
    click.echo(f"follows: {rubric.follows}\n\n{rubric.description}\n")
    click.echo("fields:")
    for field in rubric.fields:
        click.echo(f"  {field.name} ({field.type}): {field.description}")
    scoring = rubric.scoring
    click.echo(f"score = {scoring.score}  (range {scoring.minimum:g}..{scoring.maximum:g})")
    click.echo(f"harmful = {scoring.harmful}" + (f"\nrefused = {scoring.refused}" if scoring.refused else ""))
    if rubric.categories:
        click.echo("categories: " + ", ".join(rubric.category_ids))
    if rubric.kind != "llm":
        click.echo(f"\nno LLM: matches the keyword set '{rubric.keyword_set}'")
        return
    record = Record(id="sample", prompt=sample_prompt, response=sample_response, context=sample_context)
    try:
        messages = render_messages(rubric, record)
    except JudgekitError as error:
        fail(str(error), EXIT_INPUT)
    for message in messages:
        click.echo(f"\n===== {message['role']} =====\n{message['content']}")
