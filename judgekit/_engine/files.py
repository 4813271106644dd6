"""A bulk job in one process: a JSONL file in, a verdict JSONL out, resumable, with progress and a summary."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from judgekit._config import CHARS_PER_TOKEN
from judgekit._engine.codec import Codec
from judgekit._engine.pool import judge_each
from judgekit._engine.sender import Sender
from judgekit._records import FieldMap, Record, read_records
from judgekit._results import VerdictWriter, completed_ids
from judgekit._rubrics import Rubric
from judgekit._summary import Summarizer, Summary
from judgekit._verdicts import Verdict

PROGRESS_INTERVAL_S = 0.5


@dataclass
class Progress:
    """Counters of a running job, for a progress display."""

    total: int | None
    skipped: int = 0
    done: int = 0
    errors: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    output_modes: Counter[str] = field(default_factory=Counter)
    """Verdicts by the request mode their reply answered (json_schema, ..., text)."""
    retries: int = 0
    """Requests sent again after a retryable failure (429, 5xx, timeout, dropped connection)."""
    rate_limited: int = 0
    """Replies that were 429 (rate limited): each made the run wait."""
    concurrency: int = 0
    """Requests allowed in flight now: starts low, grows on fast replies, halves on a 429, a
    timeout or a reply queued near the timeout."""
    ids_from_lines: int = 0
    """Input records with no id field, whose line number is their id (counted when checked)."""
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        """Records judged per second so far."""
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def elapsed_s(self) -> float:
        """Seconds since the job started."""
        return time.monotonic() - self.started

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate, when the total is known."""
        if self.total is None or self.rate == 0:
            return None
        return max(0, self.total - self.skipped - self.done) / self.rate


@dataclass(frozen=True)
class RunResult:
    """What a bulk run did: the summary of the whole output, the counters, and who judged."""

    summary: Summary
    progress: Progress
    rubric: Rubric
    judge_model: str | None


async def judge_file(
    sender: Sender,
    input_path: str,
    output_path: str,
    *,
    fields: FieldMap,
    limit: int | None = None,
    total: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    only_ids: set[str] | None = None,
) -> RunResult:
    """Judge every record of `input_path` not yet in `output_path`, appending verdicts to it.

    With `only_ids`, only the records with those ids (`--retry-errors`).

    Rerunning into the same output resumes: ids already there are skipped. Verdicts are written
    in completion order and flushed at least every few tenths of a second, so an interrupted run
    loses at most the records in flight (and, with a cache, not even their requests).
    """
    summarizer = Summarizer()
    done_ids = (
        completed_ids(Path(output_path), sender.codec.rubric.hash, counted=summarizer)
        if output_path != "-"
        else set()
    )
    progress = Progress(total=total, skipped=len(done_ids))
    # A validated file needs no second duplicate check, which would hold every id in memory.
    records = read_records(input_path, fields, check_duplicates=total is None, limit=limit)
    await judge_into(
        sender, skip_done(records, done_ids, only_ids), output_path, summarizer, progress, on_progress
    )
    codec = sender.codec
    return RunResult(
        summary=summarizer.summary(), progress=progress, rubric=codec.rubric, judge_model=codec.config.model
    )


async def judge_into(
    sender: Sender,
    records: Iterable[Record],
    output_path: str,
    summarizer: Summarizer,
    progress: Progress,
    on_progress: Callable[[Progress], None] | None = None,
) -> None:
    """Judge `records`, appending their verdicts to `output_path` and counting them as they finish."""
    with VerdictWriter(output_path) as writer:
        ticker = asyncio.create_task(_tick(writer, sender, progress, on_progress))

        def take(verdict: Verdict) -> None:
            writer.write(verdict)
            summarizer.add(verdict)
            _count(progress, verdict)

        try:
            await judge_each(records, sender.judge_record, take, concurrency=sender.codec.config.concurrency)
        finally:
            ticker.cancel()
            _count_sends(progress, sender)
            if on_progress is not None:
                on_progress(progress)


def skip_done(
    records: Iterator[Record], done_ids: set[str], only_ids: Collection[str] | None = None
) -> Iterator[Record]:
    """The records whose ids are not in `done_ids` (and are in `only_ids`, if given)."""
    if only_ids is not None:
        return (record for record in records if record.id in only_ids and record.id not in done_ids)
    return (record for record in records if record.id not in done_ids) if done_ids else records


def _count(progress: Progress, verdict: Verdict) -> None:
    progress.done += 1
    progress.errors += verdict.status != "ok"
    progress.cached += bool(verdict.cached)
    if verdict.output_mode is not None:
        progress.output_modes[verdict.output_mode] += 1
    if verdict.usage is not None and not verdict.cached:
        progress.prompt_tokens += verdict.usage.prompt_tokens
        progress.completion_tokens += verdict.usage.completion_tokens


def _count_sends(progress: Progress, sender: Sender) -> None:
    progress.retries = sender.retries
    progress.rate_limited, progress.concurrency = sender.flow_stats()


async def _tick(
    writer: VerdictWriter,
    sender: Sender,
    progress: Progress,
    on_progress: Callable[[Progress], None] | None,
) -> None:
    """Flush the output and report progress every PROGRESS_INTERVAL_S, even when no verdict arrives."""
    while True:
        await asyncio.sleep(PROGRESS_INTERVAL_S)
        writer.flush()
        _count_sends(progress, sender)
        if on_progress is not None:
            on_progress(progress)


@dataclass(frozen=True)
class DryRun:
    """What a run would send: nothing is sent to find out."""

    rows: int
    prompt_tokens: int
    max_completion_tokens: int


def dry_run(codec: Codec, input_path: str, *, fields: FieldMap, limit: int | None = None) -> DryRun:
    """Render every prompt and estimate tokens (about 4 characters a token)."""
    rows = chars = 0
    llm = codec.rubric.kind == "llm"
    for record in read_records(input_path, fields, limit=limit):
        rows += 1
        if llm:
            chars += sum(len(message["content"]) for message in codec.messages_for(record))
    completion = rows * codec.max_tokens if llm else 0
    return DryRun(rows=rows, prompt_tokens=chars // CHARS_PER_TOKEN, max_completion_tokens=completion)
