"""A judge's text reply beyond its JSON: the judged text it echoed back, and a verdict sentence.

Small judges (SmolLM2-135M, tests/data/llama_replies) seldom write the JSON the prompt asks for.
They answer the prompt's question in its own words ("The generation is a clear, substantial
instance of the behavior.", "The response is 1.", "The response is safe."), or they echo the
fenced judged text back ("The response is:", then `<response>` on a line of its own). Both are
read conservatively: a sentence gives a verdict only when it can be read one way and nothing
else in the reply says otherwise, and what stands between echoed tags is never taken for the
judge's own words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from judgekit._prompts import FENCED_TAGS
from judgekit._rubrics import Rubric, RubricField

_TAG_NAMES = "|".join(FENCED_TAGS)
_ECHO_TAG = re.compile(rf"<(/?)(?:{_TAG_NAMES})>", re.I)
"""A fence tag as the prompt writes them; the judged text itself holds none (the fence escapes
them), so one in a reply is the judge copying the prompt. Starts with a literal: a fast scan."""


def echo_spans(text: str) -> list[tuple[int, int]]:
    """The stretches of `text` between echoed fence tags (an unclosed one runs to the end).

    An opening tag counts when it stands alone on its line, as the prompt's fences do (a tag
    named inside a sentence is no fence); a closing tag anywhere. A closing tag with no opening
    one ends a stretch that began after the previous one: the judge copied a block's tail.
    """
    spans: list[tuple[int, int]] = []
    opened: int | None = None
    for match in _ECHO_TAG.finditer(text):
        if match.group(1):
            start = opened if opened is not None else (spans[-1][1] if spans else 0)
            spans.append((start, match.end()))
            opened = None
        elif opened is None and _alone_on_its_line(text, match.start(), match.end()):
            opened = match.start()
    if opened is not None:
        spans.append((opened, len(text)))
    return spans


def _alone_on_its_line(text: str, start: int, end: int) -> bool:
    """Whether only spaces stand between `text[start:end]` and the line's ends (a bounded scan)."""
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    while end < len(text) and text[end] in " \t":
        end += 1
    return (start == 0 or text[start - 1] == "\n") and (end == len(text) or text[end] in "\r\n")


def own_text(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` without the echoed stretches: what the judge wrote itself."""
    if not spans:
        return text
    parts, position = [], 0
    for start, end in spans:
        parts.append(text[position:start])
        position = end
    parts.append(text[position:])
    return "\n".join(parts)


# -- verdict sentences -------------------------------------------------------------------------

MAX_SENTENCE_CHARS = 400
"""A verdict sentence is short; longer ones are not read (and the scan stays cheap)."""

_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_MARKUP = re.compile(r"[*_`\"“”]+")
_SUBJECT = r"(?P<subject>it|this|(?:the|this|my|its)(?:\s+[a-z'\u2019-]+){1,4}?)"
_SUBJECT_STARTS = ("it", "this", "the", "my")
_VERB = r"(?:is|was|would\s+be)(?P<negated>n't|\s+not)?"
_REST = r"(?P<rest>(?:[,;]|\s+-+|\s+—)?\s+.*)?"
_NEGATIONS = frozenset({"not", "no", "never", "hardly", "barely", "neither", "nor", "isn't", "wasn't"})
_NOUNS = frozenset(
    {
        *("response", "answer", "reply", "generation", "output", "completion", "text", "content"),
        *("message", "behavior", "behaviour", "score", "rating", "level", "scale", "harmfulness"),
        *("harm", "verdict", "classification", "class", "result", "assessment", "evaluation"),
        *("grade", "label", "safety"),
    }
)
"""The head nouns a sentence's subject may end in ("the harshness scale", "the response")."""

_CAUSE = re.compile(r"^[,;]?\s*(?:-+|—)?\s*(?:because|as|since|given|for|so|due)\b")
_CONTRAST = re.compile(
    r"\b(?:but|however|although|though|yet|except|unless|whereas|while|nevertheless|nonetheless)\b"
)


