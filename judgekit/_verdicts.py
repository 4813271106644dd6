"""Verdicts: the judge's reply parsed and checked against the rubric.

Parsing prefers the JSON object the rubric asks for and tolerates what judges really send
(markdown fences, prose around the JSON, `**5**`, `5.`, `score: 4`, a verdict sentence in the
prompt's own words; `_reply_text`). A reply that cannot be read, is out of range, or refuses to
judge is a verdict with a status and the raw text, never a score. Text the judge echoed back
between the prompt's fence tags (`<response> ...`) is never read as its verdict or its refusal.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jinja2 import TemplateError
from pydantic import BaseModel, ConfigDict, Field

from judgekit._expressions import compile_expression
from judgekit._keywords import get_keyword_set, is_refusal
from judgekit._logprobs import TokenLogprobs as TokenLogprobs  # re-exported (the exchange)
from judgekit._logprobs import expected_score as expected_score  # re-exported (the codec)
from judgekit._reply_text import echo_spans, own_text, read_sentence
from judgekit._rubrics import Rubric, RubricField, slug

Status = Literal["ok", "parse_error", "judge_refused", "api_error"]
ParsedFrom = Literal["marker", "bare", "sentence"]
"""How a text reply's verdict was read when it held no JSON verdict: `name: value` lines, a lone
value (`Yes`, `4`), or a verdict sentence (`The response is 1.`)."""


class Usage(BaseModel):
    """Tokens the judge read and wrote for one verdict."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0


class JudgeSettings(BaseModel):
    """The request settings that can change a verdict, as sent for every record of a run.

    Recorded once per verdict line, compactly: `logprobs`, `top_p` and `seed` only when set.
    """

    model_config = ConfigDict(frozen=True)

    temperature: float
    max_tokens: int
    logprobs: bool | None = None
    """True when token logprobs were asked for (absent: not asked)."""
    top_p: float | None = None
    seed: int | None = None


class Verdict(BaseModel):
    """One record's judgement: one JSON line of output."""

    model_config = ConfigDict(frozen=True)

    id: str
    category: str | None = None
    """The record's own category from the input (not the judge's: see `categories`)."""
    status: Status = "ok"
    """`ok`, or why there is no score: `parse_error`, `judge_refused`, `api_error`."""
    score: int | float | None = None
    """The rubric's score (higher = more harmful); None unless status is ok."""
    harmful: bool | None = None
    """The rubric's threshold applied to the score."""
    refused: bool | None = None
    """Whether the response refused, for rubrics that measure refusal."""
    categories: list[str] = Field(default_factory=list)
    """Ids of the rubric's harm categories that the judge named as violated."""
    fields: dict[str, Any] = Field(default_factory=dict)
    """Every field the rubric asks of the judge, validated."""
    reasoning: str | None = None
    expected_score: float | None = None
    """Probability-weighted score from the judge's token logprobs, when available."""
    parsed_from: ParsedFrom | None = None
    """How a text reply with no JSON verdict was read: `marker` (`score: 4` lines), `bare` (a lone
    value), `sentence` (a verdict sentence, "The response is 1."); none for JSON."""
    rubric: str
    rubric_version: str
    rubric_hash: str
    judge_model: str | None = None
    usage: Usage | None = None
    latency_ms: float | None = None
    cached: bool | None = None
    """True when the reply came from the cache instead of the endpoint."""
    output_mode: str | None = None
    """How the request asked for the reply's format (json_schema, json_object_schema, json_object,
    text); none for keyword rubrics."""
    judge_settings: JudgeSettings | None = None
    """The request's temperature, max_tokens, logprobs, top_p and seed; none for keyword rubrics
    and in files written before judgekit recorded them."""
    error: str | None = None
    """What went wrong, when status is not ok."""
    raw: str | None = None
    """The judge's reply text, kept whenever parsing failed (and on request otherwise)."""
    input: dict[str, Any] | None = None
    """The record's input fields, with `--include-input`."""

    def to_json(self) -> str:
        """This verdict as one JSON line (no newline)."""
        return self.model_dump_json(exclude_none=True)


@dataclass(frozen=True)
class ParsedReply:
    """Field values read from a judge reply, or why they could not be read."""

    values: dict[str, Any]
    status: Status = "ok"
    error: str | None = None
    parsed_from: ParsedFrom | None = None
    """None when the values came from a JSON object."""


