"""The Judge: a rubric, a configuration and one reusable client, turning records into verdicts.

A facade over the engine: `judge.codec` (pure: requests, cache keys, verdicts) and a sender
(the client, flow control, retries, the reply cache), plus a private event-loop thread so that
the synchronous `score()` reuses one client across calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar, Unpack

from judgekit._config import JudgeConfig, JudgeOptions, redact, require_endpoint, resolve_config
from judgekit._engine.cache import ReplyCache
from judgekit._engine.codec import Codec
from judgekit._engine.pool import judge_each
from judgekit._engine.sender import Sender
from judgekit._engine.transports import AzureTokenProvider, SdkHooks
from judgekit._errors import ConfigError, JudgeError
from judgekit._records import Item, Record, to_records
from judgekit._rubrics import Rubric, load_rubric
from judgekit._verdicts import Verdict

T = TypeVar("T")


class Judge:
    """Scores records under one rubric; holds the configuration and one HTTP client.

    `cache` (a ReplyCache or the path of one) makes re-judging the same request free: the reply
    is read back instead of sent. `config` is a ready JudgeConfig, in place of the keyword
    options. `http_client` (an `httpx2.AsyncClient`) and `azure_ad_token_provider` are for the
    openai SDK transport, which they select. Use it as a context manager, or call `close()` /
    `aclose()`.
    """

    def __init__(
        self,
        rubric: str | Path | Rubric = "policy",
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        cache: ReplyCache | str | Path | None = None,
        config: JudgeConfig | None = None,
        http_client: Any = None,
        azure_ad_token_provider: AzureTokenProvider | None = None,
        **options: Unpack[JudgeOptions],
    ):
        if config is not None and (model or base_url or api_key or options):
            raise ConfigError("pass either config=JudgeConfig(...) or options such as model=..., not both")
        hooks = SdkHooks(http_client=http_client, azure_ad_token_provider=azure_ad_token_provider)
        if hooks and config is None and "transport" not in options:
            options["transport"] = "sdk"
        self.rubric = load_rubric(rubric)
        self.config: JudgeConfig = config or resolve_config(
            model=model, base_url=base_url, api_key=api_key, **options
        )
        hooks.check(self.config)
        if self.rubric.kind == "llm":
            require_endpoint(self.config, self.rubric.name)
        self.codec = Codec(self.rubric, self.config)
        if isinstance(cache, str | Path):
            cache = ReplyCache(cache)
        self.sender = Sender(self.codec, cache=cache, hooks=hooks or None)
        self._sync_loop: asyncio.AbstractEventLoop | None = None

    @property
    def uses_sdk_hooks(self) -> bool:
        """Whether this judge holds an HTTP client or token provider (which cannot cross processes)."""
        return self.sender.has_hooks

    def use_cache(self, cache: ReplyCache) -> None:
        """Read replies from `cache` when it has them, and store every new reply in it."""
        self.sender.use_cache(cache)

    async def ascore(self, items: Item | Iterable[Item]) -> list[Verdict]:
        """Judge `items`; verdicts come back in input order."""
        records = to_records(items)
        by_id: dict[str, Verdict] = {}

        def keep(verdict: Verdict) -> None:
            by_id[verdict.id] = verdict

        try:
            await judge_each(records, self.judge_record, keep, concurrency=self.config.concurrency)
        except JudgeError as error:  # a server may echo the key it was sent in its message
            raise JudgeError(redact(str(error), self.config.api_key), status_code=error.status_code) from None
        return [by_id[record.id] for record in records]

    def score(self, items: Item | Iterable[Item]) -> list[Verdict]:
        """Synchronous `ascore`; also works inside a running event loop (notebooks)."""
        return self._run_sync(self.ascore(items))

    async def judge_record(self, record: Record) -> Verdict:
        """Judge one record; judge failures become the verdict's status, never an exception."""
        return await self.sender.judge_record(record)

    def _run_sync(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on this Judge's own event-loop thread, so sync calls reuse one client."""
        if self._sync_loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=_serve_forever, args=(loop,), name="judgekit-loop", daemon=True).start()
            self._sync_loop = loop
        return asyncio.run_coroutine_threadsafe(coroutine, self._sync_loop).result()

    async def aclose(self) -> None:
        """Commit the cache's pending replies and close the HTTP client of the current event loop."""
        await self.sender.aclose()

    def close(self) -> None:
        """Close the client and stop the sync event-loop thread, if any."""
        loop = self._sync_loop
        if loop is None:
            return
        if self.sender.owns_loop_state(loop):
            self._run_sync(self.aclose())
        loop.call_soon_threadsafe(loop.stop)
        self._sync_loop = None

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    async def __aenter__(self) -> Judge:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


def _serve_forever(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_forever()
    loop.close()
