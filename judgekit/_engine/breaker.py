"""The circuit breaker: a run whose requests all fail the same way stops, instead of spending rows.

One breaker per event loop (so per worker process), fed by every attempt's outcome: an endpoint
failure (no connection, DNS, TLS, a timeout, a 5xx, a body that is no completion) counts, a reply
of any kind (a verdict, a 400 for one record) resets, a 429 does neither (the endpoint is up).
It trips when at least `min_failures` endpoint failures of at least two different requests came
in a row and the first of them is `window_s` old: a brief outage (shorter than the window) is
ridden out by the retries, and one record the endpoint always fails on (a 500 for that prompt
alone) is that record's `api_error` after its retries, not the end of the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from judgekit._errors import JudgeError

BREAKER_MIN_FAILURES = 8
"""Endpoint failures in a row, at the least, before the breaker may trip."""


class Breaker:
    """Counts consecutive endpoint failures; `failed` raises JudgeError once they span `window_s`."""

    def __init__(
        self,
        window_s: float,
        *,
        min_failures: int = BREAKER_MIN_FAILURES,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.window_s = window_s
        self._min_failures = min_failures
        self._clock = clock
        self._failures = 0
        self._since = 0.0
        self._first_request = 0
        self._several = False  # failures of more than one request since the last reply

    @property
    def failures(self) -> int:
        """Endpoint failures since the last reply."""
        return self._failures

    def succeeded(self) -> None:
        """The endpoint answered (whatever it said): the count starts again."""
        self._failures = 0

    def failed(self, reason: str, request: int) -> None:
        """Count a failure of `request` (an id of it); raise JudgeError when the endpoint looks down."""
        now = self._clock()
        if self._failures == 0:
            self._since, self._first_request, self._several = now, request, False
        self._failures += 1
        self._several = self._several or request != self._first_request
        if self._several and self._failures >= self._min_failures and now - self._since >= self.window_s:
            raise JudgeError(
                f"the judge endpoint failed every request for {now - self._since:.1f} s "
                f"({self._failures} in a row; the last: {reason[:300]}); check that it is up "
                "and that --base-url points to it"
            )
