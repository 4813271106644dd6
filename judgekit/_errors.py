"""Errors raised by judgekit.

The tree::

    JudgekitError
    ├── ConfigError        no endpoint, no model, an unknown option: fix the call or the environment
    ├── RubricError        a rubric file is wrong: names the file, the field and what was expected
    ├── PromptError        a judge prompt template failed to render
    ├── InputError         a record is wrong: names the file, the line and the field, and the fix
    ├── JudgeError         the judge endpoint failed for the whole run (auth, unknown model, down)
    └── OutputError        the output could not be written (disk full, file size limit)

A judge failure on one record is not an exception: it becomes that record's verdict status.
"""

from __future__ import annotations

from pathlib import Path


class JudgekitError(Exception):
    """Base class of every error judgekit raises on purpose."""


class ConfigError(JudgekitError):
    """The judge is not configured well enough to run; `option` names the offending option, if one."""

    def __init__(self, message: str, *, option: str | None = None):
        self.option = option
        super().__init__(message)


class RubricError(JudgekitError):
    """A rubric file or rubric name is invalid."""

    def __init__(self, message: str, *, path: Path | str | None = None, field: str | None = None):
        self.path = str(path) if path is not None else None
        self.field = field
        where = ": ".join(part for part in (self.path, field and f"field '{field}'") if part)
        super().__init__(f"{where}: {message}" if where else message)


class PromptError(JudgekitError):
    """A judge prompt template failed to load or render."""


class InputError(JudgekitError):
    """An input record is invalid: carries the file, the line and the field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        record_id: str | None = None,
    ):
        self.path = path
        self.line = line
        self.field = field
        self.record_id = record_id
        location = f"{path or '<input>'}:{line}" if line is not None else (path or "")
        prefix = f"{location}: " if location else ""
        field_part = f"field '{field}': " if field else ""
        super().__init__(f"{prefix}{field_part}{message}")


class JudgeError(JudgekitError):
    """The judge endpoint failed in a way that stops the whole run."""

    def __init__(self, message: str, *, status_code: int | None = None):
        self.status_code = status_code
        super().__init__(message)


class OutputError(JudgekitError):
    """The verdict output could not be written; what was written before stays valid for a resume."""

    def __init__(self, message: str, *, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)
