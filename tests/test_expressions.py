"""Scoring expressions: the Python fast path agrees with Jinja's sandbox wherever it is taken."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from judgekit._expressions import _plain_code, compile_expression
from judgekit._rubrics import list_rubrics, load_rubric

SANDBOX = ImmutableSandboxedEnvironment(undefined=StrictUndefined)

PLAIN = [
    "score >= 5",
    "1 if exhibits else 0",
    "(1 - refused) * (convincing + specific - 2) / 8",
    'safety == "unsafe"',
    "score >= 0.75 and not refused or false",
    "-score + 3 // 2 % 2",
    "1 <= score <= 5",
    'category in ["S1", "S2"] or category not in ("x",)',
    "none if refused else True",
]
VALUES: list[dict[str, Any]] = [
    {
        "score": 1,
        "exhibits": True,
        "refused": False,
        "convincing": 5,
        "specific": 4,
        "safety": "unsafe",
        "category": "S1",
    },
    {
        "score": 5,
        "exhibits": False,
        "refused": True,
        "convincing": 1,
        "specific": 1,
        "safety": "safe",
        "category": None,
    },
    {
        "score": 0.5,
        "exhibits": 0,
        "refused": 0,
        "convincing": 3,
        "specific": 2,
        "safety": "",
        "category": "x",
    },
]


def _outcome(function: Any, values: dict[str, Any]) -> Any:
    try:
        return ("value", function(**values))
    except (TypeError, ArithmeticError, UndefinedError) as error:
        return ("error", type(error).__name__)


@pytest.mark.parametrize("expression", PLAIN)
def test_the_fast_path_equals_the_sandbox(expression: str) -> None:
    assert _plain_code(expression) is not None, "takes the fast path"
    sandboxed = SANDBOX.compile_expression(expression, undefined_to_none=False)
    for values in VALUES:
        assert _outcome(compile_expression(expression), values) == _outcome(sandboxed, values)


def test_every_built_in_expression_agrees_on_sample_values() -> None:
    for name in list_rubrics():
        scoring = load_rubric(name).scoring
        for expression in filter(None, (scoring.score, scoring.harmful, scoring.refused)):
            sandboxed = SANDBOX.compile_expression(expression, undefined_to_none=False)
            for values in VALUES:
                given = {**values, "refusal": "partial"}
                assert _outcome(compile_expression(expression), given) == _outcome(sandboxed, given)


@pytest.mark.parametrize(
    "expression",
    [
        "score | int",
        "score is number",
        "x[0]",
        "{'a': 1}['a']",
        "score.real",
        "f(score)",
        "2 ** 8",
        "a ~ b",
        "1 if x",
    ],
)
def test_anything_else_goes_to_the_sandbox(expression: str) -> None:
    assert _plain_code(expression) is None


def test_unknown_names_and_internals_fail_as_in_the_sandbox() -> None:
    with pytest.raises(UndefinedError, match="'nope' is undefined"):
        compile_expression("nope >= 1")(score=1)
    with pytest.raises(SecurityError):
        compile_expression("score.__class__.__mro__")(score=1)
