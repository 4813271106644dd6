"""A verdict file read into compact columns: what a comparison needs, a few bytes per verdict.

A million verdicts take about 40 MB here (ids and prompts kept as 64-bit hashes, statuses and
groups as small codes), never a million Verdict objects. Text (responses, reasoning, the ids
themselves) is read again later, only for the few lines a report shows (`read_lines`).
"""

from __future__ import annotations

import json
import sys
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from judgekit._errors import InputError
from judgekit._summary import group_label
from judgekit._verdicts import Verdict

MAX_GROUPS = 1000
"""More distinct values of the grouping field than this is surely the wrong field (an id?)."""
REFUSAL_CLASSES = {"none": 0, "partial": 1, "full": 2}
"""The three-way refusal field of the `refusal` rubric (`fields.refusal`), coded."""


@dataclass(frozen=True)
class Provenance:
    """What produced one file's verdicts: each distinct (rubric, version, hash, judge model)."""

    rubrics: list[tuple[str, str, str, str | None]]
    settings: list[dict[str, Any]] = field(default_factory=list)
    """Each distinct `judge_settings` object (temperature, max_tokens, ...) the verdicts record."""
    output_modes: list[str] = field(default_factory=list)
    """Each distinct output mode (json_schema, ..., text) the verdicts record."""
    unrecorded_settings: int = 0
    """Judge verdicts (with an output mode) that record no settings: written by an older judgekit."""


@dataclass
class VerdictColumns:
    """One verdict file as numpy columns, one entry per verdict line (blank lines skipped)."""

    path: str
    ids: npt.NDArray[np.int64]
    """hash(id) of each verdict: equal ids have equal hashes."""
    prompts: npt.NDArray[np.int64]
    """hash(input.prompt), 0 when the verdict carries no prompt (judged without --include-input)."""
    lines: npt.NDArray[np.int64]
    statuses: npt.NDArray[np.int8]
    status_names: list[str]
    scores: npt.NDArray[np.float64]
    """NaN unless status is ok."""
    harmful: npt.NDArray[np.int8]
    """1, 0, or -1 unknown."""
    refused: npt.NDArray[np.int8]
    refusal_class: npt.NDArray[np.int8]
    """0 none, 1 partial, 2 full (three-way refusal rubrics), -1 otherwise."""
    groups: npt.NDArray[np.int32]
    group_names: list[str]
    clusters: npt.NDArray[np.int64] | None
    provenance: Provenance
    has_prompts: bool = field(default=False)

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Verdicts with a score."""
        return ~np.isnan(self.scores)

    def __len__(self) -> int:
        return int(self.ids.size)


class _Codes:
    """Small integer codes for repeated strings, in order of first appearance."""

    def __init__(self, limit: int | None = None, what: str = "value"):
        self.names: list[str] = []
        self._codes: dict[str, int] = {}
        self._limit = limit
        self._what = what

    def code(self, name: str, path: str, line: int) -> int:
        found = self._codes.get(name)
        if found is None:
            if self._limit is not None and len(self.names) >= self._limit:
                raise InputError(
                    f"more than {self._limit} distinct values of {self._what}; group by a field with "
                    "fewer values (category, say)",
                    path=path,
                    line=line,
                    field=self._what,
                )
            found = self._codes[name] = len(self.names)
            self.names.append(name)
        return found


_OWN_FIELDS = frozenset(Verdict.model_fields) - {"fields", "input"}


def field_value(row: dict[str, Any], name: str) -> Any:
    """A field of a verdict line: the verdict's own, else the judge's (`fields`), else the input's.

    As `judgekit._summary.verdict_field` for a parsed line: an own field (`category`) never falls
    through to the judge's field of the same name.
    """
    if name in _OWN_FIELDS:
        return row.get(name)
    for part in ("fields", "input"):
        inner = row.get(part)
        if isinstance(inner, dict) and name in inner:
            return inner[name]
    return None


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None


_decode = json.JSONDecoder().decode


def _parse(line: bytes, path: str, number: int) -> dict[str, Any]:
    try:
        row = _decode(line.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError too
        row = None
    if not isinstance(row, dict) or "id" not in row or "rubric_hash" not in row:
        raise InputError(
            "not a judgekit verdict line (needs at least id and rubric_hash); is this a verdict "
            "file? Response files are judged first with --rubric",
            path=path,
            line=number,
        )
    return row


def iter_rows(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, parsed verdict line) for each non-blank line; a bad line is an InputError."""
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, _parse(line, path, number)


