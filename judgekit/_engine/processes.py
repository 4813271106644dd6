"""Bulk runs across worker processes: each judges every N-th record, all append to one output.

One process spends about 0.4 ms of CPU a record (HTTP, rendering, parsing, the cache), so it
tops out near 2,000 records/s: a fast self-hosted judge with many requests in flight can take
more than one core can send. Worker processes split the input by record position, the requests
in flight and the rate budgets; each appends whole lines to the shared output (see
`VerdictWriter`) and stores replies in the shared SQLite cache. Each worker first checks its own
records; the parent looks for ids repeated across workers and only then lets them send. The
parent also resumes from the output, shows the merged progress and merges the summaries.

Stopping: Ctrl-C reaches every process of the terminal's group, and the parent asks each worker
to stop as well; SIGTERM stops a worker as SIGINT does (forked or spawned). A worker also stops
when the parent dies (its pipe closes), so no orphan goes on writing into an output a rerun is
resuming. A worker that fails for the whole run (a 401, an unknown model, the circuit breaker,
whose counts all the workers share) stops the others, and the parent raises its error.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

from judgekit._config import JudgeConfig
from judgekit._engine.breaker import SharedCounts
from judgekit._engine.cache import ReplyCache
from judgekit._engine.codec import Codec
from judgekit._engine.files import PROGRESS_INTERVAL_S, Progress, RunResult, judge_into, skip_done
from judgekit._engine.sender import Sender
from judgekit._engine.transports import preload
from judgekit._errors import InputError, JudgeError, JudgekitError, OutputError
from judgekit._records import FieldMap, Shard, check_unique_ids, read_records, scan_input
from judgekit._results import completed_ids
from judgekit._rubrics import Rubric
from judgekit._summary import Summarizer

REQUESTS_PER_PROCESS = 32
"""`auto_processes` starts one worker per this many requests in flight."""
SUPPORTED = os.name == "posix"
"""Worker processes need POSIX: appends of whole lines, and `add_reader` on a pipe."""
START_METHOD = "fork" if sys.platform == "linux" else "spawn"
"""fork starts a worker in milliseconds; elsewhere (macOS) fork is unsafe, and spawn re-imports."""
GO = "go"
STOP = "stop"
_COUNTERS = (
    "done",
    "errors",
    "cached",
    "prompt_tokens",
    "completion_tokens",
    "retries",
    "rate_limited",
    "concurrency",
)


def auto_processes(concurrency: int) -> int:
    """One worker process per 32 requests in flight, at most one per CPU this process may use.

    One on a system that is not POSIX (Windows): workers watch their pipe with the event loop.
    """
    if not SUPPORTED:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, concurrency // REQUESTS_PER_PROCESS))


@dataclass(frozen=True)
class ShardedJob:
    """What every worker needs to rebuild its judge and find its share of the work."""

    rubric: Rubric
    """The rubric the parent loaded (its template inside): every worker judges under the same."""
    config: JudgeConfig
    cache_path: Path | None
    input_path: str
    output_path: str
    overwrite: bool
    """Replace the output (once the input is checked) rather than resume it."""
    fields: FieldMap
    limit: int | None
    processes: int
    only_ids: frozenset[str] | None = None
    """Judge only these ids (`--retry-errors`), when set."""

    def worker_config(self, index: int) -> JudgeConfig:
        """Worker `index`'s part of the requests in flight and of the rate budgets."""
        base, extra = divmod(self.config.concurrency, self.processes)
        return self.config.model_copy(
            update={
                "concurrency": max(1, base + (index < extra)),
                "budget_share": self.config.budget_share / self.processes,
            }
        )


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    reports: Connection
    """Progress and the outcome, from the worker."""
    control: Connection
    """Stop requests, to the worker; its closing tells the worker the parent is gone."""
    counters: tuple[int, ...] = (0,) * len(_COUNTERS)
    finished: bool = False


@dataclass(frozen=True)
class _Ends:
    """A worker's ends of its two pipes, and the parent's ends it inherited by fork."""

    reports: Connection
    control: Connection
    inherited: list[Connection]


@dataclass
class _Outcome:
    summarizer: Summarizer = field(default_factory=Summarizer)
    failure: tuple[str, str] | None = None
    interrupted: bool = False


