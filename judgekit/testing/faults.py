"""Scripted failures and unusual replies (``Fault``), the random ones, and their HTTP errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from judgekit.testing.http import Response, error_response

FaultKind: TypeAlias = Literal["status", "drop", "delay", "refusal", "content_filter", "truncated"]


@dataclass(frozen=True, slots=True)
class Fault:
    """A scripted failure or unusual reply; build one with the classmethods."""

    kind: FaultKind
    status_code: int = 0
    retry_after_s: float | None = None
    body: dict[str, Any] | str | None = None
    delay_s: float = 0.0
    text: str | None = None

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after_s: float | None = None,
        body: dict[str, Any] | str | None = None,
    ) -> Fault:
        """Answer with HTTP ``code``; ``body`` (JSON dict or raw text) replaces the error body."""
        return cls("status", status_code=code, retry_after_s=retry_after_s, body=body)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering."""
        return cls("drop")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` more, then answer from the next reply source.

        A scripted delay falls through to markers, responder and default; a marker's or
        the responder's delay to the default.
        """
        return cls("delay", delay_s=seconds)

    @classmethod
    def refusal(cls, text: str) -> Fault:
        """Refuse as structured outputs do: ``content`` null, ``refusal`` set."""
        return cls("refusal", text=text)

    @classmethod
    def content_filter(cls) -> Fault:
        """No content, ``finish_reason`` "content_filter"."""
        return cls("content_filter")

    @classmethod
    def truncated(cls, text: str) -> Fault:
        """Content ``text`` with ``finish_reason`` "length"."""
        return cls("truncated", text=text)


Reply: TypeAlias = str | dict[str, Any] | Fault
"""A scripted reply: text returned verbatim, a dict returned as JSON text, or a Fault."""

RANDOM_FAULTS = (
    Fault.status(429, retry_after_s=0.05),
    Fault.status(500),
    Fault.status(503),
    Fault.drop(),
)
"""The faults ``fault_rate`` draws from."""

_DEFAULT_ERRORS = {
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
}


def status_response(fault: Fault) -> Response:
    """The HTTP error a ``Fault.status()`` answers with: its body, else OpenAI's for the code."""
    headers = b""
    if fault.retry_after_s is not None:
        headers = b"retry-after: %g\r\nretry-after-ms: %d\r\n" % (
            fault.retry_after_s,
            round(fault.retry_after_s * 1000),
        )
    if isinstance(fault.body, str):
        return Response(fault.status_code, fault.body.encode(), headers)
    if isinstance(fault.body, dict):
        return Response(fault.status_code, json.dumps(fault.body).encode(), headers)
    type_ = "server_error" if fault.status_code >= 500 else "invalid_request_error"
    message, type_, code = _DEFAULT_ERRORS.get(fault.status_code, ("Scripted error.", type_, None))
    return error_response(fault.status_code, message, type_=type_, code=code, headers=headers)
