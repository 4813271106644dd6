"""The judge request and reply, and how a chat completion or an HTTP status maps onto them.

Transport-independent: the transports (`engine.transports`), the codec, the Batch API and Ray
share these. Failures map onto three outcomes: retry it (`RetryableError`), give this record an
error verdict (`RequestRejected`), or stop the whole run (`JudgeError`). Nothing here imports an
HTTP library, and nothing here imports a transport: they import this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from judgekit._config import LOCAL_API_KEY, JudgeConfig, RequestMode
from judgekit._engine.flow import RATE_LIMIT_HEADERS, is_retryable_status
from judgekit._engine.servers import GENERIC, is_rejection
from judgekit._errors import JudgeError
from judgekit._verdicts import TokenLogprobs, Usage


@dataclass(frozen=True)
class JudgeRequest:
    """One chat completion request to the judge."""

    messages: list[dict[str, str]]
    model: str
    temperature: float
    max_tokens: int
    response_format: dict[str, Any] | None = None
    logprobs: bool = False
    top_p: float | None = None
    seed: int | None = None
    output_mode: RequestMode = "text"
    """How `response_format` asks for the reply's format (not sent itself)."""

    def body(self) -> dict[str, Any]:
        """The request as JSON body fields (also the cache key's content)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.response_format is not None:
            body["response_format"] = self.response_format
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = 10
        if self.top_p is not None:
            body["top_p"] = self.top_p
        if self.seed is not None:
            body["seed"] = self.seed
        return body


@dataclass(frozen=True)
class JudgeReply:
    """The judge's answer to one request."""

    text: str | None
    finish_reason: str | None
    usage: Usage
    latency_ms: float | None
    """None where nothing timed the request (Batch API, Ray)."""
    model: str
    refusal: str | None = None
    tokens: TokenLogprobs = field(default_factory=list)
    rate_limits: Mapping[str, str] = field(default_factory=dict)
    """The response's `x-ratelimit-*` headers, for flow control."""


class RetryableError(Exception):
    """A failure worth retrying (429, 5xx, timeout, dropped connection)."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, status_code: int | None = None):
        self.retry_after_s = retry_after_s
        self.status_code = status_code
        super().__init__(message)


class RequestRejected(Exception):
    """The endpoint refused this one request (400, 422): the record gets an error verdict."""


class ResponseFormatUnsupported(RequestRejected):
    """The endpoint does not accept the request's `response_format` (see `servers.GENERIC`)."""


class JudgeClient(Protocol):
    """What the judge needs of a transport."""

    async def send(self, request: JudgeRequest) -> JudgeReply:
        """Send `request`; raise RetryableError, RequestRejected or JudgeError on failure."""
        ...

    async def aclose(self) -> None:
        """Close the connection pool."""
        ...


def api_key(config: JudgeConfig) -> str:
    """The key to send: the configured one, or a placeholder for endpoints that need none."""
    return config.api_key.get_secret_value() if config.api_key else LOCAL_API_KEY


def reply_from_completion(
    completion: Any,
    model: str,
    *,
    latency_ms: float | None = None,
    rate_limits: Mapping[str, str] | None = None,
) -> JudgeReply:
    """The reply in a chat completion's JSON (online, or a Batch API output line's body).

    `model` is the judge model the reply names when the completion does not. Raises
    RetryableError when the completion is malformed.
    """
    try:
        choice = completion["choices"][0]
        message = choice["message"]
        usage = completion.get("usage") or {}
        return JudgeReply(
            text=message.get("content"),
            refusal=message.get("refusal"),
            finish_reason=choice.get("finish_reason"),
            usage=Usage(
                prompt_tokens=usage.get("prompt_tokens") or 0,
                completion_tokens=usage.get("completion_tokens") or 0,
            ),
            latency_ms=latency_ms,
            model=completion.get("model") or model,
            tokens=_tokens(choice.get("logprobs")),
            rate_limits=rate_limits or {},
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        raise RetryableError("the judge returned a malformed chat completion") from None


def _tokens(logprobs: Any) -> TokenLogprobs:
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not content:
        return []
    return [
        (item["token"], [(top["token"], top["logprob"]) for top in item.get("top_logprobs") or []])
        for item in content
    ]


def rate_limits(headers: Mapping[str, str]) -> dict[str, str]:
    """The response's `x-ratelimit-*` headers that flow control reads (`headers` ignores case)."""
    return {name: value for name in RATE_LIMIT_HEADERS if (value := headers.get(name)) is not None}


def status_error(status: int, message: str, headers: Mapping[str, str], request: JudgeRequest) -> Exception:
    """Map an HTTP error status onto retry, record error, or run-stopping error."""
    text = f"HTTP {status}: {message}"
    if request.response_format is not None and is_rejection(GENERIC.rejection, status, message):
        # Before the retryable check: llama-cpp-python rejects json_schema with a 500.
        return ResponseFormatUnsupported(text)
    if is_retryable_status(status):
        return RetryableError(text, retry_after_s=retry_after_s(headers), status_code=status)
    if status in (401, 403):
        return JudgeError(
            f"the judge endpoint refused the credentials ({text}); check OPENAI_API_KEY "
            "and that the key may use this model",
            status_code=status,
        )
    if status == 404:
        return JudgeError(
            f"the judge endpoint does not know model '{request.model}' or the URL is wrong "
            f"({text}); check --model and --base-url",
            status_code=status,
        )
    return RequestRejected(text)


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait, from `retry-after-ms` or `retry-after` (seconds)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def stored_reply(reply: JudgeReply) -> dict[str, Any]:
    """What the reply cache keeps of a reply: its content, not its timing or rate-limit headers."""
    return {
        "text": reply.text,
        "refusal": reply.refusal,
        "finish_reason": reply.finish_reason,
        "usage": reply.usage.model_dump(),
        "model": reply.model,
        "tokens": [[token, [list(alt) for alt in alternatives]] for token, alternatives in reply.tokens],
    }


def reply_from_stored(stored: Mapping[str, Any], model: str) -> JudgeReply:
    """The reply `stored_reply` kept; `model` where the stored reply names none."""
    return JudgeReply(
        text=stored.get("text"),
        refusal=stored.get("refusal"),
        finish_reason=stored.get("finish_reason"),
        usage=Usage.model_validate(stored.get("usage") or {}),
        latency_ms=0.0,
        model=stored.get("model") or model,
        tokens=[
            (token, [(alt, logprob) for alt, logprob in alternatives])
            for token, alternatives in stored.get("tokens") or []
        ],
    )
