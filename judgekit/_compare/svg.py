"""Inline SVG charts for the comparison report: grouped bars with whiskers, and forest plots.

Plain strings, no library and no script: the report must open offline in any browser.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb")
"""Paul Tol's colour-blind-safe qualitative scheme."""
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


@dataclass(frozen=True)
class Bar:
    """One model's value in one group, with its interval (None: no data)."""

    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class ForestRow:
    """One group's difference with its interval and a label for the right margin."""

    label: str
    estimate: float | None
    low: float | None
    high: float | None
    note: str


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high]."""
    if not high > low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _text(
    x: float, y: float, content: str, *, anchor: str = "middle", size: int = 12, extra: str = ""
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" {FONT} {extra}>'
        f"{escape(content)}</text>"
    )


def legend(names: Sequence[str], x: float, y: float) -> str:
    """A row of colour swatches with model names."""
    parts, offset = [], x
    for index, name in enumerate(names):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{offset:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{colour}"/>')
        parts.append(_text(offset + 17, y, name, anchor="start"))
        offset += 34 + 7.5 * len(name)
    return "".join(parts)


def bar_chart(
    title: str,
    y_title: str,
    groups: Sequence[str],
    models: Sequence[str],
    bars: Sequence[Sequence[Bar]],
    *,
    fmt: Callable[[float], str],
    y_max: float | None = None,
    width: int = 1180,
) -> str:
    """Grouped bars: one cluster per group, one bar per model, interval whiskers; bars[g][m]."""
    label_rotate = len(groups) > 6 or max(len(g) for g in groups) > 14
    left, right, top = 64, 16, 56
    bottom = 110 if label_rotate else 48
    height = 250 + top + bottom
    plot_w, plot_h = width - left - right, height - top - bottom
    highs = [b.high if b.high is not None else (b.value or 0) for row in bars for b in row]
    ticks = nice_ticks(0, y_max if y_max is not None else max([*highs, 1e-9]))
    top_value = ticks[-1]

    def y_of(value: float) -> float:
        return top + plot_h * (1 - value / top_value)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}">',
        _text(left, 20, title, anchor="start", size=15, extra='font-weight="600"'),
        legend(models, left, 44),
    ]
    for tick in ticks:
        y = y_of(tick)
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        out.append(_text(left - 6, y + 4, fmt(tick), anchor="end", size=11))
    out.append(
        _text(
            16, top + plot_h / 2, y_title, extra=f'transform="rotate(-90 16 {top + plot_h / 2:.1f})"', size=12
        )
    )
    band = plot_w / len(groups)
    bar_w = band * 0.8 / max(1, len(models))
    for g, group in enumerate(groups):
        x0 = left + g * band + band * 0.1
        for m, bar in enumerate(bars[g]):
            if bar.value is None:
                continue
            x = x0 + m * bar_w
            colour = PALETTE[m % len(PALETTE)]
            y = min(y_of(bar.value), top + plot_h - 1.5)  # a zero still shows as a sliver, unlike no data
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.92:.1f}" height="{top + plot_h - y:.1f}" '
                f'fill="{colour}"><title>{escape(f"{models[m]}, {group}: {fmt(bar.value)}")}</title></rect>'
            )
            if bar.low is not None and bar.high is not None:
                cx = x + bar_w * 0.46
                y_low, y_high = y_of(bar.low), y_of(bar.high)
                out.append(
                    f'<path d="M{cx:.1f} {y_low:.1f}V{y_high:.1f}M{cx - 4:.1f} {y_low:.1f}h8M{cx - 4:.1f} '
                    f'{y_high:.1f}h8" stroke="#222" stroke-width="1.3" fill="none"/>'
                )
        cx, cy = left + (g + 0.5) * band, top + plot_h + 16
        if label_rotate:
            out.append(
                _text(
                    cx, cy, group, anchor="end", size=11, extra=f'transform="rotate(-35 {cx:.1f} {cy:.1f})"'
                )
            )
        else:
            out.append(_text(cx, cy, group, size=11))
    out.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#555"/>'
    )
    out.append("</svg>")
    return "".join(out)


def forest_plot(title: str, x_title: str, rows: Sequence[ForestRow], *, fmt: Callable[[float], str]) -> str:
    """Differences with intervals, one row per group, against a line at zero."""
    width, label_w, note_w, row_h, top = 600, 150, 236, 24, 40
    bottom = 44
    height = top + row_h * len(rows) + bottom
    x_left, x_right = label_w, width - note_w
    values = [v for r in rows for v in (r.low, r.high, r.estimate) if v is not None and math.isfinite(v)]
    span = max([abs(v) for v in values] + [1e-9])
    ticks = nice_ticks(-span, span, 4)

    def x_of(value: float) -> float:
        return x_left + (value - ticks[0]) / (ticks[-1] - ticks[0]) * (x_right - x_left)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}">',
        _text(8, 18, title, anchor="start", size=14, extra='font-weight="600"'),
    ]
    axis_y = top + row_h * len(rows)
    for tick in ticks:
        x = x_of(tick)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{axis_y}" stroke="#ececec"/>')
        out.append(_text(x, axis_y + 15, fmt(tick), size=10))
    zero = x_of(0)
    out.append(
        f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{top - 6}" y2="{axis_y}" stroke="#777" '
        'stroke-dasharray="3 3"/>'
    )
    out.append(f'<line x1="{x_left}" x2="{x_right}" y1="{axis_y}" y2="{axis_y}" stroke="#555"/>')
    out.append(_text((x_left + x_right) / 2, axis_y + 32, x_title, size=11))
    for index, row in enumerate(rows):
        y = top + row_h * index + row_h / 2
        weight = 'font-weight="600"' if index == 0 else ""
        out.append(_text(label_w - 8, y + 4, _short(row.label, 21), anchor="end", size=11, extra=weight))
        out.append(_text(x_right + 8, y + 4, row.note, anchor="start", size=10))
        if row.estimate is None or row.low is None or row.high is None:
            continue
        out.append(
            f'<line x1="{x_of(row.low):.1f}" x2="{x_of(row.high):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#222" stroke-width="1.6"/>'
        )
        shape = "rect" if index == 0 else "circle"
        cx = x_of(row.estimate)
        if shape == "rect":
            out.append(f'<rect x="{cx - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="#222"/>')
        else:
            out.append(f'<circle cx="{cx:.1f}" cy="{y:.1f}" r="4.5" fill="#4477aa"/>')
    out.append("</svg>")
    return "".join(out)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
