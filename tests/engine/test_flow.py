"""Flow control: concurrency cap, RPM/TPM buckets, headers, pauses, AIMD, fairness, retry policy.

Timing tests run in virtual time: `VirtualTime.sleep` parks the sleeper on a heap, and whenever
the event loop has nothing left to run, time jumps to the earliest deadline. A simulated minute
takes milliseconds and every timestamp is exact.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
import selectors
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from judgekit._engine.flow import (
    GROWTH_MARK,
    QUEUE_MARK,
    RETRYABLE_STATUS,
    SLOW_START_LIMIT,
    FlowControl,
    Permit,
    RateLimitHeaders,
    RequestOutcome,
    backoff_s,
    is_retryable_status,
    parse_duration_s,
    parse_rate_limit_headers,
)

T = TypeVar("T")


class VirtualTime:
    """A clock and sleep for FlowControl and for simulated request latency."""

    HORIZON_S = 86_400.0  # a test still sleeping after a virtual day is livelocked

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, delay), next(self._order), future))
        await future

    def advance(self) -> bool:
        """Wake the earliest live sleeper, moving time to its deadline; False if there is none."""
        while self._sleepers:
            deadline, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                if deadline > self.HORIZON_S:
                    raise RuntimeError(f"livelock: still sleeping at {deadline:.0f} s of virtual time")
                self.now = max(self.now, deadline)
                future.set_result(None)
                return True
        return False

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        def new_loop() -> asyncio.AbstractEventLoop:
            return asyncio.SelectorEventLoop(_IdleSelector(self))

        with asyncio.Runner(loop_factory=new_loop) as runner:
            return runner.run(main)


class _IdleSelector(selectors.DefaultSelector):
    """The event loop calls select() with a non-zero timeout exactly when nothing is ready to run."""

    def __init__(self, time: VirtualTime) -> None:
        super().__init__()
        self._time = time

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout != 0 and self._time.advance():
            timeout = 0
        elif timeout is None:
            events = super().select(1.0)
            if not events:
                raise RuntimeError("deadlock: every task waits and nothing is scheduled")
            return events
        return super().select(timeout)


class CountingSleep:
    """Wraps a sleep to count FlowControl's own sleeps (a poller would sleep far more than it grants)."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.calls = 0

    async def __call__(self, delay: float) -> None:
        self.calls += 1
        await self.vt.sleep(delay)


def virtual_flow(vt: VirtualTime, concurrency: int = 64, **options: Any) -> FlowControl:
    return FlowControl(concurrency, clock=vt.clock, sleep=vt.sleep, **options)


def ok(flow: FlowControl, permit: Permit, used: int | None = None) -> None:
    flow.release(permit, used_tokens=used, outcome="ok")


# -- concurrency cap ---------------------------------------------------------------------------


def test_concurrency_cap_holds_under_500_tasks() -> None:
    async def main() -> tuple[int, FlowControl]:
        flow = FlowControl(8)
        holding = peak = 0

        async def worker(i: int) -> None:
            nonlocal holding, peak
            permit = await flow.acquire(10)
            holding += 1
            peak = max(peak, holding)
            assert holding <= flow.in_flight <= 8  # granted ones may not have resumed yet
            for _ in range(i % 7):
                await asyncio.sleep(0)
            holding -= 1
            flow.release(permit, used_tokens=7, outcome="ok")

        await asyncio.gather(*(worker(i) for i in range(500)))
        return peak, flow

    peak, flow = asyncio.run(main())
    assert peak == 8
    assert (flow.in_flight, flow.waiting, flow.limit) == (0, 0, 8)


