"""Records, the (prompt, response) pairs to judge, and reading them from JSONL.

The reader streams: one line at a time, each error naming the file, the line and the field, and
saying how to fix it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import pydantic_core
from pydantic import BaseModel, ConfigDict, Field

from judgekit._errors import InputError


class Record(BaseModel):
    """One item to judge: the prompt the model under test saw and its response."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """Unique id; verdicts carry it so results join back to inputs."""
    response: str
    """What the model under test answered: the text being judged."""
    prompt: str | None = None
    """What the model under test was asked."""
    category: str | None = None
    """The record's own harm category, if the dataset has one (for per-category summaries)."""
    context: str | None = None
    """Context the prompt refers to (HarmBench's contextual behaviors)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Anything else, carried along untouched."""

    def as_input(self) -> dict[str, Any]:
        """The record's fields as an input row (metadata inlined, empty fields left out)."""
        fields = {"prompt": self.prompt, "response": self.response, "context": self.context}
        return {**{k: v for k, v in fields.items() if v is not None}, **self.metadata}


Item = str | tuple[str | None, str] | Mapping[str, Any] | Record
"""What `score()` accepts per item: a response, a (prompt, response) pair, a dict or a Record."""


def to_records(items: Item | Iterable[Item]) -> list[Record]:
    """Normalise the items `score()` accepts into Records; ids default to the position."""
    # A lone string, dict or Record is one item; a tuple is a sequence of items, so one
    # (prompt, response) pair must come inside a list.
    single = isinstance(items, str | Record | Mapping)
    listed = cast(Iterable[Item], [items] if single else items)
    records = [_to_record(item, index) for index, item in enumerate(listed)]
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            raise InputError(f"duplicate id {record.id!r}; ids must be unique", field="id")
        seen.add(record.id)
    return records


def _to_record(item: Item, index: int) -> Record:
    if isinstance(item, Record):
        return item
    if isinstance(item, str):
        return Record(id=str(index), response=item)
    if isinstance(item, tuple):
        if len(item) != 2:
            raise InputError(f"item {index}: a tuple must be (prompt, response), got {len(item)} values")
        prompt, response = item
        return Record(id=str(index), prompt=prompt, response=response)
    if isinstance(item, Mapping):
        return record_from_mapping(item, FieldMap(), default_id=str(index), path=f"item {index}")
    raise InputError(
        f"item {index}: expected a string, a (prompt, response) tuple, a dict or a Record, "
        f"not {type(item).__name__}"
    )


@dataclass(frozen=True)
class Shard:
    """Every `of`-th record of an input, starting at record `index` (0-based): one process's share."""

    index: int
    of: int


@dataclass(frozen=True)
class FieldMap:
    """Which input field holds each part of a record (`--response-field` and friends)."""

    id: str = "id"
    prompt: str = "prompt"
    response: str = "response"
    category: str = "category"
    context: str = "context"

    def option(self, part: str) -> str:
        """The CLI option that remaps `part`."""
        return f"--{part}-field"


def record_from_mapping(
    row: Mapping[str, Any],
    fields: FieldMap,
    *,
    default_id: str,
    path: str | None = None,
    line: int | None = None,
) -> Record:
    """Build a Record from one input row, with an error naming the field and the fix."""

    def fail(message: str, field: str) -> InputError:
        return InputError(message, path=path, line=line, field=field)

    response = row.get(fields.response)
    if response is None and fields.response in row:
        raise fail(
            "is null; every record needs the response to judge as a string (drop the record, or "
            f"map another field with {fields.option('response')} NAME)",
            fields.response,
        )
    if response is None:
        present = ", ".join(sorted(row)) or "none"
        raise fail(
            f"missing (fields present: {present}); map another field with {fields.option('response')} NAME",
            fields.response,
        )
    if not isinstance(response, str):
        raise fail(f"must be a string, not {type(response).__name__}", fields.response)
    raw_id = row.get(fields.id, default_id)
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
        raise fail(f"must be a string or an integer, not {type(raw_id).__name__}", fields.id)
    record_id = str(raw_id)
    for name, text in ((fields.id, record_id), (fields.response, response)):
        if problem := _encoding_problem(text):
            raise fail(problem, name)
    optional: dict[str, str | None] = {}
    for part in ("prompt", "category", "context"):
        name = getattr(fields, part)
        value = row.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise fail(f"must be a string, not {type(value).__name__}", name)
            if problem := _encoding_problem(value):
                raise fail(problem, name)
        optional[part] = value
    used = {fields.id, fields.response, fields.prompt, fields.category, fields.context}
    metadata = {key: value for key, value in row.items() if key not in used}
    return Record(
        id=record_id,
        response=response,
        prompt=optional["prompt"],
        category=optional["category"],
        context=optional["context"],
        metadata=metadata,
    )


