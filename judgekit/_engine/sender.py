"""The online half of judging: a codec's requests sent from an event loop, with everything around them.

Per event loop one HTTP client, one flow control and one front of the reply cache; around every
request the cache lookup, the flow-control permit, retries with backoff, and the switch from
structured output to text when the endpoint rejects `response_format` (learned once, for every
later request of the run).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from judgekit._config import CHARS_PER_TOKEN
from judgekit._engine.cache import GroupCommit, ReplyCache
from judgekit._engine.codec import Codec, Messages
from judgekit._engine.exchange import (
    JudgeClient,
    JudgeReply,
    JudgeRequest,
    RequestRejected,
    ResponseFormatUnsupported,
    RetryableError,
)
from judgekit._engine.flow import FlowControl, backoff_s
from judgekit._engine.transports import SdkHooks, make_client
from judgekit._errors import JudgeError
from judgekit._records import Record
from judgekit._verdicts import Verdict


class Sender:
    """Judges records online: `judge_record` turns a record into a verdict, never raising for one record.

    Judge failures become the verdict's status; only run-level failures (a 401, an unknown model,
    an endpoint that rejects the required output mode) raise JudgeError.
    """

    def __init__(self, codec: Codec, *, cache: ReplyCache | None = None, hooks: SdkHooks | None = None):
        self.codec = codec
        self._hooks = hooks
        self._cache = cache
        self._state: _LoopState | None = None
        self._structured = codec.structured
        self.retries = 0
        """Retries sent so far (every attempt after a record's first), for the progress display."""

    @property
    def has_hooks(self) -> bool:
        """Whether this sender holds SDK hooks (an HTTP client, a token provider)."""
        return bool(self._hooks)

    def use_cache(self, cache: ReplyCache) -> None:
        """Read replies from `cache` when it has them, and store every new reply in it."""
        state = self._state
        if state is not None and state.store is not None:
            state.store.flush()  # the replies pending for the previous cache
        self._cache = cache
        if state is not None:
            state.store = GroupCommit(cache, state.loop)

    async def judge_record(self, record: Record) -> Verdict:
        """Judge one record; judge failures become the verdict's status, never an exception."""
        codec = self.codec
        if codec.rubric.kind == "keywords":
            return codec.keyword_verdict(record)
        messages = codec.messages_for(record)
        try:
            reply, cached = await self._obtain_reply(messages)
        except RequestRejected as error:
            return codec.error_verdict(record, str(error))
        except RetryableError as error:
            return codec.error_verdict(record, f"gave up after {codec.config.max_retries} retries: {error}")
        return codec.verdict_from_reply(record, reply, cached=cached)

    async def _obtain_reply(self, messages: Messages) -> tuple[JudgeReply, bool]:
        """The judge's reply from the cache, else from the endpoint (then cached)."""
        codec = self.codec
        request = codec.request(messages, structured=self._structured)
        store = self._loop_state().store
        if store is not None:
            hit = codec.cached_reply(request, store)
            if hit is not None:
                return hit, True
        sent, reply = await self._send_with_retries(request, messages)
        if store is not None:
            codec.store_reply(sent, reply, store)
            if codec.config.output_mode == "auto" and sent.response_format is None:
                # After a fallback to text mode the structured request's key answers too: a rerun
                # starts structured and finds the reply with the one lookup it makes.
                codec.store_reply(codec.request(messages, structured=True), reply, store)
        return reply, False

    async def _send_with_retries(
        self, request: JudgeRequest, messages: Messages
    ) -> tuple[JudgeRequest, JudgeReply]:
        """Retry retryable failures with jittered exponential backoff, never sooner than Retry-After.

        A plain loop rather than tenacity: measured, a retry object per request cost about 40 us
        of CPU on the hot path, where nearly every request succeeds at once.
        """
        max_retries = self.codec.config.max_retries
        for attempt in range(1, max_retries + 2):
            try:
                return await self._send_adapting(request, messages)
            except RetryableError as error:
                if attempt > max_retries:
                    raise
                self.retries += 1
                await asyncio.sleep(max(backoff_s(attempt), error.retry_after_s or 0.0))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _send_adapting(
        self, request: JudgeRequest, messages: Messages
    ) -> tuple[JudgeRequest, JudgeReply]:
        """Send once; if the endpoint rejects structured output in auto mode, switch to text."""
        try:
            return request, await self._send_once(request)
        except ResponseFormatUnsupported:
            if self.codec.config.output_mode == "json_schema":
                raise JudgeError(
                    "the judge endpoint does not accept response_format with a JSON "
                    "schema; use output_mode='text' (--output-mode text)"
                ) from None
            self._structured = False
            request = self.codec.request(messages, structured=False)
            return request, await self._send_once(request)

    async def _send_once(self, request: JudgeRequest) -> JudgeReply:
        """One attempt, through flow control: a slot, the RPM/TPM budgets, the shared pause."""
        state = self._loop_state()
        client, flow = state.client, state.flow
        estimate = sum(len(m["content"]) for m in request.messages) // CHARS_PER_TOKEN + request.max_tokens
        permit = await flow.acquire(estimate)
        try:
            reply = await client.send(request)
        except RetryableError as error:
            rate_limited = error.status_code == 429
            flow.release(permit, used_tokens=None, outcome="rate_limited" if rate_limited else "error")
            if error.retry_after_s:
                flow.pause(error.retry_after_s)
            raise
        except BaseException:
            flow.release(permit, used_tokens=None, outcome="error")
            raise
        flow.observe_headers(reply.rate_limits)
        used = reply.usage.prompt_tokens + reply.usage.completion_tokens
        flow.release(permit, used_tokens=used or None, outcome="ok")
        return reply

    def _loop_state(self) -> _LoopState:
        """The HTTP client, flow control and cache front of the running event loop."""
        loop = asyncio.get_running_loop()
        state = self._state
        if state is None or state.loop is not loop:
            config = self.codec.config
            flow = FlowControl(config.concurrency, rpm=config.rpm, tpm=config.tpm, share=config.budget_share)
            store = GroupCommit(self._cache, loop) if self._cache is not None else None
            state = self._state = _LoopState(loop, make_client(config, self._hooks), flow, store)
        return state

    def flow_stats(self) -> tuple[int, int]:
        """(replies rate-limited so far, the current concurrency limit) of this loop's flow control."""
        state = self._state
        if state is None:
            return 0, self.codec.config.concurrency
        return state.flow.rate_limited, state.flow.limit

    def owns_loop_state(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether `loop` holds this sender's client (and cache front) now."""
        return self._state is not None and self._state.loop is loop

    async def aclose(self) -> None:
        """Commit the cache's pending replies and close the HTTP client of the current event loop."""
        state = self._state
        if state is not None and state.loop is asyncio.get_running_loop():
            self._state = None
            try:
                if state.store is not None:
                    state.store.flush()
            finally:  # a cache that failed (full, damaged) must not leave the connections open
                await state.client.aclose()


@dataclass
class _LoopState:
    """What belongs to one event loop: the HTTP client, flow control and the cache's front."""

    loop: asyncio.AbstractEventLoop
    client: JudgeClient
    flow: FlowControl
    store: GroupCommit | None
