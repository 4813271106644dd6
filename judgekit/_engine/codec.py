"""The pure half of judging: records into requests, replies into verdicts, requests into cache keys.

No I/O and no event loop: the online sender, the Batch API (`judgekit.batch`) and Ray
(`judgekit.ray`) each move requests and replies their own way and share this codec, so a verdict
is the same whichever way its reply came.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Any

from judgekit._config import CHARS_PER_TOKEN, OPENAI_BASE_URL, JudgeConfig, RequestMode, redact
from judgekit._engine.cache import GroupCommit, ReplyCache, cache_key
from judgekit._engine.exchange import JudgeReply, JudgeRequest, reply_from_stored, stored_reply
from judgekit._engine.servers import GENERIC
from judgekit._keywords import RefusalMatch, classify_refusal, get_keyword_set
from judgekit._prompts import check_template, render_messages
from judgekit._records import Record
from judgekit._rubrics import Rubric
from judgekit._verdicts import (
    JudgeSettings,
    Outcome,
    ParsedReply,
    Verdict,
    derive_outcome,
    expected_score,
    parse_reply,
    reply_schema,
)

Messages = list[dict[str, str]]

MIN_PARSED_CHARS = 16_384
REPLY_SLACK = 4
"""A reply longer than REPLY_SLACK times the characters `max_tokens` allows (4 a token) is an error."""
KEPT_RAW_CHARS = 8_192
"""The raw reply kept in a verdict is cut to this many characters (its length is stated)."""


LADDER: tuple[RequestMode, ...] = tuple(mode for mode in GENERIC.modes if mode != "guided_json")
"""The request modes `auto` tries, best first: json_schema, json_object with the schema, json_object,
text. vLLM's `guided_json` is left out: every vLLM that has it also takes json_schema."""