@dataclass(frozen=True)
class Sentence:
    """What a verdict sentence says: the key field's value as written, or why it cannot be read."""

    value: Any = None
    error: str | None = None


def read_sentence(text: str, field: RubricField, rubric: Rubric) -> Sentence | None:
    """The verdict the first sentence of `text` states for `field`, or None if it states none.

    The first sentence must have the shape `<subject> is <value>.` (a boolean field's value is
    the predicate the prompt asks about: "whether the generation is <predicate>"), optionally
    followed by a reason ("..., as it ..."). Every other sentence of that shape in `text` must
    agree, and a negated enum or number (`is not 5`) is not read: a Sentence with an error.
    """
    sentences = _sentences(text)
    first = next(sentences, None)
    if first is None:
        return None
    pattern = _pattern(field, rubric)
    if pattern is None:
        return None
    reading = _reading(first, pattern, field)
    if reading is None:
        return None
    if isinstance(reading, str):
        shown = first[:100]
        return Sentence(error=f"the reply's first sentence cannot be read one way ({reading}): {shown!r}")
    for other in sentences:
        if not other.startswith(_SUBJECT_STARTS):
            continue
        again = _reading(other, pattern, field)
        if field.type == "boolean" and again == _GOES_ON:
            continue  # "... of the behavior that requires ...": its polarity is checked below
        if again is not None and again != reading:
            return Sentence(
                error=f"the reply's sentences disagree on '{field.name}': {first[:80]!r} and {other[:80]!r}"
            )
    if field.type == "boolean":
        disagreeing = _contrary_mention(text, reading, rubric)
        if disagreeing is not None:
            return Sentence(error=f"the reply says both ways whether it is {disagreeing!r}")
    return Sentence(value=reading[0])


def _sentences(text: str) -> Iterator[str]:
    """The sentences of `text`, lower-cased and without markup.

    A sentence ends at `.`, `!` or `?` before a space, or at a line end; a question keeps its `?`
    (and is never read).
    """
    position = 0
    for match in _SENTENCE_END.finditer(text):
        yield from _clean(text[position : match.end()])
        position = match.end()
    yield from _clean(text[position:])


def _clean(sentence: str) -> Iterator[str]:
    if len(sentence) > MAX_SENTENCE_CHARS:
        yield "\x00"  # too long to be a verdict: matches nothing, but still counts as a sentence
        return
    cleaned = " ".join(_MARKUP.sub("", sentence).lower().split()).lstrip("#>-• ")
    if cleaned:
        yield cleaned


_GOES_ON = "it goes on after the verdict"

Reading = tuple[Any, bool]
"""A sentence's value as written (for a yes/no field, whether it affirms), and False: a negated
score or class is no reading but an error string."""


def _reading(sentence: str, pattern: re.Pattern[str], field: RubricField) -> Reading | str | None:
    """What `sentence` says for `field`; a string when it says it in a way that cannot be read."""
    if sentence.endswith("?"):
        return None
    match = pattern.match(sentence.rstrip(".!"))
    if match is None or not _plain_subject(match.group("subject")):
        return None
    negated = bool(match.group("negated"))
    rest = (match.group("rest") or "").strip()
    if _CONTRAST.search(rest):
        return "it qualifies the verdict"
    if rest and not _CAUSE.match(rest):
        return _GOES_ON
    if field.type == "boolean":
        return (not negated, False)
    if negated:
        return "it is negated"
    if field.type == "enum":
        value = match.group("value")
        if re.search(rf"\b(?:{_enum_alternation(field, but=value)})\b", rest):
            return "it names two values"
        return (value, False)
    denominator = match.group("denominator")
    if denominator is not None and float(denominator) != field.maximum:
        return f"a score out of {denominator}, not of {field.maximum:g}"
    if re.search(r"\d", rest):
        return "it names two numbers"
    return (match.group("numerator"), False)


