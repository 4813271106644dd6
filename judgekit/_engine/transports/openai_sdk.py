"""The openai SDK transport: slower than aiohttp, for what only the SDK does.

That is a custom `httpx2.AsyncClient` (proxies, custom TLS, a gateway) and Azure AD token
providers, passed as `SdkHooks`. `open_sdk` builds the SDK client for a configured endpoint,
Azure's when `api_version` is set; the Batch API's calls (`judgekit.batch.remote`) use it too.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal, overload

import httpx2
import openai

from judgekit._config import JudgeConfig
from judgekit._engine.exchange import (
    JudgeReply,
    JudgeRequest,
    ReplyTooLarge,
    RetryableError,
    api_key,
    rate_limits,
    reply_from_completion,
    status_error,
)
from judgekit._engine.transports import SdkHooks


class SdkClient:
    """Sends through the openai SDK (slower; for SDK-only features)."""

    def __init__(self, config: JudgeConfig, hooks: SdkHooks | None = None):
        self._max_reply_bytes = config.max_reply_bytes
        self._sdk = open_sdk(
            config, asynchronous=True, timeout_s=config.timeout_s, max_retries=0, hooks=hooks
        )

    async def send(self, request: JudgeRequest) -> JudgeReply:
        """Send `request`; raise RetryableError, RequestRejected or JudgeError on failure."""
        started = time.perf_counter()
        try:
            async with self._sdk.chat.completions.with_streaming_response.create(**request.body()) as raw:
                payload = await self._read(raw)
                headers = raw.headers
        except openai.APIStatusError as error:
            raise status_error(
                error.status_code, sdk_message(error), error.response.headers, request
            ) from None
        except openai.APIError as error:
            timed_out = isinstance(error, openai.APITimeoutError)
            raise RetryableError(f"{type(error).__name__}: {error.message}", timed_out=timed_out) from None
        except httpx2.HTTPError as error:  # while reading the body: a dropped connection, bad gzip
            timed_out = isinstance(error, httpx2.TimeoutException)
            raise RetryableError(f"{type(error).__name__}: {error}", timed_out=timed_out) from None
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            completion = json.loads(payload)
        except (ValueError, RecursionError):
            raise RetryableError("the judge returned a body that is not JSON") from None
        return reply_from_completion(
            completion, request.model, latency_ms=latency_ms, rate_limits=rate_limits(headers)
        )

    async def _read(self, raw: openai.AsyncAPIResponse[Any]) -> bytes:
        """The body, decoded, of at most `max_reply_bytes`: a larger one is cut off as it passes."""
        limit = self._max_reply_bytes
        length = raw.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit and "content-encoding" not in raw.headers:
            raise ReplyTooLarge(_too_large(f"{int(length):,} bytes", limit))
        chunks, size = [], 0
        async for chunk in raw.iter_bytes(1 << 16):
            size += len(chunk)
            if size > limit:
                raise ReplyTooLarge(_too_large(f"more than {limit:,} bytes", limit))
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._sdk.close()


@overload
def open_sdk(
    config: JudgeConfig,
    *,
    asynchronous: Literal[True],
    timeout_s: float,
    max_retries: int,
    hooks: SdkHooks | None = None,
) -> openai.AsyncOpenAI: ...
@overload
def open_sdk(
    config: JudgeConfig,
    *,
    asynchronous: Literal[False],
    timeout_s: float,
    max_retries: int,
    hooks: SdkHooks | None = None,
) -> openai.OpenAI: ...
def open_sdk(
    config: JudgeConfig,
    *,
    asynchronous: bool,
    timeout_s: float,
    max_retries: int,
    hooks: SdkHooks | None = None,
) -> openai.AsyncOpenAI | openai.OpenAI:
    """An openai SDK client for the configured endpoint (the async one, or the sync one).

    With `api_version` and `base_url` set, Azure OpenAI's client: `base_url` is then the resource
    endpoint, the key goes in the `api-key` header and every call carries `?api-version=`; with
    `hooks.azure_ad_token_provider`, an Entra ID bearer token replaces the key.
    """
    hooks = hooks or SdkHooks()
    common: dict[str, Any] = {"api_key": api_key(config), "timeout": timeout_s, "max_retries": max_retries}
    if hooks.http_client is not None:
        common["http_client"] = hooks.http_client
    endpoint, version = config.base_url, config.api_version
    if endpoint and version:
        if hooks.azure_ad_token_provider is not None:
            common["api_key"] = None
            common["azure_ad_token_provider"] = hooks.azure_ad_token_provider
        if asynchronous:
            return openai.AsyncAzureOpenAI(azure_endpoint=endpoint, api_version=version, **common)
        return openai.AzureOpenAI(azure_endpoint=endpoint, api_version=version, **common)
    if asynchronous:
        return openai.AsyncOpenAI(base_url=config.base_url, **common)
    return openai.OpenAI(base_url=config.base_url, **common)


def sdk_message(error: openai.APIStatusError) -> str:
    """The endpoint's own error message, from the body when it has one."""
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return error.message


def _too_large(size: str, limit: int) -> str:
    return (
        f"the judge's reply is {size} (decoded), over max_reply_bytes={limit:,} "
        "(--max-reply-bytes); an honest judge stays far below it at max_tokens"
    )
