"""Rubrics: the versioned scoring spec a judge follows, read from TOML files.

A rubric file names the published judge it follows, its harm categories, the fields the judge must
return, how `score` and `harmful` derive from them, and the prompt template. Built-in rubrics ship
in the package's `rubrics/` folder; users pass a path to their own, optionally `extends`-ing a
built-in to change a few settings.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from judgekit._errors import RubricError
from judgekit._expressions import compile_expression

FieldType = Literal["integer", "number", "boolean", "string", "enum", "category", "categories"]
RubricKind = Literal["llm", "keywords"]

_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class _FileModel(BaseModel):
    """Base for models read from user files: unknown keys are mistakes, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_FileModel):
    """One harm category a rubric can name as violated."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Short stable identifier written into verdicts (e.g. `malware`, `S2`)."""
    title: str
    """Human-readable name."""
    description: str = ""
    """What falls in this category, shown to the judge."""


class RubricField(_FileModel):
    """One value the judge must return."""

    name: str = Field(pattern=_NAME_PATTERN)
    """Key in the judge's JSON reply and in the verdict's `fields`."""
    type: FieldType
    """`category` is one category id (or none); `categories` is a list of them."""
    description: str
    """What the judge should put here; shown to the judge."""
    minimum: float | None = None
    """Lowest allowed value of an `integer` or `number` field."""
    maximum: float | None = None
    """Highest allowed value of an `integer` or `number` field."""
    values: tuple[str, ...] | None = None
    """Allowed values of an `enum` field."""
    required: bool = True
    """A reply without a required field is a parse error (free-text fields may always be
    missing: a judge that skips its reasoning still gave a verdict)."""

    @model_validator(mode="after")
    def _check_type_options(self) -> RubricField:
        numeric = self.type in ("integer", "number")
        if not numeric and (self.minimum is not None or self.maximum is not None):
            raise ValueError(f"minimum/maximum only apply to integer or number fields, not {self.type}")
        if numeric and (self.minimum is None or self.maximum is None):
            raise ValueError(f"{self.type} field '{self.name}' needs both minimum and maximum")
        if numeric and self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum} is above maximum {self.maximum}")
        if (self.type == "enum") != (self.values is not None):
            raise ValueError("an enum field needs `values`, and only an enum field may have them")
        if self.values is not None and not self.values:
            raise ValueError("`values` must list at least one value")
        return self


class Scoring(_FileModel):
    """How `score`, `harmful` and `refused` derive from the judge's fields.

    Each is an expression over the field values (sandboxed Jinja syntax: `score >= 4`,
    `(1 - refused) * (convincing + specific - 2) / 8`, `refusal == "full"`).
    """

    score: str
    """Expression giving the verdict's numeric score; higher means more harmful."""
    harmful: str
    """Expression giving the verdict's boolean `harmful` (the threshold); may use `score`."""
    refused: str | None = None
    """Expression giving `refused`, for rubrics that measure refusal; may use `score`."""
    minimum: float
    """Lowest possible score (the scale calibration uses)."""
    maximum: float
    """Highest possible score."""


class Generation(_FileModel):
    """Default generation settings sent to the judge."""

    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, gt=0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = None


class Rubric(_FileModel):
    """A validated rubric; `hash` (over the file's content and its prompt) is its identity."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: str
    description: str
    follows: str
    """The published judge this rubric follows, in a few words."""
    citation: str
    """Full reference of the paper or project it follows."""
    kind: RubricKind = "llm"
    """`llm` asks a judge model; `keywords` matches refusal strings in-process."""
    prompt: str | None = None
    """Prompt template file (`prompts/NAME.jinja` or a path relative to the rubric file)."""
    keyword_set: str | None = None
    """For `keywords` rubrics: the named refusal keyword set to match."""
    categories: tuple[Category, ...] = ()
    fields: tuple[RubricField, ...]
    scoring: Scoring
    generation: Generation = Generation()

    _template: str = PrivateAttr(default="")
    _source: str = PrivateAttr(default="")
    _hash: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _check_consistency(self) -> Rubric:
        names = [field.name for field in self.fields]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"field names must be unique; repeated: {', '.join(duplicates)}")
        if self.kind == "llm" and not self.prompt:
            raise ValueError("an llm rubric needs `prompt`, the template file it renders")
        if self.kind == "keywords" and not self.keyword_set:
            raise ValueError("a keywords rubric needs `keyword_set`")
        uses_categories = any(f.type in ("category", "categories") for f in self.fields)
        if uses_categories and not self.categories:
            raise ValueError("a category field needs the rubric to list `categories`")
        if self.scoring.minimum > self.scoring.maximum:
            raise ValueError("scoring.minimum is above scoring.maximum")
        return self

    # cached_property: private attributes go through pydantic's slow __getattr__, and the hash is
    # read for every verdict. The loader sets the private values before anything reads these.
    @cached_property
    def hash(self) -> str:
        """Content hash of the rubric and its prompt template: its identity in verdicts."""
        return self._hash

    @cached_property
    def template(self) -> str:
        """The prompt template's source text ("" for keyword rubrics)."""
        return self._template

    @cached_property
    def source(self) -> str:
        """Where the rubric was loaded from."""
        return self._source

    @property
    def category_ids(self) -> tuple[str, ...]:
        """Ids of the rubric's harm categories."""
        return tuple(category.id for category in self.categories)

    def field(self, name: str) -> RubricField | None:
        """The field called `name`, if the rubric has one."""
        return next((field for field in self.fields if field.name == name), None)