def _plain_subject(subject: str) -> bool:
    words = subject.split()
    if any(word in _NEGATIONS for word in words):
        return False
    return len(words) == 1 or words[-1] in _NOUNS or (words[-1] == "above" and words[-2] in _NOUNS)


_PATTERNS: dict[tuple[str, str], re.Pattern[str] | None] = {}


def _pattern(field: RubricField, rubric: Rubric) -> re.Pattern[str] | None:
    """The verdict sentence's pattern for `field`, built once per rubric."""
    key = (rubric.hash, field.name)
    if key not in _PATTERNS:
        _PATTERNS[key] = _build_pattern(field, rubric)
    return _PATTERNS[key]


def _build_pattern(field: RubricField, rubric: Rubric) -> re.Pattern[str] | None:
    if field.type == "boolean":
        predicates = question_predicates(rubric)
        if not predicates:
            return None
        value = "|".join(r"\s+".join(map(re.escape, p.split())) for p in predicates)
    elif field.type == "enum":
        value = _enum_alternation(field)
    else:
        number = r"[-+]?\d+(?:\.\d+)?"
        value = rf"(?P<numerator>{number})(?:\s*(?:/|out\s+of)\s*(?P<denominator>{number}))?"
    article = r"(?:(?:a|an)\s+)?" if field.type != "boolean" else ""
    return re.compile(rf"{_SUBJECT}\s+{_VERB}\s+{article}(?P<value>{value})(?![\w./-]){_REST}$")


def _enum_alternation(field: RubricField, but: str | None = None) -> str:
    values = sorted((v.lower() for v in field.values or () if v.lower() != but), key=len, reverse=True)
    return "|".join(map(re.escape, values)) or "(?!)"


_QUESTION = re.compile(
    r"\bwhether\s+(?:it|this|the\b[^.?!\n{}]{0,60}?)\s+(?:is|are)\s+([^.?!\n{}]{3,200})", re.I
)
_PREDICATES: dict[str, tuple[str, ...]] = {}


def question_predicates(rubric: Rubric) -> tuple[str, ...]:
    """What the prompt asks the judge to decide, as predicates, longest first.

    "whether the generation is X" gives X, and X cut before each comma-led clause that leaves
    three words or more ("..., following the rules" is left off).
    """
    found = _PREDICATES.get(rubric.hash)
    if found is None:
        candidates: set[str] = set()
        for match in _QUESTION.finditer(rubric.template):
            predicate = " ".join(match.group(1).lower().split())
            parts = predicate.split(",")
            for end in range(1, len(parts) + 1):
                cut = ",".join(parts[:end]).strip()
                if end == len(parts) or len(cut.split()) >= 3:
                    candidates.add(cut)
        found = _PREDICATES[rubric.hash] = tuple(sorted(candidates, key=len, reverse=True))
    return found


_BEFORE = 48


def _contrary_mention(text: str, reading: Reading, rubric: Rubric) -> str | None:
    """A predicate of the prompt's question that `text` says the other way than `reading`.

    Anywhere in the reply: after a negation where the verdict affirms it, after a bare `is` where
    the verdict denies it.
    """
    lowered = " ".join(_MARKUP.sub("", text).lower().split())
    for predicate in question_predicates(rubric):
        start = lowered.find(predicate)
        while start != -1:
            before = re.split(r"[.!?;]\s", lowered[max(0, start - _BEFORE) : start])[-1]
            denied = re.search(r"\b(?:not|no|never|hardly|barely)\b|n't\b", before) is not None
            affirmed = re.search(r"\b(?:is|are|was|be)\s*$", before) is not None
            if (reading[0] and denied) or (not reading[0] and affirmed and not denied):
                return predicate
            start = lowered.find(predicate, start + len(predicate))
    return None
