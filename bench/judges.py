"""Judge quality: judgekit's rubrics on HarmBench's human-labelled set, next to the published judges.

    python bench/judges.py --base-url http://127.0.0.1:8080/v1 --model M             # behavior rubric
    python bench/judges.py --model gpt-4o-mini --rubric behavior --rubric policy      # OpenAI (key set)
    python bench/judges.py --rubric refusal-keywords                                  # offline
    python bench/judges.py --base-url URL --model M --limit 60 --concurrency 1        # a quick look
    python bench/judges.py --base-url URL --model M --max-tokens 160 --timeout 600    # a slow CPU model

Converts the 602 validation rows shipped in tests/data/harmbench (examples/harmbench_to_jsonl.py),
judges them with each rubric through judgekit's engine (reply cache and resume on, so a rerun
is free), then runs `judgekit calibrate` against the first annotator (HarmBench's reference) by
functional category, with judgekit's judges as extra columns beside HarmBench's published ones
(refusal strings, GPTFuzz, ChatGLM, Llama-Guard, GPT-4 with the PAIR prompt, HarmBench's
classifier). Each judgekit judge counts as harmful where its verdict says `harmful`; a row whose
verdict failed (parse or API error) is a missing decision, counted by calibrate.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import judgekit

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "harmbench"
PUBLISHED = ["advbench", "GPTFuzz", "chatglm", "llama_guard", "PAIR_gpt-4-0613:10", "cls"]


def _converter() -> object:
    spec = importlib.util.spec_from_file_location(
        "harmbench_to_jsonl", REPO / "examples" / "harmbench_to_jsonl.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def _optional(**options: object) -> dict[str, object]:
    """The options given on the command line: the engine's defaults stand for the others."""
    return {name: value for name, value in options.items() if value is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rubric", action="append", help="judgekit rubric to judge with (repeat); default behavior"
    )
    parser.add_argument("--model", help="judge model (JUDGEKIT_MODEL)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (OPENAI_BASE_URL)")
    parser.add_argument("--output-mode", default="auto")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, help="judge reply budget (default: the engine's)")
    parser.add_argument("--timeout", type=float, help="per-request timeout in seconds")
    parser.add_argument("--limit", type=int, help="judge a random sample of this many rows")
    parser.add_argument("--workdir", type=Path, help="keep inputs and verdicts here (default: a temp dir)")
    args = parser.parse_args()
    rubrics = args.rubric or ["behavior"]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="judgekit-judges-"))
    workdir.mkdir(parents=True, exist_ok=True)

    converter = _converter()
    rows = converter.read_rows(DATA)  # type: ignore[attr-defined]
    if args.limit:
        import random

        rows = random.Random(0).sample(rows, args.limit)
    kept = {row["id"] for row in rows}
    published = [v for v in converter.judge_verdicts(DATA) if v["id"] in kept]  # type: ignore[attr-defined]
    records, labels = workdir / "records.jsonl", workdir / "labels.jsonl"
    parts = ("id", "prompt", "response", "context", "category")
    _write(records, [{k: row[k] for k in parts if row.get(k) is not None} for row in rows])
    label_keys = ("id", "human_0", "human_1", "human_2", "functional_category", "semantic_category")
    _write(labels, [{k: row[k] for k in label_keys if k in row} for row in rows])

    judged = {str(row["id"]): dict(row) for row in published}
    columns = []
    for rubric in rubrics:
        output = workdir / f"verdicts-{rubric}.jsonl"
        result = judgekit.score_file(
            records,
            output,
            rubric=rubric,
            model=args.model,
            base_url=args.base_url,
            output_mode=args.output_mode,
            concurrency=args.concurrency,
            **_optional(max_tokens=args.max_tokens, timeout_s=args.timeout),
        )
        column = f"judgekit:{rubric}"
        columns.append(column)
        statuses: dict[str, int] = {}
        for verdict in judgekit.read_verdicts(str(output)):
            statuses[verdict.status] = statuses.get(verdict.status, 0) + 1
            decision = None if verdict.harmful is None else int(verdict.harmful)
            judged.setdefault(verdict.id, {"id": verdict.id})[column] = decision
        modes = dict(result.progress.output_modes)
        print(
            f"{rubric}: {len(kept)} rows, statuses {statuses}, output modes {modes or '-'}", file=sys.stderr
        )
    merged = workdir / "judged.jsonl"
    _write(merged, list(judged.values()))
    command = [
        sys.executable,
        "-m",
        "judgekit",
        "calibrate",
        str(merged),
        str(labels),
        "--reference",
        "human_0",
    ]
    command += ["--by", "functional_category", "--label-field", "human_0", "--label-field", "human_1"]
    command += ["--label-field", "human_2"]
    for field in [*PUBLISHED, *columns]:
        command += ["--judge-field", field]
    print(f"inputs and verdicts in {workdir}", file=sys.stderr)
    sys.exit(subprocess.run(command, check=False).returncode)


if __name__ == "__main__":
    main()
