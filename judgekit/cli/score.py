"""`judgekit score`: judge a JSONL file into verdicts, resumably."""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any, get_args

import click

from judgekit._api import score_file
from judgekit._config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_REPLY_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_WAIT_S,
    DEFAULT_RETRY_DEADLINE_S,
    DEFAULT_TIMEOUT_S,
    OutputMode,
    resolve_config,
)
from judgekit._engine import files
from judgekit._engine.codec import Codec
from judgekit._engine.files import Progress, RunResult
from judgekit._errors import ConfigError, JudgeError, JudgekitError, OutputError
from judgekit._pricing import cost_usd, price_per_million
from judgekit._records import FieldMap
from judgekit._report import summary_table
from judgekit._rubrics import load_rubric
from judgekit.cli.common import (
    EXIT_FAILED_ROWS,
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

ENVIRONMENT_HELP = """\b
Environment: OPENAI_API_KEY (the key), OPENAI_BASE_URL, JUDGEKIT_MODEL and the JUDGEKIT_*
variables shown with each option; JUDGEKIT_CACHE_DIR (default cache directory), HTTPS_PROXY,
HTTP_PROXY and NO_PROXY (proxies, also for the default transport).

\b
Exit codes: 0 done; 1 bad input, rubric, output, cache or configuration; 2 usage;
3 the judge failed for the whole run; 4 no row judged ok, or more failed than
--max-error-rate; 130 interrupted. Verdicts so far are kept: rerun to resume.
"""


@click.command(epilog=ENVIRONMENT_HELP)
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
@OPTION("--model", envvar="JUDGEKIT_MODEL", help="Judge model.")
@OPTION("--base-url", envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint (no credentials in it).")
@OPTION("--api-version", envvar="JUDGEKIT_API_VERSION", help="Azure OpenAI API version.")
@OPTION(
    "--output-mode",
    type=click.Choice(get_args(OutputMode)),
    default="auto",
    envvar="JUDGEKIT_OUTPUT_MODE",
    help="How requests ask for the reply's format; auto steps down json_schema, json_object_schema, "
    "json_object, text as the endpoint rejects them.",
)
@OPTION(
    "--max-tokens",
    type=click.IntRange(min=1),
    envvar="JUDGEKIT_MAX_TOKENS",
    help="Completion-token limit of each request. [default: the rubric's]",
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
@OPTION(
    "--retry-errors",
    is_flag=True,
    help="Judge again only the rows of OUTPUT whose verdict failed, replacing their lines.",
)
@OPTION(
    "--max-error-rate",
    type=click.FloatRange(min=0, max=1),
    help="Exit 4 when more than this share of OUTPUT's rows failed. [default: exit 4 only when none is ok]",
)
@OPTION(
    "--progress-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    envvar="JUDGEKIT_PROGRESS_INTERVAL",
    help="Seconds between plain progress lines when stderr is not a terminal (logs, nohup, CI).",
)
@OPTION("-q", "--quiet", is_flag=True, help="No progress display or progress lines.")
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
    retry_errors: bool,
    max_error_rate: float | None,
    progress_interval: float,
    quiet: bool,
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
    """Judge every record of INPUT (JSONL; `-` for stdin, `.gz` read as gzip) into OUTPUT.

    A record without an id takes its line number as id.
    """
    fields = FieldMap(
        id=id_field,
        prompt=prompt_field,
        response=response_field,
        category=category_field,
        context=context_field,
    )
    printer = _ProgressPrinter(progress_interval, quiet)
    previous_handler = signal.signal(signal.SIGTERM, _terminate)
    try:
        if dry_run:
            # Nothing is sent, so no endpoint or key is needed: the codec alone renders the prompts.
            codec = Codec(load_rubric(rubric), resolve_config(**options))
            prices = price_per_million(codec.config.model, price_in=price_in, price_out=price_out)
            _print_dry_run(files.dry_run(codec, input_path, fields=fields, limit=limit), prices, codec)
            return
        result = score_file(
            input_path,
            output_path,
            rubric=rubric,
            cache=cache_file(cache_path, no_cache) or False,
            resume=resume,
            retry_errors=retry_errors,
            processes=processes,
            limit=limit,
            fields=fields,
            on_progress=printer.show if printer.active else None,
            **options,
        )
        printer.end()
    except ConfigError as error:
        printer.end()
        if error.option is not None:
            raise click.UsageError(str(error)) from None
        fail(str(error), EXIT_INPUT)
    except JudgeError as error:
        printer.end()
        fail(
            f"the judge failed, run stopped: {error}\nverdicts so far are in {output_path}; "
            "rerun the same command to resume",
            EXIT_JUDGE,
        )
    except OutputError as error:
        printer.end()
        fail(f"the output failed, run stopped: {error}", EXIT_OUTPUT)
    except JudgekitError as error:
        printer.end()
        fail(str(error), EXIT_INPUT)
    except KeyboardInterrupt:
        printer.end()
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
    if (problem := _failed_rows_problem(result, max_error_rate)) is not None:
        fail(problem, EXIT_FAILED_ROWS)


def _failed_rows_problem(result: RunResult, max_error_rate: float | None) -> str | None:
    """Why the run's output must exit EXIT_FAILED_ROWS, or None."""
    overall = result.summary.overall
    failed = overall.rows - overall.judged
    if overall.rows and overall.judged == 0:
        return f"no row was judged: all {overall.rows:,} verdicts failed ({_statuses(overall.errors)})"
    if max_error_rate is not None and overall.rows and failed / overall.rows > max_error_rate:
        return (
            f"{failed:,} of {overall.rows:,} rows failed ({failed / overall.rows:.1%}), above "
            f"--max-error-rate {max_error_rate:g}"
        )
    return None


def _retries_text(progress: Progress) -> str:
    if not progress.retries:
        return ""
    return f"; {progress.retries:,} retries, {progress.rate_limited:,} rate-limited"


def _statuses(errors: dict[str, int]) -> str:
    return ", ".join(f"{count:,} {status}" for status, count in errors.items())


_TERMINATED = threading.Event()


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM becomes SIGINT, so the run stops exactly as on Ctrl-C (asyncio cancels it cleanly)."""
    _TERMINATED.set()
    signal.raise_signal(signal.SIGINT)


def _print_result(result: RunResult, output_path: str, prices: tuple[float, float] | None) -> None:
    progress, rubric = result.progress, result.rubric
    rubric_text = f"rubric {rubric.name} {rubric.version}, {rubric.hash}"
    echo_err(
        f"judged {progress.done} records into {output_path} ({rubric_text}) in {progress.elapsed_s:,.1f}s; "
        f"{progress.skipped} already there, {progress.cached} from the cache" + _retries_text(progress)
    )
    if progress.output_modes:
        modes = ", ".join(f"{mode} ({count:,} rows)" for mode, count in progress.output_modes.most_common())
        echo_err(f"judge output mode: {modes}")
    if progress.ids_from_lines:
        echo_err(
            f"{progress.ids_from_lines:,} records had no id field: their line numbers are their ids "
            "(keep the input's line order to resume, or give the records ids, or --id-field NAME)"
        )
    overall = result.summary.overall
    if failed := overall.rows - overall.judged:
        echo_err(
            f"{failed:,} rows failed ({_statuses(overall.errors)}) and wait in {output_path}: "
            "rerun with --retry-errors to judge them again"
        )
    if rubric.kind == "llm":
        tokens = f"tokens: {progress.prompt_tokens:,} in, {progress.completion_tokens:,} out"
        if prices is not None:
            tokens += f", cost ${cost_usd(progress.prompt_tokens, progress.completion_tokens, prices):,.4f}"
        echo_err(tokens)
    click.echo(summary_table(result.summary), err=output_path == "-")


def _print_dry_run(estimate: files.DryRun, prices: tuple[float, float] | None, codec: Codec) -> None:
    click.echo(
        f"{estimate.rows:,} records; about {estimate.prompt_tokens:,} prompt tokens and at most "
        f"{estimate.max_completion_tokens:,} completion tokens; nothing was sent"
    )
    if prices is not None:
        cost = cost_usd(estimate.prompt_tokens, estimate.max_completion_tokens, prices)
        click.echo(f"estimated cost: at most ${cost:,.4f}")
    elif codec.rubric.kind == "llm":
        model = codec.config.model or "(none given)"
        click.echo(
            f"no known price for model {model}: pass --price-in and --price-out (USD per million "
            "tokens) for a cost estimate"
        )


class _ProgressPrinter:
    """The progress display, silent with `quiet`.

    On a terminal one line rewritten in place; else a plain line every `interval` seconds (logs
    under nohup, Slurm, CI).
    """

    def __init__(self, interval: float, quiet: bool):
        self.terminal = sys.stderr.isatty()
        self.active = not quiet
        self._interval = interval
        self._next = time.monotonic() + interval
        self._open_line = False

    def show(self, progress: Progress) -> None:
        if self.terminal:
            sys.stderr.write(f"\r{progress_line(progress)}   ")
            self._open_line = True
        elif time.monotonic() >= self._next:
            self._next = time.monotonic() + self._interval
            sys.stderr.write(f"progress: {progress_line(progress)}\n")
        else:
            return
        sys.stderr.flush()

    def end(self) -> None:
        """End the terminal's progress line, so the next message starts on a line of its own."""
        if self._open_line:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._open_line = False


def progress_line(progress: Progress) -> str:
    """The counters of a running job, on one line."""
    total = f"/{progress.total - progress.skipped:,}" if progress.total is not None else ""
    eta = f" ETA {progress.eta_s:,.0f}s" if progress.eta_s is not None else ""
    return (
        f"{progress.done:,}{total} records  {progress.rate:,.0f}/s{eta}  errors {progress.errors:,}  "
        f"retries {progress.retries:,}  rate-limited {progress.rate_limited:,}  "
        f"concurrency {progress.concurrency:,}  tokens {progress.prompt_tokens:,}+"
        f"{progress.completion_tokens:,}  {progress.elapsed_s:,.0f}s"
    )