def test_cap_holds_in_virtual_time_with_budgets_and_429s() -> None:
    vt = VirtualTime()
    rng = random.Random(7)

    async def main() -> int:
        flow = virtual_flow(vt, 32, rpm=3000, tpm=600_000)
        holding = peak = 0

        async def worker() -> None:
            nonlocal holding, peak
            for _ in range(20):
                permit = await flow.acquire(rng.randint(100, 2000))
                holding += 1
                peak = max(peak, holding)
                assert holding <= 32
                await vt.sleep(rng.uniform(0.05, 2.0))
                holding -= 1
                outcome: RequestOutcome = "rate_limited" if rng.random() < 0.02 else "ok"
                flow.release(permit, used_tokens=rng.randint(50, 500), outcome=outcome)

        await asyncio.gather(*(worker() for _ in range(500)))
        assert flow.in_flight == flow.waiting == 0
        assert asyncio.all_tasks() == {asyncio.current_task()}  # the timer task is gone
        return peak

    assert vt.run(main()) <= 32


# -- RPM and TPM budgets -----------------------------------------------------------------------


def test_rpm_600_admits_600_in_a_simulated_minute_paced_exactly() -> None:
    vt = VirtualTime()
    sleep = CountingSleep(vt)
    flow = FlowControl(64, rpm=600, clock=vt.clock, sleep=sleep)
    granted: list[float] = []

    async def worker() -> None:
        while vt.now < 60:
            permit = await flow.acquire(0)
            granted.append(vt.now)
            await vt.sleep(0.3)
            ok(flow, permit)

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(50)))

    vt.run(main())
    in_minute = [t for t in granted if t < 60]
    assert 600 <= len(in_minute) <= 610  # 600 by refill, plus the 10 of the one-second burst
    assert granted[:10] == [0.0] * 10  # the cold-start burst is one second of budget
    gaps = [b - a for a, b in itertools.pairwise(granted[10:])]
    assert all(gap == pytest.approx(0.1, abs=1e-9) for gap in gaps)  # then exactly 10 per second
    assert max(sum(1 for t in granted if s <= t < s + 1) for s in range(60)) <= 20
    assert sleep.calls <= len(granted) - 10 + 1  # one sleep per paced grant: no polling


def test_tpm_debt_for_a_request_larger_than_the_bucket() -> None:
    vt = VirtualTime()

    async def main() -> list[float]:
        flow = virtual_flow(vt, tpm=6000)  # 100 tokens/s, bucket of 100
        times = []
        for tokens in (1000, 50, 1000, 1000):
            await flow.acquire(tokens)
            times.append(vt.now)
        return times

    # 1000 goes on a full bucket (debt -900); 50 waits for -900 -> 50; 1000 waits for a full
    # bucket (100) from 0, and the next 1000 again from -900. A deadlock would raise in
    # _IdleSelector instead of hanging.
    assert vt.run(main()) == pytest.approx([0.0, 9.5, 10.5, 20.5])


def test_tpm_correction_by_used_tokens() -> None:
    vt = VirtualTime()

    async def main() -> list[float]:
        flow = virtual_flow(vt, tpm=6000)
        times = []
        permit = await flow.acquire(80)  # level 20
        ok(flow, permit, used=30)  # 50 back: 70
        await flow.acquire(70)  # level 0, at once
        times.append(vt.now)
        await flow.acquire(20)  # 0.2 s of refill
        times.append(vt.now)
        permit = await flow.acquire(0)
        ok(flow, permit, used=150)  # 150 more than estimated: -150
        await flow.acquire(10)  # 1.6 s of refill
        times.append(vt.now)
        permit = await flow.acquire(0)
        flow.release(permit, used_tokens=None, outcome="error")  # unknown: the estimate stands
        await flow.acquire(0)
        times.append(vt.now)
        return times

    assert vt.run(main()) == pytest.approx([0.0, 0.2, 1.8, 1.8])


