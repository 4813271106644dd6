"""The judge request and reply, and how a chat completion or an HTTP status maps onto them.

Transport-independent: the transports (`engine.transports`), the codec, the Batch API and Ray
share these. Failures map onto three outcomes: retry it (`RetryableError`), give this record an
error verdict (`RequestRejected`), or stop the whole run (`JudgeError`). Nothing here imports an
HTTP library, and nothing here imports a transport: they import this module.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import time
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
    usage: Usage | None
    """None when the reply's token counts are unknown (missing or not believable)."""
    latency_ms: float | None
    """None where nothing timed the request (Batch API, Ray)."""
    model: str
    refusal: str | None = None
    tokens: TokenLogprobs = field(default_factory=list)
    rate_limits: Mapping[str, str] = field(default_factory=dict)
    """The response's `x-ratelimit-*` headers, for flow control."""
    problem: str | None = None
    """What is wrong with a malformed completion (content an object, ...): a parse error."""


class RetryableError(Exception):
    """A failure worth retrying (429, 5xx, timeout, dropped connection)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        status_code: int | None = None,
        timed_out: bool = False,
    ):
        self.retry_after_s = retry_after_s
        self.status_code = status_code
        self.timed_out = timed_out
        """No reply within the timeout: for flow control, a sign the server queues."""
        super().__init__(message)


class RequestRejected(Exception):
    """The endpoint refused this one request (400, 422): the record gets an error verdict."""


class ReplyTooLarge(RequestRejected):
    """The reply is larger than the configured `max_reply_bytes`: the record gets an error verdict."""


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
    RetryableError when the completion has no message at all; a message whose fields have the
    wrong types (content an object, usage a string) is a reply with a `problem`, which the codec
    turns into a parse error for that record. Never raises anything else.
    """
    try:
        choice = completion["choices"][0]
        message = choice["message"]
        if not isinstance(message, Mapping):
            raise TypeError
    except (KeyError, IndexError, TypeError, AttributeError):
        raise RetryableError("the judge returned a malformed chat completion") from None
    text, problem = _content_text(message.get("content"))
    refusal = message.get("refusal")
    if refusal is not None and not isinstance(refusal, str):
        problem = problem or f"message.refusal is a {type(refusal).__name__}, not a string"
        refusal = None
    finish_reason = choice.get("finish_reason") if isinstance(choice, Mapping) else None
    named = completion.get("model")
    return JudgeReply(
        text=_clean_text(text),
        refusal=_clean_text(refusal),
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        usage=usage_from(completion.get("usage")),
        latency_ms=latency_ms,
        model=_clean_text(named) or model if isinstance(named, str) else model,
        tokens=_tokens(choice.get("logprobs") if isinstance(choice, Mapping) else None),
        rate_limits=rate_limits or {},
        problem=problem,
    )


MAX_TOKEN_COUNT = 10**9
"""Token counts above this (or negative, or not integers) in a reply's usage are not believed."""


def usage_from(usage: Any) -> Usage | None:
    """A completion's `usage`, or None (tokens unknown) when its counts are missing or not believable."""
    if not isinstance(usage, Mapping):
        return None
    counts = []
    for name in ("prompt_tokens", "completion_tokens"):
        value = usage.get(name)
        if value is None:
            value = 0
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKEN_COUNT:
            return None
        counts.append(value)
    return Usage(prompt_tokens=counts[0], completion_tokens=counts[1])


def _content_text(content: Any) -> tuple[str | None, str | None]:
    """The message's text and, when it has the wrong shape, what is wrong with it.

    A list of content parts (some servers send them) is joined from its text parts.
    """
    if content is None or isinstance(content, str):
        return content, None
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, Mapping)]
        texts = [part for part in parts if isinstance(part, str)]
        if texts or not content:
            return "".join(texts), None
    return None, f"message.content is a {type(content).__name__}, not text"


def _clean_text(text: str | None) -> str | None:
    """`text` with lone surrogates (which cannot be written as UTF-8) replaced."""
    if text is None:
        return None
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode()
    return text