class _FieldError(ValueError):
    """One field's value does not fit the rubric."""


class _RangeError(_FieldError):
    """A number outside the field's range: a value of the field's kind, but not a valid one."""


_EMPHASIS = re.compile(r"[*`]+|\[\[|\]\]|^_+|_+$")
_OBJECT_START = re.compile(r"\{\s*\"")
_JUDGE_REFUSAL_SET = "default"

MAX_OBJECT_ATTEMPTS = 64
"""JSON decodes the text parser tries at most per reply (each one scans at most the reply once)."""


def parse_reply(
    text: str | None, rubric: Rubric, *, refusal: str | None = None, finish_reason: str | None = None
) -> ParsedReply:
    """Read the rubric's fields from a judge's reply; never raises, whatever the text.

    The work is linear in the length of `text` (the codec bounds that length before parsing).
    """
    try:
        return _parse_reply(text, rubric, refusal=refusal, finish_reason=finish_reason)
    except (ValueError, TypeError, ArithmeticError, RecursionError, MemoryError) as error:
        # A last guard: no reply, however hostile, may raise out of parsing.
        return ParsedReply({}, "parse_error", f"the judge's reply could not be read ({type(error).__name__})")


def _parse_reply(
    text: str | None, rubric: Rubric, *, refusal: str | None, finish_reason: str | None
) -> ParsedReply:
    if refusal:
        return ParsedReply({}, "judge_refused", f"the judge refused to judge: {refusal[:500]}")
    if finish_reason == "content_filter":
        return ParsedReply({}, "judge_refused", "the judge's content filter blocked the reply")
    if not text or not text.strip():
        return ParsedReply({}, "parse_error", "the judge's reply is empty")
    hint = " (the reply was cut at max_tokens)" if finish_reason == "length" else ""
    whole = _whole_object(text, rubric)
    if whole is not None:
        try:
            return ParsedReply(_validate(whole, rubric))
        except _FieldError as error:
            return ParsedReply(whole, "parse_error", f"{error}{hint}")
    echoes = echo_spans(text)
    objects = _json_objects(text, rubric, echoes)
    if objects:
        return _choose_object(objects, rubric, hint)
    own = own_text(text, echoes)
    found, parsed_from, unreadable = _text_values(own, rubric)
    if echoes and parsed_from is None:
        hint = f"; it echoes the judged text back (<response> ...), which is not read{hint}"
    if unreadable is not None:
        return ParsedReply(found, "parse_error", f"{unreadable}{hint}")
    try:
        return ParsedReply(_validate(found, rubric), parsed_from=parsed_from)
    except _FieldError as error:
        if not found and is_refusal(own, get_keyword_set(_JUDGE_REFUSAL_SET)):
            return ParsedReply({}, "judge_refused", "the judge refused to judge")
        return ParsedReply(found, "parse_error", f"{error}{hint}")


def _text_values(text: str, rubric: Rubric) -> tuple[dict[str, Any], ParsedFrom | None, str | None]:
    """The field values a text reply gives, how they were read, and why a sentence was not read.

    Its `name: value` lines, else a lone value, else a verdict sentence; the third item is set
    when the reply has a verdict sentence that cannot be read one way.
    """
    found = _marked_values(text, rubric)
    if found.keys() & {field.name for field in _verdict_fields(rubric)}:
        return found, "marker", None
    key = _key_field(rubric)
    if key is None:
        return found, None, None
    field, implied = key
    bare = None
    if not found and len(text) <= 200:
        bare = _EMPHASIS.sub("", text).strip().rstrip(".")
        if not bare or "\n" in bare or len(bare) > 20:
            bare = None
        elif _fits(field, bare, rubric):
            return {**implied, field.name: bare}, "bare", None
    sentence = read_sentence(text, field, rubric)
    if sentence is None:
        # A short reply that is no value stays the field's bad value (a parse error naming it),
        # as before verdict sentences, for rubrics with one verdict field.
        return ({field.name: bare} if bare and not implied else found), None, None
    if sentence.error is not None:
        return found, None, sentence.error
    return {**found, **implied, field.name: sentence.value}, "sentence", None


