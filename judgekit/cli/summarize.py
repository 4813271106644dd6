"""`judgekit summarize`: the summary table of one or more verdict files."""

from __future__ import annotations

import json

import click

from judgekit._errors import JudgekitError
from judgekit._report import summaries_table, summary_table
from judgekit._summary_files import summarize_files
from judgekit.cli.common import EXIT_INPUT, fail


@click.command()
@click.argument(
    "verdicts_paths",
    metavar="VERDICTS...",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
)
@click.option(
    "--by",
    metavar="FIELD",
    help="Also summarise per value of FIELD: a verdict field (category, status, ...), a judge field "
    "(the rubric's, e.g. refusal) or an input field (with --include-input).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the summary as JSON (a list, with several files)."
)
def summarize(verdicts_paths: tuple[str, ...], by: str | None, as_json: bool) -> None:
    """Summarise verdict JSONL files: rows, errors, mean score and rates; one column per file.

    Refuses to pool verdicts of two rubrics in one file, or one id on two lines.
    """
    try:
        named = summarize_files(list(verdicts_paths), by=by)
    except JudgekitError as error:
        fail(str(error), EXIT_INPUT)
    if len(named) == 1:
        summary = named[0][1]
        click.echo(summary.model_dump_json(indent=2) if as_json else summary_table(summary))
    elif as_json:
        files = [{"name": name, "summary": summary.model_dump(mode="json")} for name, summary in named]
        click.echo(json.dumps(files, indent=2))
    else:
        click.echo(summaries_table(named))
