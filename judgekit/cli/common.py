"""What every command shares: exit codes, option defaults, error output."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from judgekit._config import redact
from judgekit._engine.cache import ReplyCache, default_cache_path

F = TypeVar("F", bound=Callable[..., Any])

EXIT_INPUT = 1
"""Bad input, rubric or configuration: stopped before any request."""
EXIT_JUDGE = 3
"""The judge failed for the whole run; output so far is kept."""
EXIT_FAILED_ROWS = 4
"""The run finished but no row was judged ok, or more failed than `--max-error-rate` allows."""
EXIT_OUTPUT = 5
"""The output could not be written (disk full, file size limit); the lines written stay valid."""
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
"""Stopped by SIGTERM (Slurm, Kubernetes, `timeout`): flushed like Ctrl-C; rerun to resume."""


OPTION = partial(click.option, show_default=True, show_envvar=True)
"""Options show their defaults and environment variables in --help (click names the variable of a
bad value from the environment)."""


def cache_options(cache_help: str = "Reply cache (SQLite).") -> Callable[[F], F]:
    """The `--cache PATH` (`JUDGEKIT_CACHE`) and `--no-cache` options."""

    def add(command: F) -> F:
        command = OPTION("--no-cache", is_flag=True, help="Neither read nor write the reply cache.")(command)
        return OPTION(
            "--cache",
            "cache_path",
            type=click.Path(dir_okay=False),
            envvar="JUDGEKIT_CACHE",
            help=f"{cache_help} [default: ~/.cache/judgekit/replies.sqlite]",
        )(command)

    return add


def cache_file(cache_path: str | None, no_cache: bool) -> Path | None:
    """The reply cache the options name; None with `--no-cache`."""
    return None if no_cache else Path(cache_path or default_cache_path())


def open_cache(cache_path: str | None, no_cache: bool) -> ReplyCache | None:
    """The reply cache the options name, opened; None with `--no-cache`."""
    path = cache_file(cache_path, no_cache)
    return ReplyCache(path) if path is not None else None


def fail(message: str, code: int) -> NoReturn:
    """Print an error the way every command does, and exit with `code`.

    The API key of the environment and anything shaped like a token are redacted: a server may
    echo the key it was sent in its error message.
    """
    click.echo(f"judgekit: error: {redact(message, os.environ.get('OPENAI_API_KEY'))}", err=True)
    sys.exit(code)


def echo_err(message: str) -> None:
    """A status line on standard error (standard output carries results)."""
    click.echo(message, err=True)