class Codec:
    """A rubric and a judge configuration: what to send for a record, and what a reply means.

    A request asks for its reply's format in one of the `modes` (a JSON schema, JSON, or the
    prompt alone); which one a run sends is the sender's choice (what the endpoint accepts),
    not the codec's.
    """

    def __init__(self, rubric: Rubric, config: JudgeConfig):
        self.rubric = rubric
        self.config = config
        if rubric.kind == "llm":
            check_template(rubric)  # a broken template fails here, before any request
        self._key_prefixes: dict[tuple[str, str], str] = {}

    @property
    def max_tokens(self) -> int:
        """The completion-token limit of this judge's requests: the config's, else the rubric's."""
        return self.config.max_tokens or self.rubric.generation.max_tokens

    @property
    def modes(self) -> tuple[RequestMode, ...]:
        """The request modes a run may use, in the order it tries them (one unless `auto`)."""
        mode = self.config.output_mode
        return LADDER if mode == "auto" else (mode,)

    def messages_for(self, record: Record) -> Messages:
        """The judge prompt for `record`: the rubric's static system message, then the record's."""
        return render_messages(self.rubric, record)

    def request_for(self, record: Record, *, mode: RequestMode | None = None) -> JudgeRequest:
        """The judge request for `record`, in `mode` (default: the first of `modes`)."""
        return self.request(self.messages_for(record), mode=mode)

    def request(self, messages: Messages, *, mode: RequestMode | None = None) -> JudgeRequest:
        """The judge request carrying `messages`, in `mode` (default: the first of `modes`)."""
        mode = mode or self.modes[0]
        return JudgeRequest(
            messages=messages,
            response_format=self._response_formats[mode],
            output_mode=mode,
            **self._settings,
        )

    @cached_property
    def _settings(self) -> dict[str, Any]:
        """The request fields every record shares (from the rubric and the config)."""
        settings, config = self.judge_settings, self.config
        assert config.model is not None and settings is not None
        return {
            "model": config.model,
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
            "logprobs": config.logprobs,
            "top_p": settings.top_p,
            "seed": settings.seed,
        }

    @cached_property
    def judge_settings(self) -> JudgeSettings | None:
        """The settings every verdict of this judge records (None for keyword rubrics); built once."""
        if self.rubric.kind != "llm":
            return None
        generation, config = self.rubric.generation, self.config
        temperature = config.temperature if config.temperature is not None else generation.temperature
        return JudgeSettings(
            temperature=temperature,
            max_tokens=self.max_tokens,
            logprobs=True if config.logprobs else None,
            top_p=generation.top_p,
            seed=generation.seed,
        )

    @cached_property
    def _response_formats(self) -> dict[RequestMode, dict[str, Any] | None]:
        """Each mode's `response_format`, from the rubric's reply schema; built once."""
        schema = reply_schema(self.rubric)
        name = f"{self.rubric.name.replace('-', '_')}_verdict"
        return {
            "json_schema": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            },
            "json_object_schema": {"type": "json_object", "schema": schema},
            "json_object": {"type": "json_object"},
            "text": None,
        }

    def cache_key(self, request: JudgeRequest) -> str:
        """The reply cache's key for `request` on this judge's endpoint and rubric.

        Everything but the record's own message is the same for every request of this judge, so
        its digest is computed once and only the record's message is hashed per request.
        """
        system, *rest = request.messages
        memo = (request.output_mode, system["content"])
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

    @property
    def max_reply_chars(self) -> int:
        """The longest reply text parsed: far above what `max_tokens` lets an honest judge write."""
        return max(MIN_PARSED_CHARS, self.max_tokens * CHARS_PER_TOKEN * REPLY_SLACK)

    def cached_reply(self, request: JudgeRequest, cache: ReplyCache | GroupCommit) -> JudgeReply | None:
        """The reply `cache` holds for `request`, from any transport (online, Batch API).

        Only a reply that parses into a verdict is served: a failed one (`parse_error`,
        `judge_refused`, written by an older version) is asked for again.
        """
        reply = self.stored_reply(request, cache)
        return reply if reply is not None and self.is_verdict(reply) else None

    def stored_reply(self, request: JudgeRequest, cache: ReplyCache | GroupCommit) -> JudgeReply | None:
        """The reply `cache` holds for `request`, unchecked (the caller parses it anyway)."""
        hit = cache.get(self.cache_key(request))
        return reply_from_stored(hit, request.model) if hit is not None else None

    def store_reply(
        self,
        request: JudgeRequest,
        reply: JudgeReply,
        cache: ReplyCache | GroupCommit,
        *,
        verdict: Verdict | None = None,
    ) -> None:
        """Store `reply` in `cache` under the key every transport uses for `request`.

        Only a reply that parsed into a verdict (`verdict`, else parsed now) is stored: a failed
        one would be served again on the retry of its record.
        """
        if verdict.status == "ok" if verdict is not None else self.is_verdict(reply):
            cache.put(self.cache_key(request), stored_reply(reply))

    def is_verdict(self, reply: JudgeReply) -> bool:
        """Whether `reply` parses into a verdict (status ok)."""
        return self._parse(reply)[0] is not None

    def _parse(self, reply: JudgeReply) -> tuple[Outcome | None, ParsedReply]:
        """The reply's outcome, or None with the reason in the parsed reply's status and error."""
        text = reply.text
        if reply.problem is not None:
            return None, ParsedReply({}, "parse_error", f"the judge's reply is malformed: {reply.problem}")
        if text is not None and len(text) > self.max_reply_chars:
            return None, ParsedReply(
                {},
                "parse_error",
                f"the judge's reply is {len(text):,} characters, far above max_tokens={self.max_tokens} "
                f"(at most {self.max_reply_chars:,} characters are parsed)",
            )
        parsed = parse_reply(text, self.rubric, refusal=reply.refusal, finish_reason=reply.finish_reason)
        if parsed.status != "ok":
            return None, parsed
        try:
            return derive_outcome(parsed.values, self.rubric), parsed
        except (ValueError, TypeError, ArithmeticError, RecursionError) as error:
            return None, ParsedReply(parsed.values, "parse_error", str(error)[:500])

    def verdict_from_reply(
        self, record: Record, reply: JudgeReply, *, cached: bool = False, mode: RequestMode | None = None
    ) -> Verdict:
        """Parse and check the judge's reply to `record` (from any transport: online, Batch API, Ray).

        `mode` is the request mode the reply answered, recorded in the verdict.
        """
        outcome, parsed = self._parse(reply)
        common: dict[str, Any] = {
            "judge_model": reply.model,
            "usage": reply.usage,
            "latency_ms": round(reply.latency_ms, 1) if reply.latency_ms is not None else None,
            "cached": cached or None,
            "output_mode": mode,
        }
        if outcome is None:
            raw = _bounded(reply.text if reply.text is not None else reply.refusal)
            return self.verdict(record, status=parsed.status, error=parsed.error, raw=raw, **common)
        reasoning = parsed.values.get("reasoning")
        return self.verdict(
            record,
            score=outcome.score,
            harmful=outcome.harmful,
            refused=outcome.refused,
            categories=outcome.categories,
            fields={k: v for k, v in parsed.values.items() if k != "reasoning"},
            reasoning=reasoning if isinstance(reasoning, str) else None,
            expected_score=expected_score(reply.tokens, self.rubric, parsed.values) if reply.tokens else None,
            parsed_from=parsed.parsed_from,
            raw=_bounded(reply.text) if self.config.keep_raw else None,
            **common,
        )

    def error_verdict(self, record: Record, message: str) -> Verdict:
        """The verdict of a record whose request failed; the key and token-shaped text redacted."""
        return self.verdict(record, status="api_error", error=redact(message, self.config.api_key))

    def keyword_verdict(self, record: Record) -> Verdict:
        """The verdict of a keyword rubric: a full, partial or no refusal found in the response."""
        assert self.rubric.keyword_set is not None
        match = classify_refusal(record.response, get_keyword_set(self.rubric.keyword_set))
        values: dict[str, Any] = {"refused": match.kind != "none"}
        if self._three_way:
            values["refusal"] = match.kind
        outcome = derive_outcome(values, self.rubric)
        return self.verdict(
            record,
            score=outcome.score,
            harmful=outcome.harmful,
            refused=outcome.refused,
            fields=values,
            reasoning=_keyword_reasoning(match, self.rubric.keyword_set),
        )

    @cached_property
    def _three_way(self) -> bool:
        """Whether the keyword rubric records full / partial / no refusal in a `refusal` field."""
        return any(field.name == "refusal" for field in self.rubric.fields)

    def verdict(self, record: Record, **values: Any) -> Verdict:
        """A verdict on `record` under this rubric, with the record's input when configured."""
        if self.config.include_input:
            values["input"] = record.as_input()
        return Verdict(
            id=record.id,
            category=record.category,
            rubric=self.rubric.name,
            rubric_version=self.rubric.version,
            rubric_hash=self.rubric.hash,
            judge_settings=self.judge_settings,
            **values,
        )


def _keyword_reasoning(match: RefusalMatch, keyword_set: str) -> str:
    if match.kind == "none":
        return f"no refusal string of set '{keyword_set}' found"
    found = f"refusal string {match.phrase!r} found" if match.phrase else "a deflection found"
    return f"{found}, then {match.pivot!r}: a partial refusal" if match.pivot else f"{found} ({match.kind})"


def _bounded(text: str | None) -> str | None:
    """`text` as kept in a verdict: whole up to KEPT_RAW_CHARS, else its start and its length."""
    if text is None or len(text) <= KEPT_RAW_CHARS:
        return text
    return f"{text[:KEPT_RAW_CHARS]}... [truncated: {len(text):,} characters in all]"
