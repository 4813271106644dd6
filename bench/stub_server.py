"""The stub judge server for bench/run.py: `judgekit.testing.JudgeServer` in its own process.

Like `python -m judgekit.testing`, plus a line protocol on stdin so the bench can ask what the
server saw: it prints its URL once listening; each `stats` line on stdin is answered with one JSON
line ({"requests": N, "first_body": {...} | null}); end of stdin stops it.

It keeps no request bodies but the first one it answers, so a run of a million rows does not fill
its memory and its request count is exact.

The `x-ratelimit-*` headers it sends advertise budgets far above what a benchmark reaches
(`--ratelimit-requests`, `--ratelimit-tokens`), so judgekit's flow control, which adopts them,
does not set the pace unless a scenario asks for it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from judgekit.testing import JudgeServer


def keep_first_body(server: JudgeServer) -> list[dict[str, Any]]:
    """A list that receives the first chat request body the server answers (at most one)."""
    first: list[dict[str, Any]] = []

    def responder(payload: dict[str, Any]) -> None:
        first.append(payload)
        server.responder = None  # once: no cost on later requests; they get the default reply

    server.responder = responder
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ratelimit-requests", type=int, default=10**9, help="advertised requests a minute")
    parser.add_argument("--ratelimit-tokens", type=int, default=10**12, help="advertised tokens a minute")
    args = parser.parse_args()
    server = JudgeServer(
        latency_s=args.latency_ms / 1000,
        fault_rate=args.fault_rate,
        seed=args.seed,
        ratelimit_limit_requests=args.ratelimit_requests,
        ratelimit_limit_tokens=args.ratelimit_tokens,
        record_requests=False,
    )
    first = keep_first_body(server)
    with server:
        print(server.url, flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                stats = {"requests": server.request_count, "first_body": first[0] if first else None}
                print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
