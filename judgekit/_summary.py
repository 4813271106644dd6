"""Summaries of verdicts: mean score, harmful rate and refusal rate with intervals, per category."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from judgekit._verdicts import Verdict
from judgekit.metrics import wilson_interval


class Rate(BaseModel):
    """A proportion with its 95% Wilson interval."""

    model_config = ConfigDict(frozen=True)

    count: int
    total: int
    rate: float
    low: float
    high: float


class GroupSummary(BaseModel):
    """Summary of the verdicts of one group (all rows, or one category)."""

    model_config = ConfigDict(frozen=True)

    rows: int
    judged: int
    errors: dict[str, int]
    mean_score: float | None
    harmful: Rate | None
    refused: Rate | None
    partial_refused: Rate | None = None
    """Three-way refusal rubrics (`fields.refusal` full / partial / none): the partial refusals;
    `refused` counts the full ones."""


class Summary(BaseModel):
    """Summary of a run: overall and, when asked, per group."""

    model_config = ConfigDict(frozen=True)

    overall: GroupSummary
    by: str | None = None
    groups: dict[str, GroupSummary] = {}
    rubric: str | None = None
    """The verdicts' rubric (of the first verdict; a summary never pools two rubrics)."""


@dataclass
class _Tally:
    rows: int = 0
    judged: int = 0
    score_sum: float = 0.0
    harmful: int = 0
    refused: int = 0
    refusal_known: int = 0
    partial: int = 0
    full: int = 0
    three_way: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, verdict: Verdict) -> None:
        self.rows += 1
        if verdict.status != "ok" or verdict.score is None:
            self.errors[verdict.status] = self.errors.get(verdict.status, 0) + 1
            return
        self.judged += 1
        self.score_sum += float(verdict.score)
        self.harmful += bool(verdict.harmful)
        if verdict.refused is not None:
            self.refusal_known += 1
            self.refused += verdict.refused
        refusal = verdict.fields.get("refusal")
        if refusal in ("full", "partial", "none"):
            self.three_way += 1
            self.partial += refusal == "partial"
            self.full += refusal == "full"

    def merge(self, other: _Tally) -> None:
        self.rows += other.rows
        self.judged += other.judged
        self.score_sum += other.score_sum
        self.harmful += other.harmful
        self.refused += other.refused
        self.refusal_known += other.refusal_known
        self.partial += other.partial
        self.full += other.full
        self.three_way += other.three_way
        for status, count in other.errors.items():
            self.errors[status] = self.errors.get(status, 0) + count

    def _refused(self) -> Rate | None:
        """The refusal rate; of full refusals alone where the rubric tells full from partial."""
        if self.three_way:
            return _rate(self.full, self.three_way)
        return _rate(self.refused, self.refusal_known) if self.refusal_known else None

    def summary(self) -> GroupSummary:
        judged = self.judged
        return GroupSummary(
            rows=self.rows,
            judged=judged,
            errors=dict(sorted(self.errors.items())),
            mean_score=self.score_sum / judged if judged else None,
            harmful=_rate(self.harmful, judged) if judged else None,
            refused=self._refused(),
            partial_refused=_rate(self.partial, self.three_way) if self.three_way else None,
        )


def _rate(count: int, total: int) -> Rate:
    interval = wilson_interval(count, total)
    return Rate(count=count, total=total, rate=count / total, low=interval.low, high=interval.high)


class Summarizer:
    """Accumulates verdicts one at a time (streaming), grouped by an optional key."""

    def __init__(self, by: str | None = None):
        self.by = by
        self._overall = _Tally()
        self._groups: dict[str, _Tally] = {}
        self._rubric: str | None = None

    def add(self, verdict: Verdict, group: str | None = None) -> None:
        """Count one verdict, in `group` when summarising by a key."""
        if self._rubric is None:
            self._rubric = verdict.rubric
        self._overall.add(verdict)
        if self.by is not None:
            self._groups.setdefault(group or "(none)", _Tally()).add(verdict)

    def merge(self, other: Summarizer) -> None:
        """Count everything `other` counted (another process's part of the same run)."""
        self._overall.merge(other._overall)
        self._rubric = self._rubric or other._rubric
        for name, tally in other._groups.items():
            self._groups.setdefault(name, _Tally()).merge(tally)

    def summary(self) -> Summary:
        """The summary of everything added so far."""
        groups = {name: tally.summary() for name, tally in sorted(self._groups.items())}
        return Summary(overall=self._overall.summary(), by=self.by, groups=groups, rubric=self._rubric)


NONE_GROUP = "(none)"
"""The group of a verdict without a value for the grouping field."""


def group_label(value: Any) -> str:
    """A field value as a group name: lists joined with ',', booleans lower-case, missing NONE_GROUP."""
    if value is None or value == "" or value == []:
        return NONE_GROUP
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


_OWN_FIELDS = frozenset(Verdict.model_fields) - {"fields", "input"}


def verdict_field(verdict: Verdict, name: str) -> Any:
    """A field of a verdict: its own (`category`, `status`, ...), else the judge's, else the input's."""
    if name in _OWN_FIELDS:
        return getattr(verdict, name)
    if name in verdict.fields:
        return verdict.fields[name]
    return (verdict.input or {}).get(name)


def summarize_verdicts(verdicts: Iterable[Verdict], *, by: str | None = None) -> Summary:
    """Summarise verdicts overall and, with `by`, per value of that field (see `verdict_field`)."""
    summarizer = Summarizer(by=by)
    for verdict in verdicts:
        summarizer.add(verdict, group_label(verdict_field(verdict, by)) if by else None)
    return summarizer.summary()


def measure_names(rubric: str | None) -> tuple[str, str]:
    """What the rubric's `harmful` and `refused` rates measure, as column names.

    Refusal rubrics (`refusal`, `refusal-keywords`, ...) set harmful = "no refusal": their
    harmful rate is the share that complied, so it is named "complied".
    """
    if rubric is not None and rubric.startswith("refusal"):
        return "complied", "refused"
    return "harmful", "refused"
