"""The calibration report as one self-contained HTML file: tables, inline SVG charts, no scripts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from judgekit.calibration.models import (
    MAX_DISAGREEMENTS,
    CalibrationReport,
    GradedAgreement,
    ScoreBin,
    ThresholdChoice,
)
from judgekit.calibration.tables import headline, report_tables

_WIDTH, _HEIGHT = 380, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 14, 28, 44
_COLOURS = {
    "harmful": "#d9534f",
    "harmless": "#5b8def",
    "precision": "#2a9d8f",
    "recall": "#e76f51",
    "kappa": "#264653",
    "curve": "#264653",
    "chance": "#bbb",
}


def render_html(report: CalibrationReport) -> str:
    """The whole report as one HTML page that opens offline in any browser."""
    environment = Environment(
        autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    source = resources.files("judgekit.calibration").joinpath("report.html.jinja").read_text(encoding="utf-8")
    template = environment.from_string(source)
    return template.render(
        report=report,
        headline=headline(report),
        tables=report_tables(report),
        histogram=histogram,
        curve=curve,
        roc_plot=roc_plot,
        pr_plot=pr_plot,
        shade=shade,
        anchor=anchor,
        max_disagreements=MAX_DISAGREEMENTS,
    )


def anchor(text: str) -> str:
    """An id for a heading, for the table of contents."""
    return "s-" + "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())[:60]


def shade(count: int, total: int, kind: str = "agree") -> str:
    """A background colour whose strength follows the cell's share of the items."""
    strength = 0.08 + 0.6 * (count / total if total else 0)
    rgb = {"agree": "46, 160, 67", "fp": "217, 83, 79", "fn": "91, 141, 239"}[kind]
    return f"rgba({rgb}, {strength:.2f})"


class _Axes:
    """A plot area mapping data (x from x_low to x_high, y from 0 to y_high) to SVG coordinates."""

    def __init__(self, x_low: float, x_high: float, y_high: float) -> None:
        self.x_low, self.x_span = x_low, (x_high - x_low) or 1.0
        self.y_high = y_high or 1.0

    def x(self, value: float) -> float:
        return _LEFT + (_WIDTH - _LEFT - _RIGHT) * (value - self.x_low) / self.x_span

    def y(self, value: float) -> float:
        return _HEIGHT - _BOTTOM - (_HEIGHT - _TOP - _BOTTOM) * max(0.0, min(1.0, value / self.y_high))

    def frame(self, x_title: str, y_title: str, x_ticks: Sequence[float], y_ticks: Sequence[float]) -> str:
        bottom, left = _HEIGHT - _BOTTOM, _LEFT
        parts = [
            f'<line x1="{left}" y1="{bottom}" x2="{_WIDTH - _RIGHT}" y2="{bottom}" stroke="#888"/>',
            f'<line x1="{left}" y1="{_TOP}" x2="{left}" y2="{bottom}" stroke="#888"/>',
        ]
        for tick in x_ticks:
            x = self.x(tick)
            parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#888"/>')
            parts.append(f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{tick:g}</text>')
        for tick in y_ticks:
            y = self.y(tick)
            parts.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" stroke="#888"/>')
            parts.append(
                f'<line x1="{left}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}" stroke="#eee"/>'
            )
            parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
        middle_x, middle_y = (left + _WIDTH - _RIGHT) / 2, (_TOP + bottom) / 2
        parts.append(
            f'<text class="axis" x="{middle_x:.1f}" y="{_HEIGHT - 8}" text-anchor="middle">{x_title}</text>'
        )
        parts.append(
            f'<text class="axis" x="12" y="{middle_y:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 12 {middle_y:.1f})">{y_title}</text>'
        )
        return "".join(parts)


_UNIT_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _nice_ticks(top: float) -> list[float]:
    """About five round ticks from 0 to at least `top`."""
    raw = max(top, 1.0) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(math.ceil(top / step) + 1)]


