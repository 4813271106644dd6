"""Flow control for judge requests: as fast as the endpoint allows, never faster.

One `FlowControl` per run; every request goes through it (a sketch of the caller)::

    permit = await flow.acquire(estimated_tokens)  # prompt tokens + max_tokens
    try:
        reply = await client.send(request)
    except RetryableError as error:
        outcome = "rate_limited" if error.status_code == 429 else "error"
        flow.release(permit, used_tokens=None, outcome=outcome)
        flow.pause(error.retry_after_s or 0.0)
        raise  # the caller waits max(backoff_s(attempt), Retry-After) and acquires again
    except BaseException:
        flow.release(permit, used_tokens=None, outcome="error")
        raise
    flow.release(permit, used_tokens=prompt_tokens + completion_tokens, outcome="ok")
    flow.observe_headers(reply.rate_limits)

How it works:

- Waiters form one FIFO queue and the head blocks everyone behind it, so a large request is
  never overtaken by small ones and no waiter starves. An acquire that finds no queue and
  everything available returns without suspending.
- Waiters are granted when something frees capacity (a release, a token refund, a cancelled
  waiter) and by one timer task while the head waits on time (a pause or a bucket refill). The
  timer sleeps exactly until the head can go, is re-timed when a refund makes that earlier, and
  exits when nobody waits on time: no task per request, no polling.
- RPM and TPM budgets are token buckets refilled continuously at budget/60 per second that hold
  at most `burst_s` seconds of budget (default 1 s). OpenAI's own limiter refills continuously
  (its reset headers count down to a full bucket) and may be enforced per second, so a bucket
  with the same rate and a smaller capacity admits a subset of what the server admits, and a
  cold start bursts one second of budget, not one minute. A request larger than the capacity
  goes when the bucket is full and leaves it in debt, so it cannot deadlock.
- The concurrency limit adapts (AIMD): see `FlowControl.release`. Given the requests' timeout, it
  also starts low and grows while replies come back well inside it, so a server that queues
  (llama.cpp's one slot) is sent what it can answer in time, not a burst that times out.

Everything runs on the event loop's thread; a FlowControl belongs to one event loop at a time.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args

__all__ = [
    "DEFAULT_BURST_S",
    "GROWTH_MARK",
    "QUEUE_MARK",
    "RATE_LIMIT_HEADERS",
    "RETRYABLE_STATUS",
    "SLOW_START_LIMIT",
    "FlowControl",
    "Permit",
    "RateLimitHeaders",
    "RequestOutcome",
    "backoff_s",
    "is_retryable_status",
    "parse_duration_s",
    "parse_rate_limit_headers",
]

RequestOutcome: TypeAlias = Literal["ok", "rate_limited", "timeout", "error"]
_OUTCOMES = frozenset(get_args(RequestOutcome))

DEFAULT_BURST_S = 1.0
"""Seconds of budget an idle bucket holds: the largest burst a cold start may send at once."""

SLOW_START_LIMIT = 2
"""Requests in flight at a cold start when the limit starts low (see `FlowControl`)."""
QUEUE_MARK = 0.5
"""A reply slower than this share of the timeout is a congestion event: the server queues."""
GROWTH_MARK = 0.25
"""A reply slower than this share of the timeout does not grow the limit."""

_SLACK_S = 1e-6
# Anything due within a microsecond counts as due: float rounding must not cost a second sleep.


class Permit:
    """One granted request; give it back with `FlowControl.release` exactly once."""

    __slots__ = (
        "_epoch",
        "_flow",
        "_granted_at",
        "_released",
        "_request_charged",
        "_tokens_charged",
        "estimated_tokens",
    )

    def __init__(
        self,
        flow: FlowControl,
        estimated_tokens: int,
        request_charged: bool,
        tokens_charged: bool,
        epoch: int,
        granted_at: float,
    ) -> None:
        self.estimated_tokens = estimated_tokens
        self._flow = flow
        self._request_charged = request_charged
        self._tokens_charged = tokens_charged
        self._epoch = epoch
        self._granted_at = granted_at
        self._released = False


class _Bucket:
    """A token bucket refilled continuously at `rate` per second up to `capacity`; may go into debt."""

    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, per_minute: float, burst_s: float, now: float) -> None:
        self.rate = per_minute / 60
        self.capacity = self.rate * burst_s
        self.level = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            level = self.level + (now - self.stamp) * self.rate
            self.level = level if level < self.capacity else self.capacity  # min() costs a call
            self.stamp = now

    def wait_s(self, amount: float) -> float:
        """Seconds until `amount` may be taken (after `refill`); more than the capacity goes when full."""
        short = min(amount, self.capacity) - self.level
        return short / self.rate if short > self.rate * _SLACK_S else 0.0

    def give_back(self, amount: float, now: float) -> None:
        self.refill(now)
        self.level = min(self.capacity, self.level + amount)

    def retune(self, per_minute: float, burst_s: float, now: float) -> None:
        self.refill(now)
        self.rate = per_minute / 60
        self.capacity = self.rate * burst_s
        self.level = min(self.level, self.capacity)


class _Budget:
    """One per-minute budget (requests or tokens): configured, announced by the server, and its bucket."""

    __slots__ = ("bucket", "configured", "server")

    def __init__(self, configured: float | None, burst_s: float, now: float) -> None:
        self.configured = configured
        self.server: float | None = None
        self.bucket = _Bucket(configured, burst_s, now) if configured is not None else None

    def per_minute(self) -> float | None:
        if self.configured is None or self.server is None:
            return self.server if self.configured is None else self.configured
        return min(self.configured, self.server)

    def observe(self, limit: float | None, remaining: float | None, burst_s: float, now: float) -> None:
        """Adopt the server's limit where it is the tighter one; never believe more remains than it says."""
        if limit is not None and limit > 0 and limit != self.server:
            self.server = limit
            per_minute = self.per_minute()
            assert per_minute is not None
            if self.bucket is None:
                self.bucket = _Bucket(per_minute, burst_s, now)
            else:
                self.bucket.retune(per_minute, burst_s, now)
        if remaining is not None and self.bucket is not None:
            self.bucket.refill(now)
            self.bucket.level = min(self.bucket.level, remaining)


