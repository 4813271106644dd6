"""`judgekit batch`: the OpenAI Batch API or `vllm run-batch` as another transport."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_args

import click

from judgekit._config import OutputMode, resolve_config
from judgekit._errors import JudgeError, JudgekitError
from judgekit._records import FieldMap
from judgekit._report import summary_table
from judgekit._results import read_verdicts
from judgekit._summary import summarize_verdicts
from judgekit.batch.collect import CollectResult, collect_batches, ingest_outputs
from judgekit.batch.manifest import (
    MANIFEST_NAME,
    BatchSettings,
    Manifest,
    load_manifest,
    load_prepared,
    manifest_path,
)
from judgekit.batch.remote import BATCH_CALL_RETRIES, BATCH_CALL_TIMEOUT_S, FINISHED_STATUSES, BatchRemote
from judgekit.batch.requests import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_REQUESTS, prepare_batch
from judgekit.batch.submit import batch_status, submit_prepared
from judgekit.cli.common import EXIT_INPUT, EXIT_JUDGE, OPTION, F, cache_options, echo_err, fail, open_cache

SHOWN_FAILURES = 20


@click.group()
def batch() -> None:
    """Judge through the OpenAI Batch API (half price, within 24 hours) or `vllm run-batch`.

    prepare -> submit -> status -> collect; or prepare -> vllm run-batch -> ingest.
    """


def _remote_options(command: F) -> F:
    """--api-version, --timeout and --max-retries: the command passes them on to `_remote`."""
    command = OPTION(
        "--max-retries",
        type=click.IntRange(min=0),
        default=BATCH_CALL_RETRIES,
        envvar="JUDGEKIT_BATCH_MAX_RETRIES",
        help="Retries of a failed call (connection errors, 429, 5xx).",
    )(command)
    command = OPTION(
        "--timeout",
        "timeout_s",
        type=click.FloatRange(min=0, min_open=True),
        default=BATCH_CALL_TIMEOUT_S,
        envvar="JUDGEKIT_BATCH_TIMEOUT",
        help="Per-call timeout in seconds (uploads and downloads included).",
    )(command)
    return OPTION(
        "--api-version",
        envvar="JUDGEKIT_API_VERSION",
        help="Azure OpenAI API version; the --base-url prepared is then the Azure resource endpoint.",
    )(command)


def _output_option(help_text: str) -> Callable[[F], F]:
    return OPTION(
        "-o", "--output", "output_path", required=True, type=click.Path(dir_okay=False), help=help_text
    )


def _retry_option(flag: str, how: str) -> Callable[[F], F]:
    """The flag that sends failed and missing rows again, `how` it does, instead of writing api_error."""
    return OPTION(
        flag,
        is_flag=True,
        help=f"{how} instead of giving them api_error verdicts (permanent 4xx failures still get them).",
    )


def _field_options(command: F) -> F:
    for part in reversed(FIELD_PARTS):
        command = OPTION(f"--{part}-field", default=part, help=f"Input field holding the {part}.")(command)
    return command


FIELD_PARTS = tuple(field.name for field in dataclasses.fields(FieldMap))


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except JudgeError as error:
        fail(f"the batch endpoint failed: {error}\nrerun the same command once it is fixed", EXIT_JUDGE)
    except JudgekitError as error:
        fail(str(error), EXIT_INPUT)


def _remote(base_url: str, *, api_version: str | None, timeout_s: float, max_retries: int) -> BatchRemote:
    config = resolve_config(base_url=base_url, api_version=api_version)
    return BatchRemote(config, timeout_s=timeout_s, max_retries=max_retries)


@contextmanager
def _manifest_remote(
    manifest_file: str, remote_options: dict[str, Any]
) -> Iterator[tuple[Path, Manifest, BatchRemote]]:
    """The manifest's path, the manifest, and a remote for its endpoint; errors become exits."""
    with _errors():
        path = manifest_path(Path(manifest_file))
        manifest = load_manifest(path)
        with _remote(manifest.base_url, **remote_options) as remote:
            yield path, manifest, remote


