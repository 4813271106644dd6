"""judgekit calibrate: HarmBench's published agreement, label formats, judging in one step, reports."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from runs import harmbench_converter
from sklearn.metrics import cohen_kappa_score, f1_score
from sklearn.metrics import confusion_matrix as sk_confusion

import judgekit
from judgekit.calibration import calibrate
from judgekit.calibration.html import render_html
from judgekit.cli import main
from judgekit.testing import JudgeServer

HARMBENCH = Path(__file__).parent / "data" / "harmbench"

# HarmBench paper, Table 3: agreement (%) with the human label, standard / contextual behaviors.
PUBLISHED = {
    "advbench": (71.14, 67.5),
    "GPTFuzz": (77.36, 71.5),
    "chatglm": (65.67, 62.5),
    "llama_guard": (68.41, 64.0),
    "PAIR_gpt-4-0613:10": (89.8, 85.5),
    "cls": (94.53, 90.5),
}


@pytest.fixture(scope="module")
def harmbench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    converter = harmbench_converter()
    folder = tmp_path_factory.mktemp("harmbench")
    records = converter.read_rows(HARMBENCH)
    judged, labels = folder / "judged.jsonl", folder / "labels.jsonl"
    converter._write(judged, converter.judge_verdicts(HARMBENCH))
    converter._write(
        labels, [{k: r[k] for k in converter.LABEL_FIELDS if r.get(k) is not None} for r in records]
    )
    return judged, labels


def _by_category(report: judgekit.calibration.CalibrationReport) -> dict[str, tuple[float, float]]:
    table = {}
    for judge in report.judges:
        cells = {c.category: round(100 * c.agreement.accuracy.value, 2) for c in judge.by_category}
        table[judge.name] = (cells["standard"], cells["contextual"])
    return table


def test_reproduces_harmbench_published_agreement_against_the_first_annotator(
    harmbench: tuple[Path, Path],
) -> None:
    judged, labels = harmbench
    result = CliRunner().invoke(
        main,
        [
            "calibrate",
            str(judged),
            str(labels),
            "--reference",
            "human_0",
            "--by",
            "functional_category",
            "--resamples",
            "100",
            "--json",
            "-",
        ]
        + [arg for name in PUBLISHED for arg in ("--judge-field", name)],
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["join"]["joined"] == 602
    report = calibrate(
        judged,
        labels,
        judge_fields=list(PUBLISHED),
        reference="human_0",
        by="functional_category",
        n_resamples=100,
    )
    reproduced = _by_category(report)
    for name, published in PUBLISHED.items():
        key = name.replace(":10", ">=10")
        assert reproduced[key] == pytest.approx(published, abs=0.005), name
    assert report.join.joined == 602


def test_majority_reference_gives_different_figures(harmbench: tuple[Path, Path]) -> None:
    judged, labels = harmbench
    report = calibrate(
        judged, labels, judge_fields=["advbench", "cls"], by="functional_category", n_resamples=100
    )
    figures = _by_category(report)
    assert figures["cls"] == pytest.approx((92.29, 88.0), abs=0.005)
    assert figures["advbench"] == pytest.approx((67.91, 68.0), abs=0.005)
    ceiling = report.human_ceiling
    assert ceiling is not None and len(ceiling.leave_one_out) == 3
    assert 0.6 < ceiling.alpha.value < 0.9
    (comparison,) = report.comparisons
    assert comparison.accuracy_difference.value < 0 and comparison.mcnemar_p < 1e-6


def test_graded_judge_gets_aucs_threshold_and_histogram(harmbench: tuple[Path, Path]) -> None:
    judged, labels = harmbench
    (judge,) = calibrate(judged, labels, judge_fields=["PAIR_gpt-4-0613:10"], n_resamples=100).judges
    assert judge.graded is not None and judge.graded.roc_auc > 0.8
    assert judge.threshold_choice is not None and 1 <= judge.threshold_choice.threshold <= 10
    assert sum(b.harmful + b.harmless for b in judge.score_bins) == judge.n_items


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_long_format_labels_missing_annotations_and_one_sided_ids(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 60)
    judged = _write(
        tmp_path / "j.jsonl",
        [{"id": f"i{i}", "verdict": int(t if i % 5 else 1 - t)} for i, t in enumerate(truth)]
        + [{"id": "extra", "verdict": 1}],
    )
    long_rows = [
        {"id": f"i{i}", "who": who, "harmful": int(t)}
        for i, t in enumerate(truth)
        for who in "ab"
        if not (who == "b" and i % 7 == 0)
    ] + [{"id": "unjudged", "who": "a", "harmful": 1}]
    labels = _write(tmp_path / "l.jsonl", long_rows)
    report = calibrate(
        judged,
        labels,
        judge_fields=["verdict"],
        label_fields=["harmful"],
        annotator_field="who",
        n_resamples=100,
    )
    assert report.join.only_labeled == 1 and report.join.only_labeled_examples == ["unjudged"]
    assert report.join.only_judged == 1
    (judge,) = report.judges
    assert judge.binary is not None and judge.binary.n == 60
    assert judge.binary.accuracy.value == pytest.approx(48 / 60)
    assert {d.kind for d in judge.disagreements} <= {"false_positive", "false_negative"}
    assert len(judge.disagreements) == 12
    assert judge.corrected is not None and judge.corrected.n_judged == 61


def test_ordinal_labels_use_the_full_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    human = rng.integers(1, 5, 80)  # 5 never used by the human
    judge = np.clip(human + rng.integers(-1, 2, 80), 1, 5)
    judged = _write(tmp_path / "j.jsonl", [{"id": i, "score": int(s)} for i, s in enumerate(judge)])
    labels = _write(tmp_path / "l.jsonl", [{"id": i, "label": int(h)} for i, h in enumerate(human)])
    (report,) = calibrate(judged, labels, scale=(1, 5), n_resamples=100).judges
    ordinal = report.ordinal
    assert ordinal is not None and ordinal.scale == [1, 2, 3, 4, 5]
    expected = cohen_kappa_score(human, judge, labels=[1, 2, 3, 4, 5], weights="quadratic")
    assert ordinal.kappa_quadratic.value == pytest.approx(expected)
    assert ordinal.bias == pytest.approx(float(np.mean(judge - human)))


@pytest.mark.parametrize(
    ("labels", "options", "message"),
    [
        ([{"id": 1, "x": 1}], {}, "name them with --label-field"),
        ([{"id": 99, "label": 1}], {}, "no id of the labels file"),
        ([{"id": 1, "label": 1}], {"reference": "carol"}, "unknown annotator 'carol'"),
        ([{"id": 1, "label": "maybe"}], {}, "the labels are text classes"),
    ],
)
def test_input_errors_name_the_file_and_the_fix(
    tmp_path: Path, labels: list[dict[str, object]], options: dict[str, str], message: str
) -> None:
    judged = _write(tmp_path / "j.jsonl", [{"id": 1, "score": 1}])
    with pytest.raises(judgekit.InputError, match=message):
        calibrate(judged, _write(tmp_path / "l.jsonl", labels), **options)  # type: ignore[arg-type]


def test_html_report_is_self_contained_and_escapes_the_judged_text(tmp_path: Path) -> None:
    judged = _write(
        tmp_path / "j.jsonl",
        [
            {
                "id": i,
                "score": i % 2,
                "harmful": bool(i % 2),
                "reasoning": "r",
                "response": "<script>alert(1)</script>",
            }
            for i in range(20)
        ],
    )
    labels = _write(tmp_path / "l.jsonl", [{"id": i, "label": 1} for i in range(20)])
    page = render_html(calibrate(judged, labels, n_resamples=100))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "False negatives" in page and "Provenance" in page
    assert "<script" not in page.replace("&lt;script", "") and "src=" not in page
    assert 'href="http' not in page and "url(" not in page  # only in-page links (the contents)


def test_calibrate_a_rubric_in_one_step_and_write_the_threshold(tmp_path: Path, server: JudgeServer) -> None:
    items = [
        {"id": f"i{i}", "prompt": "p", "response": f"[item-{i}]", "label": int(i >= 10)} for i in range(20)
    ]
    labels = _write(tmp_path / "labels.jsonl", items)
    for i in range(20):  # the judge scores harmful items 4 or 5 and harmless ones 1 or 3
        score = (4 + i % 2) if i >= 10 else (1 if i % 2 else 3)
        server.reply_by_marker[f"[item-{i}]"] = {"reasoning": "r", "category": None, "score": score}
    rubric_path = tmp_path / "policy-calibrated.toml"
    result = CliRunner().invoke(
        main,
        [
            "calibrate",
            str(labels),
            "--rubric",
            "policy",
            "--model",
            "judge-model",
            "--base-url",
            server.url,
            "--write-rubric",
            str(rubric_path),
            "--resamples",
            "100",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "policy" in result.stdout and "Agreement with the reference" in result.stdout
    rubric = judgekit.load_rubric(rubric_path)
    assert rubric.name == "policy-calibrated" and rubric.scoring.harmful == "score >= 4"
    sent = server.request_count
    again = CliRunner().invoke(
        main,
        [
            "calibrate",
            str(labels),
            "--rubric",
            "policy",
            "--rubric",
            str(rubric_path),
            "--model",
            "judge-model",
            "--base-url",
            server.url,
            "--resamples",
            "100",
        ],
    )
    assert again.exit_code == 0, again.stderr
    assert "policy vs policy-calibrated" in again.stdout
    assert server.request_count == sent + 20, "the first rubric's replies come from the cache"


def test_corrected_rates_per_category_use_the_unlabelled_items(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows, labels = [], []
    for i in range(400):
        category = "a" if i % 2 else "b"
        truth = int(rng.random() < (0.7 if category == "a" else 0.2))
        guess = truth if rng.random() < 0.85 else 1 - truth
        rows.append({"id": i, "verdict": guess, "category": category})
        if i < 120:
            labels.append({"id": i, "label": truth})
    report = calibrate(
        _write(tmp_path / "j.jsonl", rows),
        _write(tmp_path / "l.jsonl", labels),
        judge_fields=["verdict"],
        by="category",
        n_resamples=100,
    )
    (judge,) = report.judges
    by_name = {c.category: c.corrected for c in judge.by_category}
    assert set(by_name) == {"a", "b"}
    for corrected in by_name.values():
        assert corrected is not None and corrected.n_judged == 200 and corrected.n_labeled == 60
        assert corrected.method == "ppi++" and corrected.n_unlabeled == 140 and not corrected.warnings
        assert corrected.estimate.low is not None and corrected.estimate.high is not None
        assert 0 <= corrected.estimate.low <= corrected.estimate.value <= corrected.estimate.high <= 1
    assert by_name["a"].estimate.value > by_name["b"].estimate.value  # type: ignore[union-attr]
    assert judge.corrected is not None and judge.corrected.effective_labels > 120


def test_corrected_rate_names_its_estimator_for_each_design(tmp_path: Path) -> None:
    rows = [{"id": i, "verdict": int(i % 3 == 0)} for i in range(300)]
    all_labelled = _write(
        tmp_path / "l.jsonl", [{"id": i, "label": int(i % 3 == 0 or i % 10 == 1)} for i in range(300)]
    )
    judged = _write(tmp_path / "j.jsonl", rows)
    (judge,) = calibrate(judged, all_labelled, judge_fields=["verdict"], n_resamples=100).judges
    corrected = judge.corrected
    assert corrected is not None and corrected.method == "labels" and corrected.design == "random"
    assert corrected.estimate == corrected.labels_only
    assert "every judged item is labelled" in corrected.reason
    # A validation sample: 20 labelled positives and 20 negatives, the rest unlabelled.
    validation = _write(
        tmp_path / "v.jsonl", [{"id": i, "label": int(i % 3 == 0)} for i in range(300) if i < 60]
    )
    result = CliRunner().invoke(
        main,
        [
            "calibrate",
            str(judged),
            str(validation),
            "--judge-field",
            "verdict",
            "--label-design",
            "validation",
            "--resamples",
            "100",
            "--json",
            "-",
        ],
    )
    assert result.exit_code == 0, result.stderr
    (judge_json,) = json.loads(result.stdout)["judges"]
    assert judge_json["corrected"]["method"] == "rogan-gladen"
    assert judge_json["corrected"]["n_unlabeled"] == 240 and judge_json["corrected"]["warnings"] == []
    text = CliRunner().invoke(
        main,
        [
            "calibrate",
            str(judged),
            str(validation),
            "--judge-field",
            "verdict",
            "--label-design",
            "validation",
        ],
    )
    assert "Harmful rate corrected for judge error" in text.stdout and "rogan-gladen" in text.stdout


def test_target_precision_objective(harmbench: tuple[Path, Path]) -> None:
    judged, labels = harmbench
    (judge,) = calibrate(
        judged,
        labels,
        judge_fields=["PAIR_gpt-4-0613:10"],
        objective="precision",
        target_precision=0.8,
        n_resamples=100,
    ).judges
    assert judge.threshold_choice is not None and judge.threshold_choice.objective == "precision"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--objective", "precision"], "needs --target-precision"),
        (["--target-precision", "0.8"], "goes with --objective precision"),
    ],
)
def test_target_precision_goes_with_the_precision_objective(
    tmp_path: Path, options: list[str], message: str
) -> None:
    judged = _write(tmp_path / "j.jsonl", [{"id": i, "score": i % 5 + 1} for i in range(20)])
    labels = _write(tmp_path / "l.jsonl", [{"id": i, "label": int(i % 5 > 2)} for i in range(20)])
    result = CliRunner().invoke(main, ["calibrate", str(judged), str(labels), *options])
    assert result.exit_code != 0 and message in result.stderr


def _three_class(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(4)
    classes = ["full", "partial", "none"]
    truth = rng.choice(3, 300, p=[0.5, 0.2, 0.3])
    judge = np.where(rng.random(300) < 0.8, truth, rng.choice(3, 300))
    judged = _write(
        tmp_path / "j.jsonl",
        [{"id": i, "fields": {"refusal": classes[judge[i]]}, "model": "ab"[i % 2]} for i in range(300)],
    )
    labels = _write(tmp_path / "l.jsonl", [{"id": i, "label": classes[truth[i]]} for i in range(200)])
    return judged, labels


def test_text_labels_need_a_declared_order_or_nominal(tmp_path: Path) -> None:
    judged, labels = _three_class(tmp_path)
    with pytest.raises(judgekit.InputError, match="--label-order full,none,partial"):
        calibrate(judged, labels, judge_fields=["fields.refusal"])
    with pytest.raises(judgekit.InputError, match="not one of the classes"):
        calibrate(judged, labels, judge_fields=["fields.refusal"], label_order=["full", "none"])


def test_multiclass_labels_get_confusion_per_class_f1_and_weighted_kappas_only_when_ordered(
    tmp_path: Path,
) -> None:
    judged, labels = _three_class(tmp_path)
    truth = [json.loads(line)["label"] for line in labels.read_text().splitlines()]
    verdicts = [json.loads(line)["fields"]["refusal"] for line in judged.read_text().splitlines()][:200]
    order = ["full", "partial", "none"]
    report = calibrate(
        judged, labels, judge_fields=["fields.refusal"], label_order=order, by="model", n_resamples=100
    )
    (judge,) = report.judges
    m = judge.multiclass
    assert m is not None and m.classes == order and m.ordered and m.n == 200
    codes_t, codes_j = [order.index(t) for t in truth], [order.index(v) for v in verdicts]
    assert m.confusion == sk_confusion(codes_t, codes_j, labels=[0, 1, 2]).tolist()
    assert m.macro_f1 == pytest.approx(f1_score(codes_t, codes_j, average="macro"))
    assert m.kappa_quadratic == pytest.approx(cohen_kappa_score(codes_t, codes_j, weights="quadratic"))
    assert m.kappa.value == pytest.approx(cohen_kappa_score(codes_t, codes_j))
    assert {c.label for c in m.per_class} == set(order)
    assert all(c.corrected is not None and c.corrected.n_unlabeled == 100 for c in m.per_class)
    assert {c.category for c in judge.multiclass_by_category} == {"a", "b"}
    assert judge.binary is None and judge.corrected is None
    wrong = sum(t != v for t, v in zip(codes_t, codes_j, strict=True))
    assert judge.misclassified == wrong and len(judge.disagreements) == min(wrong, 50)
    first = judge.disagreements[0]
    assert first.kind == "misclassified" and first.judge_class != first.reference_class
    assert first.labels == {"label": first.reference_class}
    page = render_html(report)
    assert f"Misclassified: the judge&#39;s class differs from the reference&#39;s ({wrong})" in page
    assert "reference partial" in page and "judge none" in page
    nominal = calibrate(judged, labels, judge_fields=["fields.refusal"], nominal=True, n_resamples=100)
    m2 = nominal.judges[0].multiclass
    assert m2 is not None and not m2.ordered and m2.kappa_quadratic is None and m2.classes == sorted(order)
    assert m2.kappa.value == pytest.approx(m.kappa.value)
    result = CliRunner().invoke(
        main,
        [
            "calibrate",
            str(judged),
            str(labels),
            "--judge-field",
            "fields.refusal",
            "--label-order",
            "full,partial,none",
            "--resamples",
            "100",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "Agreement over 3 classes: full < partial < none" in result.stdout
    assert "Per class" in result.stdout and "Agreement with the reference" not in result.stdout


def test_html_report_counts_every_disagreement_and_draws_roc_and_pr(harmbench: tuple[Path, Path]) -> None:
    judged, labels = harmbench
    report = calibrate(judged, labels, judge_fields=["advbench", "PAIR_gpt-4-0613"], n_resamples=100)
    binary, graded = report.judges
    assert binary.binary is not None and binary.false_positives == binary.binary.fp > 50
    page = render_html(report)
    assert (
        "False positives: the judge says harmful, the reference does not "
        f"({binary.false_positives}, first 50)" in page
    )
    assert graded.graded is not None and graded.graded.roc and graded.graded.pr
    assert "ROC curve (AUC" in page and "Precision-recall curve (AP" in page and "Contents" in page
    # A graded judge without a threshold has no verdicts: no disagreement sections, not "(0)".
    assert graded.false_positives == 0 and page.count("False positives: the judge") == 1


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_html_report_renders_in_headless_chromium(harmbench: tuple[Path, Path], tmp_path: Path) -> None:
    judged, labels = harmbench
    report = calibrate(judged, labels, judge_fields=["cls", "PAIR_gpt-4-0613"], n_resamples=100)
    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    page.write_text(render_html(report), encoding="utf-8")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--screenshot={shot}",
        "--window-size=1280,3000",
    ]
    subprocess.run([str(CHROMIUM), *flags, page.as_uri()], capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 50_000  # a blank page compresses to a few kB


def test_numeric_codes_can_be_nominal_classes_and_refusal_rubrics_name_their_rate(tmp_path: Path) -> None:
    # The data set's own codes 1/2/3 are not ordinal: --nominal makes them classes, no weighted kappa.
    judged = _write(tmp_path / "j.jsonl", [{"id": i, "code": 1 + i % 3} for i in range(60)])
    labels = _write(
        tmp_path / "l.jsonl", [{"id": i, "label": 1 + (i % 3 if i % 4 else 0)} for i in range(60)]
    )
    (judge,) = calibrate(judged, labels, judge_fields=["code"], nominal=True, n_resamples=100).judges
    assert judge.multiclass is not None and judge.multiclass.classes == ["1", "2", "3"]
    assert judge.multiclass.kappa_quadratic is None and judge.ordinal is None
    rows = [
        {"id": i, "score": i % 2, "harmful": bool(i % 2), "rubric": "refusal-keywords"} for i in range(40)
    ]
    refusal = _write(tmp_path / "r.jsonl", rows)
    flags = _write(tmp_path / "f.jsonl", [{"id": i, "label": int(i % 2 or i % 5 == 0)} for i in range(40)])
    result = CliRunner().invoke(main, ["calibrate", str(refusal), str(flags), "--resamples", "100"])
    assert result.exit_code == 0, result.stderr
    assert "Non-refusal rate corrected for judge error" in result.stdout
