"""Replies computed from the judged text: scripted judges without Python.

A marker ``[[FIELD=VALUE]]`` anywhere in the request's messages (usually inside the response
being judged) sets that field of the judge's JSON reply, e.g. ``[[score=5]]`` or
``[[refusal=full]]``. VALUE is read as JSON when it parses (``5``, ``true``, ``"x"``), else
taken as a string. The last marker of a field wins. The other fields come from a stub of the
request's JSON schema (structured output) or are ``score`` 1 and a stub ``reasoning`` (text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from judgekit.testing.chat import json_schema, message_texts, stub
from judgekit.testing.faults import Reply

MARKER = re.compile(r"\[\[([A-Za-z_][A-Za-z0-9_]*)=([^\]\n]*)\]\]")
"""``[[FIELD=VALUE]]``."""


def marker_values(text: str) -> dict[str, Any]:
    """The field values the markers in `text` set (the last marker of a field wins)."""
    values: dict[str, Any] = {}
    for name, raw in MARKER.findall(text):
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw.strip()
    return values


def marker_responder() -> Callable[[dict[str, Any]], Reply | None]:
    """A ``JudgeServer.responder`` answering from markers; None (the next source) without one."""

    def respond(payload: dict[str, Any]) -> Reply | None:
        values = marker_values("\n".join(message_texts(payload.get("messages"))))
        if not values:
            return None
        schema = json_schema(payload)
        base = stub(schema, schema) if schema is not None else {"score": 1}
        reply = base if isinstance(base, dict) else {}
        if "reasoning" in reply or schema is None:
            reply["reasoning"] = "answered from the marker " + ", ".join(
                f"{k}={v}" for k, v in values.items()
            )
        reply.update(values)
        return reply

    return respond
