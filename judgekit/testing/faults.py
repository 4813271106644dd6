"""Scripted failures and unusual replies (``Fault``), the random ones, and their HTTP errors."""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from judgekit.testing.http import Response, error_response

FaultKind: TypeAlias = Literal[
    "status", "drop", "delay", "refusal", "content_filter", "truncated", "raw", "completion", "gzip_bomb"
]


@dataclass(frozen=True, slots=True)
class Fault:
    """A scripted failure or unusual reply; build one with the classmethods."""

    kind: FaultKind
    status_code: int = 0
    retry_after_s: float | None = None
    body: dict[str, Any] | str | None = None
    delay_s: float = 0.0
    text: str | None = None
    retry_after: str | None = None
    payload: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    patch: Mapping[str, Any] = field(default_factory=dict)
    size: int = 0

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after_s: float | None = None,
        body: dict[str, Any] | str | None = None,
        retry_after: str | None = None,
    ) -> Fault:
        """Answer with HTTP ``code``; ``body`` (JSON dict or raw text) replaces the error body.

        ``retry_after_s`` sends ``retry-after`` and ``retry-after-ms``; ``retry_after`` sends
        only ``retry-after``, verbatim (an HTTP-date, ``inf``, garbage).
        """
        return cls(
            "status", status_code=code, retry_after_s=retry_after_s, body=body, retry_after=retry_after
        )

    @classmethod
    def raw(cls, body: bytes | str, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Fault:
        """Answer with ``body`` verbatim (a huge, deep, truncated or non-JSON body) and ``status``."""
        data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        return cls("raw", status_code=status, payload=data, headers=tuple((headers or {}).items()))

    @classmethod
    def completion(cls, patch: Mapping[str, Any], text: str | None = None) -> Fault:
        """A chat completion with values replaced at dotted paths.

        For example ``{"usage.prompt_tokens": "12", "choices.0.message.content": 5}``; ``text``
        is the content before the patch (else the server's usual reply).
        """
        return cls("completion", patch=dict(patch), text=text)

    @classmethod
    def gzip_bomb(cls, inflated_bytes: int) -> Fault:
        """A gzip-encoded 200 reply that inflates to ``inflated_bytes`` of spaces (about 1000:1)."""
        return cls("gzip_bomb", size=inflated_bytes)

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
    if fault.retry_after is not None:
        headers = b"retry-after: %s\r\n" % fault.retry_after.encode("latin-1")
    elif fault.retry_after_s is not None:
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


def raw_response(fault: Fault) -> Response:
    """The response a ``Fault.raw()`` or ``Fault.gzip_bomb()`` answers with."""
    if fault.kind == "gzip_bomb":
        return Response(200, gzip_spaces(fault.size), b"content-encoding: gzip\r\n")
    headers = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in fault.headers)
    return Response(fault.status_code, fault.payload, headers)


@functools.lru_cache(maxsize=4)
def gzip_spaces(size: int) -> bytes:
    """``size`` spaces, gzip-compressed, built a megabyte at a time."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1 << 20)
    parts = [compressor.compress(block) for _ in range(size >> 20)]
    parts.append(compressor.compress(b" " * (size & ((1 << 20) - 1))))
    parts.append(compressor.flush())
    return b"".join(parts)


def patched(completion: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``completion`` with each dotted path of ``patch`` set (list indexes are numbers)."""
    for path, value in patch.items():
        *parents, last = path.split(".")
        target: Any = completion
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return completion
