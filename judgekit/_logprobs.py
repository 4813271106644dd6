"""The probability-weighted score of a verdict, from the judge's token logprobs (`--logprobs`).

At the token that wrote the score's value (after `"score": `, `score:`, `"exhibits": `, ...),
the alternatives the server lists (`top_logprobs`) weigh every value the field can take, and the
rubric's score expression turns each value into a score: for a 1-5 score the mean of 1..5, for a
yes/no field P(yes) / (P(yes) + P(no)) mapped through the score (1 if yes else 0), for a class
the same over its values. Servers spell tokens their own way: llama.cpp and llama-cpp-python send
the raw model's distribution (before grammar and penalties), with leading spaces (" true", " 4"),
`bytes` null or a list, sometimes the sampled token appended to the top list, and partial words
of a multi-token value ("uns" for "unsafe").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from judgekit._expressions import compile_expression
from judgekit._rubrics import Rubric, RubricField

TokenLogprobs = Sequence[tuple[str, Sequence[tuple[str, float]]]]
"""Per generated token: its text and the top alternatives with their log probabilities."""

MAX_SCALE = 100
"""Integer fields spanning more values than this are not weighted (a value is several tokens)."""

_TAIL = 64
_WORDS: dict[bool, tuple[str, ...]] = {True: ("true", "yes"), False: ("false", "no")}
_TOKEN_TRIM = " \t\n\"'*`,.:;}])"


def expected_score(
    tokens: TokenLogprobs, rubric: Rubric, values: Mapping[str, Any] | None = None
) -> float | None:
    """The score weighted by the probabilities of the score field's value token, or None.

    Only for rubrics whose score depends on one integer, yes/no or class field. The token is the
    last one that follows the field's name and a `:` (JSON key or `name: value` line) and writes
    a value; with `values` (the parsed verdict), the value it writes must be the verdict's, so
    text quoted in the reasoning cannot stand in for it.
    """
    plan = _plan(rubric)
    if plan is None:
        return None
    field, scores = plan
    marker = _marker(field.name)
    chosen: Sequence[tuple[str, float]] | None = None
    tail = ""
    for index, (token, alternatives) in enumerate(tokens):
        if marker.search(tail):
            value = token_value(token, field)
            if (
                value is not None
                and (values is None or values.get(field.name) == value)
                and not _number_goes_on(field, tokens, index)
            ):
                chosen = alternatives
        tail = (tail + token)[-_TAIL:]
    return None if chosen is None else _weighted(chosen, field, scores)


def _weighted(
    alternatives: Sequence[tuple[str, float]], field: RubricField, scores: dict[Any, float]
) -> float | None:
    weights: dict[Any, float] = {}
    for alternative, logprob in alternatives:
        value = token_value(alternative, field)
        if value in scores and math.isfinite(logprob) and logprob <= 0:
            weights[value] = weights.get(value, 0.0) + math.exp(logprob)
    total = sum(weights.values())
    if not total > 0:
        return None
    return sum(scores[value] * weight for value, weight in weights.items()) / total


def token_value(token: str, field: RubricField) -> Any:
    """The value of `field` that `token` writes (its start, for a class), or None."""
    word = token.strip(_TOKEN_TRIM).lower()
    if not word:
        return None
    if field.type == "integer":
        return int(word) if word.isascii() and word.isdigit() and len(word) <= 4 else None
    if field.type == "boolean":
        return next((value for value, words in _WORDS.items() if word in words), None)
    if field.type == "enum":
        values = [value for value in field.values or () if value.lower() == word]
        if not values and len(word) >= 2:
            values = [value for value in field.values or () if value.lower().startswith(word)]
        return values[0] if len(values) == 1 else None
    return None


def _number_goes_on(field: RubricField, tokens: TokenLogprobs, index: int) -> bool:
    """Whether the integer's digits continue in the next token (`1` then `0`): no one-token value."""
    if field.type != "integer" or index + 1 >= len(tokens):
        return False
    following = tokens[index + 1][0]
    return bool(following) and following[0].isdigit()


_MARKERS: dict[str, re.Pattern[str]] = {}


def _marker(name: str) -> re.Pattern[str]:
    pattern = _MARKERS.get(name)
    if pattern is None:
        pattern = _MARKERS[name] = re.compile(rf'"?{re.escape(name)}"?[*_]*\s*[:=]\s*"?\s*$', re.I)
    return pattern


_PLANS: dict[str, tuple[RubricField, dict[Any, float]] | None] = {}


def _plan(rubric: Rubric) -> tuple[RubricField, dict[Any, float]] | None:
    """The field the score depends on and the score of each of its values, once per rubric."""
    if rubric.hash not in _PLANS:
        _PLANS[rubric.hash] = _build_plan(rubric)
    return _PLANS[rubric.hash]


def _build_plan(rubric: Rubric) -> tuple[RubricField, dict[Any, float]] | None:
    expression = rubric.scoring.score
    names = set(re.findall(r"[A-Za-z_]\w*", re.sub(r"\"[^\"]*\"|'[^']*'", "", expression)))
    used = [field for field in rubric.fields if field.name in names]
    if len(used) != 1:
        return None
    field = used[0]
    candidates: list[Any]
    if field.type == "integer":
        assert field.minimum is not None and field.maximum is not None
        low, high = int(field.minimum), int(field.maximum)
        if high - low > MAX_SCALE:
            return None
        candidates = list(range(low, high + 1))
    elif field.type == "boolean":
        candidates = [True, False]
    elif field.type == "enum":
        candidates = list(field.values or ())
    else:
        return None
    score = compile_expression(expression)
    blank = {other.name: None for other in rubric.fields}
    scores: dict[Any, float] = {}
    for value in candidates:
        try:
            result = score(**{**blank, field.name: value})
        except Exception:  # noqa: BLE001 - a user's expression may fail on any value: then no plan
            return None
        if isinstance(result, bool) or not isinstance(result, int | float) or not math.isfinite(result):
            return None
        scores[value] = float(result)
    return field, scores
