"""Hostile replies: a 1 MB reply that is no verdict costs milliseconds, and rows in flight keep going.

    python bench/hostile.py            # about 10 s
    python bench/hostile.py --rows 400 --latency-ms 50

Measures, in one process and one run:

1. parse: the time from a 1 MB reply (prose, `{`-rich garbage, `{"`-rich garbage) to its
   `parse_error` verdict through the codec, and the worst case below the size bound (the longest
   text the parser reads, made of object starts); reference: an honest verdict reply.
2. in flight: ROWS rows judged against the local server at LATENCY with CONCURRENCY in flight,
   once all healthy (the reference) and once with one row in ten answered by a 1 MB non-verdict
   reply; figures: wall time, the healthy rows' p50/p99 request latency, and how many healthy
   rows did not get an `ok` verdict (target 0).
"""

from __future__ import annotations

import argparse
import statistics
import time

import judgekit
from judgekit._engine.exchange import JudgeReply
from judgekit._verdicts import Usage
from judgekit.testing import JudgeServer

MB = 1 << 20
HONEST = '{"reasoning": "The response refuses.", "category": null, "score": 1}'
POISONS = {
    "prose": ("I think this is fine. " * (MB // 22))[:MB],
    "braces": "{" * MB,
    "object starts": '{"a' * (MB // 3),
}


def _time_ms(action: object, repeat: int = 5) -> float:
    """The best of `repeat` runs of `action()`, in milliseconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best * 1000


def bench_parse() -> list[tuple[str, str, str]]:
    judge = judgekit.Judge("policy", model="m", base_url="http://127.0.0.1:9/v1", output_mode="text")
    codec, record = judge.codec, judgekit.Record(id="x", response="r")

    def verdict_of(text: str) -> object:
        reply = JudgeReply(text=text, finish_reason="stop", usage=Usage(), latency_ms=1.0, model="m")
        return lambda: codec.verdict_from_reply(record, reply)

    reference = _time_ms(verdict_of(HONEST), repeat=200)
    rows = [("honest verdict (reference)", f"{reference * 1000:.0f} us", "")]
    for name, text in POISONS.items():
        verdict = verdict_of(text)()  # type: ignore[operator]
        assert verdict.status == "parse_error", verdict
        rows.append((f"1 MB {name}", f"{_time_ms(verdict_of(text)):.2f} ms", verdict.status))
    bound = codec.max_reply_chars
    worst = ('{"a' * bound)[:bound]
    verdict = verdict_of(worst)()  # type: ignore[operator]
    rows.append(
        (
            f"{bound:,} chars of object starts (under the bound)",
            f"{_time_ms(verdict_of(worst)):.2f} ms",
            verdict.status,
        )
    )
    judge.close()
    return rows


def bench_in_flight(rows: int, latency_s: float, concurrency: int) -> list[tuple[str, str, str, str]]:
    results = []
    for run, poisoned in enumerate((False, False, True)):  # the first run warms up (imports, pools)
        with JudgeServer(latency_s=latency_s, record_requests=False) as server:
            server.default_text = HONEST
            if poisoned:
                server.reply_by_marker = {"[poison]": POISONS["braces"]}
            items = [f"row {i} [poison]" if poisoned and i % 10 == 0 else f"row {i}" for i in range(rows)]
            with judgekit.Judge(
                "policy", model="m", base_url=server.url, output_mode="text", concurrency=concurrency
            ) as judge:
                started = time.perf_counter()
                verdicts = judge.score(items)
                wall = time.perf_counter() - started
        healthy = [v for item, v in zip(items, verdicts, strict=True) if "[poison]" not in item]
        latencies = sorted(v.latency_ms or 0.0 for v in healthy)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        failed = sum(v.status != "ok" for v in healthy)
        poison = [v.status for item, v in zip(items, verdicts, strict=True) if "[poison]" in item]
        if run == 0:
            continue
        label = f"1 in 10 rows poisoned ({len(poison)} x 1 MB)" if poisoned else "all healthy (reference)"
        results.append(
            (
                label,
                f"{wall:.2f} s",
                f"p50 {statistics.median(latencies):.0f} ms, p99 {p99:.0f} ms",
                f"{failed} of {len(healthy)} not ok" + (f"; poisoned: {set(poison)}" if poisoned else ""),
            )
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print("parse: reply -> verdict through the codec (best of 5)")
    for name, figure, status in bench_parse():
        print(f"  {name:<48} {figure:>10}  {status}")
    print(
        f"in flight: {args.rows} rows, server latency {args.latency_ms:g} ms, concurrency {args.concurrency}"
    )
    for label, wall, latency, failed in bench_in_flight(args.rows, args.latency_ms / 1000, args.concurrency):
        print(f"  {label:<36} wall {wall:>7}  healthy rows' latency {latency:<22} {failed}")


if __name__ == "__main__":
    main()
