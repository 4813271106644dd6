"""The Files and Batches API calls, through the openai SDK: the only batch module that imports openai.

Failures become JudgeError (the endpoint failed for the whole command) with what to check. The
SDK retries connection errors, 408, 409, 429 and 5xx itself, a few times with backoff: these are
a handful of calls, not a stream of them, so its policy is enough.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, TypeVar, cast

import openai
from openai.types import Batch, BatchError
from pydantic import BaseModel, ConfigDict

from judgekit._config import OPENAI_BASE_URL, JudgeConfig
from judgekit._engine.transports.openai_sdk import open_sdk, sdk_message
from judgekit._errors import ConfigError, JudgeError
from judgekit.batch.manifest import BATCH_ENDPOINT

BATCH_CALL_TIMEOUT_S = 600.0
"""Per call: an upload of a 200 MB request file takes a while."""
BATCH_CALL_RETRIES = 3
"""Per call, by the SDK itself (the online judge retries more: its calls are cheap and many)."""
FINISHED_STATUSES = frozenset({"completed", "expired", "cancelled", "failed"})
"""Statuses after which a batch changes no more (expired and cancelled ones keep partial output)."""

T = TypeVar("T")


class RemoteBatch(BaseModel):
    """What judgekit needs of a Batch object."""

    model_config = ConfigDict(frozen=True)

    id: str
    status: str
    input_file_id: str
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    errors: list[str] = []
    """Why the batch failed as a whole (validation), when it did."""

    @property
    def finished(self) -> bool:
        """True once the batch will change no more."""
        return self.status in FINISHED_STATUSES


class BatchRemote:
    """Files and Batches calls to one OpenAI-compatible endpoint; close it, or use it in `with`.

    With `config.api_version` set, the endpoint is Azure OpenAI's (`config.base_url` the resource).
    """

    def __init__(
        self,
        config: JudgeConfig,
        *,
        timeout_s: float = BATCH_CALL_TIMEOUT_S,
        max_retries: int = BATCH_CALL_RETRIES,
    ):
        self.base_url = (config.base_url or OPENAI_BASE_URL).rstrip("/")
        if config.api_version and self.base_url == OPENAI_BASE_URL:
            raise ConfigError(
                f"--api-version {config.api_version} is for Azure OpenAI, but the requests were prepared "
                "for OpenAI; prepare again with --base-url https://RESOURCE.openai.azure.com, "
                "or drop --api-version (and JUDGEKIT_API_VERSION)"
            )
        if config.api_key is None and (config.api_version or self.base_url == OPENAI_BASE_URL):
            service = "Azure OpenAI" if config.api_version else "the OpenAI Batch API"
            raise ConfigError(f"{service} needs an API key; set OPENAI_API_KEY")
        self._max_retries = max_retries
        self._sdk = open_sdk(
            config.model_copy(update={"base_url": self.base_url}),
            asynchronous=False,
            timeout_s=timeout_s,
            max_retries=max_retries,
        )

    def upload(self, path: Path) -> str:
        """Upload a request file (purpose "batch"); its file id."""
        with path.open("rb") as handle:
            uploaded = self._call(
                f"uploading {path.name}",
                lambda: self._sdk.files.create(file=(path.name, handle), purpose="batch"),
            )
        return uploaded.id

    def create(self, file_id: str, *, completion_window: str, metadata: Mapping[str, str]) -> RemoteBatch:
        """Create a chat-completions batch of an uploaded file."""
        window = cast(Literal["24h"], completion_window)
        return _batch(
            self._call(
                f"creating a batch of file {file_id}",
                lambda: self._sdk.batches.create(
                    input_file_id=file_id,
                    endpoint=BATCH_ENDPOINT,
                    completion_window=window,
                    metadata=dict(metadata),
                ),
            )
        )

    def retrieve(self, batch_id: str) -> RemoteBatch:
        """The batch's current state."""
        return _batch(self._call(f"reading batch {batch_id}", lambda: self._sdk.batches.retrieve(batch_id)))

    def cancel(self, batch_id: str) -> RemoteBatch:
        """Ask to cancel a batch; requests already answered stay in its output."""
        return _batch(self._call(f"cancelling batch {batch_id}", lambda: self._sdk.batches.cancel(batch_id)))

    def download(self, file_id: str, target: Path) -> Path:
        """Stream a file's content to `target` (written whole or not at all)."""
        partial = target.with_name(f".{target.name}.part")

        def fetch() -> None:
            with (
                self._sdk.files.with_streaming_response.content(file_id) as response,
                partial.open("wb") as out,
            ):
                for chunk in response.iter_bytes():
                    out.write(chunk)

        try:
            self._call(f"downloading file {file_id}", fetch)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, target)
        return target

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
            raise JudgeError(
                f"{what}: {self.base_url} refused the credentials ({_message(error)}); check OPENAI_API_KEY",
                status_code=error.status_code,
            ) from None
        except openai.NotFoundError as error:
            raise JudgeError(
                f"{what}: not found at {self.base_url} ({_message(error)}); check the id, and that "
                "this endpoint offers the Files and Batches API",
                status_code=error.status_code,
            ) from None
        except openai.APIStatusError as error:
            raise JudgeError(f"{what}: {_message(error)}", status_code=error.status_code) from None
        except openai.APIError as error:
            raise JudgeError(
                f"{what}: cannot reach {self.base_url} after {self._max_retries} retries ({error.message}); "
                "check the network and the endpoint, then rerun the same command"
            ) from None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._sdk.close()

    def __enter__(self) -> BatchRemote:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _batch(batch: Batch) -> RemoteBatch:
    counts = batch.request_counts
    errors = batch.errors.data if batch.errors is not None and batch.errors.data else []
    return RemoteBatch(
        id=batch.id,
        status=batch.status,
        input_file_id=batch.input_file_id,
        output_file_id=batch.output_file_id,
        error_file_id=batch.error_file_id,
        total=counts.total if counts else 0,
        completed=counts.completed if counts else 0,
        failed=counts.failed if counts else 0,
        errors=[_batch_error(error) for error in errors],
    )


def _batch_error(error: BatchError) -> str:
    where = f" (line {error.line})" if error.line is not None else ""
    return f"{error.code or 'error'}{where}: {error.message or 'no message'}"


def _message(error: openai.APIStatusError) -> str:
    return f"HTTP {error.status_code}: {sdk_message(error)}"
