"""judgekit.compare(): pairing, refusals of bad input, per-group statistics against direct oracles."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep
from verdict_files import POLICY, scored, verdict, write

import judgekit
from judgekit._compare import Comparison
from judgekit._errors import InputError
from judgekit.metrics import newcombe_paired_interval, rogan_gladen

CATEGORIES = ["fraud", "hate", "malware"]


def _scores(seed: int, n: int, shift: int) -> list[float | None]:
    rng = np.random.default_rng(seed)
    base = rng.integers(1, 5, size=n)
    return [float(min(5, s + (shift if rng.random() < 0.5 else 0))) for s in base]


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    base = scored(tmp_path / "base.jsonl", _scores(1, 150, 0), CATEGORIES)
    tuned = scored(tmp_path / "tuned.jsonl", _scores(1, 150, 2), CATEGORIES)
    return base, tuned


def test_paired_by_id_matches_direct_statistics(pair: tuple[Path, Path]) -> None:
    result = judgekit.compare(pair, by="category", seed=3)
    a = np.array(_scores(1, 150, 0))
    b = np.array(_scores(1, 150, 2))
    assert result.pairs[0].paired_by == "id" and result.pairs[0].pairs == 150
    overall = result.groups[0]
    assert overall.group == "all" and [g.group for g in result.groups[1:]] == CATEGORIES
    difference = overall.differences["tuned"]
    assert difference.paired
    assert difference.mean_score is not None
    assert difference.mean_score.estimate == pytest.approx(np.mean(b - a))
    harmful = difference.harmful
    assert harmful is not None
    both, only_tuned, only_base = (
        int(np.sum((b >= 5) & (a >= 5))),
        int(np.sum((b >= 5) & (a < 5))),
        int(np.sum((b < 5) & (a >= 5))),
    )
    expected = newcombe_paired_interval(both, only_tuned, only_base, 150 - both - only_tuned - only_base)
    assert (harmful.estimate, harmful.low, harmful.high) == pytest.approx(
        (expected.estimate, expected.low, expected.high)
    )
    table = [[both, only_tuned], [only_base, 150 - both - only_tuned - only_base]]
    assert harmful.p_value == pytest.approx(sm_mcnemar(table, exact=True).pvalue)
    assert overall.models["base"].harmful is not None
    assert overall.models["base"].harmful.count == int(np.sum(a >= 5))


def test_holm_by_default_and_bh_on_request(pair: tuple[Path, Path]) -> None:
    for adjust, method in (("holm", "holm"), ("bh", "fdr_bh")):
        result = judgekit.compare(pair, by="category", adjust=adjust)
        raw = [row.differences["tuned"].mean_score.p_value for row in result.groups[1:]]  # type: ignore[union-attr]
        adjusted = [row.differences["tuned"].mean_score.p_adjusted for row in result.groups[1:]]  # type: ignore[union-attr]
        np.testing.assert_allclose(adjusted, multipletests(raw, method=method)[1])
        assert result.settings.adjust == adjust


def test_json_round_trip(pair: tuple[Path, Path]) -> None:
    result = judgekit.compare(pair, by="category")
    again = Comparison.model_validate_json(result.model_dump_json())
    assert again == result
    assert json.loads(result.model_dump_json())["settings"]["baseline"] == "base"


def test_pairs_by_prompt_when_ids_differ(tmp_path: Path) -> None:
    base = scored(tmp_path / "base.jsonl", [1, 2, 3, 4])
    rows = [
        verdict(f"other-{i}", s, input={"prompt": f"prompt {i}", "response": "r"})
        for i, s in zip([3, 2, 1, 0], [5, 5, 3, 1], strict=True)
    ]
    other = write(tmp_path / "other.jsonl", rows)
    result = judgekit.compare([base, other])
    assert result.pairs[0].paired_by == "prompt"
    # prompt 0: 1 -> 1, prompt 1: 2 -> 3, prompt 2: 3 -> 5, prompt 3: 4 -> 5
    assert result.groups[0].differences["other"].mean_score.estimate == pytest.approx(1.0)  # type: ignore[union-attr]


def test_unpaired_uses_independent_samples(tmp_path: Path) -> None:
    base = write(tmp_path / "base.jsonl", [verdict(f"a{i}", 5 if i < 3 else 1) for i in range(10)])
    other = write(tmp_path / "other.jsonl", [verdict(f"b{i}", 5 if i < 6 else 1) for i in range(12)])
    result = judgekit.compare([base, other])
    difference = result.groups[0].differences["other"]
    assert result.pairs[0].paired_by == "none" and not difference.paired
    low, high = confint_proportions_2indep(6, 12, 3, 10, method="newcomb", compare="diff")
    assert difference.harmful is not None
    assert (difference.harmful.low, difference.harmful.high) == pytest.approx((low, high))
    assert difference.mean_score is not None and difference.mean_score.estimate == pytest.approx(
        (6 * 5 + 6) / 12 - (3 * 5 + 7) / 10
    )


def test_mixed_rubrics_are_refused_unless_allowed(tmp_path: Path) -> None:
    base = scored(tmp_path / "base.jsonl", [1, 2, 3])
    other = scored(tmp_path / "other.jsonl", [1, 2, 5], rubric_fields={"rubric_hash": "other-hash"})
    with pytest.raises(InputError, match=r"rubric hash: base policy-hash, other other-hash.*--allow-mixed"):
        judgekit.compare([base, other])
    result = judgekit.compare([base, other], allow_mixed=True)
    assert result.mixed == ["rubric hash: base policy-hash, other other-hash"]


def test_mixed_judge_models_are_refused(tmp_path: Path) -> None:
    base = scored(tmp_path / "base.jsonl", [1, 2, 3])
    other = scored(tmp_path / "other.jsonl", [1, 2, 5], rubric_fields={"judge_model": "judge-b"})
    with pytest.raises(InputError, match="judge model: base judge-a, other judge-b"):
        judgekit.compare([base, other])


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    base = scored(tmp_path / "base.jsonl", [1, 2, 3])
    rows = [verdict("x", 1), verdict("y", 2), verdict("x", 3)]
    other = write(tmp_path / "other.jsonl", rows)
    with pytest.raises(InputError, match="id 'x' is on lines 1 and 3") as caught:
        judgekit.compare([base, other])
    assert caught.value.line == 3 and "other.jsonl" in str(caught.value)


def test_ids_on_one_side_are_reported(tmp_path: Path) -> None:
    base = write(tmp_path / "base.jsonl", [verdict(f"r{i}", 1) for i in range(6)])
    other = write(tmp_path / "other.jsonl", [verdict(f"r{i}", 2) for i in range(2, 8)])
    info = judgekit.compare([base, other]).pairs[0]
    assert (info.pairs, info.only_baseline, info.only_model) == (4, 2, 2)
    assert info.only_baseline_ids == ["r0", "r1"] and info.only_model_ids == ["r6", "r7"]


def test_errors_are_counted_by_kind_and_excluded(tmp_path: Path) -> None:
    base = write(
        tmp_path / "base.jsonl",
        [verdict("a", 5), verdict("b", None, status="parse_error"), verdict("c", None, status="api_error")],
    )
    other = write(tmp_path / "other.jsonl", [verdict("a", 5), verdict("b", 5), verdict("c", 1)])
    result = judgekit.compare([base, other])
    model = result.groups[0].models["base"]
    assert (model.rows, model.judged, model.errors) == (3, 1, {"api_error": 1, "parse_error": 1})
    assert model.harmful is not None and model.harmful.total == 1
    assert result.groups[0].differences["other"].pairs == 1


def test_three_way_refusal_rates_apart_and_named(tmp_path: Path) -> None:
    refusal = {"rubric": "refusal", "rubric_version": "1.0.0", "rubric_hash": "r", "judge_model": "j"}

    def row(i: int, kind: str) -> judgekit.Verdict:
        score = {"full": 0, "partial": 0.5, "none": 1}[kind]
        return judgekit.Verdict(
            id=str(i),
            score=score,
            harmful=kind == "none",
            refused=kind == "full",
            fields={"refusal": kind},
            **refusal,
        )

    base = write(
        tmp_path / "base.jsonl",
        [row(i, k) for i, k in enumerate(["full"] * 6 + ["partial"] * 2 + ["none"] * 2)],
    )
    other = write(
        tmp_path / "other.jsonl",
        [row(i, k) for i, k in enumerate(["full"] * 2 + ["partial"] * 3 + ["none"] * 5)],
    )
    result = judgekit.compare([base, other])
    assert result.measures.harmful == "complied" and result.measures.three_way
    models = result.groups[0].models
    assert models["base"].refused.value == pytest.approx(0.6)  # type: ignore[union-attr]
    assert models["base"].partial_refused.value == pytest.approx(0.2)  # type: ignore[union-attr]
    assert models["other"].partial_refused.value == pytest.approx(0.3)  # type: ignore[union-attr]
    assert result.groups[0].differences["other"].partial_refused.estimate == pytest.approx(0.1)  # type: ignore[union-attr]


def test_group_by_a_judge_field_or_an_input_field(tmp_path: Path) -> None:
    rows = [
        verdict(str(i), 1 + i % 5, fields={"topic": f"c{i % 2}"}, input={"source": f"s{i % 3}"})
        for i in range(12)
    ]
    base = write(tmp_path / "base.jsonl", rows)
    other = write(tmp_path / "other.jsonl", rows)
    assert [g.group for g in judgekit.compare([base, other], by="source").groups] == ["all", "s0", "s1", "s2"]
    assert [g.group for g in judgekit.compare([base, other], by="topic").groups] == ["all", "c0", "c1"]
    assert [g.group for g in judgekit.compare([base, other], by="category").groups] == ["all", "(none)"]


def test_cluster_field_resamples_clusters(pair: tuple[Path, Path], tmp_path: Path) -> None:
    plain = judgekit.compare(pair, seed=1)
    rows = [verdict(f"r{i}", s, input={"prompt": f"p{i // 10}"}) for i, s in enumerate(_scores(1, 150, 0))]
    rows2 = [verdict(f"r{i}", s, input={"prompt": f"p{i // 10}"}) for i, s in enumerate(_scores(1, 150, 2))]
    clustered = judgekit.compare(
        [write(tmp_path / "a.jsonl", rows), write(tmp_path / "b.jsonl", rows2)],
        cluster_field="prompt",
        seed=1,
    )
    assert clustered.settings.cluster_field == "prompt"
    a, b = plain.groups[0].differences["tuned"].mean_score, clustered.groups[0].differences["b"].mean_score
    assert a is not None and b is not None and a.estimate == pytest.approx(b.estimate)
    assert b.high - b.low != pytest.approx(a.high - a.low)


def test_changed_prompts_carry_both_sides(pair: tuple[Path, Path]) -> None:
    result = judgekit.compare(pair, by="category", examples=2)
    assert "tuned" not in result.groups[0].changed  # with groups, each group lists its own
    found = result.groups[1].changed["tuned"]
    assert len(found) == 2 and abs(found[0].change) >= abs(found[1].change)
    example = found[0]
    assert example.baseline.response == f"base answer {example.id[1:]}"
    assert example.model.reasoning == f"tuned reasoning {example.id[1:]}"
    assert example.prompt == f"prompt {example.id[1:]}"


def test_calibration_corrects_the_harmful_rate(pair: tuple[Path, Path], tmp_path: Path) -> None:
    binary = {"tp": 40, "fp": 5, "fn": 10, "tn": 45}
    report = tmp_path / "calibration.json"
    report.write_text(json.dumps({"judges": [{"name": "score", "binary": binary, "by_category": []}]}))
    result = judgekit.compare(pair, calibration=report)
    harmful = result.groups[0].models["tuned"].harmful
    corrected = result.groups[0].models["tuned"].harmful_corrected
    assert harmful is not None and corrected is not None
    expected = rogan_gladen(
        harmful.value,
        0.8,
        0.9,
        n_judged=harmful.total,
        n_positives=50,
        n_negatives=50,
        method="lang-reiczigel",
    )
    assert (corrected.value, corrected.low, corrected.high) == pytest.approx(
        (expected.estimate, expected.low, expected.high)
    )
    difference = result.groups[0].differences["tuned"]
    assert difference.harmful is not None and difference.harmful_corrected is not None
    assert difference.harmful_corrected.value == pytest.approx(difference.harmful.estimate / 0.7)
    assert result.settings.calibration_judge == "score"


def test_bad_inputs_are_input_errors(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    responses = tmp_path / "responses.jsonl"
    responses.write_text('{"id": "1", "response": "hi"}\n')
    with pytest.raises(InputError, match=r"not a judgekit verdict line.*--rubric"):
        judgekit.compare([pair[0], responses])
    with pytest.raises(InputError, match="at least two"):
        judgekit.compare([pair[0]])
    with pytest.raises(InputError, match="baseline 'nope'"):
        judgekit.compare(pair, baseline="nope")
    with pytest.raises(InputError, match="must differ"):
        judgekit.compare(pair, names=["x", "x"])


def test_baseline_and_names(pair: tuple[Path, Path]) -> None:
    result = judgekit.compare(pair, names=["before", "after"], baseline="after")
    assert result.settings.baseline == "after" and list(result.groups[0].differences) == ["before"]
    assert result.groups[0].differences["before"].mean_score.estimate < 0  # type: ignore[union-attr]


def test_read_verdicts_is_public(pair: tuple[Path, Path]) -> None:
    verdicts = list(judgekit.read_verdicts(str(pair[0])))
    assert len(verdicts) == 150 and verdicts[0].rubric == POLICY["rubric"]
    assert not math.isnan(float(verdicts[0].score or 0))