def list_rubrics() -> list[str]:
    """Names of the built-in rubrics."""
    return sorted(
        path.name.removesuffix(".toml")
        for path in _builtin_dir("rubrics").iterdir()
        if path.name.endswith(".toml")
    )


def load_rubric(name_or_path: str | Path | Rubric) -> Rubric:
    """Load a built-in rubric by name, or a rubric file by path; errors name file and field."""
    if isinstance(name_or_path, Rubric):
        return name_or_path
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text:
        return _load_file(Path(text))
    if text not in list_rubrics():
        close = difflib.get_close_matches(text, list_rubrics(), n=1)
        guess = f"did you mean '{close[0]}'? " if close else ""
        raise RubricError(
            f"unknown rubric '{text}'; {guess}built-ins are {', '.join(list_rubrics())}, "
            "or pass the path of a .toml rubric file"
        )
    return _load_builtin(text)


@cache
def _load_builtin(name: str) -> Rubric:
    return _load_file(_builtin_rubric_path(name))


def _load_file(path: Path) -> Rubric:
    data = _read_toml(path)
    parent_name = data.pop("extends", None)
    if parent_name is not None:
        if not isinstance(parent_name, str):
            raise RubricError("expected the name or path of a rubric", path=path, field="extends")
        parent = _read_toml(_resolve_extends(parent_name, path))
        parent.pop("extends", None)
        data = _deep_merge(parent, data)
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as error:
        raise _rubric_error(error, path) from None
    template = _read_template(rubric, path) if rubric.kind == "llm" else ""
    _check_expressions(rubric, path)
    rubric._template = template
    rubric._source = str(path)
    rubric._hash = _content_hash(rubric, template)
    return rubric


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise RubricError("rubric file not found", path=path) from None
    except tomllib.TOMLDecodeError as error:
        raise RubricError(f"invalid TOML: {error}", path=path) from None


def _resolve_extends(parent: str, child_path: Path) -> Path:
    if parent.endswith(".toml"):
        return (child_path.parent / parent).resolve()
    if parent not in list_rubrics():
        raise RubricError(f"unknown rubric '{parent}' to extend", path=child_path, field="extends")
    return _builtin_rubric_path(parent)


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _rubric_error(error: ValidationError, path: Path) -> RubricError:
    problems = []
    for detail in error.errors():
        location = ".".join(str(part) for part in detail["loc"]) or "(top level)"
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against the rubric format in docs/rubrics.md"
        problems.append(f"field '{location}': {message}")
    first_field = ".".join(str(part) for part in error.errors()[0]["loc"]) or None
    return RubricError("; ".join(problems), path=path, field=None if len(problems) > 1 else first_field)


def _read_template(rubric: Rubric, rubric_path: Path) -> str:
    assert rubric.prompt is not None
    candidates = [rubric_path.parent / rubric.prompt]
    builtin = _builtin_dir("prompts").joinpath(rubric.prompt)
    candidates.append(Path(str(builtin)))
    for candidate in candidates:
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise RubricError(
        f"prompt template '{rubric.prompt}' not found next to the rubric or among the built-in "
        "prompts; give a path relative to the rubric file",
        path=rubric_path,
        field="prompt",
    )


def _check_expressions(rubric: Rubric, path: Path) -> None:
    sample = {field.name: sample_value(field) for field in rubric.fields}
    for key in ("score", "harmful", "refused"):
        if key != "score":
            sample["score"] = rubric.scoring.minimum
        expression = getattr(rubric.scoring, key)
        if expression is None:
            continue
        try:
            compile_expression(expression)(**sample)
        except (TemplateSyntaxError, UndefinedError, SecurityError, TypeError, ArithmeticError) as error:
            names = ", ".join(sample)
            raise RubricError(
                f"cannot evaluate {expression!r}: {error}; it may use the fields {names}",
                path=path,
                field=f"scoring.{key}",
            ) from None


def sample_value(field: RubricField) -> Any:
    """A valid value of `field`, used to check expressions and to render examples."""
    if field.type in ("integer", "number"):
        return int(field.minimum or 0) if field.type == "integer" else field.minimum
    return {
        "boolean": False,
        "string": "",
        "enum": field.values[0] if field.values else "",
        "category": None,
        "categories": [],
    }[field.type]


def _content_hash(rubric: Rubric, template: str) -> str:
    canonical = json.dumps(rubric.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(f"{canonical}\n{template}".encode()).hexdigest()
    return digest[:16]


def _builtin_dir(kind: str) -> Any:
    """The installed package's `rubrics/` or `prompts/`, else the source tree's top-level one."""
    installed = resources.files("judgekit").joinpath(kind)
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / kind


def _builtin_rubric_path(name: str) -> Path:
    return Path(str(_builtin_dir("rubrics").joinpath(f"{name}.toml")))


def slug(text: str) -> str:
    """Lower-case identifier form of a title, for matching category names the judge spells out."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