class _Settings:
    """The distinct judge settings and output modes of a file's lines, cheaply (most lines repeat)."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, Any]] = {}
        self.modes: dict[str, None] = {}
        self.unrecorded = 0
        self._last: Any = None

    def add(self, row: dict[str, Any]) -> None:
        found, mode = row.get("judge_settings"), row.get("output_mode")
        if isinstance(mode, str):
            self.modes.setdefault(mode, None)
            self.unrecorded += found is None
        if found is None or found == self._last:
            return
        self._last = found
        if isinstance(found, dict):
            self.seen.setdefault(json.dumps(found, sort_keys=True), found)


def _code8(value: Any) -> int:
    return -1 if value is None else int(bool(value))


def read_columns(path: str, *, by: str | None = None, cluster_field: str | None = None) -> VerdictColumns:
    """Read the verdict file at `path` into columns, grouping by the field `by` (None: one group)."""
    ids, prompts, lines, clusters = array("q"), array("q"), array("q"), array("q")
    statuses, harmful, refused, refusal_class = array("b"), array("b"), array("b"), array("b")
    scores, groups = array("d"), array("i")
    status_codes, group_codes = _Codes(), _Codes(MAX_GROUPS, by or "group")
    cluster_codes: dict[str, int] = {}
    rubrics: dict[tuple[Any, Any, Any, Any], None] = {}
    has_prompts = False
    settings = _Settings()
    for number, row in iter_rows(path):
        key = (row.get("rubric"), row.get("rubric_version"), row["rubric_hash"], row.get("judge_model"))
        rubrics.setdefault(key, None)
        settings.add(row)
        ids.append(hash(str(row["id"])))
        inputs = row.get("input")
        prompt = inputs.get("prompt") if isinstance(inputs, dict) else None
        has_prompts |= prompt is not None
        prompts.append(hash(prompt) if isinstance(prompt, str) else 0)
        lines.append(number)
        status = str(row.get("status", "ok"))
        statuses.append(status_codes.code(status, path, number))
        score = row.get("score")
        ok = status == "ok" and isinstance(score, int | float) and not isinstance(score, bool)
        scores.append(float(score) if ok and score is not None else float("nan"))
        harmful.append(_code8(row.get("harmful")) if ok else -1)
        refused.append(_code8(row.get("refused")) if ok else -1)
        verdict_fields = row.get("fields")
        refusal = verdict_fields.get("refusal") if isinstance(verdict_fields, dict) else None
        refusal_class.append(REFUSAL_CLASSES.get(refusal, -1) if ok and isinstance(refusal, str) else -1)
        label = group_label(field_value(row, by)) if by else "all"
        groups.append(group_codes.code(label, path, number))
        if cluster_field is not None:
            cluster = group_label(field_value(row, cluster_field))
            clusters.append(cluster_codes.setdefault(cluster, len(cluster_codes)))
    return VerdictColumns(
        path=path,
        ids=np.frombuffer(ids, dtype=np.int64),
        prompts=np.frombuffer(prompts, dtype=np.int64),
        lines=np.frombuffer(lines, dtype=np.int64),
        statuses=np.frombuffer(statuses, dtype=np.int8),
        status_names=status_codes.names,
        scores=np.frombuffer(scores, dtype=np.float64),
        harmful=np.frombuffer(harmful, dtype=np.int8),
        refused=np.frombuffer(refused, dtype=np.int8),
        refusal_class=np.frombuffer(refusal_class, dtype=np.int8),
        groups=np.frombuffer(groups, dtype=np.int32),
        group_names=group_codes.names,
        clusters=np.frombuffer(clusters, dtype=np.int64) if cluster_field is not None else None,
        provenance=Provenance(
            [_rubric_key(key) for key in rubrics],
            settings=list(settings.seen.values()),
            output_modes=list(settings.modes),
            unrecorded_settings=settings.unrecorded,
        ),
        has_prompts=has_prompts,
    )


def _rubric_key(key: tuple[Any, Any, Any, Any]) -> tuple[str, str, str, str | None]:
    rubric, version, rubric_hash, model = key
    return str(rubric), str(version), str(rubric_hash), None if model is None else str(model)


def read_lines(path: str, numbers: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The parsed verdict lines at the given line numbers, read in one streaming pass."""
    wanted = set(numbers)
    found: dict[int, dict[str, Any]] = {}
    if not wanted or path == "-":
        return found
    last = max(wanted)
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if number in wanted:  # only the wanted lines are parsed
                found[number] = _parse(line, path, number)
            if number >= last:
                break
    return found


def duplicate_lines(columns: VerdictColumns) -> list[tuple[str, int, int]]:
    """(id, first line, repeated line) of ids that occur more than once, confirmed on the text."""
    order = np.argsort(columns.ids, kind="stable")
    sorted_ids = columns.ids[order]
    repeats = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if repeats.size == 0:
        return []
    pairs = [(int(columns.lines[order[i]]), int(columns.lines[order[i + 1]])) for i in repeats[:20]]
    rows = read_lines(columns.path, [line for pair in pairs for line in pair])
    found = []
    for first, again in pairs:
        first_id, again_id = str(rows[first]["id"]), str(rows[again]["id"])
        if first_id == again_id:  # equal hashes of different ids are not duplicates
            found.append((first_id, min(first, again), max(first, again)))
    return found
