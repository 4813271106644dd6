"""The verdict JSONL output: an append-only writer, and what an existing output already holds."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from judgekit._errors import InputError, OutputError
from judgekit._summary import Summarizer
from judgekit._verdicts import Verdict

T = TypeVar("T")

FLUSH_INTERVAL_S = 0.2
MAX_BUFFERED_CHARS = 1 << 20
"""A writer flushes sooner when this much is waiting."""


def completed_ids(path: Path, rubric_hash: str, *, counted: Summarizer | None = None) -> set[str]:
    """Ids already judged in the output at `path`, for resuming.

    A torn last line (the process was killed mid-write) is cut off, so its record is judged again.
    Verdicts of another rubric stop the run: mixing them would corrupt every summary. `counted`
    counts the verdicts found, so the resumed run's summary covers the whole output without
    reading it again.
    """
    done: set[str] = set()
    if not path.exists():
        return done
    good_bytes = 0
    with path.open("rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.endswith(b"\n"):
                break
            row = _verdict_row(line, path, line_number)
            if row is not None:
                if row.get("rubric_hash") != rubric_hash:
                    raise InputError(
                        f"holds verdicts of rubric {row.get('rubric')} ({row.get('rubric_hash')}), not "
                        f"of this run's rubric ({rubric_hash}); write to another output or pass "
                        "--overwrite to start again",
                        path=str(path),
                        line=line_number,
                        field="rubric_hash",
                    )
                done.add(str(row["id"]))
                if counted is not None:
                    counted.add(_checked(Verdict.model_validate, row, str(path), line_number))
            good_bytes += len(line)
    if good_bytes < path.stat().st_size:
        os.truncate(path, good_bytes)
    return done


def _verdict_row(line: bytes, path: Path, line_number: int) -> dict[str, object] | None:
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except ValueError:
        row = None
    if not isinstance(row, dict) or "id" not in row:
        raise InputError(
            "is not a judgekit verdict line; is this the right output file? Pass --overwrite to replace it",
            path=str(path),
            line=line_number,
        )
    return row


def read_verdicts(path: str) -> Iterator[Verdict]:
    """Stream the verdicts of a verdict JSONL (`-` for stdin); a bad line is an InputError."""
    handle = sys.stdin.buffer if path == "-" else _open_existing(path)
    with handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                yield _checked(Verdict.model_validate_json, line, path, line_number)


def _checked(validate: Callable[[T], Verdict], value: T, path: str, line_number: int) -> Verdict:
    """`validate(value)`, a Verdict, or an InputError naming the line."""
    try:
        return validate(value)
    except ValueError as error:
        message = str(error).splitlines()[0]
        raise InputError(f"not a judgekit verdict: {message}", path=path, line=line_number) from None


def _open_existing(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None


class VerdictWriter:
    """Appends verdict lines, flushing to the OS at least every FLUSH_INTERVAL_S.

    Each flush is one `write()` of whole lines to a file opened for appending, so several
    processes can append to one output at once: on a local filesystem their writes never
    interleave within a line. Flushed lines survive `kill -9`; the next run cuts a torn last line
    (see `completed_ids`), which only a full disk or a power cut can leave.
    """

    def __init__(self, path: Path | str):
        self._path = str(path)
        self._fd = 1 if str(path) == "-" else os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self._lines: list[str] = []
        self._buffered = 0
        self._next_flush = time.monotonic() + FLUSH_INTERVAL_S

    def write(self, verdict: Verdict) -> None:
        """Append one verdict line."""
        line = verdict.to_json()
        self._lines.append(line)
        self._buffered += len(line)
        if self._buffered >= MAX_BUFFERED_CHARS or time.monotonic() >= self._next_flush:
            self.flush()

    def flush(self) -> None:
        """Hand everything written so far to the OS."""
        self._next_flush = time.monotonic() + FLUSH_INTERVAL_S
        if not self._lines:
            return
        self._lines.append("")
        data = memoryview("\n".join(self._lines).encode())
        self._lines.clear()
        self._buffered = 0
        start = os.lseek(self._fd, 0, os.SEEK_END) if self._fd != 1 else 0
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as error:
            self._cut_torn_line(start, written)
            raise OutputError(
                f"could not write verdicts ({os.strerror(error.errno or 0) or error}); the lines "
                "written before are whole: free space (or raise the file size limit) and rerun "
                "the same command to resume",
                path=self._path,
            ) from None

    def _cut_torn_line(self, start: int, written: int) -> None:
        """Cut the part of a line this flush wrote, if nothing was appended after it since."""
        if written and self._fd != 1:
            with contextlib.suppress(OSError):
                if os.fstat(self._fd).st_size == start + written:
                    os.ftruncate(self._fd, start)

    def close(self) -> None:
        """Flush and close."""
        try:
            self.flush()
        finally:
            if self._fd != 1:
                os.close(self._fd)

    def __enter__(self) -> VerdictWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
