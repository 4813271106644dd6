"""A small, fast OpenAI-compatible judge server on loopback, for tests, benchmarks and CI.

Only the standard library: an asyncio protocol speaking HTTP/1.1 with keep-alive, and json.

    with JudgeServer(latency_s=0.05) as server:
        server.script("not json", Fault.status(429, retry_after_s=0.01), {"score": 3})
        client = openai.OpenAI(base_url=server.url, api_key="test")

The server always runs in a background thread with its own event loop, so blocking and
async clients in the calling thread both work. ``start()``/``stop()`` block until it is
listening/stopped; ``start_async()``/``stop_async()`` (and ``async with``) do the same
without blocking the caller's loop.

Standalone, for a benchmark in a separate process:
``python -m judgekit.testing --port 8000 --latency-ms 100 --fault-rate 0.3``; with
``--score-from-marker`` it answers each request from ``[[FIELD=VALUE]]`` markers in the judged
text (``[[score=5]]``), so differing judges can be scripted from the command line.
"""

from judgekit.testing.chat import DEFAULT_TEXT
from judgekit.testing.faults import Fault, Reply
from judgekit.testing.rules import marker_responder
from judgekit.testing.server import JudgeServer
from judgekit.testing.standalone import main

__all__ = ["DEFAULT_TEXT", "Fault", "JudgeServer", "Reply", "main", "marker_responder"]
