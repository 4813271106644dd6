"""The comparison as one offline HTML file: inline SVG charts and CSS, no script, nothing fetched."""

from __future__ import annotations

from html import escape

from judgekit._compare.models import ChangedExample, Comparison, ExampleSide
from judgekit._compare.svg import Bar, ForestRow, bar_chart, forest_plot
from judgekit._compare.tables import (
    Measure,
    difference_cell,
    footer_lines,
    header_lines,
    mdd_cell,
    measures,
    model_cell,
    p_cell,
    provenance_lines,
)

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
  margin: 0 auto; max-width: 1220px; padding: 20px; }
h1 { font-size: 24px; margin: 0 0 6px; } h2 { font-size: 19px; margin: 30px 0 8px;
  border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
ul.notes { margin: 4px 0; padding-left: 20px; color: #444; }
table { border-collapse: collapse; margin: 6px 0 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 9px; border-bottom: 1px solid #e6e6e6; text-align: right; white-space: nowrap; }
th { background: #f5f5f7; font-weight: 600; } td:first-child, th:first-child { text-align: left; }
.forest { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 24px; }
.chart { margin: 6px 0 18px; } .scroll { overflow-x: auto; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; margin: 6px 0 18px; }
.side { border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; background: #fafafa; min-width: 0; }
.side h4 { margin: 0 0 4px; font-size: 13px; } .verdict { font-weight: 600; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; max-height: 16em; overflow: auto;
  background: #fff; border: 1px solid #eee; padding: 4px 6px; margin: 3px 0 6px; }
.prompt { white-space: pre-wrap; overflow-wrap: anywhere; background: #f0f4fa; padding: 6px 8px;
  border-radius: 4px; margin: 4px 0; }
.muted { color: #777; }
"""


def render_html(comparison: Comparison) -> str:
    """The whole report as one self-contained HTML page."""
    names = [model.name for model in comparison.models]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>judgekit compare: {escape(', '.join(names))}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Model comparison: {escape(' vs '.join(names))}</h1>",
        _list(header_lines(comparison)),
        _charts(comparison),
        _forests(comparison),
        _tables(comparison),
        _notes(comparison),
        _changed(comparison),
        "<h2>Provenance</h2>",
        _list(provenance_lines(comparison, bullet=lambda s: s)),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _list(lines: list[str]) -> str:
    return '<ul class="notes">' + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _number(value: float) -> str:
    return f"{value:g}"


def _groups(comparison: Comparison) -> list[str]:
    return [row.group for row in comparison.groups]


def _charts(comparison: Comparison) -> str:
    names = [model.name for model in comparison.models]
    out = ["<h2>Per group</h2>"]
    for measure in measures(comparison):
        bars = []
        for row in comparison.groups:
            cells = []
            for name in names:
                found = getattr(row.models[name], measure.key)
                cells.append(Bar(None) if found is None else Bar(found.value, found.low, found.high))
            bars.append(cells)
        title = f"{measure.title[0].upper()}{measure.title[1:]} by {comparison.settings.by or 'group'}"
        title += f" ({comparison.settings.confidence:.0%} intervals)"
        chart = bar_chart(
            title,
            measure.title,
            _groups(comparison),
            names,
            bars,
            fmt=_percent if measure.rate else _number,
            y_max=None,
        )
        out.append(f'<div class="chart">{chart}</div>')
    return "\n".join(out)


def _forests(comparison: Comparison) -> str:
    baseline = comparison.settings.baseline
    out = [f"<h2>Differences against {escape(baseline)}</h2>", '<div class="forest">']
    for pair in comparison.pairs:
        for measure in measures(comparison):
            rows = []
            for row in comparison.groups:
                found = getattr(row.differences[pair.model], measure.key)
                scale = 100 if measure.rate else 1
                if found is None:
                    rows.append(ForestRow(row.group, None, None, None, "-"))
                    continue
                note = f"{difference_cell(found, measure)}  p adj {p_cell(found)}"
                rows.append(
                    ForestRow(row.group, found.estimate * scale, found.low * scale, found.high * scale, note)
                )
            unit = " (points)" if measure.rate else ""
            title = f"{pair.model} - {baseline}: {measure.title}"
            plot = forest_plot(title, f"difference{unit}", rows, fmt=lambda v: f"{v:+g}" if v else "0")
            out.append(f"<div>{plot}</div>")
    out.append("</div>")
    return "\n".join(out)


def _table(comparison: Comparison, measure: Measure, only: str | None) -> str:
    baseline = comparison.settings.baseline
    names = [model.name for model in comparison.models if only is None or model.name in (baseline, only)]
    others = [name for name in names if name != baseline]
    head = ["group", f"n ({baseline})", *names]
    for name in others:
        head += [f"{name} \u2212 {baseline}", "p adj.", "MDD"]
    lines = ["<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in comparison.groups:
        cells = [row.group, str(row.models[baseline].judged)]
        cells += [model_cell(row.models[name], measure, True) for name in names]
        for name in others:
            found = getattr(row.differences[name], measure.key)
            cells += [difference_cell(found, measure), p_cell(found), mdd_cell(found, measure)]
        lines.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def _tables(comparison: Comparison) -> str:
    settings = comparison.settings
    out = ["<h2>Table</h2>"]
    adjust = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "not adjusted"}[settings.adjust]
    out.append(
        f'<p class="muted">p adj.: {escape(adjust)} across {escape(settings.adjust_family)}. '
        f"MDD: minimum detectable difference at alpha {settings.alpha:g} and power {settings.power:.0%}. "
        "Rate differences are in percentage points.</p>"
    )
    for measure in measures(comparison):
        out.append(f"<h3>{escape(measure.title[0].upper() + measure.title[1:])}</h3>")
        # More than two models would make one table too wide: then one table per model.
        models = [pair.model for pair in comparison.pairs]
        for only in [None] if len(models) == 1 else models:
            out.append(f'<div class="scroll">{_table(comparison, measure, only)}</div>')
    return "\n".join(out)


def _notes(comparison: Comparison) -> str:
    lines = footer_lines(comparison)
    return "<h2>Notes</h2>" + _list(lines) if lines else ""


def _side(title: str, side: ExampleSide) -> str:
    verdict = f"score {side.score:g}" if side.score is not None else side.status
    flags = [word for word, on in (("harmful", side.harmful), ("refused", side.refused)) if on]
    verdict += f" ({', '.join(flags)})" if flags else ""
    response = (
        side.response
        if side.response is not None
        else "(not in the verdict file: judge with --include-input)"
    )
    reasoning = side.reasoning if side.reasoning is not None else "(no reasoning)"
    return (
        f'<div class="side"><h4>{escape(title)} — line {side.line}: <span class="verdict">{escape(verdict)}'
        f'</span></h4><div class="muted">response</div><div class="text">{escape(response)}</div>'
        f'<div class="muted">judge reasoning</div><div class="text">{escape(reasoning)}</div></div>'
    )


def _example(example: ChangedExample, baseline: str, model: str) -> str:
    prompt = example.prompt if example.prompt is not None else "(prompt not in the verdict files)"
    return (
        f'<h4>{escape(example.id)} <span class="muted">score change {example.change:+g}</span></h4>'
        f'<div class="prompt">{escape(prompt)}</div>'
        f'<div class="pair">{_side(baseline, example.baseline)}{_side(model, example.model)}</div>'
    )


def _changed(comparison: Comparison) -> str:
    baseline = comparison.settings.baseline
    out = []
    for row in comparison.groups:
        for model, examples in row.changed.items():
            out.append(f"<h3>{escape(row.group)}: {escape(model)} against {escape(baseline)}</h3>")
            out += [_example(example, baseline, model) for example in examples]
    if not out:
        return ""
    return "<h2>Prompts whose verdict changed most</h2>\n" + "\n".join(out)
