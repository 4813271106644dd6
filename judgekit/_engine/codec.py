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

from judgekit._config import CHARS_PER_TOKEN, OPENAI_BASE_URL, JudgeConfig
from judgekit._engine.cache import GroupCommit, ReplyCache, cache_key
from judgekit._engine.exchange import JudgeReply, JudgeRequest, reply_from_stored, stored_reply
from judgekit._keywords import find_refusal, get_keyword_set
from judgekit._prompts import render_messages
from judgekit._records import Record
from judgekit._rubrics import Rubric
from judgekit._verdicts import (
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


class Codec:
    """A rubric and a judge configuration: what to send for a record, and what a reply means.

    Requests are structured (`response_format` with the rubric's reply schema) unless asked for
    text; which one a run sends is the sender's choice (`output_mode`, and what the endpoint
    accepts), not the codec's.
    """

    def __init__(self, rubric: Rubric, config: JudgeConfig):
        self.rubric = rubric
        self.config = config
        self._key_prefixes: dict[tuple[bool, str], str] = {}

    @property
    def max_tokens(self) -> int:
        """The completion-token limit of this judge's requests: the config's, else the rubric's."""
        return self.config.max_tokens or self.rubric.generation.max_tokens

    @property
    def structured(self) -> bool:
        """Whether requests start structured: every output mode but `text`."""
        return self.config.output_mode != "text"

    def messages_for(self, record: Record) -> Messages:
        """The judge prompt for `record`: the rubric's static system message, then the record's."""
        return render_messages(self.rubric, record)

    def request_for(self, record: Record, *, structured: bool | None = None) -> JudgeRequest:
        """The judge request for `record`; structured unless text mode is set or asked for."""
        return self.request(self.messages_for(record), structured=structured)

    def request(self, messages: Messages, *, structured: bool | None = None) -> JudgeRequest:
        """The judge request carrying `messages`."""
        structured = self.structured if structured is None else structured
        return JudgeRequest(
            messages=messages,
            response_format=self._response_format if structured else None,
            **self._settings,
        )

    @cached_property
    def _settings(self) -> dict[str, Any]:
        """The request fields every record shares (from the rubric and the config)."""
        generation, config = self.rubric.generation, self.config
        assert config.model is not None
        return {
            "model": config.model,
            "temperature": config.temperature if config.temperature is not None else generation.temperature,
            "max_tokens": self.max_tokens,
            "logprobs": config.logprobs,
            "top_p": generation.top_p,
            "seed": generation.seed,
        }

    @cached_property
    def _response_format(self) -> dict[str, Any]:
        """The structured-output request: the rubric's reply schema."""
        return {
            "type": "json_schema",
            "json_schema": {
                "name": f"{self.rubric.name.replace('-', '_')}_verdict",
                "schema": reply_schema(self.rubric),
                "strict": True,
            },
        }

    def cache_key(self, request: JudgeRequest) -> str:
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

    def verdict_from_reply(self, record: Record, reply: JudgeReply, *, cached: bool = False) -> Verdict:
        """Parse and check the judge's reply to `record` (from any transport: online, Batch API, Ray)."""
        outcome, parsed = self._parse(reply)
        common: dict[str, Any] = {
            "judge_model": reply.model,
            "usage": reply.usage,
            "latency_ms": round(reply.latency_ms, 1) if reply.latency_ms is not None else None,
            "cached": cached or None,
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
            expected_score=expected_score(reply.tokens, self.rubric) if reply.tokens else None,
            raw=_bounded(reply.text) if self.config.keep_raw else None,
            **common,
        )

    def error_verdict(self, record: Record, message: str) -> Verdict:
        """The verdict of a record whose request failed."""
        return self.verdict(record, status="api_error", error=message)

    def keyword_verdict(self, record: Record) -> Verdict:
        """The verdict of a keyword rubric: a refusal phrase found in the response, or none."""
        assert self.rubric.keyword_set is not None
        match = find_refusal(record.response, get_keyword_set(self.rubric.keyword_set))
        values = {"refused": match is not None}
        outcome = derive_outcome(values, self.rubric)
        reasoning = (
            f"refusal string {match!r} found"
            if match is not None
            else f"no refusal string of set '{self.rubric.keyword_set}' found"
        )
        return self.verdict(
            record,
            score=outcome.score,
            harmful=outcome.harmful,
            refused=outcome.refused,
            fields=values,
            reasoning=reasoning,
        )

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
            **values,
        )


def _bounded(text: str | None) -> str | None:
    """`text` as kept in a verdict: whole up to KEPT_RAW_CHARS, else its start and its length."""
    if text is None or len(text) <= KEPT_RAW_CHARS:
        return text
    return f"{text[:KEPT_RAW_CHARS]}... [truncated: {len(text):,} characters in all]"
