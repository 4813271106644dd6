"""``JudgeServer``: the server's options, lifecycle, scripting, routing and chat replies."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from judgekit.testing.batches import BatchApi
from judgekit.testing.chat import (
    DEFAULT_DIGIT_PROBS,
    DEFAULT_TEXT,
    completion_body,
    estimate_tokens,
    format_mode,
    json_schema,
    message_texts,
    stub,
)
from judgekit.testing.faults import RANDOM_FAULTS, Fault, Reply, patched, raw_response, status_response
from judgekit.testing.http import Connection, Request, Response, encode_response, error_response

logger = logging.getLogger(__name__)

_RATELIMIT_HEADERS = (
    b"x-ratelimit-limit-requests: %d\r\nx-ratelimit-limit-tokens: %d\r\n"
    b"x-ratelimit-remaining-requests: %d\r\nx-ratelimit-remaining-tokens: %d\r\n"
    b"x-ratelimit-reset-requests: %dms\r\nx-ratelimit-reset-tokens: %dms\r\n"
)
_RATELIMIT_WINDOW_S = 60.0


class JudgeServer:
    """An OpenAI-compatible chat.completions server on loopback with scriptable replies.

    Options are plain attributes and may be changed while it runs:

    - ``latency_s``: delay before each chat reply, faults included; requests overlap.
    - ``slots``: if set, chat requests are computed at most this many at a time and the others
      wait their turn, as on llama.cpp's server (one slot by default); ``latency_s`` is then
      each request's own compute time. A request whose client gave up is still computed.
    - ``api_key``: if set, requests without ``Authorization: Bearer <key>`` get 401.
    - chat completions answer on OpenAI's URL and on Azure's deployment URL
      (``/openai/deployments/NAME/chat/completions?api-version=V``).
    - ``models``: if set, other models get 404 ``model_not_found``.
    - ``supports_json_schema``: if False, a ``json_schema`` response_format gets 400.
    - ``response_formats``: if set, the request modes accepted (``json_schema``,
      ``json_object_schema``, ``json_object``, ``text``); others get ``format_rejection_status``
      (400; 500 answers as llama-cpp-python does) with an error naming ``response_format``.
    - ``max_context_tokens``: longer prompts get 400 ``context_length_exceeded``.
    - ``fault_rate``: share of chat requests answered by a random fault (429, 500, 503 or
      a dropped connection), drawn from a generator seeded with ``seed``.
    - ``ratelimit_limit_requests``/``_tokens``: reported in ``x-ratelimit-*`` headers
      with a per-minute count; never enforced. The defaults are far above any local load,
      because judgekit's flow control obeys advertised budgets.
    - ``record_requests``: keep chat bodies for ``requests``; turn off for long runs.

    The reply is chosen when a request arrives, from the first source that has one: a
    random fault, the ``script()`` queue, ``reply_by_marker`` (first marker found in the
    messages' text), ``responder`` (None passes on), a stub satisfying the request's JSON
    schema, else ``default_text``. Tokens are estimated as ceil(characters / 4).

    It also serves a minimal Files and Batches API (``/v1/files``, ``/v1/batches``). A batch
    is run when first retrieved: each line is answered like a chat request (same sources,
    in file order; not recorded in ``requests``), successes go to the output file, other
    statuses to the error file. Test hooks:

    - ``batch_failures``: custom_ids whose lines fail with a 500 in the error file.
    - ``expire_batches``: batches end "expired" after answering only the first half of
      their lines; the rest go to the error file as ``batch_expired``.
    - ``batch_polls``: retrievals during which a batch stays "in_progress" before it runs.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        slots: int | None = None,
        api_key: str | None = None,
        models: set[str] | None = None,
        supports_json_schema: bool = True,
        max_context_tokens: int | None = None,
        fault_rate: float = 0.0,
        seed: int = 0,
        ratelimit_limit_requests: int = 10_000_000,
        ratelimit_limit_tokens: int = 10_000_000_000,
        record_requests: bool = True,
    ) -> None:
        """Configure the server; nothing listens until ``start()``."""
        self.host = host
        self.port = port
        self.latency_s = latency_s
        self.slots = slots
        self._slots_free_at: list[float] = []  # when each busy slot's last request ends
        self.api_key = api_key
        self.models = models
        self.supports_json_schema = supports_json_schema
        self.response_formats: frozenset[str] | None = None
        self.format_rejection_status = 400
        self.max_context_tokens = max_context_tokens
        self.fault_rate = fault_rate
        self.ratelimit_limit_requests = ratelimit_limit_requests
        self.ratelimit_limit_tokens = ratelimit_limit_tokens
        self.record_requests = record_requests
        self.default_text = DEFAULT_TEXT
        self.reply_by_marker: dict[str, Reply] = {}
        self.responder: Callable[[dict[str, Any]], Reply | None] | None = None
        # offset from a chosen digit 1-9 -> its probability among the top_logprobs
        self.digit_probs: dict[int, float] = dict(DEFAULT_DIGIT_PROBS)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        # raw bodies, parsed on access: thousands of retained dicts would slow every GC pass
        self._requests: list[bytes] = []
        self._request_count = 0
        self._completions = 0
        self._window = (time.monotonic(), 0, 0)  # start, requests, tokens
        self._stub: tuple[dict[str, Any], str] | None = None  # the last schema and its stub as JSON
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self._bound_port: int | None = None
        self._startup_error: OSError | None = None
        self._connections: set[Connection] = set()
        self.batch_failures: set[str] = set()
        self.expire_batches = False
        self.batch_polls = 0
        self._batch_api = BatchApi(self)

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The ``base_url`` a client uses, e.g. ``http://127.0.0.1:PORT/v1``."""
        if self._bound_port is None:
            raise RuntimeError("JudgeServer is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._bound_port}/v1"

    def start(self) -> JudgeServer:
        """Start serving in a background thread; return once listening."""
        if self._thread is not None:
            raise RuntimeError("JudgeServer is already running")
        ready = threading.Event()
        self._stopping = asyncio.Event()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, args=(ready,), name="JudgeServer", daemon=True)
        self._thread.start()
        ready.wait()
        if self._bound_port is None:
            self._thread.join()
            self._thread = None
            raise self._startup_error or RuntimeError("JudgeServer failed to start; see the traceback")
        return self

    def stop(self) -> None:
        """Stop listening, drop open connections and join the thread; idempotent."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join()
        self._thread = self._loop = self._bound_port = None

    async def start_async(self) -> JudgeServer:
        """Like ``start()``, without blocking the running event loop."""
        return await asyncio.to_thread(self.start)

    async def stop_async(self) -> None:
        """Like ``stop()``, without blocking the running event loop."""
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> JudgeServer:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    async def __aenter__(self) -> JudgeServer:
        """Start the server without blocking the loop."""
        return await self.start_async()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server without blocking the loop."""
        await self.stop_async()

    # -- scripting and introspection ---------------------------------------------------

    def script(self, *items: Reply) -> None:
        """Queue replies for the next chat requests, consumed in arrival order."""
        for item in items:
            if not isinstance(item, str | dict | Fault):
                raise TypeError(f"script() takes str, dict or Fault items, not {type(item).__name__}")
        with self._lock:
            self._script.extend(items)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The chat request bodies, parsed, in arrival order (no headers are kept)."""
        with self._lock:
            bodies = list(self._requests)
        return [json.loads(body) for body in bodies]

    @property
    def request_count(self) -> int:
        """HTTP requests received on any path, rejected ones included."""
        return self._request_count

    @property
    def batches(self) -> list[dict[str, Any]]:
        """The batch objects created so far, in creation order (copies)."""
        return self._batch_api.snapshot()

    def reset(self) -> None:
        """Forget recorded requests, queued scripts and markers."""
        with self._lock:
            self._requests.clear()
            self._script.clear()
            self._request_count = 0
            self.reply_by_marker.clear()

    # -- HTTP --------------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._serve(ready))
        finally:
            ready.set()  # never leave start() waiting, even if _serve() failed unexpectedly

    async def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                lambda: Connection(self, loop), self.host, self.port, backlog=4096
            )
        except OSError as exc:  # start() re-raises it in the caller's thread
            self._startup_error = exc
            return
        self._loop = loop
        self._bound_port = server.sockets[0].getsockname()[1]
        ready.set()
        await self._stopping.wait()
        server.close()
        for connection in tuple(self._connections):
            connection.abort()
        await asyncio.sleep(0)  # let the aborted transports close their sockets

    def _answer(self, request: Request, body: bytes) -> tuple[float, Response | None]:
        """Return the delay before answering and the response (None: drop the connection)."""
        with self._lock:
            self._request_count += 1
        try:
            return self._dispatch(request, body)
        except Exception:
            logger.exception("JudgeServer failed on %r", request.path)
            message = "JudgeServer raised an exception; see its log."
            return 0.0, error_response(500, message, type_="server_error")

    def _dispatch(self, request: Request, body: bytes) -> tuple[float, Response | None]:
        if self.api_key is not None:
            expected = b"Bearer " + self.api_key.encode()
            if request.headers.get(b"authorization") != expected:
                return 0.0, error_response(401, "Incorrect API key provided.", code="invalid_api_key")
        route = (request.method, request.path)
        if route == (b"POST", b"/v1/chat/completions") or _is_azure_chat(request):
            return self._chat(body)
        if route == (b"GET", b"/v1/models"):
            return 0.0, self._list_models()
        if request.path.startswith((b"/v1/files", b"/v1/batches")):
            return 0.0, self._batch_api.dispatch(request, body)
        target = f"{request.method.decode('latin-1')} {request.path.decode('latin-1')}"
        return 0.0, error_response(404, f"Invalid URL ({target})")

    def _encode(self, response: Response, keep_alive: bool) -> bytes:
        start, requests, tokens = self._window
        reset_ms = max(0, int((start + _RATELIMIT_WINDOW_S - time.monotonic()) * 1000))
        limits = _RATELIMIT_HEADERS % (
            self.ratelimit_limit_requests,
            self.ratelimit_limit_tokens,
            max(0, self.ratelimit_limit_requests - requests),
            max(0, self.ratelimit_limit_tokens - tokens),
            reset_ms,
            reset_ms,
        )
        return encode_response(response, keep_alive, limits)

    def _list_models(self) -> Response:
        names = sorted(self.models) if self.models else ["judge-model"]
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "judgekit"} for n in names]
        return Response(200, json.dumps({"object": "list", "data": data}).encode())

    # -- chat completions --------------------------------------------------------------

    def _chat(self, raw: bytes) -> tuple[float, Response | None]:
        try:
            payload = json.loads(raw)
        except ValueError:  # also covers invalid UTF-8
            payload = None
        if not isinstance(payload, dict):
            return 0.0, error_response(400, "We could not parse the JSON body of your request.")
        if self.record_requests:
            with self._lock:
                self._requests.append(raw)
        texts = message_texts(payload.get("messages"))
        prompt_tokens = estimate_tokens(sum(map(len, texts)))
        self._count_usage(prompt_tokens)
        return self._chat_reply(payload, texts, prompt_tokens)

    def _chat_reply(
        self, payload: dict[str, Any], texts: list[str], prompt_tokens: int
    ) -> tuple[float, Response | None]:
        """Answer a parsed chat request (over HTTP or as a batch line)."""
        rejection = self._validate(payload, prompt_tokens)
        if rejection is not None:
            return 0.0, rejection
        extra_delay_s, reply = self._choose_reply(payload, texts)
        delay_s = self._queued(self.latency_s + extra_delay_s)
        if isinstance(reply, Fault) and reply.kind == "drop":
            return delay_s, None
        if isinstance(reply, Fault) and reply.kind == "status":
            return delay_s, status_response(reply)
        if isinstance(reply, Fault) and reply.kind in ("raw", "gzip_bomb"):
            return delay_s, raw_response(reply)
        if isinstance(reply, Fault) and reply.kind == "completion":
            base = reply.text if reply.text is not None else self._default_reply(payload)
            body = completion_body(
                payload, base, prompt_tokens, number=self._completions + 1, digit_probs=self.digit_probs
            )
            self._completions += 1
            return delay_s, Response(200, json.dumps(patched(json.loads(body), reply.patch)).encode())
        body = completion_body(
            payload, reply, prompt_tokens, number=self._completions + 1, digit_probs=self.digit_probs
        )
        self._completions += 1
        return delay_s, Response(200, body)

    def _queued(self, compute_s: float) -> float:
        """The delay of a reply computed for `compute_s` once a slot is free (first come, first served)."""
        if self.slots is None:
            return compute_s
        now = time.monotonic()
        with self._lock:
            free_at = self._slots_free_at
            if len(free_at) < self.slots:
                free_at.append(now)
            slot = min(range(len(free_at)), key=free_at.__getitem__)
            done = max(now, free_at[slot]) + compute_s
            free_at[slot] = done
        return done - now

    def _count_usage(self, tokens: int) -> None:
        start, requests, used = self._window
        now = time.monotonic()
        if now - start >= _RATELIMIT_WINDOW_S:
            start, requests, used = now, 0, 0
        self._window = (start, requests + 1, used + tokens)

    def _validate(self, payload: dict[str, Any], prompt_tokens: int) -> Response | None:
        model = payload.get("model")
        if not isinstance(model, str):
            return error_response(400, "You must provide a model parameter.", param="model")
        if not isinstance(payload.get("messages"), list):
            return error_response(400, "'messages' is a required property.", param="messages")
        if self.models is not None and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return error_response(404, message, code="model_not_found")
        if payload.get("stream"):
            return error_response(400, "JudgeServer does not support stream=true.", param="stream")
        if self.response_formats is not None and (mode := format_mode(payload)) not in self.response_formats:
            message = (
                f"1 validation error: ('body', 'response_format', 'type'): {mode} is not accepted; "
                f"Input should be one of {sorted(self.response_formats)}"
            )
            return error_response(self.format_rejection_status, message, param="response_format")
        if not self.supports_json_schema and format_mode(payload) == "json_schema":
            message = "response_format of type 'json_schema' is not supported by this server."
            return error_response(400, message, param="response_format")
        if self.max_context_tokens is not None and prompt_tokens > self.max_context_tokens:
            message = (
                f"This model's maximum context length is {self.max_context_tokens} tokens. "
                f"However, your messages resulted in {prompt_tokens} tokens. "
                "Please reduce the length of the messages."
            )
            return error_response(400, message, param="messages", code="context_length_exceeded")
        return None

    def _choose_reply(self, payload: dict[str, Any], texts: list[str]) -> tuple[float, Reply]:
        """Return an extra delay and the reply; a delay fault falls through to the next source."""
        if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            return 0.0, self._rng.choice(RANDOM_FAULTS)
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        if scripted is None:
            return self._unscripted_reply(payload, texts)
        if isinstance(scripted, Fault) and scripted.kind == "delay":
            delay_s, reply = self._unscripted_reply(payload, texts)
            return scripted.delay_s + delay_s, reply
        return 0.0, scripted

    def _unscripted_reply(self, payload: dict[str, Any], texts: list[str]) -> tuple[float, Reply]:
        reply: Reply | None = None
        if self.reply_by_marker:
            text = "\n".join(texts)
            markers = tuple(self.reply_by_marker.items())
            reply = next((found for marker, found in markers if marker in text), None)
        if reply is None and self.responder is not None:
            reply = self.responder(payload)
        if isinstance(reply, Fault) and reply.kind == "delay":
            return reply.delay_s, self._default_reply(payload)
        return 0.0, self._default_reply(payload) if reply is None else reply

    def _default_reply(self, payload: dict[str, Any]) -> Reply:
        schema = json_schema(payload)
        if schema is None:
            return self.default_text
        # A client sends the same schema with every request: build and encode its stub once.
        if self._stub is None or self._stub[0] != schema:
            self._stub = (schema, json.dumps(stub(schema, schema)))
        return self._stub[1]


def _is_azure_chat(request: Request) -> bool:
    """Azure OpenAI's chat URL, `/openai/deployments/NAME/chat/completions` (the query aside)."""
    path = request.path
    return (
        request.method == b"POST"
        and path.startswith(b"/openai/deployments/")
        and path.endswith(b"/chat/completions")
    )
