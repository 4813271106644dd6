"""``python -m judgekit.testing``: a JudgeServer in the foreground, for a benchmark in another process."""

from __future__ import annotations

import argparse
import contextlib
import errno
import sys
import threading
from collections.abc import Sequence

from judgekit.testing.rules import marker_responder
from judgekit.testing.server import JudgeServer


def main(argv: Sequence[str] | None = None) -> None:
    """Run a JudgeServer in the foreground until Ctrl-C; print its URL once listening."""
    parser = argparse.ArgumentParser(
        prog="python -m judgekit.testing", description="A local OpenAI-compatible judge server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
    parser.add_argument(
        "--slots", type=int, help="compute at most this many requests at a time; the others queue"
    )
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of random faults")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault generator")
    parser.add_argument("--model", action="append", dest="models", help="accept only this model (repeatable)")
    parser.add_argument(
        "--score-from-marker",
        action="store_true",
        help="answer from [[FIELD=VALUE]] markers in the judged text, e.g. [[score=5]] or [[refusal=full]]",
    )
    args = parser.parse_args(argv)
    server = JudgeServer(
        host=args.host,
        port=args.port,
        latency_s=args.latency_ms / 1000,
        slots=args.slots,
        models=set(args.models) if args.models else None,
        fault_rate=args.fault_rate,
        seed=args.seed,
        record_requests=False,  # nobody can read them, and a long benchmark would fill memory
    )
    if args.score_from_marker:
        server.responder = marker_responder()
    try:
        server.start()
    except OSError as error:
        reason = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be used ({error.strerror})"
        where = f"{args.host}:{args.port}"
        parser.exit(1, f"{parser.prog}: error: {where} {reason}; pass another --port (0 picks a free one)\n")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            sys.stdout.write(f"{server.url}\n")
            sys.stdout.flush()
            threading.Event().wait()
    finally:
        server.stop()
