"""compare(labels=...): PPI++ corrected rates per model and group, against the metrics function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from verdict_files import verdict, write

import judgekit
from judgekit._errors import InputError
from judgekit.cli import main
from judgekit.metrics import corrected_rate

N = 400
CATEGORIES = ["fraud", "hate"]


def _truth(seed: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """True harm and a judge with sensitivity 0.8 and specificity 0.9."""
    rng = np.random.default_rng(seed)
    truth = rng.random(N) < rate
    judge = np.where(truth, rng.random(N) < 0.8, rng.random(N) < 0.1)
    return truth, judge


@pytest.fixture
def study(tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    found: dict[str, Any] = {"labelled": {}}
    label_rows = []
    for name, seed, rate in (("base", 1, 0.2), ("tuned", 2, 0.4)):
        truth, judge = _truth(seed, rate)
        rows = [
            verdict(f"r{i}", 5 if judge[i] else 1, category=CATEGORIES[i % 2] if i < 360 else "rare")
            for i in range(N)
        ]
        found[name] = write(tmp_path / f"{name}.jsonl", rows)
        labelled = np.sort(rng.choice(N, size=160, replace=False))
        found["labelled"][name] = labelled
        found[f"{name}_truth"], found[f"{name}_judge"] = truth, judge
        label_rows += [{"id": f"r{i}", "model": name, "label": bool(truth[i])} for i in labelled]
    found["labels"] = tmp_path / "labels.jsonl"
    found["labels"].write_text("".join(json.dumps(row) + "\n" for row in label_rows))
    return found


def _direct(study: dict[str, Any], name: str, keep: np.ndarray) -> Any:
    truth, judge = study[f"{name}_truth"].astype(float), study[f"{name}_judge"].astype(float)
    labelled = np.zeros(N, dtype=bool)
    labelled[study["labelled"][name]] = True
    return corrected_rate(
        truth[labelled & keep], judge[labelled & keep], judge[~labelled & keep], design="random"
    )


def test_rates_are_the_metrics_function_per_model_and_group(study: dict[str, Any]) -> None:
    result = judgekit.compare(
        [study["base"], study["tuned"]], by="category", labels=study["labels"], n_resamples=500
    )
    categories = np.array([CATEGORIES[i % 2] if i < 360 else "rare" for i in range(N)])
    for row in result.groups:
        keep = np.ones(N, dtype=bool) if row.group == "all" else categories == row.group
        for name in ("base", "tuned"):
            expected = _direct(study, name, keep)
            found = row.models[name].harmful_corrected
            assert found is not None
            assert (found.value, found.low, found.high) == pytest.approx(
                (expected.estimate, expected.low, expected.high)
            )
            assert found.method == expected.method and found.labels == expected.n_labeled
    overall = result.groups[0].models["tuned"].harmful_corrected
    assert overall is not None and overall.method == "ppi++"
    # The "rare" group (40 items, about 16 labels) falls back on the labels, with a warning.
    rare = next(row for row in result.groups if row.group == "rare")
    assert rare.models["base"].harmful_corrected.method == "labels"  # type: ignore[union-attr]
    assert any(w.startswith("rare: base: only") and "PPI++ needs 50" in w for w in result.correction_warnings)
    assert result.settings.labels == str(study["labels"]) and "PPI++" in (result.settings.correction or "")


def test_difference_is_the_bootstrap_of_the_corrected_rates(study: dict[str, Any]) -> None:
    result = judgekit.compare(
        [study["base"], study["tuned"]], labels=study["labels"], n_resamples=1000, seed=5
    )
    found = result.groups[0].differences["tuned"].harmful_corrected
    everything = np.ones(N, dtype=bool)
    base, tuned = _direct(study, "base", everything), _direct(study, "tuned", everything)
    assert found is not None and found.method == "bootstrap"
    assert found.value == pytest.approx(tuned.estimate - base.estimate)
    # Oracle: resample the prompts themselves and call the metrics function on each resample.
    rng = np.random.default_rng(0)
    states = {}
    for name in ("base", "tuned"):
        state = np.zeros(N, dtype=int)
        state[study["labelled"][name]] = 1
        states[name] = state
    replicates = []
    for _ in range(1000):
        pick = rng.integers(0, N, N)
        values = []
        for name in ("base", "tuned"):
            truth, judge = (
                study[f"{name}_truth"][pick].astype(float),
                study[f"{name}_judge"][pick].astype(float),
            )
            labelled = states[name][pick] == 1
            values.append(corrected_rate(truth[labelled], judge[labelled], judge[~labelled]).estimate)
        replicates.append(values[1] - values[0])
    low, high = np.quantile(replicates, [0.025, 0.975])
    assert found.low == pytest.approx(low, abs=0.02) and found.high == pytest.approx(high, abs=0.02)
    # The paired interval is narrower than the sum of the two rates' half-widths would give.
    assert found.high - found.low < (tuned.high - tuned.low) + (base.high - base.low)


def test_unpaired_and_clustered_differences(study: dict[str, Any], tmp_path: Path) -> None:
    unpaired = judgekit.compare([study["base"], study["tuned"]], labels=study["labels"], pair_by="none")
    difference = unpaired.groups[0].differences["tuned"]
    assert not difference.paired and difference.harmful_corrected is not None
    clustered = judgekit.compare(
        [study["base"], study["tuned"]], labels=study["labels"], cluster_field="category"
    )
    assert clustered.groups[0].differences["tuned"].harmful_corrected is not None


def _labels(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.parametrize(
    ("rows", "line", "field", "message"),
    [
        ([{"id": "r0", "label": 1}], 1, "model", "name the model"),
        ([{"id": "r0", "model": "big", "label": 1}], 1, "model", "'big' is none of the compared models"),
        ([{"model": "base", "label": 1}], 1, "id", "give the id"),
        ([{"id": "r0", "model": "base"}], 1, "label", "needs a 'label'"),
        ([{"id": "r0", "model": "base", "label": 1, "harmful": 0}], 1, "label", "both"),
        ([{"id": "r0", "model": "base", "label": "maybe"}], 1, "label", "expected true/false"),
        ([{"id": "nope", "model": "base", "label": 1}], 1, "id", "'nope' is not in base's verdicts"),
        (
            [{"id": "r0", "model": "base", "label": 1}, {"id": "r0", "model": "base", "harmful": "no"}],
            2,
            "id",
            "labelled again \\(first on line 1\\)",
        ),
    ],
)
def test_bad_label_files_name_line_and_field(
    study: dict[str, Any], tmp_path: Path, rows: list[dict[str, Any]], line: int, field: str, message: str
) -> None:
    path = _labels(tmp_path, rows)
    with pytest.raises(InputError, match=message) as caught:
        judgekit.compare([study["base"], study["tuned"]], labels=path)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), line, field)


def test_a_model_without_labels_gets_no_correction(study: dict[str, Any], tmp_path: Path) -> None:
    path = _labels(tmp_path, [{"id": f"r{i}", "model": "tuned", "harmful": "yes"} for i in range(3)])
    result = judgekit.compare([study["base"], study["tuned"]], labels=path)
    overall = result.groups[0]
    assert overall.models["base"].harmful_corrected is None
    assert overall.differences["tuned"].harmful_corrected is None
    assert any(w.startswith("all: base: no labelled item") for w in result.correction_warnings)


def test_cli_labels_in_table_json_and_html(study: dict[str, Any], tmp_path: Path) -> None:
    out, html = tmp_path / "c.json", tmp_path / "c.html"
    args = ["compare", str(study["base"]), str(study["tuned"]), "--labels", str(study["labels"])]
    result = CliRunner().invoke(
        main, [*args, "--json", str(out), "--html", str(html)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "corrected for judge error with the labels in" in result.output
    assert "(ppi++, 160 labels)" in result.output
    report = json.loads(out.read_text())
    assert report["groups"][0]["models"]["tuned"]["harmful_corrected"]["method"] == "ppi++"
    assert "ppi++, 160 labels" in html.read_text()
    both = CliRunner().invoke(main, [*args, "--calibration", str(out)])
    assert both.exit_code == 1 and "not both" in both.output