def score_file_in_processes(
    job: ShardedJob, *, on_progress: Callable[[Progress], None] | None = None
) -> RunResult:
    """Judge `job.input_path` into `job.output_path` with `job.processes` worker processes.

    As `files.judge_file`: resumes from the output, and returns the merged summary and progress.
    The input is checked in full before any request, as in a single process, but in parallel:
    each worker checks its own records, and the parent looks for ids repeated across them.
    Raises InputError (as JudgekitError) for bad input, JudgeError when a worker failed for the
    whole run, KeyboardInterrupt when interrupted (after every worker has flushed its verdicts).
    """
    outcome = _Outcome()
    done_ids = (
        set()
        if job.overwrite
        else completed_ids(Path(job.output_path), job.rubric.hash, counted=outcome.summarizer)
    )
    progress = Progress(total=None, skipped=len(done_ids))
    forking = START_METHOD == "fork"
    context = multiprocessing.get_context("fork") if forking else multiprocessing.get_context("spawn")
    if forking:
        preload(job.config)  # its import (aiohttp: 0.2 s) once, here, rather than in every worker
    breaker = SharedCounts(context)  # one circuit breaker for all the workers
    workers: list[_Worker] = []
    for index in range(job.processes):
        # One-way pipes: a worker that exits with a stop request unread makes no error here.
        reports, report_end = context.Pipe(duplex=False)
        control_end, control = context.Pipe(duplex=False)
        # A forked worker holds copies of the parent's ends, which it must close: else its control
        # pipe would never report the parent's death.
        inherited = [end for w in workers for end in (w.reports, w.control)] + [reports, control]
        ends = _Ends(report_end, control_end, inherited if forking else [])
        process = context.Process(
            target=_work,
            args=(job, index, ends, done_ids, breaker),
            name=f"judgekit-worker-{index}",
        )
        process.start()
        report_end.close()
        control_end.close()
        workers.append(_Worker(process, reports, control))
    try:
        progress.total = _validate(job, workers, progress)
        if job.only_ids is not None:
            progress.total = len(job.only_ids)
        _supervise(workers, outcome, progress, on_progress)
    except BaseException:
        _stop(workers)
        raise
    finally:
        for worker in workers:
            worker.process.join()
            worker.reports.close()
            worker.control.close()
    if outcome.failure is not None:
        kind, message = outcome.failure
        errors = {"judge": JudgeError, "output": OutputError}
        raise errors.get(kind, JudgekitError)(message)
    if outcome.interrupted:
        raise KeyboardInterrupt
    return RunResult(
        summary=outcome.summarizer.summary(),
        progress=progress,
        rubric=job.rubric,
        judge_model=job.config.model,
    )


def _validate(job: ShardedJob, workers: list[_Worker], progress: Progress) -> int:
    """Wait for every worker's check of its records; start them all if the whole input is good.

    Returns the number of records. The first bad line of the file is the earliest of the
    workers' first bad lines, so the error is the one a single process would report.
    """
    count, digests, invalid = 0, [], []
    for worker in workers:
        try:
            kind, *payload = worker.reports.recv()
        except EOFError:
            raise JudgeError(
                f"{worker.process.name} died while checking the input; see its error above"
            ) from None
        if kind == "checked":
            count += payload[0]
            digests.append(payload[1])
            progress.ids_from_lines += payload[2]
        else:
            invalid.append((payload[0], payload[1]))
    if invalid:
        raise JudgekitError(min(invalid)[1])
    check_unique_ids(job.input_path, job.fields, np.concatenate(digests), limit=job.limit)
    if job.overwrite:
        Path(job.output_path).unlink(missing_ok=True)
    for worker in workers:
        worker.control.send(GO)
    return count


