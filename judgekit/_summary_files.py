"""Summaries of verdict files, one per file, refusing to pool what must not be pooled.

A summary mixes nothing: verdicts of two rubrics (or rubric versions) in one file, or one id on
two lines (a run appended twice), stop with an InputError naming the lines.
"""

from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np

from judgekit._errors import InputError
from judgekit._results import read_numbered_verdicts
from judgekit._summary import Summarizer, Summary, group_label, verdict_field
from judgekit._verdicts import Verdict


class _Checks:
    """The rubric of a file's first verdict, and every id's hash and line, to check at the end."""

    def __init__(self, path: str):
        self.path = path
        self.first: tuple[int, str, str] | None = None
        self.ids = array("q")
        self.lines = array("q")

    def add(self, line: int, verdict: Verdict) -> None:
        if self.first is None:
            self.first = (line, verdict.rubric, verdict.rubric_hash)
        elif verdict.rubric_hash != self.first[2]:
            first_line, rubric, rubric_hash = self.first
            raise InputError(
                f"holds verdicts of two rubrics: {rubric} ({rubric_hash}) on line {first_line} and "
                f"{verdict.rubric} ({verdict.rubric_hash}) here; summarise each rubric's verdicts apart",
                path=self.path,
                line=line,
                field="rubric_hash",
            )
        self.ids.append(hash(verdict.id))
        self.lines.append(line)

    def check_ids(self) -> None:
        ids = np.frombuffer(self.ids, dtype=np.int64)
        lines = np.frombuffer(self.lines, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        repeats = np.flatnonzero(ids[order][1:] == ids[order][:-1])
        for index in repeats:
            first, again = int(lines[order[index]]), int(lines[order[index + 1]])
            found = self._ids_at({first, again})
            if len(found) == 2 and found[first] == found[again]:  # equal hashes of different ids pass
                raise InputError(
                    f"id {found[first]!r} is on lines {first} and {again}; ids must be unique (was one run "
                    "appended twice?)",
                    path=self.path,
                    line=again,
                    field="id",
                )
            if len(found) < 2:  # standard input cannot be read again
                raise InputError(f"lines {first} and {again} have the same id", path=self.path, line=again)

    def _ids_at(self, lines: set[int]) -> dict[int, str]:
        if self.path == "-":
            return {}
        return {line: verdict.id for line, verdict in read_numbered_verdicts(self.path) if line in lines}


def summarize_file(path: str | Path, *, by: str | None = None) -> Summary:
    """The summary of one verdict file (`-`: stdin), by any verdict, judge or input field."""
    checks = _Checks(str(path))
    summarizer = Summarizer(by=by)
    for line, verdict in read_numbered_verdicts(path):
        checks.add(line, verdict)
        summarizer.add(verdict, group_label(verdict_field(verdict, by)) if by else None)
    checks.check_ids()
    return summarizer.summary()


def summarize_files(paths: list[str], *, by: str | None = None) -> list[tuple[str, Summary]]:
    """(name, summary) of each file; names are file stems, made unique with the path if needed."""
    stems = [Path(path).name.split(".")[0] for path in paths]
    names = [stem if stems.count(stem) == 1 else path for stem, path in zip(stems, paths, strict=True)]
    return [(name, summarize_file(path, by=by)) for name, path in zip(names, paths, strict=True)]
