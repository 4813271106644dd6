"""Row functions for a Ray Data LLM processor: a row into the judge's request, its answer into a verdict."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from judgekit._config import resolve_config
from judgekit._engine.codec import Codec
from judgekit._engine.exchange import JudgeReply, JudgeRequest, RetryableError, reply_from_completion
from judgekit._errors import ConfigError, InputError
from judgekit._records import FieldMap, Record, record_from_mapping
from judgekit._rubrics import Rubric, load_rubric
from judgekit._verdicts import Usage, Verdict
from judgekit.ray._columns import VERDICT_COLUMNS, Row, plain_value, verdict_to_row

RowFunction = Callable[[Row], Row]
RubricSpec = str | Path | Rubric

_RECORD_KEY = "judgekit_record"
"""Where `preprocess` keeps the mapped record: Ray LLM stages overwrite `prompt`, `model`, ..."""
RECORD_PARTS = ("id", "prompt", "response", "category", "context")
_UNSENT_BASE_URL = "http://judgekit-ray.invalid/v1"
"""The endpoint in the codec's cache keys: Ray's stages send, judgekit's codec never does."""


def preprocess(
    rubric: RubricSpec,
    model: str,
    *,
    fields: FieldMap | None = None,
    processor: Literal["http", "engine"] = "http",
    **options: Any,
) -> RowFunction:
    """The row function rendering each row into the judge's request, for a Ray Data LLM processor.

    `processor="http"` gives the chat-completions `payload` (the body the online engine sends,
    with the rubric's reply schema as `response_format` unless `output_mode="text"`);
    `processor="engine"` gives vLLM's `messages` and `sampling_params`, with guided decoding by
    the same schema (`structured_outputs`). `options` are JudgeConfig fields (`temperature`,
    `max_tokens`, `output_mode`, `logprobs`). The mapped record goes along in `judgekit_record`,
    for `postprocess`.
    """
    fields = fields or FieldMap()
    codec = _offline_codec(rubric, model, options)
    if processor == "engine" and codec.config.logprobs:
        raise ConfigError("logprobs are not read from the vLLM engine processor; drop logprobs=True")

    def render(row: Row) -> Row:
        record = record_from_row(row, fields)
        request = codec.request_for(record)
        stash = {part: getattr(record, part) for part in RECORD_PARTS}
        if processor == "http":
            return {"payload": request.body(), _RECORD_KEY: stash}
        return {
            "messages": request.messages,
            "sampling_params": _sampling_params(request),
            _RECORD_KEY: stash,
            # A `model` column that differs from the engine's model would be read as a LoRA.
            "model": model,
        }

    return render


def postprocess(
    rubric: RubricSpec,
    *,
    model: str | None = None,
    fields: FieldMap | None = None,
    keep_columns: Sequence[str] = (),
    **options: Any,
) -> RowFunction:
    """The row function parsing each processor answer into `VERDICT_COLUMNS` (+ `keep_columns`).

    Reads the HTTP processor's `http_response` or the vLLM engine's `generated_text` with the
    online engine's parser: an unreadable reply is a `parse_error` verdict, an error body an
    `api_error` verdict, never a score. `model` names the judge when the answer does not (vLLM).
    `keep_columns` are input columns copied into the output.
    """
    fields = fields or FieldMap()
    codec = _offline_codec(rubric, model or "", options)
    _check_keep_columns(keep_columns)

    def parse(row: Row) -> Row:
        record = _stashed_record(row, fields)
        if "http_response" in row:
            verdict = _http_verdict(codec, record, row["http_response"], model or "")
        else:
            verdict = codec.verdict_from_reply(record, _engine_reply(row, model or "", codec.max_tokens))
        output = verdict_to_row(verdict)
        return output | {name: _kept_value(row, name, fields) for name in keep_columns}

    return parse