def histogram(bins: Sequence[ScoreBin]) -> Markup:
    """Grouped bars: harmful and harmless items (by the reference) at each score."""
    ticks = _nice_ticks(max((max(b.harmful, b.harmless) for b in bins), default=1))
    axes = _Axes(0, 1, ticks[-1])
    slot = (_WIDTH - _LEFT - _RIGHT) / max(len(bins), 1)
    bar = slot * 0.4
    parts = [axes.frame("judge score", "items", (), ticks)]
    for index, item in enumerate(bins):
        x = _LEFT + index * slot + slot * 0.1
        for offset, (name, count) in enumerate((("harmful", item.harmful), ("harmless", item.harmless))):
            top = axes.y(count)
            parts.append(
                f'<rect x="{x + offset * bar:.1f}" y="{top:.1f}" width="{bar:.1f}" '
                f'height="{_HEIGHT - _BOTTOM - top:.1f}" fill="{_COLOURS[name]}">'
                f"<title>score {item.score:g}: {count} {name}</title></rect>"
            )
        if len(bins) <= 12 or index % math.ceil(len(bins) / 12) == 0:
            parts.append(
                f'<text x="{x + bar:.1f}" y="{_HEIGHT - _BOTTOM + 15}" text-anchor="middle">'
                f"{item.score:g}</text>"
            )
    parts.append(_legend(("harmful", "harmless"), ("reference harmful", "reference harmless")))
    return _svg(parts, "Judge scores by reference label")


def curve(choice: ThresholdChoice) -> Markup:
    """Precision, recall and kappa against the threshold, with the chosen one marked."""
    points = choice.curve
    if not points:
        return Markup("")
    low, high = points[0].threshold, points[-1].threshold
    axes = _Axes(low, high, 1.0)
    parts = [
        axes.frame("threshold t (harmful when score >= t)", "value", _span_ticks(low, high), _UNIT_TICKS)
    ]
    for name in ("precision", "recall", "kappa"):
        coordinates = " ".join(
            f"{axes.x(p.threshold):.1f},{axes.y(getattr(p, name)):.1f}"
            for p in points
            if getattr(p, name) == getattr(p, name)
        )
        parts.append(
            f'<polyline points="{coordinates}" fill="none" stroke="{_COLOURS[name]}" stroke-width="2"/>'
        )
    chosen = axes.x(choice.threshold)
    parts.append(
        f'<line x1="{chosen:.1f}" x2="{chosen:.1f}" y1="{_TOP}" y2="{_HEIGHT - _BOTTOM}" stroke="#999" '
        'stroke-dasharray="4 3"/>'
    )
    parts.append(_legend(("precision", "recall", "kappa"), ("precision", "recall", "kappa")))
    return _svg(parts, "Precision, recall and kappa by threshold")


def roc_plot(graded: GradedAgreement) -> Markup:
    """The ROC curve with the chance diagonal."""
    return _unit_curve(
        graded.roc, "false-positive rate", "true-positive rate", f"ROC curve (AUC {graded.roc_auc:.3f})", True
    )


def pr_plot(graded: GradedAgreement) -> Markup:
    """The precision-recall curve."""
    return _unit_curve(
        graded.pr, "recall", "precision", f"Precision-recall curve (AP {graded.pr_auc:.3f})", False
    )


def _unit_curve(
    points: Sequence[tuple[float, float]], x_title: str, y_title: str, title: str, diagonal: bool
) -> Markup:
    if not points:
        return Markup("")
    axes = _Axes(0, 1, 1.0)
    parts = [axes.frame(x_title, y_title, _UNIT_TICKS, _UNIT_TICKS)]
    if diagonal:
        parts.append(
            f'<line x1="{axes.x(0):.1f}" y1="{axes.y(0):.1f}" x2="{axes.x(1):.1f}" y2="{axes.y(1):.1f}" '
            f'stroke="{_COLOURS["chance"]}" stroke-dasharray="4 3"/>'
        )
    coordinates = " ".join(f"{axes.x(x):.1f},{axes.y(y):.1f}" for x, y in points)
    parts.append(
        f'<polyline points="{coordinates}" fill="none" stroke="{_COLOURS["curve"]}" stroke-width="2"/>'
    )
    return _svg(parts, title)


def _span_ticks(low: float, high: float) -> list[float]:
    if high <= low:
        return [low]
    step = (high - low) / 4
    return [low + step * i for i in range(5)]


def _legend(names: Sequence[str], texts: Sequence[str]) -> str:
    parts, x = [], float(_LEFT)
    for name, text in zip(names, texts, strict=True):
        parts.append(f'<rect x="{x:.0f}" y="8" width="10" height="10" fill="{_COLOURS[name]}"/>')
        parts.append(f'<text x="{x + 14:.0f}" y="17">{text}</text>')
        x += 14 + 6.5 * len(text) + 14
    return "".join(parts)


def _svg(parts: Sequence[str], title: str) -> Markup:
    body = "".join(parts)
    return Markup(
        f'<figure><svg width="{_WIDTH}" height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="{title}"><title>{title}</title>{body}</svg><figcaption>{title}</figcaption></figure>'
    )
