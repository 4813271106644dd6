"""Judge a Ray Dataset: the rubric as Ray Data LLM's pre- and post-processing, or judgekit in actors.

Three paths, one verdict per row, all through the same request builder and reply parser as the
online engine (`Codec.request_for`, `Codec.verdict_from_reply`):

- `judge_dataset(ds, rubric, ...)` runs judgekit's own async engine in a pool of Ray actors, one
  `Judge` (one connection pool, one event loop) per actor. The default: the faster of the two
  Ray paths against an HTTP endpoint (docs/ray.md has the figures), and it keeps judgekit's retries with
  Retry-After, text-mode fallback, cache and flow control. Keyword rubrics run offline here too.
- `http_judge_processor(rubric, ...)` builds Ray Data LLM's HTTP request processor.
- `engine_judge_processor(rubric, ...)` builds Ray Data LLM's vLLM engine processor: the judge
  model runs inside Ray on GPUs, with guided decoding by the rubric's reply schema.

`preprocess` and `postprocess` are the row functions behind both processors, for a processor of
your own (`ray.data.llm.build_processor(config, preprocess=..., postprocess=...)`). Every path
outputs the flat columns of `VERDICT_COLUMNS`; `verdict_from_row` turns a row back into a Verdict.

Rows need a unique id (the `id` column, or `fields=FieldMap(id=...)`): Ray reorders rows, and
the id is what joins verdicts back to inputs. Importing this module imports Ray; `import judgekit`
does not.
"""

try:
    import ray.data  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("judgekit.ray needs Ray Data: pip install 'judgekit[ray]'") from error

from judgekit.ray._actors import judge_dataset
from judgekit.ray._columns import VERDICT_COLUMNS, VERDICT_SCHEMA, verdict_from_row, verdict_to_row
from judgekit.ray._processors import engine_judge_processor, http_judge_processor
from judgekit.ray._rows import postprocess, preprocess

__all__ = [
    "VERDICT_COLUMNS",
    "VERDICT_SCHEMA",
    "engine_judge_processor",
    "http_judge_processor",
    "judge_dataset",
    "postprocess",
    "preprocess",
    "verdict_from_row",
    "verdict_to_row",
]
