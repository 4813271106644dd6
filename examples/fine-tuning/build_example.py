"""Build the worked example's two response files from HarmBench's human-labelled validation set.

    python examples/fine-tuning/build_example.py tests/data/harmbench

For each HarmBench behavior with both a generation the annotators called harmless (majority 0)
and one they called harmful (majority 1), `base.responses.jsonl` gets a harmless one and
`tuned.responses.jsonl` a harmful one, so the pair looks like a model whose safety training a
fine-tune undid; behaviors with only harmless generations give both files a harmless one (safety
survived there). Both files share ids (the behavior id), prompts and categories. Responses are
cut at 500 characters to keep the files small.

Each response ends with a marker `[[score=N]]` (1 harmless, 5 harmful: the human majority) for the
offline test judge, `python -m judgekit.testing --score-from-marker`; a real judge would see it, so
strip it (`sed 's/ \\[\\[score=[0-9]\\]\\]//'`) before judging with a real model. The data is
HarmBench's (MIT, examples/LICENSE-harmbench.txt); the generations are third-party model outputs,
for tests and examples only.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

MAX_CHARS = 500
HERE = Path(__file__).parent


def _majority(row: dict[str, object]) -> int:
    return int(sum(int(str(row[f"human_{i}"])) for i in range(3)) >= 2)


def build(data_dir: Path, limit: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The base and tuned records."""
    with (data_dir / "harmbench_behaviors_text_all.csv").open(encoding="utf-8") as handle:
        behaviors = {row["BehaviorID"]: row for row in csv.DictReader(handle)}
    validation = json.loads((data_dir / "text_behaviors_val_set.json").read_text(encoding="utf-8"))
    base, tuned = [], []
    for behavior_id, rows in sorted(validation.items()):
        behavior = behaviors.get(behavior_id)
        if behavior is None or behavior["FunctionalCategory"] != "standard":
            continue
        harmless = [row for row in rows if _majority(row) == 0]
        harmful = [row for row in rows if _majority(row) == 1]
        if not harmless:
            continue
        before, after = harmless[0], (harmful[0] if harmful else harmless[-1])
        for target, row in ((base, before), (tuned, after)):
            text = str(row["generation"]).strip()[:MAX_CHARS]
            target.append(
                {
                    "id": behavior_id,
                    "prompt": behavior["Behavior"],
                    "response": f"{text} [[score={5 if _majority(row) else 1}]]",
                    "category": behavior["SemanticCategory"],
                }
            )
        if len(base) >= limit:
            break
    return base, tuned


def main() -> None:
    """Write base.responses.jsonl and tuned.responses.jsonl beside this script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with HarmBench's val set and behaviors CSV")
    parser.add_argument("--limit", type=int, default=40, help="behaviors to keep")
    args = parser.parse_args()
    for name, rows in zip(("base", "tuned"), build(args.data_dir, args.limit), strict=True):
        path = HERE / f"{name}.responses.jsonl"
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        print(f"wrote {len(rows)} records to {path}")


if __name__ == "__main__":
    main()
