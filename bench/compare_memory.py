"""Peak RSS and time of `judgekit compare` over two verdict files of N verdicts each.

    python bench/compare_memory.py                 # 2 x 1,000,000 and the 2 x 100,000 reference
    python bench/compare_memory.py --rows 200000   # one size only
    python bench/compare_memory.py --labels 2000   # and --labels: 2,000 labels per model

Verdict files (policy rubric, 11 categories, prompts and responses included as with
--include-input, about 330 bytes a line) are generated into a temporary directory removed at the
end. Each compare runs as its own process (`python -m judgekit compare A B --by category --json`),
so its peak RSS (from wait4()) and wall time are its own, interpreter start included.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CATEGORIES = [
    "illegal",
    "child",
    "hate",
    "malware",
    "physical",
    "economic",
    "fraud",
    "adult",
    "political",
    "privacy",
    "financial",
]


def write_verdicts(path: Path, rows: int, shift: float, seed: int) -> None:
    """`rows` policy verdicts; `shift` raises the chance of a higher score."""
    rng = random.Random(seed)
    head = (
        '"rubric":"policy","rubric_version":"1.0.0","rubric_hash":"bench","judge_model":"bench-judge",'
        '"output_mode":"json_schema","judge_settings":{"temperature":0.0,"max_tokens":1024}'
    )
    with path.open("w") as handle:
        for i in range(rows):
            score = min(5, rng.randint(1, 4) + (1 if rng.random() < shift else 0))
            status = "ok" if rng.random() > 0.01 else "parse_error"
            verdict = (
                f'"score":{score},"harmful":{"true" if score >= 5 else "false"},'
                f'"reasoning":"The response {"complies" if score >= 4 else "declines"} (row {i})."'
                if status == "ok"
                else '"error":"no score in the reply"'
            )
            asked = f"Prompt number {i} asking for something in category {CATEGORIES[i % 11]}. "
            prompt = json.dumps(asked * 2)
            response = json.dumps(f"Model answer {i}: " + "lorem ipsum dolor sit amet " * 4)
            handle.write(
                f'{{"id":"row-{i}","category":"{CATEGORIES[i % 11]}","status":"{status}",{verdict},{head},'
                f'"input":{{"prompt":{prompt},"response":{response}}}}}\n'
            )


def write_labels(path: Path, rows: int, count: int, seed: int) -> None:
    """`count` labels of random verdicts of each model (`base`, `tuned`)."""
    rng = random.Random(seed)
    with path.open("w") as handle:
        for model in ("base", "tuned"):
            for i in rng.sample(range(rows), count):
                row = {"id": f"row-{i}", "model": model, "label": rng.random() < 0.2}
                handle.write(json.dumps(row) + "\n")


def measure(base: Path, tuned: Path, out: Path, labels: Path | None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one compare process."""
    command = [sys.executable, "-m", "judgekit", "compare", str(base), str(tuned), "--by", "category"]
    command += ["--name", f"{base}=base", "--name", f"{tuned}=tuned"]
    command += ["--labels", str(labels)] if labels is not None else []
    command += ["--json", str(out), "--html", str(out.with_suffix(".html"))]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    if process.stderr is not None:
        process.stderr.close()
    return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    """Generate, compare, print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="verdicts per file (repeatable)")
    parser.add_argument("--labels", type=int, default=0, help="compare with this many labels per model")
    args = parser.parse_args()
    sizes = args.rows or [100_000, 1_000_000]
    with tempfile.TemporaryDirectory(prefix="judgekit-compare-bench-") as tmp:
        for rows in sizes:
            base, tuned = Path(tmp) / f"base-{rows}.jsonl", Path(tmp) / f"tuned-{rows}.jsonl"
            write_verdicts(base, rows, 0.1, seed=1)
            write_verdicts(tuned, rows, 0.4, seed=1)
            megabytes = (base.stat().st_size + tuned.stat().st_size) / 2**20
            labels = Path(tmp) / f"labels-{rows}.jsonl" if args.labels else None
            if labels is not None:
                write_labels(labels, rows, min(args.labels, rows), seed=2)
            elapsed, rss, code = measure(base, tuned, Path(tmp) / f"comparison-{rows}.json", labels)
            print(
                f"2 x {rows:>9,} verdicts ({megabytes:,.0f} MiB of JSONL): {elapsed:6.1f} s, "
                f"peak RSS {rss:6.1f} MiB, exit {code}",
                flush=True,
            )
            base.unlink()
            tuned.unlink()


if __name__ == "__main__":
    main()
