"""Collect batch results into verdicts: join output lines to records, parse, cache, write.

Each record not yet in the output gets, in this order: the verdict of its successful batch line
(parsed by `Codec.verdict_from_reply`, the reply stored in the cache under the online path's
key); else the verdict of a reply already in the cache; else nothing yet, if its batch is still
running or not submitted; else it failed: an `api_error` verdict, or, when retrying and the
failure is not a permanent 4xx, a line in a new request file and no verdict, so the retry's
result can still be written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from judgekit._engine.cache import GroupCommit, ReplyCache
from judgekit._engine.codec import Codec
from judgekit._engine.exchange import RetryableError, reply_from_completion
from judgekit._records import Record
from judgekit._results import VerdictWriter, completed_ids, rewrite_verdicts
from judgekit._verdicts import Verdict
from judgekit.batch.manifest import (
    PREPARED_NAME,
    PreparedBatch,
    RequestFile,
    SubmittedBatch,
    load_manifest,
    load_prepared,
    prepared_dir_of,
    save,
)
from judgekit.batch.outputs import Failure, ResultIndex
from judgekit.batch.remote import BatchRemote
from judgekit.batch.requests import (
    RequestFileWriter,
    codec_for,
    prepared_records,
    read_custom_ids,
)
from judgekit.batch.submit import submit_prepared

COMMIT_EVERY = 1_000
"""Records between two commits of collected replies to the cache (a commit per reply cost 2.4x)."""
RESULTS_DIR = "results"
"""Under the prepared directory: downloaded output and error files, kept for later runs."""


@dataclass(frozen=True)
class FailedRow:
    """A row whose request failed, why, and whether it was sent again (else it got `api_error`)."""

    id: str
    reason: str
    resent: bool = False


@dataclass
class CollectResult:
    """What one collect (or ingest) did."""

    from_batches: int = 0
    from_cache: int = 0
    already: int = 0
    """Rows already in the output, left alone."""
    pending: int = 0
    """Rows in batches still running (or request files not yet run)."""
    unsubmitted: int = 0
    """Rows in request files not yet submitted."""
    running_batches: int = 0
    unmatched: int = 0
    """Result lines whose custom_id is no record of the input."""
    failed: list[FailedRow] = field(default_factory=list)
    retry_files: list[RequestFile] = field(default_factory=list)
    resubmitted: list[SubmittedBatch] = field(default_factory=list)

    @property
    def errors(self) -> int:
        """`api_error` verdicts written for failed rows (when retrying, only for permanent failures)."""
        return sum(not row.resent for row in self.failed)

    @property
    def written(self) -> int:
        """Verdict lines added to the output."""
        return self.from_batches + self.from_cache + self.errors

    @property
    def finished(self) -> bool:
        """True when every row of the input has a verdict in the output."""
        return not (self.pending or self.unsubmitted or self.retry_files)


@dataclass
class _Unfinished:
    pending: set[str] = field(default_factory=set)
    unsubmitted: set[str] = field(default_factory=set)
    running_batches: int = 0


def collect_batches(
    manifest_path: str | Path,
    output_path: str | Path,
    remote: BatchRemote,
    *,
    cache: ReplyCache | None,
    resubmit: bool = False,
) -> CollectResult:
    """Write the verdicts of every finished batch of a manifest into `output_path`.

    With `resubmit`, failed and missing rows go into a new request file, submitted at once (the
    manifest gains its batch), instead of getting `api_error` verdicts; permanent failures (a 4xx
    other than 408, 409, 429) still get them.
    """
    path = Path(manifest_path)
    manifest = load_manifest(path)
    directory = prepared_dir_of(manifest, path)
    prepared = load_prepared(directory)
    codec = codec_for(prepared)
    results = directory / RESULTS_DIR
    results.mkdir(exist_ok=True)
    with ResultIndex() as index:
        unfinished = _Unfinished()
        for file in prepared.files:
            entry = manifest.entry(file.name)
            if entry is None or entry.batch_id is None:
                unfinished.unsubmitted |= read_custom_ids(directory / file.name)
                continue
            batch = remote.retrieve(entry.batch_id)
            if not batch.finished:
                unfinished.pending |= read_custom_ids(directory / file.name)
                unfinished.running_batches += 1
                continue
            if batch.status == "failed":
                failure = Failure(f"batch {batch.id} failed: {'; '.join(batch.errors) or 'no reason given'}")
                for custom_id in read_custom_ids(directory / file.name):
                    index.add_failure(custom_id, failure)
            for file_id in (batch.output_file_id, batch.error_file_id):
                if file_id is not None:
                    target = results / f"{batch.id}-{file_id}.jsonl"
                    index.add_file(target if target.exists() else remote.download(file_id, target))
        result = _join(
            codec, prepared, index, Path(output_path), cache, unfinished, directory if resubmit else None
        )
    if result.retry_files:
        _add_files(directory, prepared, result.retry_files)
        before = {entry.request_file for entry in manifest.batches}
        manifest = submit_prepared(directory, remote, manifest_path=path)
        result.resubmitted = [entry for entry in manifest.batches if entry.request_file not in before]
    return result


def ingest_outputs(
    output_files: list[str | Path],
    prepared_dir: str | Path,
    output_path: str | Path,
    *,
    cache: ReplyCache | None,
    retry: bool = False,
) -> CollectResult:
    """Write the verdicts in `vllm run-batch` output files (or downloaded Batch API files).

    Each output file is matched to the request file whose custom_ids it resembles most (so a
    retry file's output is told from the original's; pass each vLLM output as its own file).
    Rows of request files that no output matches have not been run yet: they are pending. With
    `retry`, failed and missing rows go into a new request file instead of getting `api_error`
    verdicts (permanent failures still get them).
    """
    directory = Path(prepared_dir).resolve()
    prepared = load_prepared(directory)
    codec = codec_for(prepared)
    requested = {file.name: read_custom_ids(directory / file.name) for file in prepared.files}
    with ResultIndex() as index:
        ran = {_source_of(index.add_file(Path(output_file)), requested) for output_file in output_files}
        unfinished = _Unfinished()
        for name, ids in requested.items():
            if name not in ran:
                unfinished.pending |= ids
        result = _join(
            codec, prepared, index, Path(output_path), cache, unfinished, directory if retry else None
        )
    if result.retry_files:
        _add_files(directory, prepared, result.retry_files)
    return result


def _source_of(ids: set[str], requested: dict[str, set[str]]) -> str | None:
    """The request file an output's custom_ids resemble most (Jaccard similarity), if any."""
    best, best_score = None, 0.0
    for name, candidates in requested.items():
        shared = len(ids & candidates)
        score = shared / len(ids | candidates) if shared else 0.0
        if score > best_score:
            best, best_score = name, score
    return best


