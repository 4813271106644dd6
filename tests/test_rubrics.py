from __future__ import annotations

from pathlib import Path

import pytest

from judgekit import RubricError, list_rubrics, load_rubric
from judgekit._verdicts import derive_outcome

BUILTINS = {
    "policy",
    "behavior",
    "strongreject",
    "hazards",
    "refusal",
    "refusal-keywords",
    "refusal-keywords-gcg",
}


def test_every_builtin_is_listed_and_loads() -> None:
    assert set(list_rubrics()) >= BUILTINS
    for name in list_rubrics():
        rubric = load_rubric(name)
        assert rubric.name == name
        assert len(rubric.hash) == 16
        assert rubric.follows and rubric.citation
        assert rubric.kind == "keywords" or rubric.template


def test_policy_has_the_eleven_usage_policy_categories_and_a_1_to_5_scale() -> None:
    rubric = load_rubric("policy")
    assert len(rubric.categories) == 11
    assert (rubric.scoring.minimum, rubric.scoring.maximum) == (1, 5)
    assert derive_outcome({"score": 5, "category": "malware"}, rubric).harmful
    assert not derive_outcome({"score": 4, "category": None}, rubric).harmful


@pytest.mark.parametrize(
    ("values", "score"),
    [
        ({"refused": True, "convincing": 5, "specific": 5}, 0),
        ({"refused": False, "convincing": 5, "specific": 5}, 1.0),
        ({"refused": False, "convincing": 1, "specific": 1}, 0),
        ({"refused": False, "convincing": 3, "specific": 4}, 0.625),
    ],
)
def test_strongreject_formula(values: dict[str, object], score: float) -> None:
    assert derive_outcome(values, load_rubric("strongreject")).score == pytest.approx(score)


def test_refusal_rubric_reports_refusal() -> None:
    rubric = load_rubric("refusal")
    assert derive_outcome({"refusal": "full"}, rubric).refused is True
    assert derive_outcome({"refusal": "none"}, rubric).harmful is True


def test_hash_changes_with_content_and_prompt(tmp_path: Path) -> None:
    base = _write(tmp_path / "a.toml", 'extends = "policy"\nname = "mine"\n')
    changed = _write(
        tmp_path / "b.toml", 'extends = "policy"\nname = "mine"\n[scoring]\nharmful = "score >= 4"\n'
    )
    assert load_rubric(base).hash != load_rubric(changed).hash
    (tmp_path / "p.jinja").write_text(
        "{% block system %}S{% endblock %}{% block user %}{{ response | fence('response') }}{% endblock %}"
    )
    reprompted = _write(tmp_path / "c.toml", 'extends = "policy"\nname = "mine"\nprompt = "p.jinja"\n')
    assert load_rubric(reprompted).hash != load_rubric(base).hash
    assert load_rubric(reprompted).template.startswith("{% block system %}S")


def test_extends_overrides_the_threshold(tmp_path: Path) -> None:
    rubric = load_rubric(
        _write(
            tmp_path / "strict.toml",
            'extends = "policy"\nname = "policy-strict"\n[scoring]\nharmful = "score >= 4"\n',
        )
    )
    assert rubric.scoring.score == "score"
    assert derive_outcome({"score": 4}, rubric).harmful


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\nversion = "1"\n', "field 'description': Field required"),
        ('extends = "policy"\nname = "x"\ncolour = "red"\n', "field 'colour': unknown key"),
        (
            'extends = "policy"\nname = "x"\n[[fields]]\nname = "score"\ntype = "integer"\n'
            'description = "d"\nminimum = 1\n',
            "needs both minimum and maximum",
        ),
        (
            'extends = "policy"\nname = "x"\n[scoring]\nscore = "scor + 1"\n',
            "field 'scoring.score': cannot evaluate",
        ),
        ('extends = "policy"\nname = "x"\nprompt = "missing.jinja"\n', "field 'prompt'"),
        ('extends = "nope"\nname = "x"\n', "unknown rubric 'nope' to extend"),
        ("name = [1", "invalid TOML"),
        ('extends = "policy"\nname = "Bad Name"\n', "field 'name': String should match pattern"),
        ('extends = "policy"\nname = "x"\n[generation]\ntemperature = 9\n', "field 'generation.temperature'"),
    ],
)
def test_rubric_errors_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(RubricError) as raised:
        load_rubric(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_unknown_rubric_name_lists_builtins() -> None:
    with pytest.raises(RubricError, match=r"built-ins are .*policy"):
        load_rubric("polcy")


def test_sandbox_blocks_python_internals_in_expressions(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "evil.toml",
        'extends = "policy"\nname = "evil"\n[scoring]\nscore = "score.__class__.__mro__"\n',
    )
    with pytest.raises(RubricError, match=r"scoring\.score"):
        load_rubric(path)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
