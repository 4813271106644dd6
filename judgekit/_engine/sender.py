"""The online half of judging: a codec's requests sent from an event loop, with everything around them.

Per event loop one HTTP client, one flow control and one front of the reply cache; around every
request the cache lookup, the flow-control permit, retries with backoff, and the output-mode
ladder: a step down (json_schema, json_object with the schema, json_object, text) when the
endpoint rejects a `response_format`, learned once for every later request of the run.
"""

from __future__ import annotations

import asyncio
import datetime
import math
import time
from dataclasses import dataclass, field

from judgekit._config import CHARS_PER_TOKEN, RequestMode
from judgekit._engine.breaker import Breaker, SharedCounts
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
from judgekit._engine.flow import FlowControl, RequestOutcome, backoff_s
from judgekit._engine.transports import SdkHooks, make_client
from judgekit._errors import JudgeError
from judgekit._records import Record
from judgekit._verdicts import Verdict


class Sender:
    """Judges records online: `judge_record` turns a record into a verdict, never raising for one record.

    Judge failures become the verdict's status; only run-level failures (a 401, an unknown model,
    an endpoint that rejects the required output mode) raise JudgeError.
    """

    def __init__(
        self,
        codec: Codec,
        *,
        cache: ReplyCache | None = None,
        hooks: SdkHooks | None = None,
        breaker: SharedCounts | None = None,
    ):
        self.codec = codec
        self._breaker_counts = breaker
        """The circuit breaker's counts shared with the run's other worker processes, if any."""
        self._hooks = hooks
        self._cache = cache
        self._state: _LoopState | None = None
        self._modes = codec.modes
        self._mode_index = 0
        self._mode_settled = len(self._modes) == 1
        self.rejected_modes: list[str] = []
        """The request modes the endpoint rejected, in order (each recorded once per run)."""
        self.retries = 0
        """Retries sent so far (every attempt after a record's first), for the progress display."""

    @property
    def mode(self) -> RequestMode:
        """The request mode this run sends now: the best one the endpoint has not rejected."""
        return self._modes[self._mode_index]

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
        """Judge one record; judge failures become the verdict's status, never an exception.

        The cache answers only with replies that parsed into a verdict, and only those are stored:
        a failed reply is asked for again on the record's retry.
        """
        codec = self.codec
        if codec.rubric.kind == "keywords":
            return codec.keyword_verdict(record)
        messages = codec.messages_for(record)
        request = codec.request(messages, mode=self.mode)
        store = self._loop_state().store
        if store is not None:
            hit = codec.stored_reply(request, store)
            if hit is not None:
                verdict = codec.verdict_from_reply(record, hit, cached=True, mode=request.output_mode)
                if verdict.status == "ok":
                    return verdict
        try:
            sent, reply = await self._send_with_retries(messages)
        except RequestRejected as error:
            return codec.error_verdict(record, str(error))
        except RetryableError as error:
            return codec.error_verdict(record, f"gave up after {self._retries}: {error}")
        verdict = codec.verdict_from_reply(record, reply, mode=sent.output_mode)
        if store is not None and verdict.status == "ok":
            codec.store_reply(sent, reply, store, verdict=verdict)
            if sent.output_mode != self._modes[0]:
                # After a step down the first mode's key answers too: a rerun starts at the top of
                # the ladder and finds the reply with the one lookup it makes.
                first = codec.request(messages, mode=self._modes[0])
                codec.store_reply(first, reply, store, verdict=verdict)
        return verdict

    @property
    def _retries(self) -> str:
        config = self.codec.config
        if config.max_retries == 0:
            return "the first attempt (max_retries=0)"
        return f"{config.max_retries} retries or more, over {config.retry_deadline_s:g} s"

    async def _send_with_retries(self, messages: Messages) -> tuple[JudgeRequest, JudgeReply]:
        """Retry retryable failures with jittered exponential backoff, never sooner than Retry-After.

        A record is retried `max_retries` times, and after that for as long as its first attempt
        is less than `retry_deadline_s` old: an outage longer than that trips the breaker first.
        A plain loop rather than tenacity: measured, a retry object per request cost about 40 us
        of CPU on the hot path, where nearly every request succeeds at once.
        """
        config = self.codec.config
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return await self._send_adapting(messages)
            except RetryableError as error:
                attempt += 1
                if attempt > config.max_retries and (
                    config.max_retries == 0 or time.monotonic() - started >= config.retry_deadline_s
                ):
                    raise
                self.retries += 1
                await asyncio.sleep(max(backoff_s(attempt), error.retry_after_s or 0.0))

    async def _send_adapting(self, messages: Messages) -> tuple[JudgeRequest, JudgeReply]:
        """Send once in the run's mode; on a rejected `response_format`, step down and send again.

        Until the run knows a mode the endpoint takes, one request probes it and the others
        wait, so a server that rejects json_schema sees one rejected request per mode, not one
        per record in flight.
        """
        state = self._loop_state()
        while True:
            probe = not self._mode_settled
            if probe:
                if state.probing:
                    await state.mode_known.wait()
                    continue
                state.probing = True
            request = self.codec.request(messages, mode=self.mode)
            try:
                reply = await self._send_once(request)
            except ResponseFormatUnsupported as error:
                state.probing = False
                try:
                    self._step_down(request.output_mode, error)
                except JudgeError:
                    self._settle(state)
                    raise
                continue
            except BaseException:
                if probe:  # nothing learned of the mode: the others go, and step down themselves
                    self._settle(state)
                raise
            if probe:
                self._settle(state)
            return request, reply

    def _step_down(self, rejected: RequestMode, error: ResponseFormatUnsupported) -> None:
        """Move below `rejected` (unless another request did already); JudgeError past the last."""
        if rejected != self.mode:
            return
        if self._mode_index + 1 >= len(self._modes):
            raise JudgeError(
                f"the judge endpoint rejects response_format in mode {rejected} ({error}); "
                "choose another with --output-mode (auto tries json_schema, json_object_schema, "
                "json_object, then text)"
            ) from None
        self.rejected_modes.append(rejected)
        self._mode_index += 1

    def _settle(self, state: _LoopState) -> None:
        """The probe got an answer that is not a rejection: every request may use this mode."""
        self._mode_settled = True
        state.probing = False
        state.mode_known.set()

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
            outcome: RequestOutcome = (
                "rate_limited" if rate_limited else "timeout" if error.timed_out else "error"
            )
            flow.release(permit, used_tokens=None, outcome=outcome)
            if error.retry_after_s:
                self._check_wait(error.retry_after_s)
                flow.pause(error.retry_after_s)
            if not rate_limited:
                state.breaker.failed(str(error), id(request.messages))
            raise
        except RequestRejected:
            flow.release(permit, used_tokens=None, outcome="error")
            state.breaker.succeeded()  # the endpoint is up: it answered about this record
            raise
        except BaseException:
            flow.release(permit, used_tokens=None, outcome="error")
            raise
        state.breaker.succeeded()
        flow.observe_headers(reply.rate_limits)
        usage = reply.usage
        used = usage.prompt_tokens + usage.completion_tokens if usage is not None else 0
        flow.release(permit, used_tokens=used or None, outcome="ok")
        return reply

    def _check_wait(self, wait_s: float) -> None:
        """Stop the run, saying when to resume, when the endpoint asks to wait past the cap."""
        cap = self.codec.config.max_retry_wait_s
        if wait_s <= cap:
            return
        if math.isinf(wait_s):
            when = "it gave no time"
        else:
            resume = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=wait_s)
            when = f"resume after {resume:%Y-%m-%d %H:%M:%S} UTC"
        raise JudgeError(
            f"the judge endpoint asked to wait {wait_s:,.0f} s before the next request (Retry-After), "
            f"longer than the {cap:g} s a run waits (--max-retry-wait); {when}"
        )

    def _loop_state(self) -> _LoopState:
        """The HTTP client, flow control and cache front of the running event loop."""
        loop = asyncio.get_running_loop()
        state = self._state
        if state is None or state.loop is not loop:
            config = self.codec.config
            flow = FlowControl(
                config.concurrency,
                rpm=config.rpm,
                tpm=config.tpm,
                share=config.budget_share,
                timeout_s=config.timeout_s,
            )
            store = GroupCommit(self._cache, loop) if self._cache is not None else None
            breaker = Breaker(breaker_window_s(config.retry_deadline_s), shared=self._breaker_counts)
            client = make_client(config, self._hooks)
            state = self._state = _LoopState(loop, client, flow, store, breaker)
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
    """What belongs to one event loop: the HTTP client, flow control, the cache's front, the probe."""

    loop: asyncio.AbstractEventLoop
    client: JudgeClient
    flow: FlowControl
    store: GroupCommit | None
    breaker: Breaker
    probing: bool = False
    """A request is finding out which mode the endpoint takes; the others wait for `mode_known`."""
    mode_known: asyncio.Event = field(default_factory=asyncio.Event)


def breaker_window_s(retry_deadline_s: float) -> float:
    """How long endpoint failures in a row must last to trip the breaker.

    A quarter of the retry deadline (15 s by default), at least a second: rows never give up
    before it trips.
    """
    return max(1.0, retry_deadline_s / 4)
