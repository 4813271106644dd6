"""Batch output and error files: which rows succeeded (and where their line is), which failed and why.

OpenAI's output and error files and `vllm run-batch`'s output share one line format:
`{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`. A line
succeeded when `error` is empty and the status is 200; its body is a chat completion.
Lines come in any order; the index maps custom_id to the line, keeping a few integers per row
in memory rather than the replies. As on the online path, a 4xx other than 408/409/429 with an
error object (the endpoint judged the request itself) is permanent: sending it again would fail
again. Expiry, cancellation, 429, 5xx and bare error strings (vLLM reports any exception as a
400 with a string) are worth another try.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from judgekit._engine.flow import is_retryable_status
from judgekit._errors import InputError

MISSING_REASON = "no result for this row in any finished batch, and no reply in the cache"


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a row has no result, and whether sending it again may succeed."""

    reason: str
    retryable: bool = True


MISSING = Failure(MISSING_REASON)


class ResultIndex:
    """Where each row's result is: a successful line (file, offset), or a failure message.

    Files are added oldest first: a success anywhere wins; among failures the latest one counts.
    """

    def __init__(self) -> None:
        self._paths: list[Path] = []
        self._handles: dict[int, IO[bytes]] = {}
        self._ok: dict[str, tuple[int, int]] = {}
        self._failed: dict[str, Failure] = {}

    def add_file(self, path: Path) -> set[str]:
        """Index every line of an output or error file; the custom_ids it holds."""
        number = len(self._paths)
        self._paths.append(path)
        offset = 0
        ids: set[str] = set()
        with path.open("rb") as handle:
            for line_number, line in enumerate(handle, start=1):
                if line.strip():
                    custom_id, failure = _classify(line, path, line_number)
                    ids.add(custom_id)
                    if failure is None:
                        self._ok.setdefault(custom_id, (number, offset))
                    else:
                        self._failed[custom_id] = failure
                offset += len(line)
        return ids

    def add_failure(self, custom_id: str, failure: Failure) -> None:
        """Record a failure that has no line (a batch that failed as a whole)."""
        self._failed[custom_id] = failure

    def __contains__(self, custom_id: object) -> bool:
        return custom_id in self._ok or custom_id in self._failed

    def __len__(self) -> int:
        return len(self._ok.keys() | self._failed.keys())

    def completion(self, custom_id: str) -> dict[str, Any] | None:
        """The chat completion of a successful row, else None."""
        location = self._ok.get(custom_id)
        if location is None:
            return None
        number, offset = location
        handle = self._handles.get(number)
        if handle is None:
            handle = self._handles[number] = self._paths[number].open("rb")
        handle.seek(offset)
        body: dict[str, Any] = json.loads(handle.readline())["response"]["body"]
        return body

    def failure(self, custom_id: str) -> Failure:
        """Why a row has no result."""
        return self._failed.get(custom_id, MISSING)

    def close(self) -> None:
        """Close the files opened to read replies."""
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def __enter__(self) -> ResultIndex:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _classify(line: bytes, path: Path, line_number: int) -> tuple[str, Failure | None]:
    """The line's custom_id, and None if it succeeded, else why it failed."""
    try:
        row = json.loads(line)
    except ValueError:
        row = None
    if not isinstance(row, dict) or not isinstance(row.get("custom_id"), str):
        raise InputError(
            "is not a batch output line (a JSON object with a custom_id); is this a Batch API or "
            "`vllm run-batch` output file, and was it written completely?",
            path=str(path),
            line=line_number,
        )
    response = row.get("response")
    status = response.get("status_code") if isinstance(response, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    if not row.get("error") and status == 200 and isinstance(body, dict):
        return row["custom_id"], None
    prefix = f"HTTP {status}: " if isinstance(status, int) and status != 200 else ""
    error = row["error"] if row.get("error") else body
    client_error = isinstance(status, int) and 400 <= status < 500 and not is_retryable_status(status)
    retryable = not (client_error and isinstance(error, dict))
    text = error_text(error)
    return row["custom_id"], Failure(f"batch request failed: {prefix}{text}", retryable)


def error_text(value: Any) -> str:
    """A short message from an error object of OpenAI's or vLLM's shape, or a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        inner = value.get("error")
        if isinstance(inner, dict | str):
            return error_text(inner)
        message, code = value.get("message"), value.get("code")
        if message:
            return f"{code}: {message}" if isinstance(code, str) and code else str(message)
    if value is None:
        return "no details"
    return json.dumps(value)[:200]
