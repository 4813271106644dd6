"""`judgekit score`: judge a JSONL file into verdicts, resumably."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from judgekit import bulk, shards
from judgekit.cache import ReplyCache
from judgekit.cli.common import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_JUDGE,
    OPTION,
    cache_file,
    cache_options,
    echo_err,
    fail,
)
from judgekit.config import DEFAULT_CONCURRENCY, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_S
from judgekit.errors import JudgeError, JudgekitError
from judgekit.judge import Judge
from judgekit.pricing import cost_usd, price_per_million
from judgekit.records import FieldMap, validate_records
from judgekit.report import summary_table


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, allow_dash=True))
@OPTION(
    "-o",
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Verdict JSONL (one line per record). Rerunning into it resumes.",
)
@OPTION("--rubric", default="policy", envvar="JUDGEKIT_RUBRIC", help="Built-in rubric name or .toml path.")
@OPTION("--model", envvar="JUDGEKIT_MODEL", help="Judge model. [env: JUDGEKIT_MODEL]")
@OPTION("--base-url", envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint. [env: OPENAI_BASE_URL]")
@OPTION("--api-version", envvar="JUDGEKIT_API_VERSION", help="Azure OpenAI API version.")
@OPTION(
    "--output-mode",
    type=click.Choice(["auto", "json_schema", "text"]),
    default="auto",
    envvar="JUDGEKIT_OUTPUT_MODE",
    help="Structured output, text, or structured falling back to text.",
)
@OPTION(
    "--transport",
    type=click.Choice(["aiohttp", "sdk"]),
    default="aiohttp",
    envvar="JUDGEKIT_TRANSPORT",
    help="Post directly with aiohttp (fast) or through the openai SDK.",
)
@OPTION(
    "--concurrency",
    type=click.IntRange(min=1),
    default=DEFAULT_CONCURRENCY,
    envvar="JUDGEKIT_CONCURRENCY",
    help="Requests in flight at once.",
)
@OPTION(
    "--processes",
    type=click.IntRange(min=1),
    envvar="JUDGEKIT_PROCESSES",
    help="Worker processes sharing the run (the requests in flight and the budgets). "
    "[default: one per 32 requests in flight, at most one per CPU; 1 with stdin or stdout]",
)
@OPTION(
    "--rpm",
    type=click.FloatRange(min=0, min_open=True),
    envvar="JUDGEKIT_RPM",
    help="Requests-per-minute budget.",
)
@OPTION(
    "--tpm",
    type=click.FloatRange(min=0, min_open=True),
    envvar="JUDGEKIT_TPM",
    help="Tokens-per-minute budget.",
)
@OPTION(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT_S,
    envvar="JUDGEKIT_TIMEOUT",
    help="Per-request timeout in seconds.",
)
@OPTION(
    "--max-retries",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_RETRIES,
    envvar="JUDGEKIT_MAX_RETRIES",
    help="Retries of 429, 5xx, timeouts and dropped connections per record.",
)
@cache_options()
@OPTION("--limit", type=click.IntRange(min=1), help="Judge only the first N records of INPUT.")
@OPTION("--resume/--overwrite", default=True, help="Skip ids already in OUTPUT, or replace it.")
@OPTION("--dry-run", is_flag=True, help="Render every prompt, count tokens and cost; send nothing.")
@OPTION(
    "--logprobs/--no-logprobs",
    default=False,
    envvar="JUDGEKIT_LOGPROBS",
    help="Record the probability-weighted expected score.",
)
@OPTION(
    "--keep-raw/--no-keep-raw",
    default=False,
    envvar="JUDGEKIT_KEEP_RAW",
    help="Keep the judge's raw reply in every verdict, not only failed ones.",
)
@OPTION(
    "--include-input/--no-include-input",
    default=False,
    envvar="JUDGEKIT_INCLUDE_INPUT",
    help="Copy the input fields into each verdict line.",
)
@OPTION("--price-in", type=click.FloatRange(min=0), help="USD per million input tokens (cost report).")
@OPTION("--price-out", type=click.FloatRange(min=0), help="USD per million output tokens (cost report).")
@OPTION("--id-field", default="id", help="Input field holding the id.")
@OPTION("--prompt-field", default="prompt", help="Input field holding the prompt.")
@OPTION("--response-field", default="response", help="Input field holding the response to judge.")
@OPTION("--category-field", default="category", help="Input field holding the record's category.")
@OPTION("--context-field", default="context", help="Input field holding context (contextual behaviors).")
def score(
    input_path: str,
    output_path: str,
    rubric: str,
    cache_path: str | None,
    no_cache: bool,
    processes: int | None,
    limit: int | None,
    resume: bool,
    dry_run: bool,
    price_in: float | None,
    price_out: float | None,
    id_field: str,
    prompt_field: str,
    response_field: str,
    category_field: str,
    context_field: str,
    **options: Any,
) -> None:
    """Judge every record of INPUT (JSONL; `-` for stdin, `.gz` read as gzip) into OUTPUT."""
    fields = FieldMap(
        id=id_field,
        prompt=prompt_field,
        response=response_field,
        category=category_field,
        context=context_field,
    )
    try:
        judge = Judge(rubric, **options)
        prices = price_per_million(judge.config.model, price_in=price_in, price_out=price_out)
        if dry_run:
            _print_dry_run(bulk.dry_run(judge, input_path, fields=fields, limit=limit), prices)
            return
        processes = _process_count(processes, judge, input_path, output_path)
        cache = cache_file(cache_path, no_cache) if judge.rubric.kind == "llm" else None
        if processes > 1:
            if cache is not None:
                ReplyCache(cache).close()  # a cache that cannot be used stops the run here, once
            job = shards.ShardedJob(
                rubric=rubric,
                rubric_hash=judge.rubric.hash,
                config=judge.config,
                cache_path=cache,
                input_path=input_path,
                output_path=output_path,
                overwrite=not resume,
                fields=fields,
                limit=limit,
                processes=processes,
            )
            result = shards.score_file_in_processes(job, on_progress=_progress_printer())
        else:
            total = validate_records(input_path, fields, limit=limit) if input_path != "-" else None
            if cache is not None:
                judge.use_cache(ReplyCache(cache))
            if not resume and output_path != "-":
                Path(output_path).unlink(missing_ok=True)
            result = asyncio.run(_score_and_close(judge, input_path, output_path, fields, limit, total))
    except JudgeError as error:
        fail(
            f"the judge failed, run stopped: {error}\nverdicts so far are in {output_path}; "
            "rerun the same command to resume",
            EXIT_JUDGE,
        )
    except JudgekitError as error:
        fail(str(error), EXIT_INPUT)
    except KeyboardInterrupt:
        fail(
            f"interrupted; verdicts so far are in {output_path}; rerun the same command to resume",
            EXIT_INTERRUPTED,
        )
    progress = result.progress
    rubric_text = f"rubric {judge.rubric.name} {judge.rubric.version}, {judge.rubric.hash}"
    echo_err(
        f"judged {progress.done} records into {output_path} ({rubric_text}); "
        f"{progress.skipped} already there, {progress.cached} from the cache"
    )
    if judge.rubric.kind == "llm":
        tokens = f"tokens: {progress.prompt_tokens:,} in, {progress.completion_tokens:,} out"
        if prices is not None:
            tokens += f", cost ${cost_usd(progress.prompt_tokens, progress.completion_tokens, prices):,.4f}"
        echo_err(tokens)
    click.echo(summary_table(result.summary), err=output_path == "-")


async def _score_and_close(
    judge: Judge, input_path: str, output_path: str, fields: FieldMap, limit: int | None, total: int | None
) -> bulk.RunResult:
    try:
        return await bulk.score_file(
            judge,
            input_path,
            output_path,
            fields=fields,
            limit=limit,
            total=total,
            on_progress=_progress_printer(),
        )
    finally:
        await judge.aclose()


def _process_count(requested: int | None, judge: Judge, input_path: str, output_path: str) -> int:
    """The worker processes to run: as asked, else one per 32 requests in flight for an LLM judge."""
    if "-" in (input_path, output_path):
        if requested not in (None, 1):
            raise click.UsageError(
                "--processes needs INPUT and OUTPUT files; with - one process reads or writes"
            )
        return 1
    if requested is not None:
        if requested > 1 and not shards.SUPPORTED:
            raise click.UsageError("--processes above 1 needs a POSIX system (Linux, macOS)")
        return requested
    return shards.auto_processes(judge.config.concurrency) if judge.rubric.kind == "llm" else 1


def _print_dry_run(estimate: bulk.DryRun, prices: tuple[float, float] | None) -> None:
    click.echo(
        f"{estimate.rows:,} records; about {estimate.prompt_tokens:,} prompt tokens and at most "
        f"{estimate.max_completion_tokens:,} completion tokens; nothing was sent"
    )
    if prices is not None:
        cost = cost_usd(estimate.prompt_tokens, estimate.max_completion_tokens, prices)
        click.echo(f"estimated cost: at most ${cost:,.4f}")


def _progress_printer() -> Callable[[bulk.Progress], None] | None:
    """A one-line progress display on a terminal; nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(progress: bulk.Progress) -> None:
        total = f"/{progress.total - progress.skipped:,}" if progress.total is not None else ""
        eta = f" ETA {progress.eta_s:,.0f}s" if progress.eta_s is not None else ""
        sys.stderr.write(
            f"\r{progress.done:,}{total} records  {progress.rate:,.0f}/s{eta}  "
            f"errors {progress.errors:,}  tokens {progress.prompt_tokens:,}+"
            f"{progress.completion_tokens:,}   "
        )
        sys.stderr.flush()

    return show