def _tokens(logprobs: Any) -> TokenLogprobs:
    """The token logprobs, or none when they are missing or malformed (they are optional).

    OpenAI's shape, `content[i] = {token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}`,
    read the way llama.cpp's server and llama-cpp-python also send it: `bytes` may be null (or
    hold the text when `token` is cut at a partial UTF-8 character), and with llama.cpp's
    `post_sampling_probs` the numbers are probabilities (`prob`, `top_probs`). A malformed
    alternative is left out; a token whose text is unknown makes the whole list unusable.
    """
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    if not content or not isinstance(content, list):
        return []
    tokens: list[tuple[str, list[tuple[str, float]]]] = []
    for item in content:
        text = _token_text(item)
        if text is None:
            return []
        top = item.get("top_logprobs") or item.get("top_probs") or []
        alternatives = [alt for alt in map(_alternative, top if isinstance(top, list) else []) if alt]
        tokens.append((text, alternatives))
    return tokens


def _token_text(item: Any) -> str | None:
    """A logprob entry's token text: `token`, else its `bytes` decoded; None if neither is there."""
    if not isinstance(item, Mapping):
        return None
    token, raw = item.get("token"), item.get("bytes")
    if isinstance(token, str) and (token or not raw):
        return token
    if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        return bytes(raw).decode("utf-8", "replace")
    return token if isinstance(token, str) else None


def _alternative(item: Any) -> tuple[str, float] | None:
    """One `top_logprobs` entry as (text, log probability), or None when it is malformed."""
    text = _token_text(item)
    if text is None:
        return None
    assert isinstance(item, Mapping)
    logprob, prob = item.get("logprob"), item.get("prob")
    if isinstance(logprob, int | float) and not isinstance(logprob, bool):
        value = float(logprob) if isinstance(logprob, float) or abs(logprob) < 2**53 else -math.inf
    elif isinstance(prob, int | float) and not isinstance(prob, bool) and 0 < prob <= 1:
        value = math.log(prob)
    else:
        return None
    return (text, value) if math.isfinite(value) and value <= 0 else None


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


def retry_after_s(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The server's requested wait in seconds, from `retry-after-ms` or `retry-after`.

    `retry-after` is delta-seconds or an HTTP-date (RFC 9110); a date is counted from `now`
    (epoch seconds, default the current time). An infinite wait is `inf`; a malformed one None.
    """
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            seconds = _http_date_s(value, now) if scale == 1.0 else math.nan
        if not math.isnan(seconds):
            return max(0.0, seconds)
    return None


def _http_date_s(value: str, now: float | None) -> float:
    """Seconds from `now` until the HTTP-date `value`; NaN when it is not a date."""
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return math.nan
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp() - (time.time() if now is None else now)


def stored_reply(reply: JudgeReply) -> dict[str, Any]:
    """What the reply cache keeps of a reply: its content, not its timing or rate-limit headers."""
    return {
        "text": reply.text,
        "refusal": reply.refusal,
        "finish_reason": reply.finish_reason,
        "usage": reply.usage.model_dump() if reply.usage is not None else None,
        "model": reply.model,
        "tokens": [[token, [list(alt) for alt in alternatives]] for token, alternatives in reply.tokens],
    }


def reply_from_stored(stored: Any, model: str) -> JudgeReply | None:
    """The reply `stored_reply` kept; `model` where the stored reply names none.

    None when the entry is not a reply this version can read (a cache written by an older
    version may hold anything): the record is then sent again.
    """
    if not isinstance(stored, Mapping):
        return None
    text, problem = _content_text(stored.get("text"))
    refusal, named = stored.get("refusal"), stored.get("model")
    if problem is not None or not isinstance(refusal, str | None):
        return None
    finish_reason = stored.get("finish_reason")
    return JudgeReply(
        text=_clean_text(text),
        refusal=_clean_text(refusal),
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        usage=usage_from(stored.get("usage")),
        latency_ms=0.0,
        model=named if isinstance(named, str) and named else model,
        tokens=_tokens({"content": [_stored_token(item) for item in stored.get("tokens") or []]}),
    )


def _stored_token(item: Any) -> dict[str, Any] | None:
    """A stored `[token, [[alt, logprob], ...]]` in the completion's logprobs form."""
    try:
        token, alternatives = item
        return {"token": token, "top_logprobs": [{"token": a, "logprob": p} for a, p in alternatives]}
    except (TypeError, ValueError):
        return None
