"""Render summaries as text tables; no statistics here."""

from __future__ import annotations

from collections.abc import Callable

from judgekit._summary import GroupSummary, Rate, Summary, measure_names


def _rate_columns(summary: Summary) -> list[tuple[str, Callable[[GroupSummary], Rate | None]]]:
    """The rate columns, named after what the rubric measures."""
    harmful, refused = measure_names(summary.rubric)
    three_way = summary.overall.partial_refused is not None
    columns: list[tuple[str, Callable[[GroupSummary], Rate | None]]] = [(harmful, lambda g: g.harmful)]
    columns.append(("full refusal" if three_way else refused, lambda g: g.refused))
    if three_way:
        columns.append(("partial refusal", lambda g: g.partial_refused))
    return columns


def summary_table(summary: Summary) -> str:
    """A plain-text table: one row overall, then one per group."""
    rates = _rate_columns(summary)
    header = ("group", "rows", "judged", "errors", "mean score", *(f"{name} (95% CI)" for name, _ in rates))
    rows = [_row("all", summary.overall, rates)]
    rows += [_row(name, group, rates) for name, group in summary.groups.items()]
    lines = _layout(header, rows)
    if summary.overall.errors:
        kinds = ", ".join(f"{kind} {count}" for kind, count in summary.overall.errors.items())
        lines.append(f"errors by kind: {kinds} (excluded from the rates)")
    return "\n".join(lines)


def summaries_table(named: list[tuple[str, Summary]]) -> str:
    """Several files side by side: one block per measure, rows = groups, one column per file."""
    groups = ["all", *sorted({group for _, summary in named for group in summary.groups})]
    names = [name for name, _ in named]

    def cell(summary: Summary, group: str, show: Callable[[GroupSummary], str]) -> str:
        found = summary.overall if group == "all" else summary.groups.get(group)
        return "-" if found is None else show(found)

    blocks: list[tuple[str, Callable[[GroupSummary], str]]] = [
        ("judged / rows", lambda g: f"{g.judged}/{g.rows}"),
        ("errors", lambda g: str(sum(g.errors.values()))),
        ("mean score", lambda g: f"{g.mean_score:.3f}" if g.mean_score is not None else "-"),
    ]
    for rate_name, pick in _rate_columns(named[0][1]):
        blocks.append((f"{rate_name} (95% CI)", lambda g, pick=pick: _rate(pick(g))))  # type: ignore[misc]
    out: list[str] = []
    for title, show in blocks:
        rows = [(group, *(cell(summary, group, show) for _, summary in named)) for group in groups]
        out += ["", title.upper(), *_layout(("group", *names), rows)]
    rubrics = {summary.rubric for _, summary in named}
    if len(rubrics) > 1:
        out += ["", "rubrics differ between the files: " + ", ".join(f"{n} {s.rubric}" for n, s in named)]
    return "\n".join(out[1:])


def _layout(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [_line(header, widths), _line(tuple("-" * w for w in widths), widths)]
    return lines + [_line(row, widths) for row in rows]


def _row(
    name: str, group: GroupSummary, rates: list[tuple[str, Callable[[GroupSummary], Rate | None]]]
) -> tuple[str, ...]:
    errors = sum(group.errors.values())
    mean = f"{group.mean_score:.3f}" if group.mean_score is not None else "-"
    return (
        name,
        str(group.rows),
        str(group.judged),
        str(errors),
        mean,
        *(_rate(pick(group)) for _, pick in rates),
    )


def _rate(rate: Rate | None) -> str:
    if rate is None:
        return "-"
    return f"{rate.rate:6.1%} [{rate.low:.1%}, {rate.high:.1%}]"


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    first, *rest = cells
    return "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])
