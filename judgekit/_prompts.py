"""Render a rubric's judge prompt for one record, in a sandbox.

Templates define two blocks, `system` (the static policy, scale and reply format, identical for
every record so providers can cache the prefix) and `user` (the record, last). The judged text is
untrusted: the `fence` filter wraps it in tags it cannot close or imitate.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, UndefinedError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from judgekit._errors import PromptError
from judgekit._records import Record
from judgekit._rubrics import Rubric, RubricField, sample_value

Messages = list[dict[str, str]]

FENCED_TAGS = ("prompt", "response", "context", "data")
"""Tag names the fence filter reserves: the judged text can never contain them as tags."""

_INVISIBLE = "[\\s\u00ad\u034f\u180e\u200b-\u200f\u2060-\u2064\ufeff]*"
# Invisible or ignorable characters a tag may hide behind: zero-width spaces and joiners, soft
# hyphen, word joiner, BOM, direction marks. A model reads through them, so the fence does too.


def _lookalike_tag(name: str) -> str:
    """A pattern for `name` in ASCII or fullwidth letters, with invisible characters between."""
    letters = [f"[{c}{c.upper()}{chr(ord(c) + 0xFEE0)}{chr(ord(c.upper()) + 0xFEE0)}]" for c in name]
    return _INVISIBLE.join(letters)


_TAG_LOOKALIKE = re.compile(
    "[<\uff1c\ufe64\u2039\u3008\u27e8]"  # "<" and the brackets that pass for it
    + f"(?={_INVISIBLE}(?:[/\uff0f\u2044\u2215]{_INVISIBLE})?"
    + "(?:"
    + "|".join(_lookalike_tag(tag) for tag in FENCED_TAGS)
    + "))"
)
"""An opening bracket that starts a reserved tag, however disguised: it is escaped as `&lt;`."""


def fence(text: str | None, tag: str) -> str:
    """Wrap untrusted `text` in `<tag>` ... `</tag>`, neutralising any tag it contains."""
    if tag not in FENCED_TAGS:
        raise PromptError(f"fence tag must be one of {', '.join(FENCED_TAGS)}, not {tag!r}")
    body = _TAG_LOOKALIKE.sub("&lt;", text or "")
    return f"<{tag}>\n{body}\n</{tag}>"


def _environment() -> ImmutableSandboxedEnvironment:
    environment = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["fence"] = fence
    return environment


_ENVIRONMENT = _environment()


@cache
def _compile(source: str, name: str = "<template>") -> Template:
    try:
        tree = _ENVIRONMENT.parse(source)
    except TemplateSyntaxError as error:
        raise PromptError(f"{name}, line {error.lineno}: invalid prompt template: {error.message}") from None
    except TemplateError as error:
        raise PromptError(f"{name}: invalid prompt template: {error}") from None
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        tag = {"Include": "include", "Import": "import", "FromImport": "from", "Extends": "extends"}
        raise PromptError(
            f"{name}, line {node.lineno}: a prompt template cannot {{% {tag[type(node).__name__]} %}} "
            "other templates; put everything in one file (see docs/rubrics.md)"
        )
    template = _ENVIRONMENT.from_string(source)
    missing = {"system", "user"} - set(template.blocks)
    if missing:
        raise PromptError(
            f"{name}: prompt template must define blocks 'system' and 'user'; missing {sorted(missing)}"
        )
    return template


def check_template(rubric: Rubric) -> None:
    """Compile the rubric's template and render it for a sample record: PromptError if it fails.

    Run before any request, so a broken template stops a run at once rather than at its first
    record.
    """
    render_messages(rubric, Record(id="sample", prompt="a prompt", response="a response", context="context"))


def render_messages(rubric: Rubric, record: Record) -> Messages:
    """Render the judge's chat messages for `record` under `rubric`."""
    template, system, static = _static_part(rubric)
    variables = {
        **static,
        "prompt": record.prompt,
        "response": record.response,
        "context": record.context,
        "category": record.category,
    }
    try:
        user = "".join(template.blocks["user"](template.new_context(variables))).strip()
    except _RENDER_ERRORS as error:
        raise _render_error(rubric, template, error) from None
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_STATIC: dict[str, tuple[Template, str, dict[str, Any]]] = {}


def _static_part(rubric: Rubric) -> tuple[Template, str, dict[str, Any]]:
    """The compiled template, system message and record-independent variables, once per rubric.

    The system block sees no record field, so a template that puts the record there fails here
    instead of silently defeating the providers' prefix caching.
    """
    cached = _STATIC.get(rubric.hash)
    if cached is None:
        static = {"rubric": rubric, "categories": rubric.categories, "reply_format": reply_format(rubric)}
        template = _compile(rubric.template, rubric.prompt or "<template>")
        try:
            system = "".join(template.blocks["system"](template.new_context(static))).strip()
        except _RENDER_ERRORS as error:
            undefined = isinstance(error, UndefinedError)
            hint = " (the system block may not use record fields)" if undefined else ""
            raise _render_error(rubric, template, error, hint=hint) from None
        cached = _STATIC[rubric.hash] = (template, system, static)
    return cached


_RENDER_ERRORS = (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, AttributeError)
"""What a user's template can raise while rendering in the sandbox (OverflowError: a huge range)."""


def _render_error(rubric: Rubric, template: Template, error: Exception, hint: str = "") -> PromptError:
    line = _template_line(template, error)
    where = f"'{rubric.prompt}'" + (f", line {line}," if line is not None else "")
    return PromptError(
        f"cannot render prompt {where} of rubric '{rubric.name}': {error}{hint}; see docs/rubrics.md"
    )


def _template_line(template: Template, error: BaseException) -> int | None:
    """The template line the error was raised on: the last frame of the compiled template's code."""
    line = None
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = template.get_corresponding_lineno(traceback.tb_lineno)
        traceback = traceback.tb_next
    return line


def reply_format(rubric: Rubric) -> str:
    """The reply-format instructions, derived from the rubric's fields."""
    lines = [
        "Reply with one JSON object and nothing else, with these keys in this order:",
        *(f'- "{field.name}": {_describe(field)}' for field in rubric.fields),
    ]
    example = {field.name: sample_value(field) for field in rubric.fields}
    lines.append(f"Example of the shape (not of the values): {json.dumps(example)}")
    return "\n".join(lines)


def _describe(field: RubricField) -> str:
    kinds: dict[str, str] = {
        "integer": f"an integer from {_number(field.minimum)} to {_number(field.maximum)}",
        "number": f"a number from {_number(field.minimum)} to {_number(field.maximum)}",
        "boolean": "true or false",
        "string": "a string",
        "enum": "one of " + ", ".join(f'"{value}"' for value in field.values or ()),
        "category": "the id of one category above, or null if none applies",
        "categories": "a list of the ids of every category that applies (empty if none)",
    }
    return f"{kinds[field.type]}. {field.description}"


def _number(value: float | None) -> str:
    return f"{value:g}" if value is not None else "?"