def test_a_refund_wakes_the_head_exactly_when_it_can_go() -> None:
    vt = VirtualTime()
    sleep = CountingSleep(vt)

    async def main() -> list[float]:
        flow = FlowControl(4, tpm=6000, clock=vt.clock, sleep=sleep)  # 100 tokens/s, bucket of 100
        first, second = await flow.acquire(40), await flow.acquire(60)  # level 0

        async def refund(permit: Permit, at: float) -> None:
            await vt.sleep(at - vt.now)
            ok(flow, permit, used=0)

        refunding = asyncio.gather(refund(first, 0.25), refund(second, 0.9))
        times = []
        await flow.acquire(100)  # due at 1.0; at 0.25: 25 + 40 back, 35 to go: 0.6
        times.append(vt.now)
        await flow.acquire(80)  # due at 1.4; at 0.9: 30 + 60 back covers it at once
        times.append(vt.now)
        await refunding
        return times

    assert vt.run(main()) == pytest.approx([0.6, 0.9])
    assert sleep.calls == 3  # slept for 1.0, re-timed to 0.6, slept for 1.4 (cut short at 0.9)


# -- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1m30.5s", 90.5),
        ("2h0m0.25s", 7200.25),
        ("0s", 0.0),
        ("17.2ms", 0.0172),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("100ns", 1e-7),
        (".5s", 0.5),
        (" 3s ", 3.0),
        ("2", 2.0),
        ("0.75", 0.75),
    ],
)
def test_parse_duration_reads_openai_formats(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "s",
        "ms",
        "-1s",
        "-2",
        "1x",
        "1s2",
        "1 s",
        "1e3s",
        "1..5s",
        "nan",
        "inf",
        "NaNs",
        "9" * 400 + "h",
    ],
)
def test_parse_duration_rejects_garbage(text: str) -> None:
    assert parse_duration_s(text) is None


def test_parse_rate_limit_headers_any_case_ignoring_garbage() -> None:
    headers = {
        "X-RateLimit-Limit-Requests": "60",
        "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-requests": "59",
        "X-RATELIMIT-REMAINING-TOKENS": "149984",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-reset-tokens": "6m0s",
        "content-type": "application/json",
    }
    assert parse_rate_limit_headers(headers) == RateLimitHeaders(60, 150000, 59, 149984, 1.0, 360.0)
    garbage = {
        "x-ratelimit-limit-requests": "sixty",
        "x-ratelimit-limit-tokens": "-5",
        "x-ratelimit-remaining-requests": "nan",
        "x-ratelimit-remaining-tokens": "inf",
        "x-ratelimit-reset-requests": "soon",
        "x-ratelimit-reset-tokens": "",
    }
    assert parse_rate_limit_headers(garbage) == RateLimitHeaders()
    assert parse_rate_limit_headers({}) == RateLimitHeaders()


def test_headers_lower_the_bucket_but_never_raise_it() -> None:
    vt = VirtualTime()

    async def main() -> list[float]:
        flow = virtual_flow(vt, rpm=600)  # 10 per second, bucket of 10
        times = []
        flow.observe_headers({"x-ratelimit-remaining-requests": "2"})
        for _ in range(3):
            await flow.acquire(0)
            times.append(vt.now)
        flow.observe_headers({"x-ratelimit-remaining-requests": "500"})  # no more than we hold
        flow.observe_headers({"x-ratelimit-remaining-requests": "-3", "x-ratelimit-limit-requests": "x"})
        await flow.acquire(0)
        times.append(vt.now)
        return times

    assert vt.run(main()) == pytest.approx([0.0, 0.0, 0.1, 0.2])


def test_remaining_tokens_lower_the_tpm_bucket() -> None:
    vt = VirtualTime()

    async def main() -> float:
        flow = virtual_flow(vt, tpm=6000)  # 100 tokens/s, bucket of 100
        flow.observe_headers({"X-RateLimit-Remaining-Tokens": "30", "x-ratelimit-reset-tokens": "garbage"})
        await flow.acquire(100)
        return vt.now

    assert vt.run(main()) == pytest.approx(0.7)