def _encoding_problem(text: str) -> str | None:
    """Why `text` cannot be sent as UTF-8 (a lone surrogate from an escape in the JSON), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return (
            f"has a lone UTF-16 surrogate (\\u{ord(text[error.start]):04x}) at character {error.start}, "
            "which is not text; fix or remove that escape in the input"
        )
    return None


def read_records(
    path: str | Path,
    fields: FieldMap | None = None,
    *,
    check_duplicates: bool = True,
    limit: int | None = None,
    shard: Shard | None = None,
) -> Iterator[Record]:
    """Stream Records from a JSONL file (`-` is stdin, `.gz` is decompressed).

    Blank lines are skipped; a UTF-8 byte-order mark is accepted. Anything else that is wrong
    raises InputError with the file, the line and the field. Checking duplicate ids here keeps
    every id in memory; `validate_records` does it in 8 bytes a record instead. `limit` stops
    after that many records; `shard` keeps only its share of them, and parses no other line.
    """
    fields = fields or FieldMap()
    seen_ids: set[str] = set()
    for line_number, record in _numbered_records(str(path), fields, limit=limit, shard=shard):
        if check_duplicates:
            if record.id in seen_ids:
                raise _duplicate_error(record.id, str(path), line_number, fields)
            seen_ids.add(record.id)
        yield record


def validate_records(
    path: str | Path, fields: FieldMap | None = None, *, limit: int | None = None, include_input: bool = False
) -> int:
    """Read the file once, raising InputError on its first bad record; the number of records.

    Duplicate ids are found by sorting 64-bit digests of the ids (8 bytes a record), then a
    second pass names the lines of the first duplicate. With `include_input`, each record's
    input fields must also be writable into its verdict line.
    """
    return validate_input(path, fields, limit=limit, include_input=include_input).count


@dataclass(frozen=True)
class InputScan:
    """What checking an input found: its records, their id digests, and how many had no id."""

    count: int
    digests: np.ndarray[Any, np.dtype[np.uint64]]
    ids_from_lines: int
    """Records with no id field, whose line number became their id."""


def validate_input(
    path: str | Path, fields: FieldMap | None = None, *, limit: int | None = None, include_input: bool = False
) -> InputScan:
    """`validate_records`, returning the whole InputScan."""
    fields = fields or FieldMap()
    scan = scan_input(path, fields, limit=limit, include_input=include_input)
    check_unique_ids(path, fields, scan.digests, limit=limit)
    return scan


def scan_records(
    path: str | Path,
    fields: FieldMap,
    *,
    limit: int | None = None,
    shard: Shard | None = None,
    include_input: bool = False,
) -> tuple[int, np.ndarray[Any, np.dtype[np.uint64]]]:
    """Check every record (of `shard`), raising InputError on the first bad one.

    Returns their number and the 64-bit digests of their ids, for `check_unique_ids`. With
    `include_input`, also that each record's input fields can be copied into its verdict line.
    """
    scan = scan_input(path, fields, limit=limit, shard=shard, include_input=include_input)
    return scan.count, scan.digests


def scan_input(
    path: str | Path,
    fields: FieldMap,
    *,
    limit: int | None = None,
    shard: Shard | None = None,
    include_input: bool = False,
) -> InputScan:
    """`scan_records`, also counting the records with no id field."""
    digests = _DigestBuffer()
    no_id = [0]
    for line_number, record in _numbered_records(str(path), fields, limit=limit, shard=shard, no_id=no_id):
        digests.add(record.id)
        if include_input and record.metadata:
            _check_copyable(record, str(path), line_number)
    return InputScan(digests.size, digests.values(), no_id[0])


def _check_copyable(record: Record, path: str, line: int) -> None:
    """Raise InputError if the record's metadata cannot be written as JSON (`--include-input`)."""
    try:
        pydantic_core.to_json(record.metadata)
    except pydantic_core.PydanticSerializationError as error:
        reason = "cannot be written as JSON: " + str(error).removeprefix("Error serializing to JSON: ")
        if "depth" in reason:
            reason = "are nested too deeply to copy into the verdict"
        elif "surrogate" in reason:
            reason = "hold a lone UTF-16 surrogate (an invalid \\u escape), which is not text"
        raise InputError(
            f"the record's other fields {reason}; fix them, or run without --include-input",
            path=path,
            line=line,
        ) from None


def check_unique_ids(
    path: str | Path,
    fields: FieldMap,
    digests: np.ndarray[Any, np.dtype[np.uint64]],
    *,
    limit: int | None = None,
) -> None:
    """Raise InputError naming both lines of the first repeated id, if `digests` repeat.

    Sorts `digests` in place: a copy would be 8 more bytes a record at the peak.
    """
    digests.sort()
    values = digests
    repeated = {int(value) for value in values[1:][values[1:] == values[:-1]]}
    if not repeated:
        return
    first_line: dict[str, int] = {}
    for line_number, record in _numbered_records(str(path), fields, limit=limit):
        if _digest(record.id) in repeated:
            if record.id in first_line:
                raise _duplicate_error(
                    record.id, str(path), line_number, fields, first_line=first_line[record.id]
                )
            first_line[record.id] = line_number