class _Waiter:
    __slots__ = ("future", "tokens")

    def __init__(self, tokens: int, future: asyncio.Future[Permit]) -> None:
        self.tokens = tokens
        self.future = future


class FlowControl:
    """The gate every request of a run passes: a concurrency cap, RPM/TPM budgets and shared pauses.

    `concurrency` caps requests in flight (the adaptive limit starts there and never exceeds it);
    `rpm` and `tpm` are per-minute budgets, None for none known yet: a budget the server announces
    in its `x-ratelimit-limit-*` headers is adopted (see `observe_headers`). `share` is the fraction
    of those budgets this gate may use, when several processes spend one account's budgets: it
    scales the configured budgets and what the server announces alike. `burst_s` is how many
    seconds of budget an idle bucket holds. `clock` and `sleep` are injectable for tests.

    `timeout_s`, the requests' timeout, turns on queue control: the limit starts at
    `SLOW_START_LIMIT` (times `share`, at least 1) and grows by one per fast reply up to
    `concurrency`, as TCP's slow start does; see `release` for what counts as fast. Without it
    the limit starts at `concurrency`.
    """

    def __init__(
        self,
        concurrency: int,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        share: float = 1.0,
        burst_s: float = DEFAULT_BURST_S,
        timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        for name, value in (("rpm", rpm), ("tpm", tpm), ("burst_s", burst_s), ("timeout_s", timeout_s)):
            if value is not None and not 0 < value < math.inf:
                raise ValueError(f"{name} must be a positive number, got {value}")
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        self._clock = clock
        self._sleep = sleep
        self._burst_s = burst_s
        self._share = share
        now = clock()
        self._requests = _Budget(_scaled(rpm, share), burst_s, now)
        self._tokens = _Budget(_scaled(tpm, share), burst_s, now)
        self._cap = concurrency
        self._timeout_s = timeout_s
        start = concurrency if timeout_s is None else max(1, round(SLOW_START_LIMIT * share))
        self._limit = min(concurrency, start)
        self._slow_start = timeout_s is not None  # until the first congestion event
        self._in_flight = 0
        self._paused_until = -math.inf
        self._waiters: deque[_Waiter] = deque()
        self._waiting = 0  # live waiters; cancelled ones stay in the deque until they reach the head
        self._head_due = 0.0
        self._epoch = 0  # AIMD decreases so far
        self._successes = 0
        self._rate_limited = 0
        self._slow_replies = 0
        self._timeouts = 0
        self._timer: asyncio.Task[None] | None = None
        self._timer_due = 0.0
        self._timer_sleeping = False
        self._timer_interrupted = False
        self._seen_key: tuple[tuple[str, str], ...] = ()
        self._seen = RateLimitHeaders()

    # -- stats for the progress display --------------------------------------------------------

    @property
    def concurrency(self) -> int:
        """The configured cap on requests in flight."""
        return self._cap

    @property
    def limit(self) -> int:
        """The current adaptive concurrency limit (1 to `concurrency`)."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Permits granted and not yet released."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Acquires waiting for their turn."""
        return self._waiting

    @property
    def paused_until(self) -> float | None:
        """When the current shared pause ends, on `clock`'s scale; None when not paused."""
        return self._paused_until if self._paused_until > self._clock() else None

    @property
    def rate_limited(self) -> int:
        """Releases with outcome "rate_limited" so far."""
        return self._rate_limited

    @property
    def slow_replies(self) -> int:
        """Replies slower than half the timeout so far: the endpoint queues (see `release`)."""
        return self._slow_replies

    @property
    def timeouts(self) -> int:
        """Releases with outcome "timeout" so far."""
        return self._timeouts

    @property
    def rpm(self) -> float | None:
        """The requests-per-minute budget in force: configured, or the server's if lower or alone."""
        return self._requests.per_minute()

    @property
    def tpm(self) -> float | None:
        """The tokens-per-minute budget in force: configured, or the server's if lower or alone."""
        return self._tokens.per_minute()

    # -- acquire and release -------------------------------------------------------------------

    async def acquire(self, estimated_tokens: int) -> Permit:
        """Wait for a slot under the current limit, the end of any pause, and room in the budgets.

        `estimated_tokens` (prompt plus max_tokens is the safe estimate) is charged to the TPM
        budget now and corrected at `release`. Waiters are served first come, first served. A
        cancelled acquire holds nothing.
        """
        if estimated_tokens < 0:
            raise ValueError(f"estimated_tokens must not be negative, got {estimated_tokens}")
        if (
            self._waiting == 0
            and self._in_flight < self._limit
            and self._delay_s(estimated_tokens, self._clock()) == 0.0
        ):
            return self._grant(estimated_tokens)
        return await self._wait(estimated_tokens)

    def release(self, permit: Permit, *, used_tokens: int | None, outcome: RequestOutcome) -> None:
        """Give a permit back: free its slot, correct the TPM budget, adapt the concurrency limit.

        `used_tokens` is the reply's `usage.total_tokens`; the budget is corrected by the
        difference from the estimate. None keeps the estimate charged (OpenAI counts failed
        requests against the per-minute limits too).

        The limit adapts as in TCP: a congestion event for a request granted after the last
        decrease halves the limit (floor 1); events of requests granted before it belong to the
        same congestion and are only counted, so one burst of 429s halves the limit once, however
        long the requests take. After a decrease, every `limit` successive "ok" outcomes (of
        requests granted since) add 1, up to `concurrency`. Requests in flight above a lowered
        limit finish; new acquires wait until below it.

        A 429 is a congestion event. With `timeout_s` set, so are a timeout and an "ok" reply
        slower than half the timeout (`QUEUE_MARK`: the request waited in the server's queue
        long enough that the next ones may time out); a reply slower than a quarter of it
        (`GROWTH_MARK`) is not fast enough to grow the limit. Before the first event every fast
        reply adds 1 (slow start: the limit doubles per round trip).
        """
        if outcome not in _OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        if permit._flow is not self:
            raise ValueError("this permit was granted by another FlowControl")
        if permit._released:
            raise RuntimeError("this permit was already released")
        permit._released = True
        self._in_flight -= 1
        bucket = self._tokens.bucket
        if used_tokens is not None and used_tokens >= 0 and permit._tokens_charged and bucket is not None:
            bucket.give_back(permit.estimated_tokens - used_tokens, self._clock())
        if outcome == "rate_limited":
            self._rate_limited += 1
            self._on_congestion(permit)
        elif outcome == "timeout":
            self._timeouts += 1
            if self._timeout_s is not None:
                self._on_congestion(permit)
        elif outcome == "ok":
            self._on_success(permit)
        if self._waiting:
            self._dispatch()

    def pause(self, seconds: float) -> None:
        """Hold every acquire for `seconds` (a Retry-After); overlapping pauses end at the latest end.

        Non-positive, infinite and NaN values are ignored. Requests in flight are not affected.
        """
        if 0 < seconds < math.inf:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Learn from a response's `x-ratelimit-*` headers (see `parse_rate_limit_headers`).

        A remaining count lower than our bucket holds lowers the bucket to match. A limit is
        taken as the budget per minute when none was configured, or when it is lower than the
        configured one; the configured budget is never exceeded. The reset durations are not
        used for pacing: they count down to a full bucket, which says nothing a continuous
        bucket at the same rate does not know already. Malformed values are ignored. With a
        `share` below 1, limits and remaining counts are scaled by it first.
        """
        if (key := tuple(headers.items())) != self._seen_key:  # unchanged headers: parsed already
            self._seen_key, self._seen = key, parse_rate_limit_headers(headers)
        seen = self._seen
        now = self._clock()
        share = self._share
        self._requests.observe(
            _scaled(seen.limit_requests, share), _scaled(seen.remaining_requests, share), self._burst_s, now
        )
        self._tokens.observe(
            _scaled(seen.limit_tokens, share), _scaled(seen.remaining_tokens, share), self._burst_s, now
        )
        if self._waiting:
            self._dispatch()  # a raised server limit can let the head go earlier

    # -- internals -----------------------------------------------------------------------------

    def _delay_s(self, tokens: int, now: float) -> float:
        """Seconds from `now` until a request of `tokens` may go, as far as time goes."""
        delay = self._paused_until - now
        if delay <= _SLACK_S:
            delay = 0.0
        requests, budget = self._requests.bucket, self._tokens.bucket
        if requests is not None:
            requests.refill(now)
            if requests.level < 1:
                delay = max(delay, requests.wait_s(1))
        if budget is not None:
            budget.refill(now)
            if budget.level < tokens:
                delay = max(delay, budget.wait_s(tokens))
        return delay

    def _grant(self, tokens: int) -> Permit:
        self._in_flight += 1
        requests = self._requests.bucket
        if requests is not None:
            requests.level -= 1
        bucket = self._tokens.bucket
        if bucket is not None:
            bucket.level -= tokens
        return Permit(self, tokens, requests is not None, bucket is not None, self._epoch, self._clock())

    def _revoke(self, permit: Permit) -> None:
        """Undo a grant whose acquire was cancelled before it could return: nothing was sent."""
        permit._released = True
        self._in_flight -= 1
        now = self._clock()
        if permit._request_charged and self._requests.bucket is not None:
            self._requests.bucket.give_back(1, now)
        if permit._tokens_charged and self._tokens.bucket is not None:
            self._tokens.bucket.give_back(permit.estimated_tokens, now)

    async def _wait(self, tokens: int) -> Permit:
        future: asyncio.Future[Permit] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(tokens, future))
        self._waiting += 1
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._revoke(future.result())  # granted, then cancelled before resuming
            else:
                self._waiting -= 1
            self._dispatch()
            raise

    def _grant_ready(self) -> float | None:
        """Grant waiters from the head while they may go; return the head's wait if it waits on time.

        None means nobody waits on time: the queue is empty, or the head needs a slot, which
        only a release can free.
        """
        waiters = self._waiters
        now = self._clock()
        while waiters:
            head = waiters[0]
            if head.future.done():  # its acquire was cancelled
                waiters.popleft()
                continue
            if self._in_flight >= self._limit:
                return None
            delay = self._delay_s(head.tokens, now)
            if delay > 0.0:
                self._head_due = now + delay
                return delay
            waiters.popleft()
            self._waiting -= 1
            head.future.set_result(self._grant(head.tokens))
        return None

    def _dispatch(self) -> None:
        """Grant what can go now; make sure the timer wakes when the head's time comes, and only then."""
        delay = self._grant_ready()
        if self._timer is None:
            if delay is not None:
                self._timer = asyncio.get_running_loop().create_task(
                    self._run_timer(), name="judgekit-flow-timer"
                )
        elif self._timer_sleeping and not self._timer_interrupted:
            if delay is None and self._waiting == 0:
                self._interrupt_timer()  # nobody left to wake: let it finish now
            elif delay is not None and self._head_due < self._timer_due - _SLACK_S:
                self._interrupt_timer()  # a refund or a cancelled head made the wait shorter

    def _interrupt_timer(self) -> None:
        assert self._timer is not None
        self._timer_interrupted = True
        self._timer.cancel()

    async def _run_timer(self) -> None:
        try:
            while (delay := self._grant_ready()) is not None:
                self._timer_due = self._head_due
                self._timer_sleeping = True
                try:
                    await self._sleep(delay)
                except asyncio.CancelledError:
                    if not self._take_interrupt():
                        raise
                finally:
                    self._timer_sleeping = False
        finally:
            self._timer = None
            self._timer_interrupted = False

    def _take_interrupt(self) -> bool:
        """True if the cancellation just caught was our own re-timing, and nobody else's."""
        if not self._timer_interrupted:
            return False
        self._timer_interrupted = False
        task = asyncio.current_task()
        return task is not None and task.uncancel() == 0

    def _on_congestion(self, permit: Permit) -> None:
        self._slow_start = False
        if permit._epoch == self._epoch:
            self._limit = max(1, self._limit // 2)
            self._epoch += 1
            self._successes = 0

    def _on_success(self, permit: Permit) -> None:
        if self._timeout_s is not None:
            latency_s = self._clock() - permit._granted_at
            if latency_s > self._timeout_s * QUEUE_MARK:
                self._slow_replies += 1
                self._on_congestion(permit)
                return
            if latency_s > self._timeout_s * GROWTH_MARK:
                return
        if permit._epoch != self._epoch or self._limit >= self._cap:
            return
        self._successes += 1
        if self._slow_start or self._successes >= self._limit:
            self._limit += 1
            self._successes = 0


# -- rate-limit headers ------------------------------------------------------------------------


def _scaled(value: float | None, share: float) -> float | None:
    return value * share if value is not None else None


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """The `x-ratelimit-*` headers of one response; None where absent or malformed."""

    limit_requests: float | None = None
    limit_tokens: float | None = None
    remaining_requests: float | None = None
    remaining_tokens: float | None = None
    reset_requests_s: float | None = None
    reset_tokens_s: float | None = None


_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_UNIT = r"(?:h|ms|m|s|us|µs|μs|ns)"  # "ms" before "m"
_DURATION = re.compile(rf"(?:{_NUMBER}{_UNIT})+", re.ASCII)
_DURATION_PART = re.compile(rf"({_NUMBER})({_UNIT})", re.ASCII)


def parse_duration_s(text: str) -> float | None:
    """Seconds in an OpenAI reset duration ("1s", "6m0s", "20ms", "1m30.5s"); None if malformed.

    Go's units h, m, s, ms, us, ns combine in one string; a bare number is seconds. Negative,
    infinite and NaN values are malformed.
    """
    text = text.strip()
    if not _DURATION.fullmatch(text):
        return _parse_count(text)
    seconds = sum(float(number) * _UNIT_S[unit] for number, unit in _DURATION_PART.findall(text))
    return seconds if seconds < math.inf else None


def _parse_count(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value < math.inf else None


_HEADERS: dict[str, tuple[str, Callable[[str], float | None]]] = {
    "x-ratelimit-limit-requests": ("limit_requests", _parse_count),
    "x-ratelimit-limit-tokens": ("limit_tokens", _parse_count),
    "x-ratelimit-remaining-requests": ("remaining_requests", _parse_count),
    "x-ratelimit-remaining-tokens": ("remaining_tokens", _parse_count),
    "x-ratelimit-reset-requests": ("reset_requests_s", parse_duration_s),
    "x-ratelimit-reset-tokens": ("reset_tokens_s", parse_duration_s),
}


RATE_LIMIT_HEADERS = tuple(_HEADERS)
"""The `x-ratelimit-*` headers flow control reads, lower-cased."""


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitHeaders:
    """Read OpenAI's `x-ratelimit-*` headers, names in any case; malformed values become None."""
    found = {name: raw for name in _HEADERS if (raw := headers.get(name)) is not None}
    if len(found) < len(_HEADERS):  # not a case-insensitive mapping, or headers are missing
        for name, raw in headers.items():
            key = name.lower()
            if key in _HEADERS:
                found.setdefault(key, raw)
    values: dict[str, float] = {}
    for name, raw in found.items():
        field, parse = _HEADERS[name]
        value = parse(raw) if isinstance(raw, str) else None
        if value is not None:
            values[field] = value
    return RateLimitHeaders(**values)


# -- retry policy ------------------------------------------------------------------------------

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying; `is_retryable_status` also retries every other 5xx."""


def is_retryable_status(code: int) -> bool:
    """Whether a response with this HTTP status is worth retrying."""
    return code in RETRYABLE_STATUS or 500 <= code <= 599


def backoff_s(
    attempt: int, *, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first): full-jitter exponential.

    Uniform in [0, min(cap, base * 2**(attempt - 1))), as in tenacity's `wait_random_exponential`
    with multiplier `base`; the jitter spreads clients that failed together. Never shorter than
    the server's Retry-After is the caller's rule: wait `max(backoff_s(n), retry_after_s)`.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))
    return (rng.random() if rng is not None else random.random()) * ceiling
