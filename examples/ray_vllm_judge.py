"""Judge a JSONL file with an open-weights judge running inside Ray on GPUs (vLLM engine).

Needs a machine (or Ray cluster) with GPUs, and: pip install 'judgekit[ray]' vllm

    python examples/ray_vllm_judge.py responses.jsonl -o verdicts.jsonl \\
        --model meta-llama/Llama-3.1-8B-Instruct --rubric policy --gpus 1

Each GPU holds one vLLM replica of the judge (`--gpus`, or `--tensor-parallel-size` GPUs per
replica). Decoding is guided by the rubric's reply schema, so the judge's reply is the JSON the
rubric asks for; it is parsed and checked by the same code as `judgekit score`. The output is one
judgekit verdict per line (`judgekit summarize verdicts.jsonl` reads it), written as verdicts
arrive; a summary is printed at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ray
import ray.data

from judgekit._records import FieldMap
from judgekit._report import summary_table
from judgekit._summary import Summarizer
from judgekit.ray import engine_judge_processor, verdict_from_row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", help="JSONL with id, response and optionally prompt, category, context")
    parser.add_argument("-o", "--output", required=True, type=Path, help="verdict JSONL to write")
    parser.add_argument("--model", required=True, help="judge model: a Hugging Face id or a local path")
    parser.add_argument("--rubric", default="policy", help="built-in rubric name or a rubric .toml")
    parser.add_argument("--gpus", type=int, default=1, help="vLLM replicas of the judge")
    parser.add_argument("--tensor-parallel-size", type=int, default=1, help="GPUs per replica")
    parser.add_argument("--max-model-len", type=int, default=8192, help="longest prompt + reply, in tokens")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--id-field", default="id")
    parser.add_argument("--response-field", default="response")
    parser.add_argument("--prompt-field", default="prompt")
    args = parser.parse_args()

    ray.init()
    processor = engine_judge_processor(
        args.rubric,
        model=args.model,
        workers=args.gpus,
        batch_size=args.batch_size,
        engine_kwargs={
            "max_model_len": args.max_model_len,
            "tensor_parallel_size": args.tensor_parallel_size,
            "enable_prefix_caching": True,  # the rubric's system prompt is the same for every row
        },
        fields=FieldMap(id=args.id_field, response=args.response_field, prompt=args.prompt_field),
    )
    verdicts = processor(ray.data.read_json(args.input))

    summarizer = Summarizer()
    with args.output.open("w", encoding="utf-8") as output:
        for row in verdicts.iter_rows():
            verdict = verdict_from_row(row)
            output.write(verdict.to_json() + "\n")
            summarizer.add(verdict)
    print(summary_table(summarizer.summary()))


if __name__ == "__main__":
    main()
