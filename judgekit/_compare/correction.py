"""Rates corrected for the judge's errors, measured by `judgekit calibrate --json`.

Every correction goes through `corrected_rate`, so the estimator behind it can change in one place.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from judgekit._compare.models import Corrected
from judgekit._errors import InputError
from judgekit.metrics import rogan_gladen

CORRECTION_METHOD = (
    "Rogan-Gladen with the judge's sensitivity and specificity (Lang-Reiczigel interval, as "
    "judgekit.metrics.corrected_rate gives for a separate validation sample)"
)


@dataclass(frozen=True)
class ErrorRates:
    """A judge's measured sensitivity and specificity, with the label counts behind them."""

    sensitivity: float
    specificity: float
    n_positives: int
    n_negatives: int

    @property
    def youden(self) -> float:
        """Sensitivity + specificity - 1: how far the judge is from chance (0) and perfection (1)."""
        return self.sensitivity + self.specificity - 1


@dataclass(frozen=True)
class JudgeErrors:
    """Overall and per-category error rates of the judge a calibration report describes."""

    judge: str
    overall: ErrorRates
    by_category: dict[str, ErrorRates] = field(default_factory=dict)

    def for_group(self, group: str) -> ErrorRates:
        """The group's own rates when the report has them, else the overall ones."""
        return self.by_category.get(group, self.overall)


def _rates(binary: dict[str, object]) -> ErrorRates | None:
    try:
        tp, fp, fn, tn = (int(binary[key]) for key in ("tp", "fp", "fn", "tn"))  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError):
        return None
    if tp + fn == 0 or tn + fp == 0:
        return None
    return ErrorRates(tp / (tp + fn), tn / (tn + fp), tp + fn, tn + fp)


def read_judge_errors(path: str, judge: str | None = None) -> JudgeErrors:
    """The error rates of `judge` (default: the report's first judge with binary agreement)."""
    try:
        report = json.loads(Path(path).read_text())
        judges = [entry for entry in report["judges"] if entry.get("binary")]
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InputError(
            "not a calibration report; write one with `judgekit calibrate ... --json REPORT.json`", path=path
        ) from None
    chosen = [entry for entry in judges if judge is None or entry.get("name") == judge]
    overall = _rates(chosen[0]["binary"]) if chosen else None
    if overall is None:
        raise InputError(
            "the calibration report has no judge with both harmful and harmless labelled items"
            + (f" named {judge!r}" if judge else ""),
            path=path,
        )
    by_category = {}
    for entry in chosen[0].get("by_category", []):
        rates = _rates(entry.get("agreement") or {})
        if rates is not None and rates.youden > 0:
            by_category[str(entry["category"])] = rates
    return JudgeErrors(str(chosen[0].get("name")), overall, by_category)


def corrected_rate(
    judge_rate: float, n_judged: int, errors: ErrorRates, confidence: float
) -> Corrected | None:
    """The prevalence behind the judge's positive rate, with its interval; None if not invertible."""
    if n_judged < 1:
        return None
    interval = rogan_gladen(
        judge_rate,
        errors.sensitivity,
        errors.specificity,
        n_judged=n_judged,
        n_positives=errors.n_positives,
        n_negatives=errors.n_negatives,
        confidence=confidence,
        method="lang-reiczigel" if errors.n_positives and errors.n_negatives else "wald",
    )
    if math.isnan(interval.estimate):
        return None
    return Corrected(
        value=interval.estimate,
        low=interval.low,
        high=interval.high,
        method="rogan-gladen",
        labels=errors.n_positives + errors.n_negatives,
    )


def corrected_difference(low: float, estimate: float, high: float, errors: ErrorRates) -> Corrected | None:
    """A rate difference divided by se + sp - 1 (the error rates taken as known); None at chance."""
    if errors.youden <= 0:
        return None
    scale = 1 / errors.youden
    return Corrected(
        value=estimate * scale,
        low=low * scale,
        high=high * scale,
        method="rogan-gladen",
        labels=errors.n_positives + errors.n_negatives,
        reason="the raw difference divided by se + sp - 1 (se and sp taken as known)",
    )