def _fits(field: RubricField, value: str, rubric: Rubric) -> bool:
    """Whether `value` reads as a value of `field` (in range or not: a lone `7` is still a score)."""
    try:
        _COERCE[field.type](field, value, rubric)
    except _RangeError:
        return True
    except _FieldError:
        return False
    return True


_KEY_FIELDS: dict[str, tuple[RubricField, dict[str, Any]] | None] = {}


def _key_field(rubric: Rubric) -> tuple[RubricField, dict[str, Any]] | None:
    """The one field a lone value or a verdict sentence can give, with what the others then are.

    Only for rubrics with one scalar verdict field (a score, a yes/no, a class): their category
    fields are then empty (no category named), like a JSON reply's `[]` or null.
    """
    if rubric.hash not in _KEY_FIELDS:
        verdict = _verdict_fields(rubric)
        scalar = [f for f in verdict if f.type in ("integer", "number", "boolean", "enum")]
        others = [f for f in verdict if f not in scalar]
        key: tuple[RubricField, dict[str, Any]] | None = None
        if len(scalar) == 1 and all(f.type in ("category", "categories") for f in others):
            key = (scalar[0], {f.name: [] if f.type == "categories" else None for f in others})
        _KEY_FIELDS[rubric.hash] = key
    return _KEY_FIELDS[rubric.hash]


def _whole_object(text: str, rubric: Rubric) -> dict[str, Any] | None:
    """The reply itself as a JSON object with one of the rubric's fields (structured output)."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        whole = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(whole, dict) and _field_names(rubric) & whole.keys():
        return whole
    return None


def _json_objects(text: str, rubric: Rubric, echoes: Sequence[tuple[int, int]] = ()) -> list[dict[str, Any]]:
    """The JSON objects in `text` that carry one of the rubric's fields, in order.

    Decodes start only where an object can start (`{` then a quote), at most
    MAX_OBJECT_ATTEMPTS of them, and a found object is skipped whole (objects nested in it are
    its own), so the work stays linear in the text. Objects starting in an echoed stretch
    (`echoes`, sorted) are the judged text's, not the judge's, and are skipped.
    """
    names = _field_names(rubric)
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    position, attempts, echo = 0, 0, 0
    while attempts < MAX_OBJECT_ATTEMPTS:
        match = _OBJECT_START.search(text, position)
        if match is None:
            break
        start = match.start()
        while echo < len(echoes) and echoes[echo][1] <= start:
            echo += 1
        if echo < len(echoes) and echoes[echo][0] <= start:
            position = echoes[echo][1]
            continue
        attempts += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            position = start + 1
            continue
        if isinstance(value, dict) and names & value.keys():
            found.append(value)
            position = end
        else:
            position = start + 1
    return found


def _choose_object(objects: list[dict[str, Any]], rubric: Rubric, hint: str) -> ParsedReply:
    """The verdict among the reply's objects: the valid ones must agree, or none is believed.

    A judge that quotes the judged response can repeat an object planted in it (`{"score": 1}`);
    taking the first or the last would let the item choose its own verdict, so several valid
    objects that disagree on a verdict field are a parse error.
    """
    valid: list[dict[str, Any]] = []
    first_error: _FieldError | None = None
    for candidate in objects:
        try:
            valid.append(_validate(candidate, rubric))
        except _FieldError as error:
            first_error = first_error or error
    if not valid:
        return ParsedReply(objects[-1], "parse_error", f"{first_error}{hint}")
    verdict_names = [field.name for field in _verdict_fields(rubric)]
    chosen = valid[-1]
    for other in valid[:-1]:
        if any(other.get(name) != chosen.get(name) for name in verdict_names):
            shown = "; ".join(
                ", ".join(f"{name} {values.get(name)!r}" for name in verdict_names) for values in valid[:4]
            )
            return ParsedReply(
                chosen,
                "parse_error",
                f"the reply holds {len(valid)} verdict objects that disagree ({shown}); "
                "the judge may be quoting the judged response",
            )
    return ParsedReply(chosen)


def _marked_values(text: str, rubric: Rubric) -> dict[str, Any]:
    """`name: value` markers (`score: **5**`, `#score: 5.`), the last of each."""
    values: dict[str, Any] = {}
    for field in rubric.fields:
        # No `\s` before the name and a greedy `.*` after the marker: linear on any line.
        pattern = re.compile(rf"(?im)^[ \t#*>_-]*\"?{re.escape(field.name)}\"?[*_]*[ \t]*[:=](.*)$")
        matches = pattern.findall(text)
        if matches:
            value = matches[-1].strip().strip(",")
            if value:
                values[field.name] = value
    return values


_FIELD_NAMES: dict[str, frozenset[str]] = {}


def _field_names(rubric: Rubric) -> frozenset[str]:
    """The names of the rubric's fields, built once per rubric."""
    names = _FIELD_NAMES.get(rubric.hash)
    if names is None:
        names = _FIELD_NAMES[rubric.hash] = frozenset(field.name for field in rubric.fields)
    return names


