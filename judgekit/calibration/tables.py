"""A calibration report as titled tables, rendered as plain text or Markdown; no statistics here."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from judgekit.calibration.models import BinaryAgreement, CalibrationReport, Estimate


@dataclass(frozen=True)
class Table:
    """One titled table of strings."""

    title: str
    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    note: str = ""


def report_tables(report: CalibrationReport) -> list[Table]:
    """The report's tables, in reading order."""
    tables = [
        table
        for table in (
            _agreement(report),
            _multiclass(report),
            _per_class(report),
            _multiclass_categories(report),
            _categories(report),
            _ordinal(report),
            _thresholds(report),
            _corrected(report),
            _corrected_by_category(report),
            _comparisons(report),
            _ceiling(report),
        )
        if table
    ]
    return tables


def headline(report: CalibrationReport) -> str:
    """One paragraph: what was joined, against which reference."""
    join = report.join
    parts = [
        f"{join.joined} labelled items joined ({join.judged_rows} judged rows, {join.labeled_items} "
        f"labelled items); reference: {report.provenance.reference}"
    ]
    if join.only_labeled:
        examples = ", ".join(join.only_labeled_examples[:3])
        parts.append(f"{join.only_labeled} labelled items have no judged row (e.g. {examples})")
    if join.only_judged:
        parts.append(f"{join.only_judged} judged rows have no labels (used only for corrected rates)")
    if join.reference_ties:
        parts.append(
            f"{join.reference_ties} items with an even annotator split have no reference and are excluded"
        )
    return "; ".join(parts) + "."


def _agreement(report: CalibrationReport) -> Table | None:
    rows = []
    for judge in report.judges:
        b = judge.binary
        graded = judge.graded
        if judge.multiclass is not None or (b is None and graded is None):
            continue  # class labels have their own table; ordinal-only judges, the ordinal one
        rows.append(
            (
                judge.name,
                *(_binary_cells(b) if b else ("-",) * 7),
                _num(graded.roc_auc) if graded else "-",
                _num(graded.pr_auc) if graded else "-",
                str(judge.errors + judge.missing),
            )
        )
    if not rows:
        return None
    return Table(
        "Agreement with the reference",
        (
            "judge",
            "n",
            "accuracy (95% CI)",
            "kappa (95% CI)",
            "precision",
            "recall",
            "specificity",
            "F1",
            "ROC-AUC",
            "PR-AUC",
            "missing",
        ),
        rows,
        "Accuracy: Wilson interval; kappa: bootstrap interval"
        + (
            f" over clusters of '{report.provenance.cluster_field}'"
            if report.provenance.cluster_field
            else ""
        )
        + ".",
    )


def _multiclass(report: CalibrationReport) -> Table | None:
    rows = [
        (
            j.name,
            str(m.n),
            _pct_ci(m.accuracy),
            _num_ci(m.kappa),
            _num(m.kappa_linear),
            _num(m.kappa_quadratic),
            _num(m.macro_f1),
            _num(m.micro_f1),
            str(j.errors + j.missing),
        )
        for j in report.judges
        if (m := j.multiclass)
    ]
    if not rows:
        return None
    classes = report.provenance.label_order or []
    order = " < ".join(classes) if report.provenance.ordered else ", ".join(classes) + " (nominal)"
    return Table(
        f"Agreement over {len(classes)} classes: {order}",
        (
            "judge",
            "n",
            "accuracy (95% CI)",
            "kappa (95% CI)",
            "linear kappa",
            "quadratic kappa",
            "macro F1",
            "micro F1",
            "missing",
        ),
        rows,
        "Weighted kappas need a declared order (--label-order); micro F1 equals accuracy "
        "(one label an item).",
    )


def _per_class(report: CalibrationReport) -> Table | None:
    rows = [
        (
            j.name,
            c.label,
            str(c.support),
            _num(c.precision),
            _num(c.recall),
            _num(c.f1),
            _pct_ci(c.label_rate),
            _pct(c.judge_rate),
            (
                _pct_ci(c.corrected.estimate)
                + (" (!)" if c.corrected.warnings else "")
                + f" {c.corrected.method}"
            )
            if c.corrected
            else "-",
        )
        for j in report.judges
        if (m := j.multiclass)
        for c in m.per_class
    ]
    if not rows:
        return None
    return Table(
        "Per class: precision, recall and rates",
        (
            "judge",
            "class",
            "labelled",
            "precision",
            "recall",
            "F1",
            "labelled rate",
            "judge's rate",
            "corrected rate",
        ),
        rows,
        "Rates are each class's share; the corrected rate is the class against the rest, "
        "by the estimator named.",
    )