def test_requests_sent_before_a_budget_was_adopted_are_not_charged_to_it() -> None:
    vt = VirtualTime()

    async def main() -> float:
        flow = virtual_flow(vt)
        early = await flow.acquire(100)
        flow.observe_headers({"x-ratelimit-limit-tokens": "6000"})  # a full bucket of 100
        ok(flow, early, used=300)  # counted by the server already, not 200 more debt here
        await flow.acquire(100)
        return vt.now

    assert vt.run(main()) == 0.0


def test_server_limits_are_adopted_when_none_are_configured() -> None:
    vt = VirtualTime()

    async def main() -> list[float]:
        flow = virtual_flow(vt)
        assert (flow.rpm, flow.tpm) == (None, None)
        flow.observe_headers(
            {
                "x-ratelimit-limit-requests": "120",
                "x-ratelimit-remaining-requests": "1",
                "x-ratelimit-limit-tokens": "60000",
                "x-ratelimit-remaining-tokens": "59000",
            }
        )
        assert (flow.rpm, flow.tpm) == (120, 60000)
        times = []
        for _ in range(3):
            await flow.acquire(100)
            times.append(vt.now)
        return times

    assert vt.run(main()) == pytest.approx([0.0, 0.5, 1.0])  # 2 per second from 1 left


def test_a_lower_server_limit_wins_but_never_lifts_the_configured_one() -> None:
    async def main() -> None:
        flow = FlowControl(4, rpm=600, tpm=100_000)
        flow.observe_headers({"x-ratelimit-limit-requests": "300", "x-ratelimit-limit-tokens": "1000000"})
        assert (flow.rpm, flow.tpm) == (300, 100_000)
        flow.observe_headers({"x-ratelimit-limit-requests": "10000"})
        assert flow.rpm == 600

    asyncio.run(main())


def test_a_share_scales_configured_and_announced_budgets() -> None:
    async def main() -> None:
        flow = FlowControl(4, rpm=600, tpm=100_000, share=0.5)
        assert (flow.rpm, flow.tpm) == (300, 50_000)
        flow.observe_headers({"x-ratelimit-limit-requests": "400", "x-ratelimit-remaining-requests": "2"})
        assert flow.rpm == 200
        permit = await flow.acquire(0)  # 1 of the announced 2 remaining is this share's
        flow.release(permit, used_tokens=None, outcome="ok")
        assert flow.waiting == 0
        with pytest.raises(ValueError, match="share"):
            FlowControl(4, share=0)

    asyncio.run(main())


# -- pause -------------------------------------------------------------------------------------


def test_pause_holds_every_worker_and_only_extends() -> None:
    vt = VirtualTime()

    async def main() -> tuple[list[float], FlowControl]:
        flow = virtual_flow(vt)
        held = await flow.acquire(0)
        flow.pause(5)
        assert flow.paused_until == 5

        async def later() -> None:
            await vt.sleep(1)
            flow.pause(2)  # ends at 3: shorter, ignored
            assert flow.paused_until == 5
            flow.pause(10)  # ends at 11
            flow.pause(-1)
            flow.pause(math.nan)
            flow.pause(math.inf)

        async def worker() -> float:
            await flow.acquire(0)
            return vt.now

        extending = asyncio.ensure_future(later())
        times = await asyncio.gather(*(worker() for _ in range(20)))
        await extending
        ok(flow, held)  # in flight across the pause, released normally
        assert flow.paused_until is None
        return times, flow

    times, flow = vt.run(main())
    assert times == [11.0] * 20
    assert flow.in_flight == 20


# -- adaptive concurrency ----------------------------------------------------------------------