def _add_files(directory: Path, prepared: PreparedBatch, files: list[RequestFile]) -> None:
    save(directory / PREPARED_NAME, prepared.model_copy(update={"files": [*prepared.files, *files]}))


def _join(
    codec: Codec,
    prepared: PreparedBatch,
    index: ResultIndex,
    output_path: Path,
    cache: ReplyCache | None,
    unfinished: _Unfinished,
    retry_dir: Path | None,
) -> CollectResult:
    if retry_dir is not None:
        _drop_retryable_errors(output_path, index)
    done = completed_ids(output_path, codec.rubric.hash)
    result = CollectResult(already=len(done), running_batches=unfinished.running_batches)
    retry = None
    if retry_dir is not None:
        round_ = prepared.rounds + 1
        retry = RequestFileWriter(
            retry_dir,
            f"retry{round_}",
            round=round_,
            max_requests=prepared.max_requests_per_file,
            max_bytes=prepared.max_file_bytes,
        )
    matched = 0
    store = GroupCommit(cache, loop=None) if cache is not None else None
    try:
        with VerdictWriter(output_path) as writer:
            for count, record in enumerate(prepared_records(prepared), start=1):
                if store is not None and count % COMMIT_EVERY == 0:
                    store.flush()
                matched += record.id in index
                if record.id in done:
                    continue
                verdict = _verdict(codec, record, index, store, unfinished, result, retry)
                if verdict is not None:
                    writer.write(verdict)
            if store is not None:
                store.flush()
        if retry is not None:
            result.retry_files = retry.close()
    except BaseException:
        if retry is not None:
            retry.discard()
        raise
    result.unmatched = len(index) - matched
    return result


def _drop_retryable_errors(output_path: Path, index: ResultIndex) -> None:
    """Take the `api_error` lines of retryable failures out of the output, so `--retry` retries them.

    An earlier run without `--retry` wrote them; the output is replaced in one step.
    """

    def dropped(row: dict[str, object]) -> bytes | None:
        retry = row.get("status") == "api_error" and _worth_retrying(str(row["id"]), index)
        return b"" if retry else None

    rewrite_verdicts(output_path, dropped)


def _worth_retrying(custom_id: str, index: ResultIndex) -> bool:
    """Whether a row's new outputs hold its reply, or its failure was not permanent."""
    return index.completion(custom_id) is not None or index.failure(custom_id).retryable


def _verdict(
    codec: Codec,
    record: Record,
    index: ResultIndex,
    cache: GroupCommit | None,
    unfinished: _Unfinished,
    result: CollectResult,
    retry: RequestFileWriter | None,
) -> Verdict | None:
    """The record's verdict, or None (still running, or retried); counts it in `result`."""
    request = codec.request_for(record)
    completion = index.completion(record.id)
    reason = None
    if completion is not None:
        try:
            reply = reply_from_completion(completion, request.model)
        except RetryableError as error:
            reason = f"batch output: {error}"
        else:
            if cache is not None:
                codec.store_reply(request, reply, cache)
            result.from_batches += 1
            return codec.verdict_from_reply(record, reply, mode=request.output_mode)
    hit = codec.cached_reply(request, cache) if cache is not None and completion is None else None
    if hit is not None:
        result.from_cache += 1
        return codec.verdict_from_reply(record, hit, cached=True, mode=request.output_mode)
    if record.id in unfinished.pending:
        result.pending += 1
        return None
    if record.id in unfinished.unsubmitted:
        result.unsubmitted += 1
        return None
    # A malformed completion is retried online too, so it is worth sending again.
    failure = Failure(reason) if reason is not None else index.failure(record.id)
    if retry is not None and failure.retryable:
        retry.add(record.id, request)
        result.failed.append(FailedRow(record.id, failure.reason, resent=True))
        return None
    result.failed.append(FailedRow(record.id, failure.reason))
    return codec.error_verdict(record, failure.reason)