def _multiclass_categories(report: CalibrationReport) -> Table | None:
    rows = [
        (j.name, c.category, str(c.n), _pct(c.accuracy), _num(c.macro_f1), _num(c.kappa))
        for j in report.judges
        for c in j.multiclass_by_category
    ]
    if not rows:
        return None
    return Table(
        f"Agreement by {report.provenance.by}",
        ("judge", report.provenance.by or "category", "n", "accuracy", "macro F1", "kappa"),
        rows,
        "Categories with fewer than 10 items are left out.",
    )


def _binary_cells(b: BinaryAgreement) -> tuple[str, ...]:
    return (
        str(b.n),
        _pct_ci(b.accuracy),
        _num_ci(b.kappa),
        _num(b.precision),
        _num(b.recall),
        _num(b.specificity),
        _num(b.f1),
    )


def _categories(report: CalibrationReport) -> Table | None:
    names = sorted({c.category for judge in report.judges for c in judge.by_category})
    if not names:
        return None
    rows = []
    for judge in report.judges:
        cells = {c.category: c.agreement for c in judge.by_category}
        rows.append((judge.name, *(_category_cell(cells.get(name)) for name in names)))
    return Table(
        f"Accuracy and kappa by {report.provenance.by}",
        ("judge", *names),
        rows,
        "Each cell: accuracy / kappa (n). Categories with fewer than 10 items are left out.",
    )


def _category_cell(agreement: BinaryAgreement | None) -> str:
    if agreement is None:
        return "-"
    return f"{agreement.accuracy.value:.1%} / {_num(agreement.kappa.value)} ({agreement.n})"


def _ordinal(report: CalibrationReport) -> Table | None:
    rows = [
        (
            j.name,
            str(o.n),
            _num(o.kappa),
            _num(o.kappa_linear),
            _num_ci(o.kappa_quadratic),
            _num(o.alpha_ordinal),
            _num(o.spearman),
            _num(o.kendall_tau_b),
            _num(o.pearson),
            _num(o.mean_absolute_error),
            _num(o.bias),
        )
        for j in report.judges
        if (o := j.ordinal)
    ]
    if not rows:
        return None
    return Table(
        "Ordinal agreement",
        (
            "judge",
            "n",
            "kappa",
            "linear kappa",
            "quadratic kappa (95% CI)",
            "alpha (ordinal)",
            "Spearman",
            "Kendall tau-b",
            "Pearson",
            "MAE",
            "bias",
        ),
        rows,
        "Kappas use the full scale: unused levels still count. For a confusion matrix and per-class "
        "figures, treat the labels as classes with --label-order or --nominal.",
    )


def _thresholds(report: CalibrationReport) -> Table | None:
    rows = []
    for judge in report.judges:
        choice = judge.threshold_choice
        if choice is None:
            continue
        held = choice.held_out
        rows.append(
            (
                judge.name,
                choice.objective,
                f"score >= {choice.threshold:g}",
                str(choice.chosen_on),
                str(held.n),
                _pct_ci(held.accuracy),
                _num_ci(held.kappa),
                _num(held.precision),
                _num(held.recall),
            )
        )
    if not rows:
        return None
    return Table(
        "Thresholds, chosen on half of the items and checked on the other half",
        ("judge", "objective", "rule", "chosen on", "held out", "accuracy", "kappa", "precision", "recall"),
        rows,
    )


def _corrected(report: CalibrationReport) -> Table | None:
    rows = [
        (
            j.name,
            f"{_pct(c.judge_rate)} (n={c.n_judged})",
            _pct_ci(c.estimate) + (" (!)" if c.warnings else ""),
            c.method,
            _labels(c.effective_labels, c.n_labeled),
            _pct_ci(c.labels_only),
        )
        for j in report.judges
        if (c := j.corrected)
    ]
    if not rows:
        return None
    notes = [f"{j.name}: {c.reason}." for j in report.judges if (c := j.corrected)]
    notes += [f"(!) {j.name}: {w}." for j in report.judges if (c := j.corrected) for w in c.warnings]
    return Table(
        f"{rate_noun(report).capitalize()} rate corrected for judge error",
        ("judge", "judge's raw rate", "corrected (95% CI)", "estimator", "effective labels", "labels only"),
        rows,
        " ".join(notes)
        + " Effective labels: how many labels a labels-only estimate would need for the same precision.",
    )


