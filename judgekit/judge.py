"""The Judge: a rubric, a configuration and one reusable client, turning records into verdicts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from judgekit.cache import GroupCommit, ReplyCache, cache_key
from judgekit.completions import (
    OPENAI_BASE_URL,
    JudgeClient,
    JudgeReply,
    JudgeRequest,
    RequestRejected,
    ResponseFormatUnsupported,
    RetryableError,
    make_client,
)
from judgekit.config import CHARS_PER_TOKEN, JudgeConfig, require_endpoint, resolve_config
from judgekit.errors import ConfigError, JudgeError
from judgekit.keywords import find_refusal, get_keyword_set
from judgekit.limits import FlowControl, backoff_s
from judgekit.prompts import render_messages
from judgekit.records import Item, Record, to_records
from judgekit.rubrics import Rubric, load_rubric
from judgekit.runner import judge_each
from judgekit.verdicts import Usage, Verdict, derive_outcome, expected_score, parse_reply, reply_schema

T = TypeVar("T")


class Judge:
    """Scores records under one rubric; holds the configuration and one HTTP client.

    `cache` (a ReplyCache or the path of one) makes re-judging the same request free: the reply
    is read back instead of sent. `config` is a ready JudgeConfig, in place of the keyword
    options. Use it as a context manager, or call `close()` / `aclose()`.
    """

    def __init__(
        self,
        rubric: str | Path | Rubric = "policy",
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        cache: ReplyCache | str | Path | None = None,
        config: JudgeConfig | None = None,
        **options: Any,
    ):
        if config is not None and (model or base_url or api_key or options):
            raise ConfigError("pass either config=JudgeConfig(...) or options such as model=..., not both")
        self.rubric = load_rubric(rubric)
        self._cache: ReplyCache | None = None
        self._state: _LoopState | None = None
        if cache is not None:
            self.use_cache(ReplyCache(cache) if isinstance(cache, str | Path) else cache)
        self.config: JudgeConfig = config or resolve_config(
            model=model, base_url=base_url, api_key=api_key, **options
        )
        if self.rubric.kind == "llm":
            require_endpoint(self.config, self.rubric.name)
        self._structured = self.config.output_mode != "text"
        self._key_prefixes: dict[tuple[bool, str], str] = {}
        self._settings: dict[str, Any] | None = None
        self._schema_format: dict[str, Any] | None = None
        self._sync_loop: asyncio.AbstractEventLoop | None = None

    def use_cache(self, cache: ReplyCache) -> None:
        """Read replies from `cache` when it has them, and store every new reply in it."""
        state = self._state
        if state is not None and state.store is not None:
            state.store.flush()  # the replies pending for the previous cache
        self._cache = cache
        if state is not None:
            state.store = GroupCommit(cache, state.loop)

    async def ascore(self, items: Item | Iterable[Item]) -> list[Verdict]:
        """Judge `items`; verdicts come back in input order."""
        records = to_records(items)
        by_id: dict[str, Verdict] = {}

        def keep(verdict: Verdict) -> None:
            by_id[verdict.id] = verdict

        await judge_each(records, self.judge_record, keep, concurrency=self.config.concurrency)
        return [by_id[record.id] for record in records]

    def score(self, items: Item | Iterable[Item]) -> list[Verdict]:
        """Synchronous `ascore`; also works inside a running event loop (notebooks)."""
        return self._run_sync(self.ascore(items))

    async def judge_record(self, record: Record) -> Verdict:
        """Judge one record; judge failures become the verdict's status, never an exception."""
        if self.rubric.kind == "keywords":
            return self._keyword_verdict(record)
        messages = render_messages(self.rubric, record)
        try:
            reply, cached = await self._obtain_reply(messages)
        except RequestRejected as error:
            return self._verdict(record, status="api_error", error=str(error))
        except RetryableError as error:
            return self._verdict(
                record, status="api_error", error=f"gave up after {self.config.max_retries} retries: {error}"
            )
        return self.verdict_from_reply(record, reply, cached=cached)

    async def _obtain_reply(self, messages: list[dict[str, str]]) -> tuple[JudgeReply, bool]:
        """The judge's reply from the cache, else from the endpoint (then cached)."""
        request = self._request(messages)
        store = self._loop_state().store
        if store is not None:
            hit = self.cached_reply(request, store)
            if hit is not None:
                return hit, True
        sent, reply = await self._send_with_retries(request, messages)
        if store is not None:
            self.store_reply(sent, reply, store)
            if self.config.output_mode == "auto" and sent.response_format is None:
                # After a fallback to text mode the structured request's key answers too: a rerun
                # starts structured and finds the reply with the one lookup it makes.
                self.store_reply(self._request(messages, structured=True), reply, store)
        return reply, False

    def cached_reply(self, request: JudgeRequest, cache: ReplyCache | GroupCommit) -> JudgeReply | None:
        """The reply `cache` holds for `request`, from any transport (online, Batch API)."""
        hit = cache.get(self.cache_key_for(request))
        return _reply_from_cache(hit, request.model) if hit is not None else None

    def store_reply(self, request: JudgeRequest, reply: JudgeReply, cache: ReplyCache | GroupCommit) -> None:
        """Store `reply` in `cache` under the key every transport uses for `request`."""
        cache.put(self.cache_key_for(request), _reply_to_cache(reply))

    def cache_key_for(self, request: JudgeRequest) -> str:
        """The reply cache's key for `request` on this judge's endpoint and rubric.

        Everything but the record's own message is the same for every request of this judge, so
        its digest is computed once and only the record's message is hashed per request.
        """
        system, *rest = request.messages
        memo = (request.response_format is not None, system["content"])
        prefix = self._key_prefixes.get(memo)
        if prefix is None:
            static = {**request.body(), "messages": [system]}
            endpoint = self.config.base_url or OPENAI_BASE_URL
            prefix = cache_key(
                endpoint=endpoint, model=request.model, rubric_hash=self.rubric.hash, body=static
            )
            self._key_prefixes[memo] = prefix
        record_part = json.dumps(rest, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(f"{prefix}\n{record_part}".encode()).hexdigest()

    async def _send_with_retries(
        self, request: JudgeRequest, messages: list[dict[str, str]]
    ) -> tuple[JudgeRequest, JudgeReply]:
        """Retry retryable failures with jittered exponential backoff, never sooner than Retry-After.

        A plain loop rather than tenacity: measured, a retry object per request cost about 40 us
        of CPU on the hot path, where nearly every request succeeds at once.
        """
        for attempt in range(1, self.config.max_retries + 2):
            try:
                return await self._send_adapting(request, messages)
            except RetryableError as error:
                if attempt > self.config.max_retries:
                    raise
                await asyncio.sleep(max(backoff_s(attempt), error.retry_after_s or 0.0))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _send_adapting(
        self, request: JudgeRequest, messages: list[dict[str, str]]
    ) -> tuple[JudgeRequest, JudgeReply]:
        """Send once; if the endpoint rejects structured output in auto mode, switch to text."""
        try:
            return request, await self._send_once(request)
        except ResponseFormatUnsupported:
            if self.config.output_mode == "json_schema":
                raise JudgeError(
                    "the judge endpoint does not accept response_format with a JSON "
                    "schema; use output_mode='text' (--output-mode text)"
                ) from None
            self._structured = False
            request = self._request(messages)
            return request, await self._send_once(request)

    async def _send_once(self, request: JudgeRequest) -> JudgeReply:
        """One attempt, through flow control: a slot, the RPM/TPM budgets, the shared pause."""
        state = self._loop_state()
        client, flow = state.client, state.flow
        estimate = sum(len(m["content"]) for m in request.messages) // CHARS_PER_TOKEN + request.max_tokens
        permit = await flow.acquire(estimate)
        try:
            reply = await client.send(request)
        except RetryableError as error:
            rate_limited = error.status_code == 429
            flow.release(permit, used_tokens=None, outcome="rate_limited" if rate_limited else "error")
            if error.retry_after_s:
                flow.pause(error.retry_after_s)
            raise
        except BaseException:
            flow.release(permit, used_tokens=None, outcome="error")
            raise
        flow.observe_headers(reply.rate_limits)
        used = reply.usage.prompt_tokens + reply.usage.completion_tokens
        flow.release(permit, used_tokens=used or None, outcome="ok")
        return reply

    @property
    def max_tokens(self) -> int:
        """The completion-token limit of this judge's requests: the config's, else the rubric's."""
        return self.config.max_tokens or self.rubric.generation.max_tokens

    def request_for(self, record: Record) -> JudgeRequest:
        """The judge request for `record` (structured output unless text mode is set)."""
        return self._request(render_messages(self.rubric, record))

    def error_verdict(self, record: Record, message: str) -> Verdict:
        """The verdict of a record whose request failed."""
        return self._verdict(record, status="api_error", error=message)

    def _request(self, messages: list[dict[str, str]], *, structured: bool | None = None) -> JudgeRequest:
        structured = self._structured if structured is None else structured
        return JudgeRequest(
            messages=messages,
            response_format=self._response_format() if structured else None,
            **self._request_settings(),
        )

    def _request_settings(self) -> dict[str, Any]:
        """The request fields every record shares (from the rubric and the config), built once."""
        if self._settings is None:
            generation, config = self.rubric.generation, self.config
            assert config.model is not None
            self._settings = {
                "model": config.model,
                "temperature": config.temperature
                if config.temperature is not None
                else generation.temperature,
                "max_tokens": self.max_tokens,
                "logprobs": config.logprobs,
                "top_p": generation.top_p,
                "seed": generation.seed,
            }
        return self._settings

    def _response_format(self) -> dict[str, Any]:
        """The structured-output request: the rubric's reply schema, built once."""
        if self._schema_format is None:
            self._schema_format = {
                "type": "json_schema",
                "json_schema": {
                    "name": f"{self.rubric.name.replace('-', '_')}_verdict",
                    "schema": reply_schema(self.rubric),
                    "strict": True,
                },
            }
        return self._schema_format

    def verdict_from_reply(self, record: Record, reply: JudgeReply, *, cached: bool = False) -> Verdict:
        """Parse and check the judge's reply to `record` (from any transport: online, Batch API, Ray)."""
        parsed = parse_reply(
            reply.text, self.rubric, refusal=reply.refusal, finish_reason=reply.finish_reason
        )
        common: dict[str, Any] = {
            "judge_model": reply.model,
            "usage": reply.usage,
            "latency_ms": round(reply.latency_ms, 1) if reply.latency_ms is not None else None,
            "cached": cached or None,
        }
        if parsed.status != "ok":
            return self._verdict(
                record, status=parsed.status, error=parsed.error, raw=reply.text or reply.refusal, **common
            )
        try:
            outcome = derive_outcome(parsed.values, self.rubric)
        except ValueError as error:
            return self._verdict(record, status="parse_error", error=str(error), raw=reply.text, **common)
        reasoning = parsed.values.get("reasoning")
        return self._verdict(
            record,
            score=outcome.score,
            harmful=outcome.harmful,
            refused=outcome.refused,
            categories=outcome.categories,
            fields={k: v for k, v in parsed.values.items() if k != "reasoning"},
            reasoning=reasoning if isinstance(reasoning, str) else None,
            expected_score=expected_score(reply.tokens, self.rubric) if reply.tokens else None,
            raw=reply.text if self.config.keep_raw else None,
            **common,
        )

    def _keyword_verdict(self, record: Record) -> Verdict:
        assert self.rubric.keyword_set is not None
        match = find_refusal(record.response, get_keyword_set(self.rubric.keyword_set))
        values = {"refused": match is not None}
        outcome = derive_outcome(values, self.rubric)
        reasoning = (
            f"refusal string {match!r} found"
            if match is not None
            else f"no refusal string of set '{self.rubric.keyword_set}' found"
        )
        return self._verdict(
            record,
            score=outcome.score,
            harmful=outcome.harmful,
            refused=outcome.refused,
            fields=values,
            reasoning=reasoning,
        )

    def _verdict(self, record: Record, **values: Any) -> Verdict:
        if self.config.include_input:
            values["input"] = record.as_input()
        return Verdict(
            id=record.id,
            category=record.category,
            rubric=self.rubric.name,
            rubric_version=self.rubric.version,
            rubric_hash=self.rubric.hash,
            **values,
        )

    def _loop_state(self) -> _LoopState:
        """The HTTP client, flow control and cache front of the running event loop."""
        loop = asyncio.get_running_loop()
        state = self._state
        if state is None or state.loop is not loop:
            config = self.config
            flow = FlowControl(config.concurrency, rpm=config.rpm, tpm=config.tpm, share=config.budget_share)
            store = GroupCommit(self._cache, loop) if self._cache is not None else None
            state = self._state = _LoopState(loop, make_client(config), flow, store)
        return state

    def _run_sync(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on this Judge's own event-loop thread, so sync calls reuse one client."""
        if self._sync_loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=_serve_forever, args=(loop,), name="judgekit-loop", daemon=True).start()
            self._sync_loop = loop
        return asyncio.run_coroutine_threadsafe(coroutine, self._sync_loop).result()

    async def aclose(self) -> None:
        """Commit the cache's pending replies and close the HTTP client of the current event loop."""
        state = self._state
        if state is not None and state.loop is asyncio.get_running_loop():
            self._state = None
            if state.store is not None:
                state.store.flush()
            await state.client.aclose()

    def close(self) -> None:
        """Close the client and stop the sync event-loop thread, if any."""
        loop = self._sync_loop
        if loop is None:
            return
        if self._state is not None and self._state.loop is loop:
            self._run_sync(self.aclose())
        loop.call_soon_threadsafe(loop.stop)
        self._sync_loop = None

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    async def __aenter__(self) -> Judge:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


@dataclass
class _LoopState:
    """What belongs to one event loop: the HTTP client, flow control and the cache's front."""

    loop: asyncio.AbstractEventLoop
    client: JudgeClient
    flow: FlowControl
    store: GroupCommit | None


def _reply_to_cache(reply: JudgeReply) -> dict[str, Any]:
    """What the cache keeps of a reply: its content, not its timing or rate-limit headers."""
    return {
        "text": reply.text,
        "refusal": reply.refusal,
        "finish_reason": reply.finish_reason,
        "usage": reply.usage.model_dump(),
        "model": reply.model,
        "tokens": [[token, [list(alt) for alt in alternatives]] for token, alternatives in reply.tokens],
    }


def _reply_from_cache(stored: Mapping[str, Any], model: str) -> JudgeReply:
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


def _serve_forever(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_forever()
    loop.close()
