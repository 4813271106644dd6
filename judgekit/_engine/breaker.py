"""The circuit breaker: a run whose requests all fail the same way stops, instead of spending rows.

One breaker per run, fed by every attempt's outcome: an endpoint failure (no connection, DNS,
TLS, a timeout, a 5xx, a body that is no completion) counts, a reply of any kind (a verdict, a
400 for one record) resets, a 429 does neither (the endpoint is up). It trips when at least
`min_failures` endpoint failures of at least two different requests came in a row and the first
of them is `window_s` old: a brief outage (shorter than the window) is ridden out by the
retries, and one record the endpoint always fails on (a 500 for that prompt alone) is that
record's `api_error` after its retries, not the end of the run.

A run in one process keeps the counts in the breaker itself. A run across worker processes
keeps them in `SharedCounts`, a few bytes of shared memory the parent makes before the workers
start: a reply in any worker resets the count for all, and every worker's failures add up, so
one worker whose records fail while another's get replies does not trip. The worker that trips
raises JudgeError, and the parent stops the others as for any failure of the whole run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any

from judgekit._errors import JudgeError

BREAKER_MIN_FAILURES = 8
"""Endpoint failures in a row, at the least, before the breaker may trip."""


@dataclass(slots=True)
class _LocalCounts:
    """The counts of a breaker in one process: plain attributes, as cheap as a counter gets."""

    failures: int = 0
    since: float = 0.0
    first_request: int = 0
    first_owner: int = 0
    several: bool = False  # failures of more than one request since the last reply


class _SharedFields(ctypes.Structure):
    """The same counts, laid out for shared memory (time.monotonic is one clock for every process)."""

    _fields_ = (
        ("failures", ctypes.c_int64),
        ("since", ctypes.c_double),
        ("first_request", ctypes.c_uint64),
        ("first_owner", ctypes.c_int64),
        ("several", ctypes.c_bool),
    )
    failures: int
    since: float
    first_request: int
    first_owner: int
    several: bool


class SharedCounts:
    """The breaker's counts for a run across worker processes, made by the parent before they start.

    Pass it to each worker as a `Process` argument (it crosses fork and spawn alike), and there
    to its `Sender`. A failure updates it under a lock; a reply only reads it while nothing
    failed, so the path of a healthy run takes no lock.
    """

    def __init__(self, context: BaseContext) -> None:
        self.fields: Any = context.RawValue(_SharedFields)
        self.lock: Any = context.Lock()


class Breaker:
    """Counts consecutive endpoint failures; `failed` raises JudgeError once they span `window_s`."""

    def __init__(
        self,
        window_s: float,
        *,
        min_failures: int = BREAKER_MIN_FAILURES,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedCounts | None = None,
    ):
        self.window_s = window_s
        self._min_failures = min_failures
        self._clock = clock
        self._counts: _LocalCounts | _SharedFields
        self._lock: contextlib.AbstractContextManager[Any]
        if shared is None:
            self._counts, self._lock = _LocalCounts(), contextlib.nullcontext()
        else:
            self._counts, self._lock = shared.fields, shared.lock
        self._owner = os.getpid()  # two workers' requests are different requests, whatever their ids

    @property
    def failures(self) -> int:
        """Endpoint failures since the last reply (of any worker, when shared)."""
        return self._counts.failures

    def succeeded(self) -> None:
        """The endpoint answered (whatever it said): the count starts again."""
        counts = self._counts
        if counts.failures:
            with self._lock:
                counts.failures = 0

    def failed(self, reason: str, request: int) -> None:
        """Count a failure of `request` (an id of it); raise JudgeError when the endpoint looks down."""
        now = self._clock()
        counts = self._counts
        with self._lock:
            if counts.failures == 0:
                counts.since, counts.first_request, counts.first_owner = now, request, self._owner
                counts.several = False
            counts.failures += 1
            counts.several = (
                counts.several or request != counts.first_request or self._owner != counts.first_owner
            )
            failures, since, several = counts.failures, counts.since, counts.several
        if several and failures >= self._min_failures and now - since >= self.window_s:
            raise JudgeError(
                f"the judge endpoint failed every request for {now - since:.1f} s "
                f"({failures} in a row; the last: {reason[:300]}); check that it is up "
                "and that --base-url points to it"
            )
