"""The verdict JSONL output: an append-only writer, and what an existing output already holds."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from judgekit._errors import ConfigError, InputError, OutputError
from judgekit._summary import Summarizer
from judgekit._verdicts import Verdict

T = TypeVar("T")

FLUSH_INTERVAL_S = 0.2
MAX_BUFFERED_CHARS = 1 << 20
"""A writer flushes sooner when this much is waiting."""


LOCK_SUFFIX = ".lock"
"""`OUTPUT.lock` holds the pid of the run writing OUTPUT, and its advisory lock, for the run."""


@contextlib.contextmanager
def claimed_output(input_path: str, output_path: str) -> Iterator[None]:
    """Check that `output_path` can take this run's verdicts, and hold it for the run.

    Refuses an output that is the input (the same file, also through a symlink or a hard link),
    a `.gz` name (verdicts are written as plain JSONL), a missing directory and an output that
    cannot be written (read-only, immutable), all before any request. Then takes an exclusive
    advisory lock (`flock`) on `OUTPUT.lock` for as long as the block runs: a second run into the
    same output stops at once, naming the process that holds it. Forked worker processes inherit
    the lock. Nothing is checked or locked for `-` (stdout).
    """
    if output_path == "-":
        yield
        return
    _check_output(input_path, output_path)
    lock_path = output_path + LOCK_SUFFIX
    fd = _take_lock(lock_path, output_path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


def _check_output(input_path: str, output_path: str) -> None:
    output = Path(output_path)
    if output_path.endswith(".gz"):
        raise InputError(
            "verdicts are written as plain JSONL, not gzip; name the output without .gz "
            "(compress it after the run)",
            path=output_path,
        )
    same = input_path != "-" and output.exists() and Path(input_path).exists()
    if same and os.path.samefile(input_path, output_path):
        raise InputError(
            f"the output is the input file {input_path} (the same file on disk): writing verdicts "
            "there would destroy the records; pass another -o OUTPUT",
            path=output_path,
        )
    if not output.parent.is_dir():
        raise InputError(
            f"the output's directory {output.parent} does not exist; create it or pass another -o OUTPUT",
            path=output_path,
        )
    if output.exists():
        try:
            os.close(os.open(output_path, os.O_WRONLY | os.O_APPEND))
        except OSError as error:
            raise InputError(f"cannot write to the output: {error.strerror}", path=output_path) from None


def _take_lock(lock_path: str, output_path: str) -> int:
    import fcntl  # POSIX only; judgekit's bulk runs need it (see processes.SUPPORTED)

    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise InputError(
                f"cannot write in the output's directory ({error.strerror}); pass another -o OUTPUT",
                path=output_path,
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):  # no locks here (some NFS)
                warnings.warn(
                    f"cannot lock {lock_path} ({error.strerror}): a second run into {output_path} "
                    "would not be stopped",
                    stacklevel=4,
                )
                return fd
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"another judgekit run (pid {holder}) is writing to {output_path} (it holds {lock_path}); "
                "wait for it to finish, stop it, or pass another -o OUTPUT"
            ) from None
        # A run that just finished may have unlinked the file we opened: lock the one on disk.
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


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


def read_verdicts(path: str | Path) -> Iterator[Verdict]:
    """Stream the verdicts of a verdict JSONL file (`judgekit score` output; `-` for stdin).

    One Verdict per non-blank line, read lazily, so a file of any size streams in constant
    memory. A line that is not a verdict is an InputError naming the file and the line.
    """
    for _, verdict in read_numbered_verdicts(path):
        yield verdict


def read_numbered_verdicts(path: str | Path) -> Iterator[tuple[int, Verdict]]:
    """`read_verdicts`, each verdict with its line number."""
    path = str(path)
    handle = sys.stdin.buffer if path == "-" else _open_existing(path)
    with handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                yield line_number, _checked(Verdict.model_validate_json, line, path, line_number)


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
        try:
            self._fd = 1 if str(path) == "-" else os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as error:
            raise InputError(f"cannot write to the output: {error.strerror}", path=str(path)) from None
        self._lines: list[str] = []
        self._buffered = 0
        self._next_flush = time.monotonic() + FLUSH_INTERVAL_S

    def write(self, verdict: Verdict) -> None:
        """Append one verdict line."""
        try:
            line = verdict.to_json()
        except ValueError as error:  # input copied with --include-input from an unchecked stdin
            raise InputError(
                f"cannot write the verdict of record {verdict.id!r}: {error}; fix the record, or run "
                "without --include-input",
                path=self._path,
            ) from None
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


RETRY_SUFFIX = ".retry"
"""`OUTPUT.retry` collects the verdicts of a `--retry-errors` run until they replace their lines."""


def failed_ids(path: Path, rubric_hash: str) -> set[str]:
    """Ids whose verdict in the output at `path` failed (any status but ok), for `--retry-errors`."""
    failed: set[str] = set()
    if not path.exists():
        return failed
    with path.open("rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.endswith(b"\n"):
                break
            row = _verdict_row(line, path, line_number)
            if row is not None and row.get("rubric_hash") == rubric_hash:
                (failed.add if row.get("status", "ok") != "ok" else failed.discard)(str(row["id"]))
    return failed


def merge_retried(output: Path, retried: Path) -> int:
    """Replace the lines of `output` whose ids have a verdict in `retried`; the lines replaced.

    Safe to interrupt anywhere, `kill -9` included (see `rewrite_verdicts`), and only then is
    `retried` removed. Merging again is a no-op, so a run that finds a `retried` file left by a
    killed run merges it first. A torn last line of `retried` is dropped (its record is still
    failed in the output, and is retried again).
    """
    if not retried.exists():
        return 0
    replacements: dict[str, bytes] = {}
    with retried.open("rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.endswith(b"\n") and (row := _verdict_row(line, retried, line_number)) is not None:
                replacements[str(row["id"])] = line
    replaced = 0
    if replacements:
        # What is left of `replacements` once every line is read: ids the output lost (it was cut).
        replaced = rewrite_verdicts(
            output, lambda row: replacements.pop(str(row["id"]), None), appended=replacements.values()
        )
    retried.unlink()
    return replaced


def rewrite_verdicts(
    output: Path,
    new_line: Callable[[dict[str, object]], bytes | None],
    *,
    appended: Iterable[bytes] = (),
) -> int:
    """Rewrite the verdict lines of `output` in one step; the lines `new_line` replaced or dropped.

    Each verdict line (`row`, its JSON) becomes `new_line(row)`: None keeps it, `b""` drops it,
    other bytes replace it; then come the `appended` lines, iterated once every line is read. A
    torn last line is dropped (its record is judged again on resume); a missing output reads as
    empty. Safe to interrupt anywhere, `kill -9` included: the new output is written beside the
    old, synced, and renamed over it (the old output or the new one, never half of either). An
    output nothing changed is left as it was.
    """
    staging = output.with_name(output.name + ".merging")
    changed, added = 0, False
    try:
        with (
            output.open("rb") if output.exists() else contextlib.nullcontext(iter(())) as source,
            staging.open("wb") as target,
        ):
            for line_number, line in enumerate(source, start=1):
                if not line.endswith(b"\n"):
                    break
                row = _verdict_row(line, output, line_number)
                new = new_line(row) if row is not None else None
                changed += new is not None
                target.write(line if new is None else new)
            for line in appended:
                target.write(line)
                added = True
            if changed or added:
                target.flush()
                os.fsync(target.fileno())
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    if not (changed or added):
        staging.unlink()
        return 0
    os.replace(staging, output)
    _sync_directory(output.parent)
    return changed


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be synced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
