"""A comparison as terminal text (fits 110 columns) and as Markdown; no statistics here."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from judgekit._compare.models import (
    Comparison,
    Corrected,
    Difference,
    Estimate,
    GroupRow,
    ModelGroup,
    RateEstimate,
)
from judgekit.metrics.corrected import MIN_PPI_LABELS

WIDTH = 110
ADJUST_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "not adjusted"}


@dataclass(frozen=True)
class Measure:
    """One block of the table: a per-model value and the difference against the baseline."""

    key: str
    title: str
    rate: bool


def measures(comparison: Comparison) -> list[Measure]:
    """The measures the verdicts hold, in table order."""
    names = comparison.measures
    found = [Measure("mean_score", "mean score", False), Measure("harmful", f"{names.harmful} rate", True)]
    found.append(Measure("refused", "full refusal rate" if names.three_way else "refusal rate", True))
    if names.three_way:
        found.append(Measure("partial_refused", "partial refusal rate", True))
    overall = comparison.groups[0]
    return [m for m in found if any(getattr(g, m.key) is not None for g in overall.models.values())]


def _value(value: float, rate: bool, signed: bool = False) -> str:
    if rate:
        return f"{value * 100:+.1f}" if signed else f"{value * 100:.1f}%"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def model_cell(group: ModelGroup, measure: Measure, with_interval: bool) -> str:
    """One model's value in one group, e.g. `12.5% [8.1, 18.0]` or `2.41 [2.30, 2.52]`."""
    found: Estimate | RateEstimate | None = getattr(group, measure.key)
    if found is None:
        return "-"
    text = _value(found.value, measure.rate)
    if with_interval:
        scale = 100 if measure.rate else 1
        digits = 1 if measure.rate else 2
        text += f" [{found.low * scale:.{digits}f}, {found.high * scale:.{digits}f}]"
    return text


def difference_cell(found: Difference | None, measure: Measure) -> str:
    """A difference with its interval: `+8.3 [+4.1, +12.6]` (points for rates)."""
    if found is None:
        return "-"
    return (
        f"{_value(found.estimate, measure.rate, True)} "
        f"[{_value(found.low, measure.rate, True)}, {_value(found.high, measure.rate, True)}]"
    )


def p_cell(found: Difference | None) -> str:
    """An adjusted p-value, compactly."""
    if found is None or found.p_adjusted != found.p_adjusted:
        return "-"
    p = found.p_adjusted
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def mdd_cell(found: Difference | None, measure: Measure) -> str:
    """The minimum detectable difference (points for rates)."""
    if found is None or found.mdd != found.mdd:
        return "-"
    return f"{found.mdd * 100:.1f}" if measure.rate else f"{found.mdd:.2f}"