@batch.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@OPTION(
    "-o",
    "--output",
    "directory",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for the request files and prepare.json.",
)
@OPTION("--rubric", default="policy", envvar="JUDGEKIT_RUBRIC", help="Built-in rubric name or .toml path.")
@OPTION("--model", envvar="JUDGEKIT_MODEL", help="Judge model.")
@OPTION(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    help="Endpoint the batches go to; the reply cache's key uses it. [default: OpenAI]",
)
@OPTION(
    "--output-mode",
    type=click.Choice(get_args(OutputMode)),
    default="auto",
    envvar="JUDGEKIT_OUTPUT_MODE",
    help="Structured output (auto, json_schema) or text; a batch cannot fall back, so use text "
    "for endpoints without JSON-schema output.",
)
@OPTION("--logprobs/--no-logprobs", default=False, envvar="JUDGEKIT_LOGPROBS", help="Ask for token logprobs.")
@OPTION("--keep-raw/--no-keep-raw", default=False, envvar="JUDGEKIT_KEEP_RAW", help="Keep every raw reply.")
@OPTION(
    "--include-input/--no-include-input",
    default=False,
    envvar="JUDGEKIT_INCLUDE_INPUT",
    help="Copy the input fields into each verdict line.",
)
@cache_options()
@OPTION("--limit", type=click.IntRange(min=1), help="Prepare only the first N records of INPUT.")
@OPTION(
    "--max-requests-per-file",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_REQUESTS,
    envvar="JUDGEKIT_BATCH_MAX_REQUESTS",
    help="Requests per file (the Batch API's limit is 50,000).",
)
@OPTION(
    "--max-file-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_FILE_BYTES,
    envvar="JUDGEKIT_BATCH_MAX_FILE_BYTES",
    help="Bytes per file (the Batch API's limit is 200 MB).",
)
@OPTION(
    "--overwrite", is_flag=True, help="Replace an earlier preparation in the directory (if not submitted)."
)
@_field_options
def prepare(
    input_path: str,
    directory: str,
    rubric: str,
    model: str | None,
    base_url: str | None,
    cache_path: str | None,
    no_cache: bool,
    limit: int | None,
    max_requests_per_file: int,
    max_file_bytes: int,
    overwrite: bool,
    **options: Any,
) -> None:
    """Write Batch API request files for the records of INPUT.

    INPUT is validated in full first; records whose reply is already in the cache are left out.
    The directory gets requests-NNNN.jsonl files (also valid input for `vllm run-batch`) and
    prepare.json, which later commands read.
    """
    fields = FieldMap(**{part: options.pop(f"{part}_field") for part in FIELD_PARTS})
    with _errors():
        prepared = prepare_batch(
            input_path,
            directory,
            rubric=rubric,
            model=model,
            base_url=base_url,
            settings=BatchSettings(**options),
            fields=fields,
            cache=open_cache(cache_path, no_cache),
            limit=limit,
            max_requests=max_requests_per_file,
            max_bytes=max_file_bytes,
            overwrite=overwrite,
        )
    requests = sum(file.requests for file in prepared.files)
    rubric_text = f"rubric {prepared.rubric.name} {prepared.rubric.version}, {prepared.rubric.hash}"
    echo_err(
        f"prepared {requests:,} requests in {len(prepared.files)} file(s) under {directory} "
        f"({rubric_text}; model {prepared.model}); {prepared.cached:,} of {prepared.input.records:,} "
        "records already had a reply in the cache and were left out"
    )
    for file in prepared.files:
        echo_err(f"  {file.name}: {file.requests:,} requests, {file.bytes:,} bytes")
    echo_err(
        f"next: judgekit batch submit {directory}   (or vllm run-batch each file, then judgekit batch ingest)"
    )


@batch.command()
@click.argument("directory", metavar="REQUESTS_DIR", type=click.Path(file_okay=False, exists=True))
@OPTION(
    "-o",
    "--output",
    "manifest_file",
    type=click.Path(dir_okay=False),
    help="Manifest JSON; rerunning with the same one submits only what is not yet submitted. "
    "[default: REQUESTS_DIR/manifest.json]",
)
@OPTION(
    "--completion-window",
    default="24h",
    envvar="JUDGEKIT_COMPLETION_WINDOW",
    help="Batch completion window (OpenAI offers 24h).",
)
@OPTION(
    "--max-batches",
    type=click.IntRange(min=1),
    envvar="JUDGEKIT_MAX_BATCHES",
    help="Create at most N batches now (for a small enqueued-token limit); rerun submit for the rest.",
)
@_remote_options
def submit(
    directory: str,
    manifest_file: str | None,
    completion_window: str,
    max_batches: int | None,
    **remote_options: Any,
) -> None:
    """Upload request files and create one batch for each (idempotent).

    The endpoint is the one prepared; the API key comes from OPENAI_API_KEY and is never written.
    """
    with _errors():
        prepared = load_prepared(Path(directory))
        with _remote(prepared.base_url, **remote_options) as remote:
            manifest = submit_prepared(
                directory,
                remote,
                manifest_path=manifest_file,
                completion_window=completion_window,
                max_batches=max_batches,
                on_submit=lambda entry: echo_err(
                    f"submitted {entry.request_file} ({entry.requests:,} requests) as {entry.batch_id}"
                ),
            )
    path = manifest_file or str(Path(directory) / MANIFEST_NAME)
    submitted = {entry.request_file for entry in manifest.batches if entry.batch_id is not None}
    waiting = [file.name for file in prepared.files if file.name not in submitted]
    echo_err(f"manifest: {path} ({len(submitted)} batch(es) submitted)")
    if waiting:
        echo_err(f"not submitted yet: {', '.join(waiting)}; rerun `judgekit batch submit {directory}`")
    echo_err(f"next: judgekit batch status {path}")


