"""Batch request files: each record's judge request as one Batch API JSONL line, split within limits.

A line is `{"custom_id": record id, "method": "POST", "url": "/v1/chat/completions", "body": ...}`,
the body being exactly what the online path posts, so a reply's cache key is the same either way.
The same files are valid input for `vllm run-batch`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from judgekit._config import OPENAI_BASE_URL, require_endpoint, resolve_config
from judgekit._engine.cache import ReplyCache
from judgekit._engine.codec import Codec
from judgekit._engine.exchange import JudgeRequest
from judgekit._errors import ConfigError, InputError, RubricError
from judgekit._records import FieldMap, Record, read_records, validate_records
from judgekit._rubrics import Rubric, list_rubrics, load_rubric
from judgekit._version import __version__
from judgekit.batch.manifest import (
    BATCH_ENDPOINT,
    MANIFEST_NAME,
    PREPARED_NAME,
    BatchSettings,
    InputInfo,
    PreparedBatch,
    RequestFile,
    RubricInfo,
    now,
    save,
)

DEFAULT_MAX_REQUESTS = 50_000
"""OpenAI's limit of requests in one batch input file."""
DEFAULT_MAX_FILE_BYTES = 200_000_000
"""OpenAI's limit of 200 MB per batch input file (decimal, the stricter reading)."""


