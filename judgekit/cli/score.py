"""`judgekit score`: judge a JSONL file into verdicts, resumably."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import click

from judgekit._api import score_file
from judgekit._config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_REPLY_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_WAIT_S,
    DEFAULT_RETRY_DEADLINE_S,
    DEFAULT_TIMEOUT_S,
)
from judgekit._engine import files
from judgekit._engine.files import Progress, RunResult
from judgekit._errors import ConfigError, JudgeError, JudgekitError, OutputError
from judgekit._judge import Judge
from judgekit._pricing import cost_usd, price_per_million
from judgekit._records import FieldMap
from judgekit._report import summary_table
from judgekit.cli.common import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_JUDGE,
    EXIT_OUTPUT,
    EXIT_TERMINATED,
    OPTION,
    cache_file,
    cache_options,
    echo_err,
    fail,
)


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
@OPTION(
    "--retry-deadline",
    "retry_deadline_s",
    type=click.FloatRange(min=0),
    default=DEFAULT_RETRY_DEADLINE_S,
    envvar="JUDGEKIT_RETRY_DEADLINE",
    help="Seconds a record is retried past --max-retries (a short outage loses no record).",
)
@OPTION(
    "--max-retry-wait",
    "max_retry_wait_s",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_MAX_RETRY_WAIT_S,
    envvar="JUDGEKIT_MAX_RETRY_WAIT",
    help="Longest Retry-After obeyed; an endpoint asking for more stops the run (exit 3).",
)
@OPTION(
    "--max-reply-bytes",
    type=click.IntRange(min=1024),
    default=DEFAULT_MAX_REPLY_BYTES,
    envvar="JUDGEKIT_MAX_REPLY_BYTES",
    help="Largest reply body read (decompressed); a larger one is that record's api_error.",
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
    previous_handler = signal.signal(signal.SIGTERM, _terminate)
    try:
        if dry_run:
            judge = Judge(rubric, **options)
            prices = price_per_million(judge.config.model, price_in=price_in, price_out=price_out)
            _print_dry_run(files.dry_run(judge.codec, input_path, fields=fields, limit=limit), prices)
            return
        result = score_file(
            input_path,
            output_path,
            rubric=rubric,
            cache=cache_file(cache_path, no_cache) or False,
            resume=resume,
            processes=processes,
            limit=limit,
            fields=fields,
            on_progress=_progress_printer(),
            **options,
        )
    except ConfigError as error:
        if error.option is not None:
            raise click.UsageError(str(error)) from None
        fail(str(error), EXIT_INPUT)
    except JudgeError as error:
        fail(
            f"the judge failed, run stopped: {error}\nverdicts so far are in {output_path}; "
            "rerun the same command to resume",
            EXIT_JUDGE,
        )
    except OutputError as error:
        fail(f"the output failed, run stopped: {error}", EXIT_OUTPUT)
    except JudgekitError as error:
        fail(str(error), EXIT_INPUT)
    except KeyboardInterrupt:
        how, code = (
            ("terminated (SIGTERM)", EXIT_TERMINATED)
            if _TERMINATED.is_set()
            else ("interrupted", EXIT_INTERRUPTED)
        )
        fail(f"{how}; verdicts so far are in {output_path}; rerun the same command to resume", code)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    _print_result(
        result, output_path, price_per_million(result.judge_model, price_in=price_in, price_out=price_out)
    )


_TERMINATED = threading.Event()


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM becomes SIGINT, so the run stops exactly as on Ctrl-C (asyncio cancels it cleanly)."""
    _TERMINATED.set()
    signal.raise_signal(signal.SIGINT)


def _print_result(result: RunResult, output_path: str, prices: tuple[float, float] | None) -> None:
    progress, rubric = result.progress, result.rubric
    rubric_text = f"rubric {rubric.name} {rubric.version}, {rubric.hash}"
    echo_err(
        f"judged {progress.done} records into {output_path} ({rubric_text}); "
        f"{progress.skipped} already there, {progress.cached} from the cache"
    )
    if rubric.kind == "llm":
        tokens = f"tokens: {progress.prompt_tokens:,} in, {progress.completion_tokens:,} out"
        if prices is not None:
            tokens += f", cost ${cost_usd(progress.prompt_tokens, progress.completion_tokens, prices):,.4f}"
        echo_err(tokens)
    click.echo(summary_table(result.summary), err=output_path == "-")


def _print_dry_run(estimate: files.DryRun, prices: tuple[float, float] | None) -> None:
    click.echo(
        f"{estimate.rows:,} records; about {estimate.prompt_tokens:,} prompt tokens and at most "
        f"{estimate.max_completion_tokens:,} completion tokens; nothing was sent"
    )
    if prices is not None:
        cost = cost_usd(estimate.prompt_tokens, estimate.max_completion_tokens, prices)
        click.echo(f"estimated cost: at most ${cost:,.4f}")


def _progress_printer() -> Callable[[Progress], None] | None:
    """A one-line progress display on a terminal; nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(progress: Progress) -> None:
        total = f"/{progress.total - progress.skipped:,}" if progress.total is not None else ""
        eta = f" ETA {progress.eta_s:,.0f}s" if progress.eta_s is not None else ""
        sys.stderr.write(
            f"\r{progress.done:,}{total} records  {progress.rate:,.0f}/s{eta}  "
            f"errors {progress.errors:,}  tokens {progress.prompt_tokens:,}+"
            f"{progress.completion_tokens:,}   "
        )
        sys.stderr.flush()

    return show
