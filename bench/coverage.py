"""Coverage of judgekit's corrected-rate intervals, simulated over a grid of designs (not a timed test).

For each cell (prevalence p, judge sensitivity se and specificity sp, labelled items n, unlabelled
items N) it draws the sufficient counts many times, runs the same vectorised estimator that
`judgekit.metrics.corrected_rate` runs, and reports how often the 95% interval holds the true p,
among the draws judgekit reports without a warning, with the mean width, next to Wilson on the
labels alone. Two designs:

- random: the n labelled items are a random subset of the n + N judged items (N = 0: all labelled);
- validation: n / 2 labelled positives and n / 2 labelled negatives measure the judge, whose rate
  on the N judged items is corrected (Rogan-Gladen, Lang-Reiczigel interval);
- validation-random: the same, but the n validation labels are a random sample at the same
  prevalence, so a rare outcome leaves few labelled positives and judgekit warns.

    python bench/coverage.py                # full grid, 10,000 draws a cell: about 30 s on 2 cores
    python bench/coverage.py --draws 2000 --csv cells.csv
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import time
from dataclasses import dataclass

import numpy as np

from judgekit.metrics.corrected import (
    lang_reiczigel_counts,
    random_design,
    validation_trusted,
    wilson_bounds,
)

Z95 = 1.959963984540054
PREVALENCES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
ACCURACIES = (0.7, 0.9, 0.99)
LABELS = (30, 50, 100, 200, 400, 2000)
UNLABELLED = (0, 100, 2_000, 100_000)
JUDGED = (100, 2_000, 100_000)
MIN_REPORTED = 500
"""A cell whose draws judgekit reports without a warning fewer times than this gets no coverage
figure (it would be noise): judgekit warns on nearly all of its data sets."""


@dataclass(frozen=True)
class Cell:
    """One grid cell's simulated figures."""

    design: str
    p: float
    se: float
    sp: float
    n: int
    big_n: int
    coverage: float
    """Among draws reported without a warning (NaN when every draw warned)."""
    width: float
    warned: float
    """Share of draws with a warning (or no estimate)."""
    ppi_share: float
    """Share of draws where PPI++ (random design) was chosen over the labels' Wilson interval."""
    wilson_coverage: float
    wilson_width: float


def _wilson(rng: np.random.Generator, p: float, n: int, draws: int) -> tuple[float, float]:
    k = rng.binomial(n, p, draws)
    low, high = wilson_bounds(k, np.full(draws, n), Z95)
    return float(np.mean((low <= p) & (p <= high))), float(np.mean(high - low))


def _summary(p: float, low: np.ndarray, high: np.ndarray, trusted: np.ndarray) -> tuple[float, float, float]:
    kept = trusted & ~np.isnan(low)
    enough = kept.sum() >= min(MIN_REPORTED, kept.size)
    coverage = float(np.mean((low[kept] <= p) & (p <= high[kept]))) if enough else float("nan")
    width = float(np.mean(high[kept] - low[kept])) if enough else float("nan")
    return coverage, width, float(1 - kept.mean())


def random_cell(
    rng: np.random.Generator, p: float, se: float, sp: float, n: int, big: int, draws: int
) -> Cell:
    """Labelled items drawn at random from the judged ones."""
    cells = [p * se, p * (1 - se), (1 - p) * (1 - sp), (1 - p) * sp]
    counts = rng.multinomial(n, cells, size=draws)
    flagged = rng.binomial(big, p * se + (1 - p) * (1 - sp), draws)
    tp, fn, fp, tn = counts.T
    _, low, high, _, method = random_design(tp, fn, fp, tn, flagged, np.full(draws, big), Z95)
    coverage, width, warned = _summary(p, low, high, np.ones(draws, dtype=bool))
    w_cov, w_width = _wilson(rng, p, n, draws)
    return Cell(
        "random", p, se, sp, n, big, coverage, width, warned, float(np.mean(method == 1)), w_cov, w_width
    )


def validation_cell(
    rng: np.random.Generator, p: float, se: float, sp: float, n: int, big: int, draws: int
) -> Cell:
    """n / 2 labelled positives and negatives; the judge's rate over `big` other items is corrected."""
    positives, negatives = n // 2, n - n // 2
    caught = rng.binomial(positives, se, draws)
    cleared = rng.binomial(negatives, sp, draws)
    flagged = rng.binomial(big, p * se + (1 - p) * (1 - sp), draws)
    _, low, high, _ = lang_reiczigel_counts(flagged, big, caught, positives, cleared, negatives, Z95)
    trusted = validation_trusted(np.full(draws, positives), np.full(draws, negatives), np.full(draws, big))
    coverage, width, warned = _summary(p, low, high, trusted)
    w_cov, w_width = _wilson(rng, p, n, draws)
    return Cell("validation", p, se, sp, n, big, coverage, width, warned, 0.0, w_cov, w_width)


def validation_random_cell(
    rng: np.random.Generator, p: float, se: float, sp: float, n: int, big: int, draws: int
) -> Cell:
    """n validation labels at random (prevalence p): positives vary, and few of them warn."""
    positives = rng.binomial(n, p, draws)
    negatives = n - positives
    caught = rng.binomial(positives, se)
    cleared = rng.binomial(negatives, sp)
    flagged = rng.binomial(big, p * se + (1 - p) * (1 - sp), draws)
    _, low, high, _ = lang_reiczigel_counts(flagged, big, caught, positives, cleared, negatives, Z95)
    coverage, width, warned = _summary(p, low, high, validation_trusted(positives, negatives, big))
    w_cov, w_width = _wilson(rng, p, n, draws)
    return Cell("validation-random", p, se, sp, n, big, coverage, width, warned, 0.0, w_cov, w_width)


