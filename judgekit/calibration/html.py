"""The calibration report as one self-contained HTML file: tables, inline SVG charts, no scripts."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from judgekit.calibration.models import MAX_DISAGREEMENTS, CalibrationReport, ScoreBin, ThresholdChoice
from judgekit.calibration.tables import headline, report_tables

_WIDTH, _HEIGHT, _PAD = 360, 200, 30
_COLOURS = {
    "harmful": "#d9534f",
    "harmless": "#5b8def",
    "precision": "#2a9d8f",
    "recall": "#e76f51",
    "kappa": "#264653",
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
        shade=shade,
        max_disagreements=MAX_DISAGREEMENTS,
    )


def shade(count: int, total: int, kind: str = "agree") -> str:
    """A background colour whose strength follows the cell's share of the items."""
    strength = 0.08 + 0.6 * (count / total if total else 0)
    rgb = {"agree": "46, 160, 67", "fp": "217, 83, 79", "fn": "91, 141, 239"}[kind]
    return f"rgba({rgb}, {strength:.2f})"


def histogram(bins: Sequence[ScoreBin]) -> Markup:
    """Grouped bars: harmful and harmless items (by the reference) at each score."""
    top = max((max(b.harmful, b.harmless) for b in bins), default=1) or 1
    slot = (_WIDTH - 2 * _PAD) / max(len(bins), 1)
    bar = slot * 0.4
    parts = [_frame()]
    for index, item in enumerate(bins):
        x = _PAD + index * slot + slot * 0.1
        for offset, (name, count) in enumerate((("harmful", item.harmful), ("harmless", item.harmless))):
            height = (_HEIGHT - 2 * _PAD) * count / top
            parts.append(
                f'<rect x="{x + offset * bar:.1f}" y="{_HEIGHT - _PAD - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{_COLOURS[name]}"><title>score {item.score:g}: {count} '
                f"{name}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar:.1f}" y="{_HEIGHT - _PAD + 14}" text-anchor="middle">{item.score:g}</text>'
        )
    parts.append(_legend(("harmful", "harmless")))
    return _svg(parts)


def curve(choice: ThresholdChoice) -> Markup:
    """Precision, recall and kappa against the threshold, with the chosen one marked."""
    points = choice.curve
    if not points:
        return Markup("")
    low, high = points[0].threshold, points[-1].threshold
    span = (high - low) or 1.0

    def x(value: float) -> float:
        return _PAD + (_WIDTH - 2 * _PAD) * (value - low) / span

    def y(value: float) -> float:
        return _HEIGHT - _PAD - (_HEIGHT - 2 * _PAD) * max(0.0, min(1.0, value))

    parts = [_frame()]
    for name in ("precision", "recall", "kappa"):
        coordinates = " ".join(
            f"{x(p.threshold):.1f},{y(getattr(p, name)):.1f}"
            for p in points
            if getattr(p, name) == getattr(p, name)
        )
        parts.append(
            f'<polyline points="{coordinates}" fill="none" stroke="{_COLOURS[name]}" stroke-width="2"/>'
        )
    chosen = x(choice.threshold)
    parts.append(
        f'<line x1="{chosen:.1f}" x2="{chosen:.1f}" y1="{_PAD}" y2="{_HEIGHT - _PAD}" stroke="#999" '
        'stroke-dasharray="4 3"/>'
    )
    parts.append(f'<text x="{_PAD}" y="{_HEIGHT - _PAD + 14}">{low:g}</text>')
    parts.append(f'<text x="{_WIDTH - _PAD}" y="{_HEIGHT - _PAD + 14}" text-anchor="end">{high:g}</text>')
    parts.append(_legend(("precision", "recall", "kappa")))
    return _svg(parts)


def _frame() -> str:
    return (
        f'<line x1="{_PAD}" y1="{_HEIGHT - _PAD}" x2="{_WIDTH - _PAD}" y2="{_HEIGHT - _PAD}" stroke="#bbb"/>'
        f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_HEIGHT - _PAD}" stroke="#bbb"/>'
    )


def _legend(names: Sequence[str]) -> str:
    return "".join(
        f'<rect x="{_PAD + i * 90}" y="6" width="10" height="10" fill="{_COLOURS[n]}"/>'
        f'<text x="{_PAD + i * 90 + 14}" y="15">{n}</text>'
        for i, n in enumerate(names)
    )


def _svg(parts: Sequence[str]) -> Markup:
    body = "".join(parts)
    return Markup(
        f'<svg width="{_WIDTH}" height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img">{body}</svg>'
    )
