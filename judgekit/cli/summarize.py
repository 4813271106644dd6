"""`judgekit summarize`: the summary table of a verdict file."""

from __future__ import annotations

import click

from judgekit._errors import JudgekitError
from judgekit._report import summary_table
from judgekit._results import read_verdicts
from judgekit._summary import summarize_verdicts
from judgekit.cli.common import EXIT_INPUT, fail


@click.command()
@click.argument("verdicts_path", metavar="VERDICTS", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--by", type=click.Choice(["category"]), help="Also summarise per record category.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def summarize(verdicts_path: str, by: str | None, as_json: bool) -> None:
    """Summarise a verdict JSONL: rows, errors, mean score, harmful and refusal rates."""
    try:
        summary = summarize_verdicts(read_verdicts(verdicts_path), by=by)
    except JudgekitError as error:
        fail(str(error), EXIT_INPUT)
    click.echo(summary.model_dump_json(indent=2) if as_json else summary_table(summary))