@batch.command()
@click.argument("manifest_file", metavar="MANIFEST", type=click.Path(exists=True))
@OPTION("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@_remote_options
def status(manifest_file: str, as_json: bool, **remote_options: Any) -> None:
    """Show each batch's status and request counts.

    MANIFEST is the manifest file, or the directory holding manifest.json.
    """
    with _manifest_remote(manifest_file, remote_options) as (path, manifest, remote):
        rows = batch_status(manifest, remote)
    table: list[dict[str, Any]] = [
        {
            "request_file": entry.request_file,
            "batch_id": entry.batch_id,
            "status": remote_batch.status if remote_batch else "not submitted",
            "total": remote_batch.total if remote_batch else entry.requests,
            "completed": remote_batch.completed if remote_batch else 0,
            "failed": remote_batch.failed if remote_batch else 0,
            "errors": remote_batch.errors if remote_batch else [],
        }
        for entry, remote_batch in rows
    ]
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    for row in table:
        click.echo(
            f"{row['batch_id'] or '-'}  {row['request_file']}  {row['status']}  "
            f"{row['completed']:,}/{row['total']:,} completed, {row['failed']:,} failed"
        )
        for error in row["errors"]:
            click.echo(f"    {error}")
    finished = sum(row["status"] in FINISHED_STATUSES for row in table)
    click.echo(f"{finished} of {len(table)} batch(es) finished")
    if finished:
        click.echo(f"next: judgekit batch collect {path} -o OUTPUT.jsonl")


@batch.command()
@click.argument("manifest_file", metavar="MANIFEST", type=click.Path(exists=True))
@_output_option("Verdict JSONL; rows already in it are left alone, so collect can be rerun.")
@_retry_option("--resubmit", "Send failed and missing rows again in a new batch")
@cache_options()
@_remote_options
def collect(
    manifest_file: str,
    output_path: str,
    resubmit: bool,
    cache_path: str | None,
    no_cache: bool,
    **remote_options: Any,
) -> None:
    """Download finished batches' results and write one verdict per row.

    Rows of batches still running are left for a later run; rows already in OUTPUT are skipped.
    """
    with _manifest_remote(manifest_file, remote_options) as (path, _, remote):
        result = collect_batches(
            path, output_path, remote, cache=open_cache(cache_path, no_cache), resubmit=resubmit
        )
    _report(
        result,
        output_path,
        retry_flag=None if resubmit else "--resubmit",
        again=f"judgekit batch collect {path} -o {output_path}",
    )


@batch.command()
@click.argument(
    "output_files",
    metavar="VLLM_OUTPUT...",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, exists=True),
)
@OPTION(
    "--prepared",
    "prepared_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True),
    help="The REQUESTS_DIR the requests were prepared in.",
)
@_output_option("Verdict JSONL; rows already in it are left alone.")
@_retry_option("--retry", "Write failed and missing rows to a new request file for another `vllm run-batch`")
@cache_options()
def ingest(
    output_files: tuple[str, ...],
    prepared_dir: str,
    output_path: str,
    retry: bool,
    cache_path: str | None,
    no_cache: bool,
) -> None:
    """Write the verdicts in `vllm run-batch` output files.

    Pass each output file as its own argument; request files with no output yet are pending.
    """
    with _errors():
        result = ingest_outputs(
            list(output_files), prepared_dir, output_path, cache=open_cache(cache_path, no_cache), retry=retry
        )
    _report(result, output_path, retry_flag=None if retry else "--retry", again="judgekit batch ingest")
    for file in result.retry_files:
        echo_err(
            f"retry file: {Path(prepared_dir) / file.name}; "
            "run it with vllm run-batch, then ingest its output"
        )


def _report(result: CollectResult, output_path: str, *, retry_flag: str | None, again: str) -> None:
    """Print what collect or ingest did; `retry_flag` is the flag to suggest (None: it was given)."""
    echo_err(
        f"wrote {result.written:,} verdicts to {output_path} ({result.from_batches:,} from batch output, "
        f"{result.from_cache:,} from the reply cache, {result.errors:,} api_error); "
        f"{result.already:,} already there"
    )
    if result.failed:
        echo_err(f"{len(result.failed):,} row(s) failed:")
        for row in result.failed[:SHOWN_FAILURES]:
            echo_err(f"  {row.id}: {row.reason} [{'sent again' if row.resent else 'api_error'}]")
        if len(result.failed) > SHOWN_FAILURES:
            echo_err(f"  ... and {len(result.failed) - SHOWN_FAILURES:,} more")
        if retry_flag is not None:
            echo_err(f"to send retryable failures again instead of writing api_error, pass {retry_flag}")
    for entry in result.resubmitted:
        echo_err(f"resubmitted {entry.request_file} ({entry.requests:,} requests) as {entry.batch_id}")
    if result.pending:
        echo_err(
            f"{result.pending:,} row(s) still running in {result.running_batches} batch(es) or not yet run; "
            f"run `{again}` again later"
        )
    if result.unsubmitted:
        echo_err(
            f"{result.unsubmitted:,} row(s) in request files not yet submitted; run `judgekit batch submit`"
        )
    if result.unmatched:
        echo_err(f"{result.unmatched:,} result line(s) match no record of the input and were ignored")
    if result.finished:
        click.echo(summary_table(summarize_verdicts(read_verdicts(output_path))))