def run_grid(draws: int, seed: int) -> list[Cell]:
    """Every cell of both designs."""
    rng = np.random.default_rng(seed)
    cells = []
    for p, se, sp, n, big in itertools.product(PREVALENCES, ACCURACIES, ACCURACIES, LABELS, UNLABELLED):
        cells.append(random_cell(rng, p, se, sp, n, big, draws))
    for p, se, sp, n, big in itertools.product(PREVALENCES, ACCURACIES, ACCURACIES, LABELS, JUDGED):
        cells.append(validation_cell(rng, p, se, sp, n, big, draws))
    for p, se, sp, n, big in itertools.product(PREVALENCES, ACCURACIES, ACCURACIES, LABELS, JUDGED):
        cells.append(validation_random_cell(rng, p, se, sp, n, big, draws))
    return cells


def _row(values: list[str]) -> str:
    return "| " + " | ".join(values) + " |"


def print_summary(cells: list[Cell], draws: int) -> None:
    """One Markdown row per (design, n, N): coverage over p, se, sp, widths next to Wilson's."""
    print(
        f"{len(cells)} cells x {draws} draws; coverage among draws reported without a warning "
        f"(cells with fewer than {MIN_REPORTED} such draws get none)\n"
    )
    print(
        _row(
            [
                "design",
                "labels",
                "unlabelled",
                "min cov",
                "mean cov",
                "width",
                "Wilson cov",
                "Wilson width",
                "PPI++ chosen",
                "warned",
            ]
        )
    )
    print(_row(["---"] * 10))
    keys = sorted({(c.design, c.n, c.big_n) for c in cells})
    for design, n, big in keys:
        group = [c for c in cells if (c.design, c.n, c.big_n) == (design, n, big)]
        covered = [c.coverage for c in group if not np.isnan(c.coverage)]
        widths = [c.width for c in group if not np.isnan(c.width)]
        print(
            _row(
                [
                    design,
                    str(n),
                    f"{big:,}",
                    f"{min(covered):.1%}" if covered else "-",
                    f"{np.mean(covered):.1%}" if covered else "-",
                    f"{np.mean(widths):.3f}" if widths else "-",
                    f"{np.mean([c.wilson_coverage for c in group]):.1%}",
                    f"{np.mean([c.wilson_width for c in group]):.3f}",
                    f"{np.mean([c.ppi_share for c in group]):.0%}" if design == "random" else "-",
                    f"{np.mean([c.warned for c in group]):.0%}",
                ]
            )
        )
    reported = [c for c in cells if not np.isnan(c.coverage)]
    worst = sorted(reported, key=lambda c: c.coverage)[:8]
    print("\nLowest-coverage cells reported without a warning:\n")
    print(_row(["design", "p", "se", "sp", "labels", "unlabelled", "coverage", "width", "Wilson width"]))
    print(_row(["---"] * 9))
    for c in worst:
        print(
            _row(
                [
                    c.design,
                    f"{c.p:g}",
                    f"{c.se:g}",
                    f"{c.sp:g}",
                    str(c.n),
                    f"{c.big_n:,}",
                    f"{c.coverage:.1%}",
                    f"{c.width:.3f}",
                    f"{c.wilson_width:.3f}",
                ]
            )
        )
    below = [c for c in reported if c.coverage < 0.93]
    print(f"\n{len(below)} of {len(reported)} reported cells below 93% coverage.")
    print(f"{len(cells) - len(reported)} cells warned on all but fewer than {MIN_REPORTED} draws.")


def recheck(cells: list[Cell], draws: int, seed: int, count: int = 10) -> None:
    """Simulate the `count` lowest-coverage cells again with 10x the draws: is the dip real or noise?"""
    rng = np.random.default_rng(seed + 1)
    worst = sorted((c for c in cells if not np.isnan(c.coverage)), key=lambda c: c.coverage)[:count]
    print(f"\nThe {count} lowest cells again, {10 * draws} draws each:\n")
    print(_row(["design", "p", "se", "sp", "labels", "unlabelled", "first run", "recheck"]))
    print(_row(["---"] * 8))
    for c in worst:
        simulate = {"random": random_cell, "validation": validation_cell}.get(
            c.design, validation_random_cell
        )
        again = simulate(rng, c.p, c.se, c.sp, c.n, c.big_n, 10 * draws)
        print(
            _row(
                [
                    c.design,
                    f"{c.p:g}",
                    f"{c.se:g}",
                    f"{c.sp:g}",
                    str(c.n),
                    f"{c.big_n:,}",
                    f"{c.coverage:.2%}",
                    f"{again.coverage:.2%}",
                ]
            )
        )


def main(argv: list[str] | None = None) -> int:
    """Run the grid and print the summary (and every cell to --csv)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=10_000, help="Simulated data sets per cell.")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--csv", help="Write every cell to this CSV file.")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    cells = run_grid(args.draws, args.seed)
    print_summary(cells, args.draws)
    recheck(cells, args.draws, args.seed)
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(Cell.__dataclass_fields__)
            for c in cells:
                writer.writerow(c.__dict__.values())
    return 0


if __name__ == "__main__":
    sys.exit(main())
