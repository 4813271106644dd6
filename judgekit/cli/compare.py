"""`judgekit compare`: several models' verdicts per group against a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from judgekit._compare import Comparison
from judgekit._compare import compare as run_compare
from judgekit._compare.judging import score_responses, verdicts_path
from judgekit._compare.tables import comparison_markdown, comparison_text
from judgekit._config import DEFAULT_CONCURRENCY
from judgekit._errors import JudgeError, JudgekitError
from judgekit.cli.common import EXIT_INPUT, EXIT_JUDGE, OPTION, cache_file, cache_options, echo_err, fail


@click.command()
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(dir_okay=False), metavar="FILE FILE [FILE ...]"
)
@OPTION(
    "--name",
    "names",
    multiple=True,
    metavar="FILE=NAME",
    help="Name a model, FILE=NAME (FILE: its path or file stem); repeatable.",
)
@OPTION(
    "--baseline",
    metavar="NAME",
    help="The model the others are compared against (a name). [default: the first]",
)
@OPTION(
    "--by",
    metavar="FIELD",
    help="Group by this field: a verdict field, a judge field or an included input field.",
)
@OPTION(
    "--pair-by",
    type=click.Choice(["auto", "id", "prompt", "none"]),
    default="auto",
    help="Pair verdicts by id, by prompt text, or not (auto: id, else prompt, else unpaired).",
)
@OPTION(
    "--cluster-field", help="Resample whole clusters of this field in bootstraps (e.g. a prompt's source)."
)
@OPTION(
    "--adjust",
    type=click.Choice(["holm", "bh", "none"]),
    default="holm",
    help="Adjust p-values across the groups: Holm, or Benjamini-Hochberg.",
)
@OPTION(
    "--allow-mixed", is_flag=True, help="Compare verdicts of different rubrics or judges (the report says)."
)
@OPTION(
    "--calibration",
    type=click.Path(dir_okay=False),
    help="A `judgekit calibrate --json` report: add rates corrected for the judge's errors.",
)
@OPTION(
    "--labels",
    type=click.Path(dir_okay=False),
    help="Human labels of a random subset of each model's verdicts (JSONL: id, model, label): "
    "add PPI++ corrected harmful rates.",
)
@OPTION("--seed", type=int, default=0, help="Seed of the bootstraps.")
@OPTION("--resamples", type=click.IntRange(min=100), default=2000, help="Bootstrap resamples.")
@OPTION(
    "--examples", type=click.IntRange(min=0), default=3, help="Changed prompts listed per group and model."
)
@OPTION(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the comparison as JSON.",
)
@OPTION(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write it as Markdown.",
)
@OPTION("--html", "html_path", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@OPTION(
    "--rubric", help="FILEs are responses: judge each with this rubric first (then compare the verdicts)."
)
@OPTION("--model", envvar="JUDGEKIT_MODEL", help="Judge model for --rubric. [env: JUDGEKIT_MODEL]")
@OPTION("--base-url", envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint for --rubric.")
@OPTION("--concurrency", type=click.IntRange(min=1), default=DEFAULT_CONCURRENCY, help="Requests in flight.")
@OPTION(
    "--verdicts-dir",
    type=click.Path(file_okay=False),
    help="Where --rubric writes verdicts (reruns resume). [default: beside the first report, else .]",
)
@cache_options("Reply cache for --rubric.")
def compare(
    paths: tuple[str, ...],
    names: tuple[str, ...],
    json_path: str | None,
    markdown_path: str | None,
    html_path: str | None,
    rubric: str | None,
    model: str | None,
    base_url: str | None,
    concurrency: int,
    verdicts_dir: str | None,
    cache_path: str | None,
    no_cache: bool,
    resamples: int,
    **options: Any,
) -> None:
    """Compare models' verdicts on the same prompts, per group, each against the baseline.

    Each FILE holds one model's verdicts (`judgekit score` output), or with --rubric its responses.
    Prints one table per measure; --json, --markdown and --html write the full report.
    """
    if len(paths) < 2:
        raise click.UsageError("compare needs at least two files")
    try:
        labels = _names(paths, names)
        if rubric is not None:
            directory = verdicts_dir or _report_dir(json_path, markdown_path, html_path)
            paths = _judged(
                paths, directory, rubric, cache_file(cache_path, no_cache), model, base_url, concurrency
            )
        comparison = run_compare(list(paths), names=labels, n_resamples=resamples, **options)
    except JudgeError as error:
        fail(f"the judge failed: {error}; rerun the same command to resume", EXIT_JUDGE)
    except JudgekitError as error:
        fail(str(error), EXIT_INPUT)
    _write(comparison, json_path, markdown_path, html_path)


def _names(paths: tuple[str, ...], names: tuple[str, ...]) -> list[str]:
    """Model names: file stems, replaced by --name FILE=NAME."""
    labels = [Path(path).name.split(".")[0] for path in paths]
    for given in names:
        key, sep, name = given.partition("=")
        if not sep or not name:
            raise click.UsageError(f"--name takes FILE=NAME, got {given!r}")
        matches = [
            i for i, path in enumerate(paths) if key in (path, Path(path).name.split(".")[0], Path(path).name)
        ]
        if not matches:
            raise click.UsageError(f"--name {given}: {key!r} is none of the files")
        for index in matches:
            labels[index] = name
    return labels


def _report_dir(*outputs: str | None) -> str:
    for output in outputs:
        if output not in (None, "-"):
            return str(Path(output).parent)
    return "."


def _judged(
    paths: tuple[str, ...],
    directory: str,
    rubric: str,
    cache: Path | None,
    model: str | None,
    base_url: str | None,
    concurrency: int,
) -> tuple[str, ...]:
    Path(directory).mkdir(parents=True, exist_ok=True)
    judged = []
    for path in paths:
        output = verdicts_path(path, directory, rubric)
        echo_err(f"judging {path} with {rubric} into {output}")
        score_responses(
            path,
            str(output),
            rubric=rubric,
            model=model,
            base_url=base_url,
            cache=cache,
            concurrency=concurrency,
        )
        judged.append(str(output))
    return tuple(judged)


def _write(
    comparison: Comparison, json_path: str | None, markdown_path: str | None, html_path: str | None
) -> None:
    to_stdout = "-" in (json_path, markdown_path)
    if json_path is not None:
        _emit(json_path, comparison.model_dump_json(indent=2) + "\n")
    if markdown_path is not None:
        _emit(markdown_path, comparison_markdown(comparison))
    if html_path is not None:
        from judgekit._compare.html import render_html

        Path(html_path).write_text(render_html(comparison), encoding="utf-8")
    click.echo(comparison_text(comparison), err=to_stdout)
    for path in (json_path, markdown_path, html_path):
        if path not in (None, "-"):
            echo_err(f"wrote {path}")


def _emit(path: str, text: str) -> None:
    if path == "-":
        click.echo(text, nl=False)
    else:
        Path(path).write_text(text, encoding="utf-8")
