"""One-call entry points: `score()` and `ascore()` for items in memory, `score_file()` for a bulk job."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, Unpack

from judgekit._config import JudgeOptions, redact
from judgekit._engine import files
from judgekit._engine.cache import ReplyCache, default_cache_path
from judgekit._engine.files import Progress, RunResult
from judgekit._engine.processes import SUPPORTED, ShardedJob, auto_processes, score_file_in_processes
from judgekit._engine.transports import AzureTokenProvider
from judgekit._errors import ConfigError, JudgeError
from judgekit._judge import Judge
from judgekit._records import FieldMap, Item, validate_input
from judgekit._results import RETRY_SUFFIX, claimed_output, completed_ids, failed_ids, merge_retried
from judgekit._rubrics import Rubric
from judgekit._summary import Summarizer
from judgekit._verdicts import Verdict

T = TypeVar("T")


def score(
    items: Item | Iterable[Item],
    *,
    rubric: str | Path | Rubric = "policy",
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    **options: Unpack[JudgeOptions],
) -> list[Verdict]:
    """Judge `items` under `rubric`; one verdict per item, in input order.

    `items` is one response, a list of responses, (prompt, response) pairs, dicts with `response`
    (and `prompt`, `id`, `category`, `context`) or Records. The endpoint comes from the arguments,
    else `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `JUDGEKIT_MODEL`. `options` are JudgeConfig fields
    (`concurrency`, `timeout_s`, `max_retries`, `output_mode`, `logprobs`, ...). Works inside a
    running event loop too.
    """
    with Judge(rubric, model=model, base_url=base_url, api_key=api_key, **options) as judge:
        return judge.score(items)


async def ascore(
    items: Item | Iterable[Item],
    *,
    rubric: str | Path | Rubric = "policy",
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    **options: Unpack[JudgeOptions],
) -> list[Verdict]:
    """Async `score()`, for callers already in an event loop."""
    async with Judge(rubric, model=model, base_url=base_url, api_key=api_key, **options) as judge:
        return await judge.ascore(items)


def score_file(
    input_path: str | Path,
    output_path: str | Path,
    *,
    rubric: str | Path | Rubric = "policy",
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    cache: str | Path | bool = True,
    resume: bool = True,
    processes: int | None = None,
    limit: int | None = None,
    fields: FieldMap | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    retry_errors: bool = False,
    http_client: Any = None,
    azure_ad_token_provider: AzureTokenProvider | None = None,
    **options: Unpack[JudgeOptions],
) -> RunResult:
    """Judge every record of a JSONL file into a verdict JSONL file: what `judgekit score` does.

    The input (`-` for stdin, `.gz` read as gzip) is checked in full before any request, so bad
    input raises InputError naming the file, line and field and spends nothing. With `resume`,
    ids already in `output_path` are skipped; else the output is replaced once the input is good.
    `cache` is the reply cache's path, True for the default one, False for none. `processes`
    worker processes share the run (None: one per 32 requests in flight, at most one per CPU).
    `on_progress` is called with the counters about twice a second. `retry_errors` judges again
    only the records whose verdict in the output failed, and replaces their lines (see
    `merge_retried`: the output stays whole if the run is killed). The output must not be the
    input, and one run at a time writes it (an advisory lock on `OUTPUT.lock`). Raises JudgeError when the
    judge fails for the whole run (the verdicts so far are kept), KeyboardInterrupt when
    interrupted. Works inside a running event loop too (it then runs on a thread of its own).
    """
    judge = Judge(
        rubric,
        model=model,
        base_url=base_url,
        api_key=api_key,
        http_client=http_client,
        azure_ad_token_provider=azure_ad_token_provider,
        **options,
    )
    source, target = str(input_path), str(output_path)
    if retry_errors and (target == "-" or not resume):
        raise ConfigError("--retry-errors needs an OUTPUT file to resume, not - or --overwrite")
    job = _FileJob(judge, source, target, fields or FieldMap(), limit, processes, on_progress)
    try:
        with claimed_output(source, target):
            if not retry_errors:
                return job.run(_cache_path(cache), overwrite=not resume)
            return _retry_failed(job, _cache_path(cache))
    except JudgeError as error:
        raise JudgeError(redact(str(error), judge.config.api_key), status_code=error.status_code) from None


@dataclass
class _FileJob:
    judge: Judge
    source: str
    target: str
    fields: FieldMap
    limit: int | None
    processes: int | None
    on_progress: Callable[[Progress], None] | None

    def run(
        self,
        cache_path: Path | None,
        *,
        overwrite: bool,
        target: str | None = None,
        only: set[str] | None = None,
    ) -> RunResult:
        """Judge the input (only the ids `only`, if given) into `target` (the output by default)."""
        judge, source, target = self.judge, self.source, target or self.target
        cache_path = cache_path if judge.rubric.kind == "llm" else None
        count = process_count(self.processes, judge, source, target)
        if count > 1:
            if cache_path is not None:
                ReplyCache(cache_path).close()  # a cache that cannot be used stops the run here, once
            job = ShardedJob(
                rubric=judge.rubric,
                config=judge.config,
                cache_path=cache_path,
                input_path=source,
                output_path=target,
                overwrite=overwrite,
                fields=self.fields,
                limit=self.limit,
                processes=count,
                only_ids=frozenset(only) if only is not None else None,
            )
            return score_file_in_processes(job, on_progress=self.on_progress)
        scan = (
            validate_input(source, self.fields, limit=self.limit, include_input=judge.config.include_input)
            if source != "-"
            else None
        )
        total = scan.count if scan is not None else None
        if cache_path is not None:
            judge.use_cache(ReplyCache(cache_path))
        if overwrite and target != "-":
            Path(target).unlink(missing_ok=True)

        async def run() -> RunResult:
            try:
                return await files.judge_file(
                    judge.sender,
                    source,
                    target,
                    fields=self.fields,
                    limit=self.limit,
                    total=len(only) if only is not None else total,
                    on_progress=self.on_progress,
                    only_ids=only,
                )
            finally:
                await judge.aclose()

        result = _run_to_end(run())
        result.progress.ids_from_lines = scan.ids_from_lines if scan is not None else 0
        return result


def _retry_failed(job: _FileJob, cache_path: Path | None) -> RunResult:
    """Judge again the records whose verdicts failed, then replace their lines in the output."""
    output, retried = Path(job.target), Path(job.target + RETRY_SUFFIX)
    merge_retried(output, retried)  # what a killed retry run left
    rubric_hash = job.judge.rubric.hash
    failed = failed_ids(output, rubric_hash)
    result = job.run(cache_path, overwrite=False, target=str(retried), only=failed)
    merge_retried(output, retried)
    summarizer = Summarizer()
    everything = completed_ids(output, rubric_hash, counted=summarizer)
    result.progress.skipped = len(everything) - result.progress.done
    return replace(result, summary=summarizer.summary())


def process_count(requested: int | None, judge: Judge, input_path: str, output_path: str) -> int:
    """The worker processes a file job runs: as asked, else one per 32 requests in flight.

    One for a keyword rubric (it sends nothing), for stdin or stdout, and for a judge holding an
    HTTP client or token provider (they cannot cross processes). Raises ConfigError when the
    request cannot be met.
    """
    if "-" in (input_path, output_path) or judge.uses_sdk_hooks:
        if requested not in (None, 1):
            reason = "INPUT and OUTPUT files; with - one process reads or writes"
            if judge.uses_sdk_hooks:
                reason = "no http_client or azure_ad_token_provider: those stay in one process"
            raise ConfigError(f"--processes above 1 needs {reason}", option="processes")
        return 1
    if requested is not None:
        if requested > 1 and not SUPPORTED:
            raise ConfigError("--processes above 1 needs a POSIX system (Linux, macOS)", option="processes")
        return requested
    return auto_processes(judge.config.concurrency) if judge.rubric.kind == "llm" else 1


def _cache_path(cache: str | Path | bool) -> Path | None:
    if cache is True:
        return default_cache_path()
    if cache is False:
        return None
    return Path(cache)


def _run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, or, under a running event loop (a notebook), the same on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(coroutine))
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(error)

    thread = threading.Thread(target=run, name="judgekit-score-file")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
