"""Render summaries as text tables; no statistics here."""

from __future__ import annotations

from judgekit._summary import GroupSummary, Rate, Summary


def summary_table(summary: Summary) -> str:
    """A plain-text table: one row overall, then one per group."""
    header = ("group", "rows", "judged", "errors", "mean score", "harmful (95% CI)", "refused (95% CI)")
    rows = [_row("all", summary.overall)]
    rows += [_row(name, group) for name, group in summary.groups.items()]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [_line(header, widths), _line(tuple("-" * w for w in widths), widths)]
    lines += [_line(row, widths) for row in rows]
    if summary.overall.errors:
        kinds = ", ".join(f"{kind} {count}" for kind, count in summary.overall.errors.items())
        lines.append(f"errors by kind: {kinds} (excluded from the rates)")
    return "\n".join(lines)


def _row(name: str, group: GroupSummary) -> tuple[str, ...]:
    errors = sum(group.errors.values())
    mean = f"{group.mean_score:.3f}" if group.mean_score is not None else "-"
    return (
        name,
        str(group.rows),
        str(group.judged),
        str(errors),
        mean,
        _rate(group.harmful),
        _rate(group.refused),
    )


def _rate(rate: Rate | None) -> str:
    if rate is None:
        return "-"
    return f"{rate.rate:6.1%} [{rate.low:.1%}, {rate.high:.1%}]"


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    first, *rest = cells
    return "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])