def test_aimd_halves_once_per_burst_and_never_cancels_requests_in_flight() -> None:
    async def main() -> None:
        flow = FlowControl(16)
        permits = [await flow.acquire(0) for _ in range(16)]
        for permit in permits[:3]:  # a burst of 429s from requests sent under the old limit
            flow.release(permit, used_tokens=None, outcome="rate_limited")
        assert (flow.limit, flow.rate_limited, flow.in_flight) == (8, 3, 13)
        flow.release(permits[3], used_tokens=None, outcome="rate_limited")  # same event
        assert flow.limit == 8

        waiter = asyncio.ensure_future(flow.acquire(0))
        for permit in permits[4:8]:
            ok(flow, permit)
            await asyncio.sleep(0)
            assert not waiter.done()  # 11, 10, 9, 8 in flight: not below the limit
        ok(flow, permits[8])  # 7 in flight: the waiter goes
        fresh = await waiter
        assert flow.in_flight == 8
        flow.release(fresh, used_tokens=None, outcome="rate_limited")  # sent under 8
        assert flow.limit == 4

    asyncio.run(main())


def test_aimd_never_drops_below_one_and_recovers_to_the_cap() -> None:
    async def main() -> None:
        flow = FlowControl(16)
        for _ in range(10):
            permit = await flow.acquire(0)
            flow.release(permit, used_tokens=None, outcome="rate_limited")
        assert flow.limit == 1
        successes = 0
        while flow.limit < 16:
            ok(flow, await flow.acquire(0))
            successes += 1
        assert successes == sum(range(1, 16))  # `limit` successes per step: 1 + 2 + ... + 15
        for _ in range(100):
            ok(flow, await flow.acquire(0))
        assert flow.limit == 16
        assert flow.rate_limited == 10

    asyncio.run(main())


def test_errors_neither_shrink_nor_grow_the_limit() -> None:
    async def main() -> None:
        flow = FlowControl(4)
        flow.release(await flow.acquire(0), used_tokens=None, outcome="rate_limited")
        assert flow.limit == 2
        for _ in range(10):
            flow.release(await flow.acquire(0), used_tokens=None, outcome="error")
        assert (flow.limit, flow.rate_limited) == (2, 1)

    asyncio.run(main())


# -- queue control (timeout_s) -----------------------------------------------------------------


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _reply_after(flow: FlowControl, clock: ManualClock, permit: Permit, seconds: float) -> None:
    clock.now += seconds
    ok(flow, permit)


def test_queue_control_starts_low_and_doubles_per_round_trip_on_fast_replies() -> None:
    async def main() -> None:
        clock = ManualClock()
        flow = FlowControl(64, timeout_s=10.0, clock=clock)
        assert flow.limit == SLOW_START_LIMIT
        rounds = 0
        while flow.limit < 64:
            permits = [await flow.acquire(0) for _ in range(flow.limit - flow.in_flight)]
            clock.now += 0.1  # far under a quarter of the timeout
            for permit in permits:
                ok(flow, permit)
            rounds += 1
            assert rounds <= 5
        assert rounds == 5  # 2 -> 4 -> 8 -> 16 -> 32 -> 64
        assert FlowControl(64).limit == 64  # without a timeout: the cap at once
        assert FlowControl(64, timeout_s=10.0, share=0.25).limit == 1  # one worker of four

    asyncio.run(main())