def _corrected_by_category(report: CalibrationReport) -> Table | None:
    rows = [
        (
            judge.name,
            c.category,
            f"{_pct(r.judge_rate)} (n={r.n_judged})",
            _pct_ci(r.estimate) + (" (!)" if r.warnings else ""),
            r.method,
            _pct_ci(r.labels_only),
        )
        for judge in report.judges
        for c in judge.by_category
        if (r := c.corrected)
    ]
    if not rows:
        return None
    return Table(
        f"Corrected {rate_noun(report)} rate by {report.provenance.by}",
        (
            "judge",
            report.provenance.by or "category",
            "judge's raw rate",
            "corrected (95% CI)",
            "estimator",
            "labels only",
        ),
        rows,
        "(!): the interval cannot be trusted (too few labels of a class); see the JSON report's warnings."
        if any(r.warnings for judge in report.judges for c in judge.by_category if (r := c.corrected))
        else "",
    )


def _comparisons(report: CalibrationReport) -> Table | None:
    rows = [
        (
            f"{c.a} vs {c.b}",
            str(c.n),
            f"{_signed_pct_ci(c.accuracy_difference)} p={_p(c.accuracy_p)}",
            f"{_num_ci(c.kappa_difference)} p={_p(c.kappa_p)}",
            f"{_p(c.mcnemar_p)} ({'exact' if c.mcnemar_exact else 'chi-square'})",
        )
        for c in report.comparisons
    ]
    if not rows:
        return None
    return Table(
        "Judges compared on the same items (paired)",
        ("pair", "n", "accuracy difference", "kappa difference", "McNemar p"),
        rows,
        "Differences are first minus second; bootstrap intervals and p-values.",
    )


def _ceiling(report: CalibrationReport) -> Table | None:
    ceiling = report.human_ceiling
    if ceiling is None:
        return None
    rows = [(a.annotator, str(a.n), f"{a.accuracy:.1%}", _num(a.kappa)) for a in ceiling.leave_one_out]
    return Table(
        "Human ceiling: each annotator against the majority of the others",
        ("annotator", "n", "accuracy", "kappa"),
        rows,
        f"Krippendorff's alpha ({ceiling.level}) among {len(ceiling.annotators)} annotators: "
        f"{_num_ci(ceiling.alpha)}; Fleiss' kappa {_num(ceiling.fleiss_kappa)}.",
    )


def render_text(report: CalibrationReport) -> str:
    """Aligned plain-text tables for a terminal."""
    blocks = [headline(report)]
    for table in report_tables(report):
        widths = [max(len(row[i]) for row in [table.header, *table.rows]) for i in range(len(table.header))]
        lines = [
            table.title,
            "  ".join(h.ljust(w) for h, w in zip(table.header, widths, strict=True)).rstrip(),
        ]
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table.rows
        ]
        if table.note:
            lines.append(table.note)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_markdown(report: CalibrationReport) -> str:
    """The same tables in Markdown, with provenance."""
    blocks = ["# Judge calibration", headline(report)]
    for table in report_tables(report):
        lines = [
            f"## {table.title}",
            "",
            "| " + " | ".join(table.header) + " |",
            "|" + "---|" * len(table.header),
        ]
        lines += ["| " + " | ".join(row) + " |" for row in table.rows]
        if table.note:
            lines += ["", table.note]
        blocks.append("\n".join(lines))
    provenance = report.provenance
    blocks.append(
        "## Provenance\n\n"
        + "\n".join(
            f"- {name}: {value}" for name, value in provenance.model_dump().items() if value not in (None, [])
        )
    )
    return "\n\n".join(blocks) + "\n"


def _labels(effective: float, labeled: int) -> str:
    return f"{effective:,.0f} (n={labeled})" if not math.isnan(effective) else f"- (n={labeled})"


def rate_noun(report: CalibrationReport) -> str:
    """What the positive class is called: "harmful" unless the report says otherwise."""
    return report.provenance.positive_label


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _p(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3g}"


def _num_ci(estimate: Estimate) -> str:
    if estimate.low is None or estimate.high is None or math.isnan(estimate.low):
        return _num(estimate.value)
    return f"{_num(estimate.value)} [{estimate.low:.3f}, {estimate.high:.3f}]"


def _pct_ci(estimate: Estimate) -> str:
    if math.isnan(estimate.value):
        return "-"
    if estimate.low is None or estimate.high is None or math.isnan(estimate.low):
        return f"{estimate.value:.1%}"
    return f"{estimate.value:.1%} [{estimate.low:.1%}, {estimate.high:.1%}]"


def _signed_pct_ci(estimate: Estimate) -> str:
    return f"{estimate.value:+.1%} [{estimate.low or 0:+.1%}, {estimate.high or 0:+.1%}]"
