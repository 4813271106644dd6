"""What a batch job writes down: `prepare.json` (what was prepared) and the manifest (what was submitted).

Both are judgekit's own files, validated on reading so that a wrong or hand-edited file names its
field. Neither ever holds an API key: nothing that could carry one is a field.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judgekit._config import OutputMode
from judgekit._errors import InputError
from judgekit._records import FieldMap

PREPARED_NAME = "prepare.json"
MANIFEST_NAME = "manifest.json"
BATCH_ENDPOINT: Final = "/v1/chat/completions"

M = TypeVar("M", bound=BaseModel)


class _Stored(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RubricInfo(_Stored):
    """The rubric a job was prepared with; `source` is a built-in name or an absolute path."""

    name: str
    version: str
    hash: str
    source: str


class BatchSettings(_Stored):
    """Judge options that shape the requests or the verdicts."""

    output_mode: OutputMode = "auto"
    logprobs: bool = False
    keep_raw: bool = False
    include_input: bool = False


class InputInfo(_Stored):
    """The input file: collect re-reads it, and checks it did not change."""

    path: str
    sha256: str
    records: int
    limit: int | None = None


class RequestFile(_Stored):
    """One request JSONL in the prepared directory."""

    name: str
    requests: int
    bytes: int
    round: int = 0
    """0 for `prepare`; 1, 2, ... for files of failed rows written by collect or ingest."""


class PreparedBatch(_Stored):
    """`prepare.json`: everything later commands need to rebuild the judge and the records."""

    format: Literal[1] = 1
    judgekit_version: str
    created_at: datetime
    rubric: RubricInfo
    model: str
    base_url: str
    """The endpoint replies count as coming from (the reply cache's key uses it)."""
    settings: BatchSettings
    fields: FieldMap
    input: InputInfo
    max_requests_per_file: int
    max_file_bytes: int
    cached: int
    """Records left out because their reply was already in the cache."""
    files: list[RequestFile] = Field(default_factory=list)

    @property
    def rounds(self) -> int:
        """The highest round of request files so far."""
        return max((file.round for file in self.files), default=0)


class SubmittedBatch(_Stored):
    """One request file as submitted: uploaded (`file_id`), then a batch made of it (`batch_id`)."""

    request_file: str
    requests: int
    file_id: str
    batch_id: str | None = None
    completion_window: str = "24h"
    submitted_at: datetime | None = None


class Manifest(_Stored):
    """The manifest: which batches hold which request files, on which endpoint."""

    format: Literal[1] = 1
    prepared_dir: str
    rubric: RubricInfo
    model: str
    base_url: str
    endpoint: str = BATCH_ENDPOINT
    settings: BatchSettings
    created_at: datetime
    updated_at: datetime
    batches: list[SubmittedBatch] = Field(default_factory=list)

    def entry(self, request_file: str) -> SubmittedBatch | None:
        """The batch entry of `request_file`, if it was uploaded."""
        return next((batch for batch in self.batches if batch.request_file == request_file), None)

    def with_entry(self, entry: SubmittedBatch) -> Manifest:
        """A copy with `entry` added, or replacing the entry of the same request file."""
        others = [batch for batch in self.batches if batch.request_file != entry.request_file]
        return self.model_copy(update={"batches": [*others, entry], "updated_at": now()})


def now() -> datetime:
    """The current time in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def load_prepared(directory: Path) -> PreparedBatch:
    """Read `directory/prepare.json`."""
    path = directory / PREPARED_NAME
    if not path.is_file():
        raise InputError(
            f"no {PREPARED_NAME} here; is this a directory written by `judgekit batch prepare`?",
            path=str(directory),
        )
    return _load(path, PreparedBatch, "prepare.json of `judgekit batch prepare`")


def manifest_path(path: Path) -> Path:
    """MANIFEST as given: a manifest file, or a directory holding `manifest.json`."""
    return path / MANIFEST_NAME if path.is_dir() else path


def prepared_dir_of(manifest: Manifest, path: Path) -> Path:
    """The manifest's prepared directory; or the manifest's own directory, if the job was moved there."""
    recorded = Path(manifest.prepared_dir)
    if not (recorded / PREPARED_NAME).is_file() and (path.parent / PREPARED_NAME).is_file():
        return path.parent.resolve()
    return recorded


def load_manifest(path: Path) -> Manifest:
    """Read a manifest written by `judgekit batch submit`."""
    if not path.is_file():
        raise InputError("no such manifest; `judgekit batch submit REQUESTS_DIR` writes one", path=str(path))
    return _load(path, Manifest, "manifest of `judgekit batch submit`")


def _load(path: Path, model: type[M], what: str) -> M:
    try:
        return model.model_validate_json(path.read_bytes())
    except ValidationError as error:
        detail = error.errors()[0]
        field = ".".join(str(part) for part in detail["loc"]) or None
        raise InputError(f"not a valid {what}: {detail['msg']}", path=str(path), field=field) from None


def save(path: Path, model: BaseModel) -> None:
    """Write `model` as indented JSON, atomically (a crash leaves the old file or the new one)."""
    text = json.dumps(model.model_dump(mode="json"), indent=2) + "\n"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