def read_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSONL file (`-` is stdin, `.gz` is decompressed), with line numbers.

    Blank lines are skipped and a UTF-8 byte-order mark is accepted; invalid UTF-8, invalid JSON
    or a line that is not an object raises InputError with the file and the line.
    """
    name = str(path)
    with _open_binary(name) as handle:
        for line_number, line in _numbered_lines(handle, name):
            if line.strip():
                yield line_number, _parse_line(line, name, line_number)


def _numbered_records(
    name: str,
    fields: FieldMap,
    *,
    limit: int | None = None,
    shard: Shard | None = None,
    no_id: list[int] | None = None,
) -> Iterator[tuple[int, Record]]:
    """The records with their line numbers; `no_id[0]` counts those with no id field."""
    count = 0
    with _open_binary(name) as handle:
        for line_number, line in _numbered_lines(handle, name):
            if not line.strip():
                continue
            count += 1
            if shard is None or (count - 1) % shard.of == shard.index:
                row = _parse_line(line, name, line_number)
                if no_id is not None and fields.id not in row:
                    no_id[0] += 1
                record = record_from_mapping(
                    row, fields, default_id=str(line_number), path=name, line=line_number
                )
                yield line_number, record
            if count == limit:
                return
    if count == 0:
        raise InputError("no records: the file is empty or has only blank lines", path=name)


def _csv_hint(line: str, name: str, line_number: int) -> str:
    """A hint when the file looks like CSV rather than JSONL."""
    looks_csv = name.lower().endswith((".csv", ".csv.gz", ".tsv")) or (
        line_number == 1 and not line.lstrip().startswith(("{", "[")) and ("," in line or "\t" in line)
    )
    if not looks_csv:
        return ""
    return (
        ". This looks like CSV, but the input must be JSONL (one JSON object a line); convert it, e.g. "
        'python -c "import csv,json,sys; [print(json.dumps(r)) for r in csv.DictReader(sys.stdin)]" '
        "< in.csv > in.jsonl"
    )


def _duplicate_error(
    record_id: str, path: str, line: int, fields: FieldMap, *, first_line: int | None = None
) -> InputError:
    earlier = f" (first on line {first_line})" if first_line is not None else ""
    return InputError(
        f"duplicate id {record_id!r}{earlier}; every record needs its own id",
        path=path,
        line=line,
        field=fields.id,
    )


def _digest(record_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(record_id.encode(), digest_size=8).digest(), "little")


class _DigestBuffer:
    """A growable array of 64-bit id digests."""

    def __init__(self) -> None:
        self._array = np.empty(1024, dtype=np.uint64)
        self.size = 0

    def add(self, record_id: str) -> None:
        if self.size == len(self._array):
            self._array = np.resize(self._array, 2 * len(self._array))
        self._array[self.size] = _digest(record_id)
        self.size += 1

    def values(self) -> np.ndarray[Any, np.dtype[np.uint64]]:
        return self._array[: self.size]


def _open_binary(name: str) -> IO[bytes]:
    if name == "-":
        return sys.stdin.buffer
    try:
        return cast(IO[bytes], gzip.open(name, "rb") if name.endswith(".gz") else open(name, "rb"))
    except FileNotFoundError:
        raise InputError("file not found", path=name) from None


def _numbered_lines(handle: IO[bytes], name: str) -> Iterator[tuple[int, str]]:
    line_number = 0
    try:
        for line_number, raw in enumerate(handle, start=1):
            if line_number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputError(
                    f"invalid UTF-8 at byte {error.start} of the line ({error.reason}); "
                    "re-encode the file as UTF-8",
                    path=name,
                    line=line_number,
                ) from None
            yield line_number, text
    except (OSError, EOFError, zlib.error) as error:
        raise _read_error(error, name, line_number + 1) from None


def _read_error(error: BaseException, name: str, line: int) -> InputError:
    if isinstance(error, gzip.BadGzipFile):
        return InputError(
            "is named .gz but is not gzip; rename it without .gz, or compress it", path=name, line=line
        )
    if isinstance(error, EOFError | zlib.error):
        return InputError(
            f"the gzip file is truncated or damaged ({error}); the records before this line were "
            "readable: recompress the file from its source",
            path=name,
            line=line,
        )
    return InputError(f"cannot read the file: {error}", path=name, line=line)


def _parse_line(line: str, name: str, line_number: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(
            f"invalid JSON at column {error.colno}: {error.msg}; each line must be one JSON object"
            + _csv_hint(line, name, line_number),
            path=name,
            line=line_number,
        ) from None
    except RecursionError:
        raise InputError(
            "the line's JSON is nested too deeply to read (thousands of levels); flatten it or drop it",
            path=name,
            line=line_number,
        ) from None
    except ValueError as error:  # an integer of more than 4,300 digits
        raise InputError(
            f"cannot read a number: {str(error).split(';')[0]}; write such numbers as strings",
            path=name,
            line=line_number,
        ) from None
    if not isinstance(row, dict):
        raise InputError(f"expected a JSON object, got {type(row).__name__}", path=name, line=line_number)
    return row
