"""Ray Data LLM processors judging rows: HTTP requests to endpoints, or vLLM engines in Ray."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from judgekit._config import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_S
from judgekit._errors import ConfigError
from judgekit._records import FieldMap
from judgekit.ray._rows import RubricSpec, postprocess, preprocess

if TYPE_CHECKING:
    from ray.data.llm import Processor


def http_judge_processor(
    rubric: RubricSpec = "policy",
    *,
    model: str,
    base_url: str | Sequence[str],
    api_key: str | None = None,
    workers: int = 2,
    batch_size: int = 64,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    num_cpus: float | None = None,
    fields: FieldMap | None = None,
    keep_columns: Sequence[str] = (),
    **options: Any,
) -> Processor:
    """Ray Data LLM's HTTP request processor, judging each row at OpenAI-compatible endpoint(s).

    Returns a `ray.data.llm.Processor`: `verdicts = processor(ds)`. Several `base_url`s share the
    rows batch by batch: each batch goes to the next endpoint, each worker starting at a random
    one. `workers` is the number of Ray actors (Ray's `concurrency`); a batch's requests are in
    flight together (up to 100). Endpoints take a Bearer key (`api_key`, else OPENAI_API_KEY),
    which travels to the workers in the processor's headers; for Azure, use `judge_dataset`.
    """
    from ray.data.llm import HttpRequestProcessorConfig, build_processor

    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    if not urls:
        raise ConfigError("http_judge_processor needs at least one base_url")
    key = api_key or os.environ.get("OPENAI_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else None
    stage = {"num_cpus": num_cpus} if num_cpus is not None else True
    config = HttpRequestProcessorConfig(
        url="chat/completions",  # relative: each batch's session sets the endpoint
        headers=headers,
        concurrency=workers,
        batch_size=batch_size,
        max_retries=max_retries,
        base_retry_wait_time_in_s=0.5,
        session_factory=_EndpointRotation(urls, timeout_s),
        http_request_stage=stage,
    )
    return build_processor(
        config,
        preprocess=preprocess(rubric, model, fields=fields, processor="http", **options),
        postprocess=postprocess(rubric, model=model, fields=fields, keep_columns=keep_columns, **options),
    )


def engine_judge_processor(
    rubric: RubricSpec = "policy",
    *,
    model: str,
    workers: int = 1,
    batch_size: int = 64,
    engine_kwargs: Mapping[str, Any] | None = None,
    accelerator_type: str | None = None,
    fields: FieldMap | None = None,
    keep_columns: Sequence[str] = (),
    **options: Any,
) -> Processor:
    """Ray Data LLM's vLLM engine processor: the judge `model` (a Hugging Face id or a path) in Ray.

    Returns a `ray.data.llm.Processor`; building it needs vLLM and a GPU. `workers` is the number
    of engine replicas (Ray's `concurrency`); `engine_kwargs` go to vLLM (`max_model_len`,
    `tensor_parallel_size`, ...). A row the engine rejects (a prompt longer than
    `max_model_len`) fails the job, as vLLM does: size `max_model_len` for the longest record.
    """
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    config = vLLMEngineProcessorConfig(
        model_source=model,
        engine_kwargs=dict(engine_kwargs or {}),
        concurrency=workers,
        batch_size=batch_size,
        accelerator_type=accelerator_type,
    )
    return build_processor(
        config,
        preprocess=preprocess(rubric, model, fields=fields, processor="engine", **options),
        postprocess=postprocess(rubric, model=model, fields=fields, keep_columns=keep_columns, **options),
    )


class _EndpointRotation:
    """The HTTP stage's session factory: it opens one session per batch, each on the next endpoint."""

    def __init__(self, base_urls: Sequence[str], timeout_s: float):
        self._base_urls = [url.rstrip("/") + "/" for url in base_urls]
        self._timeout_s = timeout_s
        self._next: int | None = None  # drawn in the worker: each copy starts somewhere else

    def __call__(self) -> _BatchSession:
        if self._next is None:
            self._next = random.randrange(len(self._base_urls))
        base_url = self._base_urls[self._next % len(self._base_urls)]
        self._next += 1
        return _BatchSession(base_url, self._timeout_s)


class _BatchSession:
    """One batch's session, on one endpoint, sending the batch's requests all at once.

    Ray's HTTP stage (2.60) creates a batch's requests, then awaits them one by one; an aiohttp
    request starts only when awaited, so they went out one after another. `post` starts each
    request as a task at once: the whole batch is in flight together (up to aiohttp's 100
    connections a session).
    """

    def __init__(self, base_url: str, timeout_s: float):
        self._session = aiohttp.ClientSession(
            base_url=base_url, timeout=aiohttp.ClientTimeout(total=timeout_s)
        )
        self._started: list[asyncio.Task[aiohttp.ClientResponse]] = []

    def post(self, url: str, **options: Any) -> _StartedRequest:
        async def send() -> aiohttp.ClientResponse:
            return await self._session.post(url, **options)

        task = asyncio.get_running_loop().create_task(send())
        self._started.append(task)
        return _StartedRequest(task)

    async def __aenter__(self) -> _BatchSession:
        return self

    async def __aexit__(self, *_: object) -> None:
        # If the stage stopped early, cancel what is left and free the answers nobody read.
        for task in self._started:
            task.cancel()
        for outcome in await asyncio.gather(*self._started, return_exceptions=True):
            if isinstance(outcome, aiohttp.ClientResponse):
                outcome.release()
        await self._session.close()


class _StartedRequest:
    """A request already on its way: awaitable (as Ray's stage uses it) and an async context."""

    def __init__(self, task: asyncio.Task[aiohttp.ClientResponse]):
        self._task = task

    def __await__(self) -> Generator[Any, None, aiohttp.ClientResponse]:
        return self._task.__await__()

    async def __aenter__(self) -> aiohttp.ClientResponse:
        return await self._task

    async def __aexit__(self, *_: object) -> None:
        (await self._task).release()
