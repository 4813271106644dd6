"""Chat completion bodies: message text, token estimates, logprobs and JSON-schema stubs."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

from judgekit.testing.faults import Reply

DEFAULT_TEXT = '{"score": 1, "reasoning": "stub"}'
"""Reply content in text mode when nothing is scripted."""

DEFAULT_DIGIT_PROBS = {0: 0.7, -1: 0.15, 1: 0.15}
"""The default ``JudgeServer.digit_probs``."""

_SPREAD_DIGITS = {str(digit): digit for digit in range(1, 10)}
_FILLER_TOKENS = "0123456789abcdefghijklmnopqrstuvwxyz"
_FLOOR_LOGPROB = -9999.0  # what OpenAI reports for a negligible alternative
_TOKEN_RE = re.compile(r"[0-9]|[^\W\d_]+|.", re.DOTALL)


def completion_body(
    payload: dict[str, Any],
    reply: Reply,
    prompt_tokens: int,
    *,
    number: int,
    digit_probs: Mapping[int, float],
) -> bytes:
    """The JSON body of chat completion ``number`` answering ``payload`` with ``reply``."""
    content, refusal, finish_reason = _message_parts(reply)
    completion_tokens = estimate_tokens(len(content or refusal or ""))
    logprobs = None
    if payload.get("logprobs"):
        top = int(payload.get("top_logprobs") or 0)
        logprobs = {
            "content": None if content is None else _token_logprobs(content, top, digit_probs),
            "refusal": None if refusal is None else _token_logprobs(refusal, top, digit_probs),
        }
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": content, "refusal": refusal},
        "logprobs": logprobs,
        "finish_reason": finish_reason,
    }
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return json.dumps(
        {
            "id": f"chatcmpl-judgekit-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload["model"],
            "choices": [choice],
            "usage": usage,
        }
    ).encode()


def _message_parts(reply: Reply) -> tuple[str | None, str | None, str]:
    """Content, refusal and finish_reason for a reply that produces a message."""
    if isinstance(reply, str):
        return reply, None, "stop"
    if isinstance(reply, dict):
        return json.dumps(reply), None, "stop"
    if reply.kind == "refusal":
        return None, reply.text, "stop"
    if reply.kind == "content_filter":
        return None, None, "content_filter"
    if reply.kind == "truncated":
        return reply.text, None, "length"
    raise ValueError(f"Fault.{reply.kind}() does not produce a message")


def _token_logprobs(text: str, top: int, digit_probs: Mapping[int, float]) -> list[dict[str, Any]]:
    entries = []
    for token in _TOKEN_RE.findall(text):
        ranked = _alternatives(token, digit_probs)
        taken = {alt for alt, _ in ranked}
        ranked += [(alt, _FLOOR_LOGPROB) for alt in _FILLER_TOKENS if alt not in taken]
        entries.append(
            {
                "token": token,
                "logprob": dict(ranked)[token],
                "bytes": list(token.encode()),
                "top_logprobs": [
                    {"token": alt, "logprob": logprob, "bytes": list(alt.encode())}
                    for alt, logprob in ranked[:top]
                ],
            }
        )
    return entries


def _alternatives(token: str, digit_probs: Mapping[int, float]) -> list[tuple[str, float]]:
    """Rank the token and its likely alternatives, most likely first."""
    digit = _SPREAD_DIGITS.get(token)
    if digit is None:
        return [(token, 0.0)]
    spread = [
        (str(digit + offset), math.log(prob))
        for offset, prob in digit_probs.items()
        if 0 <= digit + offset <= 9 and prob > 0
    ]
    if token not in {alt for alt, _ in spread}:
        spread.append((token, _FLOOR_LOGPROB))
    return sorted(spread, key=lambda alt: -alt[1])


def message_texts(messages: Any) -> list[str]:
    """Collect the text of each message content, a string or a list of text parts."""
    texts: list[str] = []
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return texts


def estimate_tokens(chars: int) -> int:
    """Tokens in ``chars`` characters, estimated as ceil(chars / 4)."""
    return (chars + 3) // 4


def json_schema(payload: dict[str, Any]) -> dict[str, Any] | None:
    """Return the schema the response_format asks the reply to follow (``{}`` if absent), else None.

    A ``json_schema`` format carries it in ``json_schema.schema``; llama.cpp's ``json_object``
    format may carry one in ``schema``.
    """
    response_format = payload.get("response_format")
    if not isinstance(response_format, dict):
        return None
    inline = response_format.get("schema")
    if response_format.get("type") == "json_object" and isinstance(inline, dict):
        return inline
    if response_format.get("type") != "json_schema":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema")
    return schema if isinstance(schema, dict) else {}


def format_mode(payload: dict[str, Any]) -> str:
    """The request mode judgekit names the payload's response_format by (text when none)."""
    response_format = payload.get("response_format")
    if not isinstance(response_format, dict):
        return "text"
    kind = response_format.get("type")
    if kind == "json_object":
        return "json_object_schema" if "schema" in response_format else "json_object"
    return str(kind)


def stub(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """Build a deterministic value satisfying ``schema``, resolving ``$ref`` in ``root``."""
    if "$ref" in schema:
        target: Any = root
        for key in schema["$ref"].removeprefix("#/").split("/"):
            target = target[key]
        return stub(target, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return stub(schema[combinator][0], root)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: stub(sub, root) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [stub(schema.get("items", {}), root) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        if "minimum" in schema:
            return schema["minimum"]
        return schema["exclusiveMinimum"] + 1 if "exclusiveMinimum" in schema else 0
    return {"boolean": False, "string": "stub"}.get(kind)