def test_replies_past_a_quarter_of_the_timeout_hold_the_limit_and_past_half_halve_it() -> None:
    async def main() -> None:
        clock = ManualClock()
        flow = FlowControl(64, timeout_s=10.0, clock=clock)
        for _ in range(3):
            _reply_after(flow, clock, await flow.acquire(0), 10.0 * GROWTH_MARK + 0.1)
        assert flow.limit == SLOW_START_LIMIT  # slow, not queued: no growth
        permits = [await flow.acquire(0) for _ in range(SLOW_START_LIMIT)]
        clock.now += 10.0 * QUEUE_MARK + 0.1
        for permit in permits:  # one queue, one congestion event
            ok(flow, permit)
        assert (flow.limit, flow.slow_replies) == (SLOW_START_LIMIT // 2, SLOW_START_LIMIT)
        while flow.limit < SLOW_START_LIMIT:  # after the event: one per `limit` fast replies
            _reply_after(flow, clock, await flow.acquire(0), 0.1)
        assert flow.limit == SLOW_START_LIMIT

    asyncio.run(main())


def test_a_timeout_halves_the_limit_once_per_event_only_under_queue_control() -> None:
    async def main() -> None:
        flow = FlowControl(64, timeout_s=10.0)
        permits = [await flow.acquire(0) for _ in range(SLOW_START_LIMIT)]
        for permit in permits:
            flow.release(permit, used_tokens=None, outcome="timeout")
        assert (flow.limit, flow.timeouts, flow.rate_limited) == (SLOW_START_LIMIT // 2, SLOW_START_LIMIT, 0)
        plain = FlowControl(8)
        plain.release(await plain.acquire(0), used_tokens=None, outcome="timeout")
        assert (plain.limit, plain.timeouts) == (8, 1)

    asyncio.run(main())


# -- fairness and cancellation -----------------------------------------------------------------


def test_waiters_are_served_first_come_first_served() -> None:
    async def main() -> list[int]:
        flow = FlowControl(1)
        order: list[int] = []
        holder = await flow.acquire(0)

        async def worker(i: int) -> None:
            permit = await flow.acquire(i)
            order.append(i)
            await asyncio.sleep(0)
            ok(flow, permit)

        tasks = []
        for i in range(50):
            tasks.append(asyncio.ensure_future(worker(i)))
            await asyncio.sleep(0)  # let it queue before the next one
        assert flow.waiting == 50
        ok(flow, holder)
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(main()) == list(range(50))


def test_a_large_request_is_not_overtaken_by_small_ones() -> None:
    vt = VirtualTime()

    async def main() -> list[tuple[int, float]]:
        flow = virtual_flow(vt, tpm=6000)  # 100 tokens/s
        await flow.acquire(100)
        granted: list[tuple[int, float]] = []

        async def worker(tokens: int, delay: float) -> None:
            await vt.sleep(delay)
            await flow.acquire(tokens)
            granted.append((tokens, vt.now))

        await asyncio.gather(worker(100, 0.0), *(worker(1, 0.1 * i) for i in range(1, 6)))
        return granted

    granted = vt.run(main())
    assert granted[0] == (100, 1.0)
    assert [tokens for tokens, _ in granted] == [100, 1, 1, 1, 1, 1]


def test_a_cancelled_waiter_holds_nothing() -> None:
    async def main() -> FlowControl:
        flow = FlowControl(1)
        holder = await flow.acquire(0)
        waiter = asyncio.ensure_future(flow.acquire(0))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert flow.waiting == 0
        ok(flow, holder)
        ok(flow, await flow.acquire(0))
        return flow

    flow = asyncio.run(main())
    assert (flow.in_flight, flow.waiting) == (0, 0)


def test_a_grant_cancelled_before_its_acquire_returns_is_undone() -> None:
    vt = VirtualTime()

    async def main() -> float:
        flow = virtual_flow(vt, 1, rpm=120)  # a bucket of 2 requests
        holder = await flow.acquire(0)
        waiter = asyncio.ensure_future(flow.acquire(0))
        await asyncio.sleep(0)
        ok(flow, holder)  # grants the waiter: the slot and the last request in the bucket
        waiter.cancel()  # before the waiter could resume
        await asyncio.gather(waiter, return_exceptions=True)
        assert waiter.cancelled()
        assert flow.in_flight == 0
        await flow.acquire(0)  # the slot and the request came back: no wait
        return vt.now

    assert vt.run(main()) == 0.0


def test_cancelling_the_head_lets_the_next_go_at_its_own_time() -> None:
    vt = VirtualTime()

    async def main() -> float:
        flow = virtual_flow(vt, tpm=6000, burst_s=10)  # 100 tokens/s, bucket of 1000
        await flow.acquire(1000)
        head = asyncio.ensure_future(flow.acquire(1000))  # due at 10
        await asyncio.sleep(0)
        nxt = asyncio.ensure_future(flow.acquire(100))
        await asyncio.sleep(0)
        head.cancel()
        await nxt
        return vt.now

    assert vt.run(main()) == pytest.approx(1.0)


def test_release_misuse_is_loud() -> None:
    async def main() -> None:
        flow = FlowControl(2)
        permit = await flow.acquire(0)
        ok(flow, permit)
        with pytest.raises(RuntimeError, match="already released"):
            ok(flow, permit)
        with pytest.raises(ValueError, match="another FlowControl"):
            ok(FlowControl(2), await flow.acquire(0))
        with pytest.raises(ValueError, match="negative"):
            await flow.acquire(-1)
        permit = await flow.acquire(0)
        with pytest.raises(ValueError, match="unknown outcome"):
            flow.release(permit, used_tokens=None, outcome="fine")  # type: ignore[arg-type]
        assert flow.in_flight == 2  # the failed release changed nothing

    asyncio.run(main())


@pytest.mark.parametrize(
    "options",
    [{"concurrency": 0}, {"rpm": 0}, {"tpm": -5}, {"rpm": math.nan}, {"tpm": math.inf}, {"burst_s": 0}],
)
def test_invalid_settings_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FlowControl(**{"concurrency": 4, **options})


# -- real time: the defaults (time.monotonic, asyncio.sleep) -----------------------------------


def test_real_clock_pause_and_rpm_pacing() -> None:
    async def main() -> tuple[float, float]:
        flow = FlowControl(256, rpm=12_000)  # 200 per second, bucket of 200
        started = time.monotonic()
        flow.pause(0.05)
        await flow.acquire(0)
        paused = time.monotonic() - started
        started = time.monotonic()
        for _ in range(219):  # 199 left in the bucket, then 20 at 5 ms each
            await flow.acquire(0)
        return paused, time.monotonic() - started

    paused, paced = asyncio.run(main())
    assert 0.05 <= paused < 2  # never early; the upper bounds only catch a hang
    assert 0.09 <= paced < 2


# -- retry policy ------------------------------------------------------------------------------


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        samples = [backoff_s(attempt, rng=rng) for _ in range(2000)]
        assert all(0 <= s < ceiling for s in samples)
        assert sum(samples) / len(samples) == pytest.approx(ceiling / 2, rel=0.1)
    assert 0 <= backoff_s(10_000) < 30.0
    assert backoff_s(3, base=1.0, cap=2.0, rng=random.Random(0)) < 2.0
    with pytest.raises(ValueError):
        backoff_s(0)


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (501, True),
        (503, True),
        (599, True),
        (400, False),
        (401, False),
        (404, False),
        (422, False),
        (200, False),
    ],
)
def test_retryable_statuses(code: int, retryable: bool) -> None:
    assert is_retryable_status(code) is retryable
    assert {408, 409, 429, 500, 502, 503, 504} == RETRYABLE_STATUS


def test_an_interrupted_run_leaves_nothing_behind_and_the_flow_reusable() -> None:
    flow = FlowControl(4)

    async def interrupted() -> None:
        flow.pause(0.05)
        waiter = asyncio.ensure_future(flow.acquire(0))
        await asyncio.sleep(0)
        assert (flow.waiting, waiter.done()) == (1, False)
        # returning now: asyncio.run cancels the waiter and the timer task

    asyncio.run(interrupted())
    assert (flow.waiting, flow.in_flight) == (0, 0)

    async def run(pause_s: float) -> None:
        flow.pause(pause_s)
        permit = await flow.acquire(0)
        ok(flow, permit)

    for pause_s in (0.01, 0.01):  # the same flow, a fresh timer task on each event loop
        asyncio.run(run(pause_s))
    assert (flow.waiting, flow.in_flight) == (0, 0)
