"""The openai SDK transport enforces max_reply_bytes while it reads, as the aiohttp one does."""

from __future__ import annotations

import time
import tracemalloc

from judgekit import Judge, Verdict
from judgekit.testing import Fault, JudgeServer

GOOD = {"reasoning": "fine", "category": None, "score": 2}


def _score(server: JudgeServer, items: list[str], **options: object) -> list[Verdict]:
    options = {"max_retries": 0, "concurrency": 1, **options}
    with Judge("policy", model="judge-model", base_url=server.url, transport="sdk", **options) as judge:  # type: ignore[arg-type]
        return judge.score(items)


def test_a_body_over_the_cap_is_refused_by_its_length(server: JudgeServer) -> None:
    server.script(Fault.raw(b" " * 3_000_000), GOOD)
    verdicts = _score(server, ["a", "b"], max_reply_bytes=1 << 20)
    assert verdicts[0].status == "api_error" and "3,000,000 bytes" in (verdicts[0].error or "")
    assert "--max-reply-bytes" in (verdicts[0].error or "") and verdicts[1].status == "ok"


def test_a_gzip_bomb_is_cut_while_it_is_read(server: JudgeServer) -> None:
    server.script(Fault.gzip_bomb(64 << 20), GOOD)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        verdicts = _score(server, ["a", "b"], max_reply_bytes=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert verdicts[0].status == "api_error"
    assert "more than 1,048,576 bytes (decoded)" in (verdicts[0].error or "")
    assert verdicts[1].status == "ok"
    assert peak < 32 << 20, f"{peak:,} bytes held while reading a 64 MiB bomb"
    assert time.perf_counter() - started < 5


def test_a_body_that_is_not_json_is_retryable_and_named(server: JudgeServer) -> None:
    server.script(Fault.raw(b"<html>busy</html>"), GOOD)
    verdicts = _score(server, ["a"], max_retries=1, retry_deadline_s=0)
    assert verdicts[0].status == "ok" and server.request_count == 2
