"""The default transport: chat completions posted with aiohttp, the only module that imports it.

Several times faster per request than the openai SDK (see bench/); `--transport sdk`
(`openai_sdk.py`) is there for what only the SDK does (custom HTTP clients, Azure AD auth).
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
from urllib.parse import urlsplit

import aiohttp

from judgekit._config import OPENAI_BASE_URL, JudgeConfig
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
from judgekit._version import __version__

LARGE_BODY_BYTES = 1 << 20


def env_proxy(url: str) -> str | None:
    """The proxy `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` name for `url`, unless `NO_PROXY` excludes it.

    Looked up once per client: aiohttp's own `trust_env` looks it up (and reads ~/.netrc) on a
    thread for every request.
    """
    parts = urlsplit(url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


class AiohttpClient:
    """Posts chat completions with aiohttp; one session (connection pool) per client."""

    def __init__(self, config: JudgeConfig):
        base = (config.base_url or OPENAI_BASE_URL).rstrip("/")
        self._config = config
        self._headers = {"Content-Type": "application/json", "User-Agent": f"judgekit/{__version__}"}
        if config.api_version:
            self._headers["api-key"] = api_key(config)
            self._url_template = f"{base}/openai/deployments/{{model}}/chat/completions"
            self._params: dict[str, str] = {"api-version": config.api_version}
        else:
            self._headers["Authorization"] = f"Bearer {api_key(config)}"
            self._url_template = f"{base}/chat/completions"
            self._params = {}
        self._proxy = env_proxy(base)
        self._session: aiohttp.ClientSession | None = None
        self._heads: dict[tuple[str, str], str] = {}

    def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
        timeout = aiohttp.ClientTimeout(total=self._config.timeout_s)
        return aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self._headers)

    async def send(self, request: JudgeRequest) -> JudgeReply:
        """Send `request`; raise RetryableError, RequestRejected or JudgeError on failure."""
        if self._session is None:
            self._session = self._open_session()
        url = self._url_template.format(model=request.model)
        body = self._encode(request)
        # aiohttp warns that a large bytes body blocks the loop; a file-like body streams instead.
        data: bytes | io.BytesIO = body if len(body) < LARGE_BODY_BYTES else io.BytesIO(body)
        started = time.perf_counter()
        try:
            async with self._session.post(url, data=data, params=self._params, proxy=self._proxy) as response:
                payload = await self._read(response)
                status, headers = response.status, response.headers
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            # ValueError: aiohttp's own, for a body it cannot decode (a broken gzip stream)
            timed_out = isinstance(error, TimeoutError)
            raise RetryableError(f"{type(error).__name__}: {error}", timed_out=timed_out) from None
        latency_ms = (time.perf_counter() - started) * 1000
        if status != 200:
            raise status_error(status, _body_message(payload), headers, request)
        try:
            completion = json.loads(payload)
        except (ValueError, RecursionError):
            raise RetryableError("the judge returned a body that is not JSON") from None
        return reply_from_completion(
            completion, request.model, latency_ms=latency_ms, rate_limits=rate_limits(headers)
        )

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, decompressed, of at most `max_reply_bytes`.

        A larger one (or a compression bomb) is refused as soon as it passes the limit.
        """
        limit = self._config.max_reply_bytes
        length = response.content_length
        if length is not None and length <= limit and "Content-Encoding" not in response.headers:
            return await response.read()  # the common case: the size is known and small
        if length is not None and length > limit and "Content-Encoding" not in response.headers:
            raise ReplyTooLarge(_too_large(f"{length:,} bytes", limit))
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                response.close()
                raise ReplyTooLarge(_too_large(f"more than {limit:,} bytes", limit))
            chunks.append(chunk)
        return b"".join(chunks)

    def _encode(self, request: JudgeRequest) -> bytes:
        """The JSON body; everything before the record's message is serialised once per judge."""
        system, *rest = request.messages
        memo = (request.output_mode, system["content"])
        head = self._heads.get(memo)
        if head is None:
            static = {key: value for key, value in request.body().items() if key != "messages"}
            head = self._heads[memo] = json.dumps(static)[:-1] + ', "messages": [' + json.dumps(system)
        return (head + "".join(", " + json.dumps(message) for message in rest) + "]}").encode()

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _too_large(size: str, limit: int) -> str:
    return (
        f"the judge's reply is {size} (decompressed), over max_reply_bytes={limit:,} "
        "(--max-reply-bytes); an honest judge stays far below it at max_tokens"
    )


def _body_message(payload: bytes) -> str:
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return payload[:200].decode("utf-8", "replace")
    inner = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(inner, dict) and inner.get("message"):
        return str(inner["message"])
    return str(inner)[:200]
