"""`judgekit calibrate`: agreement of judges with human labels."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import click

from judgekit._config import DEFAULT_CONCURRENCY, OutputMode
from judgekit._errors import ConfigError, JudgeError, JudgekitError
from judgekit._records import FieldMap
from judgekit.calibration import JudgeSpec, check_objective
from judgekit.calibration import calibrate as run_calibration
from judgekit.calibration.html import render_html
from judgekit.calibration.judging import judge_labeled_items, write_rubric_override
from judgekit.calibration.models import CalibrationReport
from judgekit.calibration.tables import render_markdown, render_text
from judgekit.cli.common import EXIT_INPUT, EXIT_JUDGE, OPTION, cache_options, echo_err, fail, open_cache
from judgekit.metrics.corrected import Design
from judgekit.metrics.thresholds import Objective


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False), metavar="[JUDGED] LABELS")
@OPTION(
    "--judge-field",
    "judge_fields",
    multiple=True,
    help="Judge column of JUDGED, `field` or `field:threshold`; repeat for several judges. [default: score]",
)
@OPTION(
    "--label-field",
    "label_fields",
    multiple=True,
    help="Annotator column of LABELS (repeat), or the label with --annotator-field. [default: human_*]",
)
@OPTION("--annotator-field", help="LABELS has one row per (item, annotator); this field names the annotator.")
@OPTION("--id-field", default="id", help="Field joining JUDGED and LABELS.")
@OPTION("--reference", default="majority", help="`majority` of the annotators, or one annotator's name.")
@OPTION("--by", help="Break results down by this field (of LABELS or JUDGED).")
@OPTION("--cluster-field", help="Resample whole clusters of this field (e.g. the prompt) in bootstraps.")
@OPTION(
    "--objective",
    type=click.Choice(["kappa", "f1", "youden", "precision"]),
    default="kappa",
    help="What the recommended threshold maximises (`precision`: the highest recall at --target-precision).",
)
@OPTION("--target-precision", type=click.FloatRange(0, 1), help="Precision the threshold must reach.")
@OPTION("--scale", type=(float, float), help="The score scale MIN MAX for ordinal statistics.")
@OPTION(
    "--label-order",
    help="Text labels are these classes, in order (e.g. `full,partial,none`); enables weighted kappas.",
)
@OPTION("--nominal", is_flag=True, help="Labels are unordered classes (text, or numeric codes).")
@OPTION(
    "--label-design",
    type=click.Choice(["random", "validation"]),
    default="random",
    help="How LABELS was drawn: a `random` subset of JUDGED, or a separate `validation` sample (e.g. by "
    "label) that only measures the judge; picks the corrected-rate estimator.",
)
@OPTION("--seed", type=int, default=0, help="Seed of the bootstrap and of the threshold split.")
@OPTION("--resamples", type=click.IntRange(min=100), default=1000, help="Bootstrap resamples.")
@OPTION(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    help="Write the report as JSON (`-`: standard output, instead of the table).",
)
@OPTION("--markdown", "markdown_path", type=click.Path(dir_okay=False), help="Write the report as Markdown.")
@OPTION("--html", "html_path", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@OPTION(
    "--rubric",
    "rubrics",
    multiple=True,
    help="Judge LABELS' prompts and responses with this rubric first (repeat to compare rubrics).",
)
@OPTION("--model", "models", multiple=True, help="Judge model for --rubric (repeat to compare models).")
@OPTION("--base-url", envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint for --rubric.")
@OPTION(
    "--concurrency",
    type=click.IntRange(min=1),
    default=DEFAULT_CONCURRENCY,
    help="Requests in flight for --rubric.",
)
@OPTION(
    "--output-mode",
    type=click.Choice(get_args(OutputMode)),
    default="auto",
    help="How --rubric's requests ask for the reply's format (see `judgekit score --help`).",
)
@OPTION("--max-tokens", type=click.IntRange(min=1), help="Completion-token limit for --rubric's requests.")
@cache_options("Reply cache for --rubric.")
@OPTION(
    "--write-rubric",
    type=click.Path(dir_okay=False),
    help="Write the recommended threshold as a rubric that extends --rubric (or the verdicts' rubric).",
)
def calibrate(
    paths: tuple[str, ...],
    judge_fields: tuple[str, ...],
    label_fields: tuple[str, ...],
    annotator_field: str | None,
    id_field: str,
    reference: str,
    by: str | None,
    cluster_field: str | None,
    objective: Objective,
    target_precision: float | None,
    scale: tuple[float, float] | None,
    label_order: str | None,
    nominal: bool,
    label_design: Design,
    seed: int,
    resamples: int,
    json_path: str | None,
    markdown_path: str | None,
    html_path: str | None,
    rubrics: tuple[str, ...],
    models: tuple[str, ...],
    base_url: str | None,
    concurrency: int,
    output_mode: OutputMode,
    max_tokens: int | None,
    cache_path: str | None,
    no_cache: bool,
    write_rubric: str | None,
) -> None:
    """Agreement of judge verdicts with human labels: JUDGED LABELS, or LABELS --rubric R --model M."""
    judged_source: str | list[dict[str, Any]]
    try:
        check_objective(objective, target_precision)  # before --rubric spends any request
        if rubrics:
            if len(paths) != 1:
                raise ConfigError("with --rubric, give only LABELS (it must carry prompt and response)")
            labels = paths[0]
            judged_source, specs = asyncio.run(
                judge_labeled_items(
                    labels,
                    rubrics,
                    list(models) or [None],
                    fields=FieldMap(id=id_field),
                    cache=open_cache(cache_path, no_cache),
                    base_url=base_url,
                    concurrency=concurrency,
                    output_mode=output_mode,
                    max_tokens=max_tokens,
                )
            )
            judge_columns: list[str | JudgeSpec] = list(specs)
        else:
            if len(paths) != 2:
                raise ConfigError("give JUDGED and LABELS, or LABELS with --rubric and --model")
            judged_source, labels = paths
            judge_columns = list(judge_fields or ("score",))
        report = run_calibration(
            judged_source,
            labels,
            judge_fields=judge_columns,
            label_fields=label_fields or None,
            annotator_field=annotator_field,
            id_field=id_field,
            reference=reference,
            by=by,
            cluster_field=cluster_field,
            objective=objective,
            target_precision=target_precision,
            scale=scale,
            seed=seed,
            n_resamples=resamples,
            design=label_design,
            label_order=[c.strip() for c in label_order.split(",")] if label_order else None,
            nominal=nominal,
        )
        _write_reports(report, json_path, markdown_path, html_path)
        if "-" not in (json_path, markdown_path, html_path):
            click.echo(render_text(report))
        if write_rubric:
            base = rubrics[0] if rubrics else _verdict_rubric(report)
            threshold = write_rubric_override(report, base, Path(write_rubric))
            echo_err(
                f"wrote {write_rubric}: {base} with harmful = score >= {threshold:g}; "
                f"use it with judgekit score --rubric {write_rubric}"
            )
    except JudgeError as error:
        fail(f"the judge failed: {error}", EXIT_JUDGE)
    except JudgekitError as error:
        fail(str(error), EXIT_INPUT)


def _verdict_rubric(report: CalibrationReport) -> str:
    names = {str(entry.get("rubric")) for entry in report.provenance.rubrics if entry.get("rubric")}
    if len(names) != 1:
        raise ConfigError("--write-rubric needs --rubric, or verdicts of exactly one rubric in JUDGED")
    return names.pop()


def _write_reports(
    report: CalibrationReport, json_path: str | None, markdown_path: str | None, html_path: str | None
) -> None:
    renderers: dict[str | None, Callable[[CalibrationReport], str]] = {
        json_path: lambda r: r.model_dump_json(indent=2),
        markdown_path: render_markdown,
        html_path: render_html,
    }
    for path, render in renderers.items():
        if path == "-":
            click.echo(render(report))
        elif path:
            Path(path).write_text(render(report), encoding="utf-8")
            echo_err(f"wrote {path}")