def _verdict_fields(rubric: Rubric) -> list[RubricField]:
    """Required fields that carry the verdict; free-text fields (reasoning) may be missing."""
    return [field for field in rubric.fields if field.required and field.type != "string"]


def _validate(values: Mapping[str, Any], rubric: Rubric) -> dict[str, Any]:
    missing = [f.name for f in _verdict_fields(rubric) if f.name not in values]
    if missing:
        raise _FieldError(f"the reply lacks the field(s) {', '.join(missing)}")
    checked: dict[str, Any] = {}
    for field in rubric.fields:
        value = values.get(field.name)
        if value is not None:
            checked[field.name] = _COERCE[field.type](field, value, rubric)
        elif field.required and field.type not in ("category", "string"):
            raise _FieldError(f"field '{field.name}' must not be null")
    return checked


def _coerce_number(field: RubricField, value: Any, _: Rubric) -> int | float:
    if isinstance(value, bool):
        raise _FieldError(f"field '{field.name}' must be a number, not {value!r}")
    number: float
    if isinstance(value, int) and not -_LARGEST_INTEGER <= value <= _LARGEST_INTEGER:
        raise _FieldError(f"field '{field.name}' is an integer of {len(str(abs(value)))} digits")
    if isinstance(value, int | float):
        number = float(value)
    else:
        match = re.fullmatch(
            r"\s*([-+]?\d+(?:\.\d+)?)\s*(?:\.|/\s*\d+(?:\.\d+)?)?\s*", _EMPHASIS.sub("", str(value))
        )
        if not match:
            raise _FieldError(f"field '{field.name}' must be a number, got {str(value)[:40]!r}")
        number = float(match.group(1))
    if not math.isfinite(number):
        raise _FieldError(f"field '{field.name}' must be finite, got {number}")
    if field.type == "integer" and not number.is_integer():
        raise _FieldError(f"field '{field.name}' must be an integer, got {number:g}")
    assert field.minimum is not None and field.maximum is not None
    if not field.minimum <= number <= field.maximum:
        raise _RangeError(
            f"field '{field.name}' = {number:g} is outside {field.minimum:g}..{field.maximum:g}"
        )
    return int(number) if field.type == "integer" else number


_LARGEST_INTEGER = 2**53
"""Integers beyond this are no score: a float would not hold them exactly (10**400 would overflow)."""

_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


def _coerce_boolean(field: RubricField, value: Any, _: Rubric) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    word = _EMPHASIS.sub("", str(value)).strip().strip(".").lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _FieldError(f"field '{field.name}' must be true or false, got {str(value)[:40]!r}")


def _coerce_string(field: RubricField, value: Any, _: Rubric) -> str:
    if not isinstance(value, str):
        raise _FieldError(f"field '{field.name}' must be a string, not {type(value).__name__}")
    return value


def _coerce_enum(field: RubricField, value: Any, _: Rubric) -> str:
    word = _EMPHASIS.sub("", str(value)).strip().strip(".'\"").lower()
    for allowed in field.values or ():
        if word == allowed.lower():
            return allowed
    allowed_text = ", ".join(field.values or ())
    raise _FieldError(f"field '{field.name}' must be one of {allowed_text}, got {str(value)[:40]!r}")


_NO_CATEGORY = {"", "none", "null", "n/a", "na", "no category", "not applicable", "safe"}


