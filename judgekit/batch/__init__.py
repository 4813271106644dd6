"""The OpenAI Batch API (half price, results within 24 hours) and `vllm run-batch`, as another transport.

prepare (request files) -> submit (batches, a manifest) -> status -> collect (verdicts, cache);
or prepare -> `vllm run-batch` -> ingest. Verdicts come from the same parser, and replies go into
the same cache under the same keys, as the online path's.
"""

from judgekit._records import FieldMap
from judgekit.batch.collect import CollectResult, FailedRow, collect_batches, ingest_outputs
from judgekit.batch.manifest import (
    BatchSettings,
    Manifest,
    PreparedBatch,
    RequestFile,
    SubmittedBatch,
    load_manifest,
    load_prepared,
)
from judgekit.batch.remote import BatchRemote, RemoteBatch
from judgekit.batch.requests import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_REQUESTS,
    prepare_batch,
    request_line,
)
from judgekit.batch.submit import batch_status, submit_prepared

FieldNames = FieldMap
"""The former name of `judgekit.FieldMap`, which batch jobs now store as it is."""

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_REQUESTS",
    "BatchRemote",
    "BatchSettings",
    "CollectResult",
    "FailedRow",
    "FieldNames",
    "Manifest",
    "PreparedBatch",
    "RemoteBatch",
    "RequestFile",
    "SubmittedBatch",
    "batch_status",
    "collect_batches",
    "ingest_outputs",
    "load_manifest",
    "load_prepared",
    "prepare_batch",
    "request_line",
    "submit_prepared",
]