def _supervise(
    workers: list[_Worker],
    outcome: _Outcome,
    progress: Progress,
    on_progress: Callable[[Progress], None] | None,
) -> None:
    """Read the workers' reports until all have finished; the first failure stops the others."""
    by_connection = {worker.reports: worker for worker in workers}
    while by_connection:
        for ready in wait(list(by_connection), timeout=PROGRESS_INTERVAL_S):
            worker = by_connection[ready]  # type: ignore[index]
            try:
                kind, *payload = worker.reports.recv()
            except EOFError:
                del by_connection[worker.reports]
                if not worker.finished and outcome.failure is None:
                    worker.process.join()
                    outcome.failure = (
                        "judge",
                        f"{worker.process.name} died (exit code {worker.process.exitcode})",
                    )
                    _stop(workers)
                continue
            if kind == "progress":
                worker.counters = payload[0]
                continue
            worker.finished = True
            if kind == "done":
                outcome.summarizer.merge(payload[0])
                worker.counters = payload[1]
                progress.output_modes.update(payload[2])
            elif kind == "failed" and outcome.failure is None:
                outcome.failure = (payload[0], payload[1])
                _stop(workers)
            elif kind == "stopped":
                outcome.interrupted = outcome.failure is None
        for name, value in zip(
            _COUNTERS, map(sum, zip(*(w.counters for w in workers), strict=True)), strict=True
        ):
            setattr(progress, name, value)
        if on_progress is not None:
            on_progress(progress)


def _stop(workers: list[_Worker]) -> None:
    """Ask every worker still running to stop (it flushes its verdicts first)."""
    for worker in workers:
        if not worker.finished:
            with contextlib.suppress(OSError):  # it has exited already
                worker.control.send(STOP)


def _work(job: ShardedJob, index: int, ends: _Ends, done_ids: set[str], breaker: SharedCounts) -> None:
    """A worker process: check its records, wait for the parent's go, judge them, report."""
    signal.signal(signal.SIGTERM, _terminate)  # a spawned worker has none; a forked one, the parent's
    for end in ends.inherited:
        end.close()
    shard = Shard(index=index, of=job.processes)
    message: tuple[Any, ...]
    try:
        try:
            scan = scan_input(
                job.input_path,
                job.fields,
                limit=job.limit,
                shard=shard,
                include_input=job.config.include_input,
            )
        except InputError as error:
            _report(ends, ("invalid", error.line or 0, str(error)))
            return
        _report(ends, ("checked", scan.count, scan.digests, scan.ids_from_lines))
        if ends.control.recv() != GO:
            return
        summarizer, progress = asyncio.run(_judge_shard(job, shard, ends, done_ids, breaker))
        message = ("done", summarizer, _counters(progress), progress.output_modes)
    except (KeyboardInterrupt, asyncio.CancelledError, EOFError):  # EOFError: the parent is gone
        message = ("stopped",)
    except JudgeError as error:
        message = ("failed", "judge", str(error))
    except OutputError as error:
        message = ("failed", "output", str(error))
    except JudgekitError as error:
        message = ("failed", "input", str(error))
    except Exception as error:  # noqa: BLE001 - a bug, reported as itself rather than as a dead worker
        message = ("failed", "input", f"unexpected {type(error).__name__} in {_name(index)}: {error}")
    _report(ends, message)


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (Slurm, Kubernetes) stops a worker as Ctrl-C does: it flushes, and reports "stopped"."""
    if callable(signal.getsignal(signal.SIGINT)):
        signal.raise_signal(signal.SIGINT)  # asyncio.run cancels the run cleanly
    else:
        raise KeyboardInterrupt  # SIGINT is ignored here (a background job)


def _name(index: int) -> str:
    return f"judgekit-worker-{index}"


def _report(ends: _Ends, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError):  # the parent is gone; its rerun resumes from the output
        ends.reports.send(message)


async def _judge_shard(
    job: ShardedJob, shard: Shard, ends: _Ends, done_ids: set[str], breaker: SharedCounts
) -> tuple[Summarizer, Progress]:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None

    def stop() -> None:  # a stop request, or the parent died and its end closed
        loop.remove_reader(ends.control.fileno())
        main.cancel()

    loop.add_reader(ends.control.fileno(), stop)
    cache = ReplyCache(job.cache_path) if job.cache_path is not None else None
    sender = Sender(Codec(job.rubric, job.worker_config(shard.index)), cache=cache, breaker=breaker)
    summarizer, progress = Summarizer(), Progress(total=None)
    records = read_records(job.input_path, job.fields, check_duplicates=False, limit=job.limit, shard=shard)
    try:
        await judge_into(
            sender,
            skip_done(records, done_ids, job.only_ids),
            job.output_path,
            summarizer,
            progress,
            on_progress=lambda now: _report(ends, ("progress", _counters(now))),
        )
    finally:
        await sender.aclose()
        if cache is not None:
            cache.close()
    return summarizer, progress


def _counters(progress: Progress) -> tuple[int, ...]:
    return tuple(getattr(progress, name) for name in _COUNTERS)