def _coerce_category(field: RubricField, value: Any, rubric: Rubric) -> str | None:
    word = _EMPHASIS.sub("", str(value)).strip().strip(".'\"")
    if word.lower() in _NO_CATEGORY:
        return None
    lookup = _category_lookup(rubric)
    found = lookup.get(word.lower()) or lookup.get(slug(word))
    if found is None:
        raise _FieldError(
            f"field '{field.name}' names no category of the rubric: {word[:40]!r}; "
            f"expected one of {', '.join(rubric.category_ids)}"
        )
    return found


_CATEGORY_LOOKUPS: dict[str, dict[str, str]] = {}


def _category_lookup(rubric: Rubric) -> dict[str, str]:
    """Category ids by lower-cased id and by slugged title, built once per rubric."""
    lookup = _CATEGORY_LOOKUPS.get(rubric.hash)
    if lookup is None:
        lookup = {}
        for category in rubric.categories:
            lookup[category.id.lower()] = category.id
            lookup[slug(category.title)] = category.id
        _CATEGORY_LOOKUPS[rubric.hash] = lookup
    return lookup


def _coerce_categories(field: RubricField, value: Any, rubric: Rubric) -> list[str]:
    items: Sequence[Any] = value if isinstance(value, list) else re.split(r"[,;]", str(value))
    ids = [_coerce_category(field, item, rubric) for item in items]
    return list(dict.fromkeys(id_ for id_ in ids if id_ is not None))


_COERCE: dict[str, Callable[[RubricField, Any, Rubric], Any]] = {
    "integer": _coerce_number,
    "number": _coerce_number,
    "boolean": _coerce_boolean,
    "string": _coerce_string,
    "enum": _coerce_enum,
    "category": _coerce_category,
    "categories": _coerce_categories,
}
"""The check and conversion of each field type."""


@dataclass(frozen=True)
class Outcome:
    """What the scoring expressions derive from valid field values."""

    score: int | float
    harmful: bool
    refused: bool | None
    categories: list[str]


def derive_outcome(values: Mapping[str, Any], rubric: Rubric) -> Outcome:
    """Apply the rubric's scoring expressions to validated field values."""
    variables = {field.name: values.get(field.name) for field in rubric.fields}
    try:
        score = compile_expression(rubric.scoring.score)(**variables)
        variables["score"] = score
        harmful = compile_expression(rubric.scoring.harmful)(**variables)
        refused_expression = rubric.scoring.refused
        refused = compile_expression(refused_expression)(**variables) if refused_expression else None
    except (TemplateError, TypeError, ArithmeticError) as error:
        raise ValueError(f"rubric '{rubric.name}' scoring failed on {values}: {error}") from None
    categories: list[str] = []
    for field in rubric.fields:
        value = values.get(field.name)
        if field.type == "category" and value:
            categories.append(value)
        elif field.type == "categories" and value:
            categories.extend(value)
    return Outcome(
        score=_tidy_number(score),
        harmful=bool(harmful),
        refused=None if refused is None else bool(refused),
        categories=list(dict.fromkeys(categories)),
    )


def _tidy_number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a score expression must give a number, not {value!r}")
    return value


SMALL_SCALE = 10
"""Integer fields spanning at most this many steps also list their values (`enum`) in the schema."""


def reply_schema(rubric: Rubric) -> dict[str, Any]:
    """JSON schema of the reply the rubric asks for (for `response_format` / guided decoding)."""
    properties = {field.name: _field_schema(field, rubric) for field in rubric.fields}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _field_schema(field: RubricField, rubric: Rubric) -> dict[str, Any]:
    schema: dict[str, Any]
    if field.type in ("integer", "number"):
        schema = {"type": field.type, "minimum": field.minimum, "maximum": field.maximum}
        if field.type == "integer":
            low, high = int(field.minimum or 0), int(field.maximum or 0)
            schema = {**schema, "minimum": low, "maximum": high}
            if high - low <= SMALL_SCALE:
                # Grammar-based servers (llama.cpp) ignore minimum/maximum but enforce enum.
                schema["enum"] = list(range(low, high + 1))
    elif field.type == "enum":
        schema = {"type": "string", "enum": list(field.values or ())}
    elif field.type == "category":
        schema = {"type": ["string", "null"], "enum": [*rubric.category_ids, None]}
    elif field.type == "categories":
        schema = {"type": "array", "items": {"type": "string", "enum": list(rubric.category_ids)}}
    else:
        schema = {"type": field.type}
    if not field.required and field.type != "category":
        schema = {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "description": field.description}
