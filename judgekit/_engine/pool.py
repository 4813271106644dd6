"""Judge a stream of records with a fixed pool of workers, handing over verdicts as they finish."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from judgekit._records import Record
from judgekit._verdicts import Verdict

JudgeRecord = Callable[[Record], Awaitable[Verdict]]


async def judge_each(
    records: Iterable[Record],
    judge_record: JudgeRecord,
    on_verdict: Callable[[Verdict], None],
    *,
    concurrency: int,
) -> None:
    """Judge every record, at most `concurrency` at once, calling `on_verdict` as each finishes.

    `concurrency` workers pull records lazily from one shared iterator, so memory stays
    proportional to `concurrency`, not to the input. Verdicts come in completion order and are
    handed over at once, with no queue between. An exception from `judge_record` or `on_verdict`
    (a run-level failure) cancels the other workers and propagates.
    """
    source = iter(records)

    async def work() -> None:
        for record in source:
            on_verdict(await judge_record(record))

    workers = [asyncio.create_task(work()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*workers)
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