def _rows(
    comparison: Comparison,
    measure: Measure,
    with_interval: bool,
    only: str | None = None,
    group_width: int = 0,
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one measure's table; `only` keeps the baseline and that one model."""
    baseline = comparison.settings.baseline
    names = [model.name for model in comparison.models if only is None or model.name in (baseline, only)]
    others = [name for name in names if name != baseline]
    header = ["group", "n", *names]
    for name in others:
        header += [f"{name} - {baseline}", "p adj", "MDD"]
    rows = []
    for group in comparison.groups:
        judged = group.models[baseline].judged
        label = _short(group.group, group_width) if group_width else group.group
        cells = [label, str(judged)] + [model_cell(group.models[n], measure, with_interval) for n in names]
        for name in others:
            found = getattr(group.differences[name], measure.key)
            cells += [difference_cell(found, measure), p_cell(found), mdd_cell(found, measure)]
        rows.append(cells)
    return header, rows


def _layout(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        )

    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def header_lines(comparison: Comparison) -> list[str]:
    """What the numbers are: pairing, adjustment, intervals, MDD."""
    settings = comparison.settings
    lines = []
    for pair in comparison.pairs:
        how = {
            "id": "paired by id",
            "prompt": "paired by prompt text",
            "none": "not paired (independent samples)",
        }
        text = f"{pair.model} vs {settings.baseline}: {how[pair.paired_by]}"
        if pair.paired_by != "none":
            text += f", {pair.pairs} pairs"
            if pair.only_baseline or pair.only_model:
                text += f"; only in {settings.baseline}: {pair.only_baseline}"
                text += f", only in {pair.model}: {pair.only_model}"
        lines.append(text)
    confidence = f"{settings.confidence:.0%}"
    adjust = ADJUST_NAMES[settings.adjust]
    family = f" across {settings.adjust_family}" if settings.by else ""
    lines.append(
        f"[{confidence} CI]; p adj: {adjust}{family}; MDD: minimum detectable difference at alpha "
        f"{settings.alpha:g}, power {settings.power:.0%} (-: none at this size); rate differences in points"
    )
    return lines


def footer_lines(comparison: Comparison) -> list[str]:
    """Errors, one-sided ids, mixed judges, corrected rates."""
    lines = []
    for model in comparison.models:
        errors = comparison.groups[0].models[model.name].errors
        if errors:
            kinds = ", ".join(f"{kind} {count}" for kind, count in errors.items())
            lines.append(f"{model.name}: errors {kinds} (excluded from every rate and mean)")
    for pair in comparison.pairs:
        if pair.only_model_ids:
            listed = ", ".join(pair.only_model_ids)
            lines.append(f"only in {pair.model}: {listed}{_more(pair.only_model, pair.only_model_ids)}")
        if pair.only_baseline_ids:
            lines.append(
                f"only in {comparison.settings.baseline}: {', '.join(pair.only_baseline_ids)}"
                f"{_more(pair.only_baseline, pair.only_baseline_ids)}"
            )
        if pair.prompt_mismatches:
            lines.append(f"{pair.model}: {pair.prompt_mismatches} pairs by id have different prompts")
    lines += [f"mixed (--allow-mixed): {difference}" for difference in comparison.mixed]
    for model in comparison.models:
        if model.unrecorded_settings:
            lines.append(
                f"{model.name}: {model.unrecorded_settings} verdicts record no judge settings (judged by an "
                "older judgekit): their temperature and max_tokens could not be checked"
            )
    lines += _corrected_lines(comparison)
    return lines


def _more(total: int, listed: list[str]) -> str:
    return f" and {total - len(listed)} more" if total > len(listed) else ""


def _corrected_lines(comparison: Comparison) -> list[str]:
    settings = comparison.settings
    if settings.correction is None:
        return []
    name = comparison.measures.harmful
    if settings.labels is None:
        lines = [f"corrected for judge error ({settings.correction}; judge {settings.calibration_judge}):"]
    else:
        lines = [
            f"corrected for judge error with the labels in {settings.labels} (PPI++ where a group has "
            f"{MIN_PPI_LABELS} labels or more, else the labels' own rate; differences: bootstrap):"
        ]
    for group in comparison.groups:
        cells = []
        for model, found in group.models.items():
            if found.harmful_corrected is not None:
                cells.append(f"{model} {_interval(found.harmful_corrected, False)}")
        for model, difference in group.differences.items():
            if difference.harmful_corrected is not None:
                cells.append(f"{model} - {settings.baseline} {_interval(difference.harmful_corrected, True)}")
        if cells:
            lines.append(f"  {group.group}: {name} " + "; ".join(cells))
    lines += [f"  warning: {warning}" for warning in comparison.correction_warnings]
    return lines


def _interval(found: Corrected, signed: bool) -> str:
    sign = "+" if signed else ""
    text = f"{found.value * 100:{sign}.1f} [{found.low * 100:{sign}.1f}, {found.high * 100:{sign}.1f}]"
    if found.method in ("ppi++", "labels"):
        text += f" ({found.method}, {found.labels} labels)"
    return text


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "~"


def _fitting(comparison: Comparison, measure: Measure) -> list[str]:
    """The measure's table within WIDTH: all models, else no model intervals, else a block per model."""
    baseline = comparison.settings.baseline
    for with_interval in (True, False):
        lines = _layout(*_rows(comparison, measure, with_interval, group_width=24))
        if max(len(line) for line in lines) <= WIDTH:
            return lines
    blocks: list[str] = []
    for model in (m.name for m in comparison.models if m.name != baseline):
        lines = _layout(*_rows(comparison, measure, True, only=model, group_width=24))
        if max(len(line) for line in lines) > WIDTH:
            lines = _layout(*_rows(comparison, measure, False, only=model, group_width=24))
        blocks += ([""] if blocks else []) + lines
    return blocks


def _wrapped(lines: list[str]) -> list[str]:
    return [part for line in lines for part in textwrap.wrap(line, WIDTH, subsequent_indent="    ")]


def comparison_text(comparison: Comparison) -> str:
    """The terminal table: one block per measure, rows = groups; fits WIDTH columns when it can."""
    out = _wrapped(header_lines(comparison))
    for measure in measures(comparison):
        out += ["", measure.title.upper(), *_fitting(comparison, measure)]
    footer = _wrapped(footer_lines(comparison))
    return "\n".join(out + (["", *footer] if footer else []))


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return [line(header), "|" + "|".join(["---"] * len(header)) + "|", *(line(row) for row in rows)]


def comparison_markdown(comparison: Comparison) -> str:
    """The comparison as Markdown: the notes, then one table per measure."""
    out = ["# Model comparison", ""]
    out += [f"- {line}" for line in header_lines(comparison)]
    for measure in measures(comparison):
        out += ["", f"## {measure.title[0].upper()}{measure.title[1:]}", ""]
        out += _markdown_table(*_rows(comparison, measure, with_interval=True))
    footer = footer_lines(comparison)
    if footer:
        out += ["", "## Notes", "", *(f"- {line}" for line in footer)]
    out += ["", "## Provenance", "", *provenance_lines(comparison)]
    return "\n".join(out) + "\n"


def provenance_lines(comparison: Comparison, bullet: Callable[[str], str] = lambda s: f"- {s}") -> list[str]:
    """Files, rubric and hash, judge model, seed."""
    lines = []
    for model in comparison.models:
        rubrics = "; ".join(
            f"{r['rubric']} {r['rubric_version']} ({r['rubric_hash']}), judge {r['judge_model'] or '-'}"
            for r in model.rubrics
        )
        lines.append(bullet(f"{model.name}: {model.path} ({model.rows} verdicts): {rubrics}"))
    settings = comparison.settings
    lines.append(
        bullet(
            f"judgekit {comparison.judgekit_version}; seed {settings.seed}, {settings.n_resamples} bootstrap "
            f"resamples; grouped by {settings.by or '-'}; cluster field {settings.cluster_field or '-'}"
        )
    )
    return lines


def changed_rows(row: GroupRow) -> int:
    """How many changed prompts a group lists, over all models."""
    return sum(len(found) for found in row.changed.values())
