"""judgekit's own async engine in a pool of Ray actors: one Judge, one event loop per actor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import ray.data

from judgekit._config import DEFAULT_CONCURRENCY
from judgekit._errors import ConfigError, InputError
from judgekit._judge import Judge
from judgekit._records import FieldMap, Record
from judgekit._verdicts import Verdict
from judgekit.ray._columns import VERDICT_COLUMNS, VERDICT_SCHEMA, verdict_to_row
from judgekit.ray._rows import RECORD_PARTS, RubricSpec, record_from_row


def judge_dataset(
    ds: ray.data.Dataset,
    rubric: RubricSpec = "policy",
    *,
    model: str | None = None,
    base_url: str | Sequence[str] | None = None,
    api_key: str | None = None,
    workers: int = 2,
    batch_size: int = 256,
    concurrency: int = DEFAULT_CONCURRENCY,
    num_cpus: float = 1.0,
    fields: FieldMap | None = None,
    keep_columns: Sequence[str] = (),
    **options: Any,
) -> ray.data.Dataset:
    """Judge every row of `ds` with judgekit's async engine in `workers` Ray actors.

    Each actor holds one Judge and judges its batches on one persistent event loop with up to
    `concurrency` requests in flight per endpoint, with judgekit's retries (Retry-After),
    flow control and text-mode fallback. Several `base_url`s: each actor spreads every batch
    over all of them, row by row. `options` are Judge options (`timeout_s`, `max_retries`,
    `output_mode`, `cache` as a path, `rpm`, `tpm`, ...). Flow control is per actor, and each
    spends 1/`workers` of the `rpm`/`tpm` budgets, configured or advertised (`budget_share`). The
    API key travels to the actors in their constructor arguments; on a cluster, set
    OPENAI_API_KEY in Ray's runtime_env instead. Returns a lazy Dataset of `VERDICT_COLUMNS`
    (+ `keep_columns`), one row per input row; Ray does not keep the order: join on `id`.
    """
    fields = fields or FieldMap()
    urls: list[str | None] = [base_url] if base_url is None or isinstance(base_url, str) else list(base_url)
    share = options.pop("budget_share", 1.0) / workers
    judge_args = {
        "rubric": rubric,
        "model": model,
        "api_key": api_key,
        "concurrency": concurrency,
        "budget_share": share,
        **options,
    }
    for url in urls:  # fail here, in the driver, on a bad option or a missing endpoint
        Judge(base_url=url, **judge_args).close()
    _check_columns(ds, fields, keep_columns)
    return ds.map_batches(
        _JudgeActor,
        fn_constructor_kwargs={
            "judge_args": judge_args,
            "base_urls": urls,
            "fields": fields,
            "keep_columns": list(keep_columns),
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        zero_copy_batch=True,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=num_cpus,
    )


class _JudgeActor:
    """One Ray actor's judges (one per endpoint); Ray Data runs its batches on one event loop."""

    def __init__(
        self,
        judge_args: dict[str, Any],
        base_urls: list[str | None],
        fields: FieldMap,
        keep_columns: list[str],
    ):
        self._judges = [Judge(base_url=url, **judge_args) for url in base_urls]
        self._fields = fields
        self._keep_columns = keep_columns
        self._mapped = [getattr(fields, part) for part in RECORD_PARTS]
        self._loop: asyncio.AbstractEventLoop | None = None

    def __del__(self) -> None:
        # Ray Data drops the actor's UDF on a graceful shutdown, while its loop still runs:
        # close the judges' connection pools there rather than leave them to the garbage collector.
        if self._loop is not None and self._loop.is_running():
            with contextlib.suppress(RuntimeError, TimeoutError):
                asyncio.run_coroutine_threadsafe(self._aclose(), self._loop).result(timeout=5)

    async def _aclose(self) -> None:
        await asyncio.gather(*(judge.aclose() for judge in self._judges))

    async def __call__(self, batch: pa.Table) -> pa.Table:
        self._loop = asyncio.get_running_loop()
        present = [name for name in self._mapped if name in batch.column_names]
        records = [record_from_row(row, self._fields) for row in batch.select(present).to_pylist()]
        verdicts = await self._judge(records)
        table = pa.Table.from_pylist([verdict_to_row(v) for v in verdicts], schema=VERDICT_SCHEMA)
        for name in self._keep_columns:
            table = table.append_column(batch.schema.field(name), batch.column(name))
        return table

    async def _judge(self, records: list[Record]) -> list[Verdict]:
        if len(self._judges) == 1:
            return await self._judges[0].ascore(records)
        count = len(self._judges)
        shares = await asyncio.gather(
            *(judge.ascore(records[i::count]) for i, judge in enumerate(self._judges))
        )
        verdicts: list[Verdict] = [None] * len(records)  # type: ignore[list-item]
        for i, share in enumerate(shares):
            verdicts[i::count] = share
        return verdicts


def _check_columns(ds: ray.data.Dataset, fields: FieldMap, keep_columns: Sequence[str]) -> None:
    """Fail before any request when the dataset's schema is known and lacks a needed column."""
    clashes = sorted(set(keep_columns) & set(VERDICT_COLUMNS) - {"id", "category"})
    if clashes:
        raise ConfigError(f"keep_columns {clashes} clash with verdict columns; rename them first")
    schema = ds.schema(fetch_if_missing=False)
    if schema is None:
        return
    for name, fix in ((fields.id, "id"), (fields.response, "response"), *((c, None) for c in keep_columns)):
        if name not in schema.names:
            hint = f"; map another column with fields=FieldMap({fix}=NAME)" if fix else ""
            raise InputError(f"the dataset has no column '{name}' (it has {', '.join(schema.names)}){hint}")