def _offline_codec(rubric: RubricSpec, model: str, options: Mapping[str, Any]) -> Codec:
    """The codec that renders requests and parses replies; nothing here sends, so it holds no API key."""
    loaded = load_rubric(rubric)
    if loaded.kind != "llm":
        raise ConfigError(
            f"rubric '{loaded.name}' judges with keywords and needs no LLM; use judge_dataset()"
        )
    config = resolve_config(model=model or "unknown", base_url=_UNSENT_BASE_URL, **options)
    return Codec(loaded, config.model_copy(update={"api_key": None}))


def record_from_row(row: Mapping[str, Any], fields: FieldMap) -> Record:
    """The Record in one dataset row; InputError names the missing or mistyped column and the fix."""
    if fields.id not in row or row[fields.id] is None:
        raise InputError(
            "missing; every row needs a unique id to join its verdict back (map another column "
            "with fields=FieldMap(id=NAME), or add one with ds.add_column)",
            path="dataset row",
            field=fields.id,
        )
    mapped = {getattr(fields, part): plain_value(row.get(getattr(fields, part))) for part in RECORD_PARTS}
    return record_from_mapping(mapped, fields, default_id="", path="dataset row")


def _stashed_record(row: Mapping[str, Any], fields: FieldMap) -> Record:
    """The record `preprocess` stashed, or, with another preprocess, the record in the row."""
    stash = row.get(_RECORD_KEY)
    if isinstance(stash, Mapping):
        return Record(**{part: plain_value(stash.get(part)) for part in RECORD_PARTS})
    return record_from_row(row, fields)


def _kept_value(row: Mapping[str, Any], name: str, fields: FieldMap) -> Any:
    stash = row.get(_RECORD_KEY)
    part = next((part for part in RECORD_PARTS if getattr(fields, part) == name), None)
    if part is not None and isinstance(stash, Mapping):
        return stash.get(part)  # the stage may have overwritten the row's own `prompt`
    return plain_value(row.get(name))


def _http_verdict(codec: Codec, record: Record, body: Any, model: str) -> Verdict:
    if isinstance(body, Mapping) and body.get("error") is not None:
        error = body["error"]
        message = error.get("message") if isinstance(error, Mapping) else error
        return codec.error_verdict(record, f"the endpoint answered with an error: {message}")
    try:
        reply = reply_from_completion(body, model)
    except RetryableError as error:
        return codec.error_verdict(record, str(error))
    return codec.verdict_from_reply(record, reply)


def _engine_reply(row: Mapping[str, Any], model: str, max_tokens: int) -> JudgeReply:
    completion_tokens = int(row.get("num_generated_tokens") or 0)
    return JudgeReply(
        text=row.get("generated_text"),
        # vLLM's row has no finish reason; a reply that used every token was cut.
        finish_reason="length" if completion_tokens >= max_tokens else "stop",
        usage=Usage(prompt_tokens=int(row.get("num_input_tokens") or 0), completion_tokens=completion_tokens),
        latency_ms=None,  # Ray's processors do not time each request
        model=model,
    )


def _sampling_params(request: JudgeRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"temperature": request.temperature, "max_tokens": request.max_tokens}
    if request.top_p is not None:
        params["top_p"] = request.top_p
    if request.seed is not None:
        params["seed"] = request.seed
    response_format = request.response_format or {}
    schema = response_format.get("schema") or response_format.get("json_schema", {}).get("schema")
    if schema is not None:
        # A JSON string, not a dict: Ray stores rows in Arrow, which would rewrite a nested schema.
        params["structured_outputs"] = {"json": json.dumps(schema)}
    return params


_STAGE_COLUMNS = frozenset(
    {
        "payload",
        "http_response",
        "messages",
        "sampling_params",
        "model",
        "tokenized_prompt",
        "generated_text",
        "generated_tokens",
        "num_input_tokens",
        "num_generated_tokens",
        "metrics",
        _RECORD_KEY,
        *VERDICT_COLUMNS,
    }
)


def _check_keep_columns(keep_columns: Sequence[str]) -> None:
    clashes = sorted(set(keep_columns) & _STAGE_COLUMNS - {"id", "category"})
    if clashes:
        raise ConfigError(
            f"keep_columns {clashes} clash with verdict or Ray Data LLM columns; rename them first "
            "(ds.rename_columns)"
        )