def request_line(custom_id: str, request: JudgeRequest) -> bytes:
    """One Batch API input line (UTF-8, newline-terminated)."""
    line = {"custom_id": custom_id, "method": "POST", "url": BATCH_ENDPOINT, "body": request.body()}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class RequestFileWriter:
    """Writes request lines into numbered files, starting a new file before a limit would be passed."""

    def __init__(
        self,
        directory: Path,
        prefix: str,
        *,
        round: int = 0,
        max_requests: int = DEFAULT_MAX_REQUESTS,
        max_bytes: int = DEFAULT_MAX_FILE_BYTES,
        source: str | None = None,
    ):
        if max_requests < 1 or max_bytes < 1:
            raise ConfigError("the per-file limits must be at least 1 request and 1 byte")
        self._directory, self._prefix, self._round = directory, prefix, round
        self._max_requests, self._max_bytes, self._source = max_requests, max_bytes, source
        self._files: list[RequestFile] = []
        self._handle: IO[bytes] | None = None
        self._name = ""
        self._requests = self._bytes = 0

    def add(self, custom_id: str, request: JudgeRequest) -> None:
        """Append the request of record `custom_id`."""
        line = request_line(custom_id, request)
        if len(line) > self._max_bytes:
            raise InputError(
                f"record {custom_id!r}: its request is {len(line):,} bytes, more than a request file may "
                f"hold ({self._max_bytes:,}); shorten the record or raise --max-file-bytes",
                path=self._source,
                record_id=custom_id,
            )
        full = self._requests >= self._max_requests or self._bytes + len(line) > self._max_bytes
        if self._handle is None or full:
            self._open_next()
        assert self._handle is not None
        self._handle.write(line)
        self._requests += 1
        self._bytes += len(line)

    def _open_next(self) -> None:
        self._finish_file()
        self._name = f"{self._prefix}-{len(self._files) + 1:04d}.jsonl"
        self._handle = (self._directory / self._name).open("wb")
        self._requests = self._bytes = 0

    def _finish_file(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._files.append(
                RequestFile(name=self._name, requests=self._requests, bytes=self._bytes, round=self._round)
            )

    def close(self) -> list[RequestFile]:
        """Close the last file; the files written, in order."""
        self._finish_file()
        return list(self._files)

    def discard(self) -> None:
        """Close and delete every file written (after a failure part-way)."""
        for file in self.close():
            (self._directory / file.name).unlink(missing_ok=True)


_ID_PREFIX = '{"custom_id":"'
"""How `request_line` starts a line: the id can be decoded without parsing the body."""
_DECODER = json.JSONDecoder()


def read_custom_ids(path: Path) -> set[str]:
    """The custom_ids of a request file (decoding only the id of lines that start with it)."""
    ids: set[str] = set()
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                if line.startswith(_ID_PREFIX):
                    ids.add(_DECODER.raw_decode(line, len(_ID_PREFIX) - 1)[0])
                elif line.strip():
                    ids.add(json.loads(line)["custom_id"])
            except (ValueError, KeyError, TypeError):
                raise InputError(
                    "is not a batch request line with a custom_id; was the request file edited?",
                    path=str(path),
                    line=number,
                ) from None
    return ids


def make_codec(
    rubric: str | Path | Rubric, *, model: str | None, base_url: str | None, settings: BatchSettings
) -> Codec:
    """The codec of a batch job; its endpoint defaults to OpenAI's (no API key is needed to prepare)."""
    loaded = load_rubric(rubric)
    if loaded.kind != "llm":
        raise ConfigError(
            f"rubric '{loaded.name}' judges offline with keywords and sends no requests; "
            "use `judgekit score` for it"
        )
    found = resolve_config(model=model, base_url=base_url)
    config = resolve_config(
        model=found.model, base_url=found.base_url or OPENAI_BASE_URL, **settings.model_dump()
    )
    require_endpoint(config, loaded.name)
    return Codec(loaded, config)


def codec_for(prepared: PreparedBatch) -> Codec:
    """Rebuild the codec of a prepared job, checking that its rubric did not change since."""
    codec = make_codec(
        prepared.rubric.source, model=prepared.model, base_url=prepared.base_url, settings=prepared.settings
    )
    if codec.rubric.hash != prepared.rubric.hash:
        raise RubricError(
            f"changed since `judgekit batch prepare` (hash {prepared.rubric.hash}, now {codec.rubric.hash}); "
            "restore it, or prepare and submit again",
            path=prepared.rubric.source,
        )
    return codec


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepared_records(prepared: PreparedBatch) -> Iterator[Record]:
    """The prepared records, read again from the input (which must not have changed)."""
    path = prepared.input.path
    if not Path(path).is_file():
        raise InputError(
            "the input of this batch job is gone; collect needs the file that was prepared", path=path
        )
    if file_sha256(path) != prepared.input.sha256:
        raise InputError(
            "changed since `judgekit batch prepare` (its SHA-256 differs); collect needs the file "
            "that was prepared: restore it, or prepare and submit again",
            path=path,
        )
    return _records(path, prepared.fields, prepared.input.limit)


def prepare_batch(
    input_path: str | Path,
    directory: str | Path,
    *,
    rubric: str | Path | Rubric = "policy",
    model: str | None = None,
    base_url: str | None = None,
    settings: BatchSettings | None = None,
    fields: FieldMap | None = None,
    cache: ReplyCache | None = None,
    limit: int | None = None,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    overwrite: bool = False,
) -> PreparedBatch:
    """Write the requests of the records of `input_path` not yet in `cache` into `directory`.

    The whole input is validated before anything is written. Writes request files and
    `prepare.json`; returns what `prepare.json` holds.
    """
    if str(input_path) == "-":
        raise InputError("batch prepare needs a file, not stdin: collect reads the input again", path="-")
    settings, fields = settings or BatchSettings(), fields or FieldMap()
    codec = make_codec(rubric, model=model, base_url=base_url, settings=settings)
    count = validate_records(input_path, fields, limit=limit)
    target = _ready_directory(Path(directory), overwrite=overwrite)
    writer = RequestFileWriter(
        target, "requests", max_requests=max_requests, max_bytes=max_bytes, source=str(input_path)
    )
    cached = 0
    try:
        for record in _records(input_path, fields, limit):
            request = codec.request_for(record)
            if cache is not None and codec.cached_reply(request, cache) is not None:
                cached += 1
            else:
                writer.add(record.id, request)
        files = writer.close()
    except BaseException:
        writer.discard()
        raise
    prepared = PreparedBatch(
        judgekit_version=__version__,
        created_at=now(),
        rubric=_rubric_info(rubric, codec.rubric),
        model=codec.config.model or "",
        base_url=codec.config.base_url or OPENAI_BASE_URL,
        settings=settings,
        fields=fields,
        input=InputInfo(
            path=str(Path(input_path).resolve()), sha256=file_sha256(input_path), records=count, limit=limit
        ),
        max_requests_per_file=max_requests,
        max_file_bytes=max_bytes,
        cached=cached,
        files=files,
    )
    save(target / PREPARED_NAME, prepared)
    return prepared


def _records(input_path: str | Path, fields: FieldMap, limit: int | None) -> Iterator[Record]:
    # Validated by prepare: no second duplicate check, which would hold every id in memory.
    return read_records(input_path, fields, check_duplicates=False, limit=limit)


def _ready_directory(directory: Path, *, overwrite: bool) -> Path:
    """Create `directory`, or clear an earlier unsubmitted preparation in it when asked to."""
    if directory.exists() and not directory.is_dir():
        raise InputError("is a file; -o names the directory for the request files", path=str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    previous = directory / PREPARED_NAME
    if not previous.exists():
        return directory
    if (directory / MANIFEST_NAME).exists():
        raise InputError(
            "holds a job that was already submitted (manifest.json); prepare into a new directory",
            path=str(directory),
        )
    if not overwrite:
        raise InputError(
            "already holds a prepared job (prepare.json); pass --overwrite to replace it, "
            "or prepare into another directory",
            path=str(directory),
        )
    for stale in [*directory.glob("requests-*.jsonl"), *directory.glob("retry*-*.jsonl"), previous]:
        stale.unlink()
    return directory


def _rubric_info(argument: str | Path | Rubric, rubric: Rubric) -> RubricInfo:
    """Built-ins are kept by name (stable across installs), files by absolute path."""
    builtin = isinstance(argument, str) and argument in list_rubrics()
    source = str(argument) if builtin else str(Path(rubric.source).resolve())
    return RubricInfo(name=rubric.name, version=rubric.version, hash=rubric.hash, source=source)
